"""Networking over iroh: one endpoint per node, and the protocols it serves.

``sd/pair/1`` pairs two devices in a library, ``sd/sync/1`` replicates its log, ``sd/drop/1``
sends files. The iroh binding is asyncio; everything here runs on the networking actor's own
loop thread (:mod:`sdactors.net.endpoint`).
"""
