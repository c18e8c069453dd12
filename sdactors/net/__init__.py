"""Networking over iroh: one endpoint per node, and the protocols it serves.

``sd/pair/1`` pairs two devices in a library, ``sd/sync/1`` replicates its log, ``sd/drop/1``
sends files. The Networking actor (:mod:`sdactors.net.networking`) takes the messages of
:mod:`sdactors.net.messages` and routes them to the sync, pairing and drop services, which
share only a :class:`sdactors.net.context.NetContext`. The iroh binding is asyncio; everything
here runs on the endpoint's own loop thread (:mod:`sdactors.net.endpoint`).
"""
