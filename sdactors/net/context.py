"""What the network's services share (sync, pairing, Spacedrop), and nothing else of each other.

A :class:`NetContext` is the one way a service reaches outside itself: blocking work off the
endpoint's loop, the libraries this node serves and who their devices are, the endpoint's
dialing and tasks, this device's id, name and addresses, and the progress channels of the
asks it serves. Services hand connections back to the endpoint by protocol
(:mod:`sdactors.net.endpoint`); they never reach into one another. Each logs as the rest of
sdactors does, to its own module's structlog logger.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Coroutine, Protocol, Sequence

from projections.devices import Peer, peers
from sdactors.library.log_health import restored_peers
from sdactors.net.endpoint import Endpoint
from sdactors.runtime.progress import ProgressChannels

if TYPE_CHECKING:
    import asyncio

    from events.keys import DeviceKey
    from sdactors.library.handle import Library


class NetHost(Protocol):
    """What networking needs of the node that runs it."""

    key: DeviceKey
    device_name: str

    def served(self, library_id: str) -> Library | None:
        """The library if the node serves it."""

    def serving(self) -> list[str]:
        """The ids of the libraries the node serves."""

    def create_served(self, name: str, library_id: str) -> Library:
        """Create an empty library with this id, and serve it."""

    def discard_served(self, library_id: str) -> None:
        """Stop serving the library and delete it from this device (a join that failed)."""


class NetContext:
    """See the module's text. Everything ``async`` here runs on the endpoint's loop."""

    def __init__(self, host: NetHost, endpoint: Endpoint, progress: ProgressChannels) -> None:
        self._host = host
        self._endpoint = endpoint
        self.device = endpoint.device
        self.device_name = host.device_name
        # Where the asks that name a channel (``progress``) get their records.
        self.progress = progress

    @property
    def addresses(self) -> tuple[str, ...]:
        """Where peers can dial this node (empty until the endpoint listens)."""
        return self._endpoint.addresses

    # -- the endpoint ------------------------------------------------------------------------

    async def blocking(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in an executor thread."""
        return await self._endpoint.blocking(fn, *args)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task:
        """A task on the loop, cancelled when the endpoint stops."""
        return self._endpoint.spawn(coro)

    def soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Call ``fn`` on the loop, from any thread (a library's bus, say)."""
        self._endpoint.soon(fn, *args)

    async def dial(
        self, device: bytes, addresses: Sequence[str], alpn: bytes, timeout: float
    ) -> Any:
        """A connection to ``device`` speaking ``alpn``: see :meth:`Endpoint.dial`."""
        return await self._endpoint.dial(device, addresses, alpn, timeout)

    # -- the libraries -----------------------------------------------------------------------

    def library(self, library_id: str) -> Library | None:
        """The library if this node serves it."""
        return self._host.served(library_id)

    def libraries(self) -> list[str]:
        """The ids of the libraries this node serves."""
        return self._host.serving()

    async def peers(self, lib: Library) -> list[Peer]:
        """The library's devices as its index says now (off the loop): see :func:`peer_table`."""
        return await self.blocking(peer_table, lib)

    async def create_library(self, name: str, library_id: str) -> Library:
        """Create an empty library with this id here (a join), and serve it."""
        return await self.blocking(self._host.create_served, name, library_id)

    async def discard_library(self, library_id: str) -> None:
        """Stop serving the library and delete it here (a join that failed)."""
        await self.blocking(self._host.discard_served, library_id)


def refusal(
    table: list[Peer], device: bytes, trusted: bool = False, heard: bool = False
) -> tuple[str, str] | None:
    """Why ``device`` may not be served a library whose devices are ``table`` (a reason and
    its code), or None: it must be a member, not revoked. ``trusted``: served before the
    membership is known here (the inviter of a join in progress), unless revoked. ``heard``:
    revoked, but contestably, so sync still takes what it sends (and sends it nothing)."""
    found = next((p for p in table if p.device == device), None)
    if found is not None and found.revoked and not heard:
        return ("this device was revoked in the library", "revoked")
    if (found is None or not (found.member or heard)) and not trusted:
        return ("this device is not paired in the library", "unauthorized")
    return None


def peer_table(lib: Library) -> list[Peer]:
    """The library's devices, its index caught up first (blocking). After a forced restore the
    log may predate pairings the peers still hold: the devices paired before may sync, and are
    dialed, until this device's own events are back (with them, its records of those
    pairings)."""
    lib.catch_up()
    with lib.index() as db:
        known = peers(db)
    restored = restored_peers(lib.config)
    if not restored:
        return known
    table = {p.device: p for p in known}
    for device, addresses in restored.items():
        had = table.get(device)
        if had is None or not (had.paired or had.revoked):
            name, where = (had.name, had.addresses) if had is not None else (None, ())
            table[device] = Peer(device, name, "member", False, None, where or addresses)
    return [table[device] for device in sorted(table)]
