"""Meaning: a static word-embedding model over names and paths (``model.py``), the vectors
of an index's entries kept beside it (``vectors.py``), and what a search in words asks
beyond its words: dates, kinds (``query.py``).

``embed(texts)`` is the public entry point for "nearest by meaning" (search, agents): each
text's unit vector, float32; the dot product of two is their similarity. Importing this
package costs nothing: numpy and the model load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


def embed(texts: list[str]) -> "np.ndarray":
    """Each text's unit vector (float32, ``len(texts)`` x ``model.DIM``)."""
    from sdactors.semantic.model import embed as run

    return run(texts)
