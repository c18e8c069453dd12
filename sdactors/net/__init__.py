"""Networking over iroh: one endpoint per node, and the protocols it serves.

``sd/pair/1`` pairs two devices in a library, ``sd/sync/1`` replicates its log, ``sd/drop/1``
sends files, ``sd/thumb/1`` fetches a thumbnail from the device holding the file. The
Networking actor (:mod:`sdactors.net.networking`) takes the messages of
:mod:`sdactors.net.messages` and routes them to the sync, pairing, drop and thumbnail
services, which share only a :class:`sdactors.net.context.NetContext`. The iroh binding is asyncio; everything
here runs on the endpoint's own loop thread (:mod:`sdactors.net.endpoint`).
"""
