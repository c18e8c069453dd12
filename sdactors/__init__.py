"""Actors and the node: managers, messages, supervision, and the ``sd`` command."""

import os

# One BLAS thread for numpy (search by meaning, ``sdactors/semantic/``): its products are
# memory-bound, and more threads spin on cores the node's other work needs (1M x 64: 5 ms of
# CPU on one thread, 10-40 ms with two). Set here, before anything imports numpy.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
