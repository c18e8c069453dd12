"""The Networking actor: this node's one iroh endpoint, and pairing and sync over it.

iroh's binding is asyncio, so this actor is an asyncio loop on a thread of its own: its
inbox is the loop (``tell`` and ``ask`` hand it a message from any thread), and everything
it holds (the endpoint, the sessions, what it knows of each peer) is touched on that loop
only, one step at a time, as in any actor. The node's trio side asks it from worker threads.

Blocking work (the store, the Journal, the index) runs in executor threads, so the loop only
moves frames: a large ingest never delays a ping, a status, or another peer.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol, Sequence

from events.clock import clocks_ahead
from events.domain.device import DevicePaired, DeviceReachable
from events.keys import DeviceKey, short_device
from events.store import EventStore
from projections.devices import Peer, peers
from sdactors.library.log_health import restored_peers
from sdactors.net import ffi_buffer
from sdactors.net.frames import let_peer_close, read_frame, why, write_frame
from sdactors.net.held import SILENT_S, Held
from sdactors.net.pairing import Invitations, Joining, PairingDenied, Ticket, proof
from sdactors.net.state import NetState
from sdactors.net.sync import (
    BatchRefused,
    PeerLink,
    Session,
    SessionRefused,
    Vector,
    check_vector,
    clamp,
    describe,
    hello,
    lacking,
)
from sdactors.runtime import tuning
from sdactors.runtime.config import NetworkConfig
from sdactors.runtime.errors import (
    AwaitingOwnEvents,
    NetError,
    PairingRefused,
    PeerGone,
    PeerUnreachable,
    ProtocolViolation,
)
from sdactors.runtime.logs import get_logger

if TYPE_CHECKING:
    from sdactors.library.handle import Library

log = get_logger(__name__)

ALPN_PAIR = b"sd/pair/1"
ALPN_SYNC = b"sd/sync/1"
ALPN_DROP = b"sd/drop/1"
CONNECT_TIMEOUT_S = 10.0
HELLO_TIMEOUT_S = 10.0
# Reconnecting to a peer that cannot be reached waits this long, doubling up to the most.
BACKOFF_FIRST_S = tuning.backoff(1.0)
# Also how long a link rests without an address, and after a refused batch (half): not
# scaled, a status keeps saying why for that long.
BACKOFF_MOST_S = 60.0
# A pairing's opening frame is small; nothing bigger is read before the peer is known.
SMALL_FRAME = 64 << 10


class NetHost(Protocol):
    """What the actor needs of the node that runs it."""

    key: DeviceKey
    device_name: str

    def served(self, library_id: str) -> "Library | None":
        """The library if the node serves it."""

    def create_served(self, name: str, library_id: str) -> "Library":
        """Create an empty library with this id, and serve it."""

    def discard_served(self, library_id: str) -> None:
        """Stop serving the library and delete it from this device (a join that failed)."""


# -- messages ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Serve:
    """A library began serving on this node: sync it with its paired devices."""

    library: str


@dataclass(frozen=True, slots=True)
class PeersChanged:
    """A ``device.*`` event was committed in the library: pairings, revocations, addresses."""

    library: str


@dataclass(frozen=True, slots=True)
class Invite:
    library: str
    expires_s: float


@dataclass(frozen=True, slots=True)
class Join:
    ticket: str


@dataclass(frozen=True, slots=True)
class SyncStatus:
    library: str


@dataclass(frozen=True, slots=True)
class SyncNow:
    library: str


@dataclass(frozen=True, slots=True)
class SyncPause:
    """Pause (or resume) sync with one device of a library, or with all of them."""

    library: str
    device: bytes | None
    paused: bool


@dataclass(frozen=True, slots=True)
class PeersSeen:
    """Per device of a library: whether connected, and when last heard from."""

    library: str


Progress = Callable[[dict[str, Any]], None]


class LibrarySync:
    """Sync of one library: its peers, and a reading connection for this node's vector."""

    def __init__(self, lib: "Library") -> None:
        self.lib = lib
        self.id = lib.config.id
        self.links: dict[bytes, PeerLink] = {}
        self.hints: dict[bytes, tuple[str, ...]] = {}
        self.dialers: dict[bytes, asyncio.Task] = {}
        # Devices trusted before the library's membership is known here: the inviter of a
        # join in progress (checked against the membership once its events have arrived).
        self.joining: dict[bytes, str | None] = {}
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="sync-vector")
        self._store: EventStore | None = None
        self.tokens: list[int] = []

    def _reader(self) -> EventStore:
        if self._store is None:
            self._store = EventStore(self.lib.config.paths.events, readonly=True)
        else:
            self._store.refresh()
        return self._store

    def _read_vector(self) -> Vector:
        """What this node holds and would send: never past what membership lets through
        (a peer waiting for events that will never be sent would wait for ever)."""
        return clamp(self._reader().vector(), self.lib.forwardable(self.lib.device))

    async def vector(self) -> Vector:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._read_vector)

    async def clocks_ahead(self) -> dict[bytes, int]:
        """The devices whose clock runs ahead of this one's (``events.clock.MAX_AHEAD_MS``)."""
        read = lambda: clocks_ahead(self._reader().last_hlcs())  # noqa: E731
        return await asyncio.get_running_loop().run_in_executor(self._pool, read)

    def wake_senders(self) -> None:
        for link in self.links.values():
            if link.session is not None:
                link.session.wake.set()

    def close(self) -> None:
        for link in self.links.values():
            if link.session is not None:
                link.session.close("the node is stopping")
        for task in self.dialers.values():
            task.cancel()

        def finish() -> None:
            if self._store is not None:
                self._store.close()

        self._pool.submit(finish)
        self._pool.shutdown(wait=False)


class Networking:
    """See the module's text. ``start`` binds the endpoint; ``stop`` closes it."""

    def __init__(self, host: NetHost, config: NetworkConfig, state: Path | None = None) -> None:
        """``state``: where the node keeps the port it listened on, to listen on it again
        (peers know a device by the addresses it recorded; a new port each start would
        leave two restarted devices dialing each other's old ones)."""
        self.host = host
        self.config = config
        self._state = NetState(state)
        self.device = host.key.public
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._endpoint: Any = None
        self._libs: dict[str, LibrarySync] = {}
        self._invites = Invitations()
        self._tasks: set[asyncio.Task] = set()
        self._held = Held()
        self.addresses: tuple[str, ...] = ()
        self.drops: Any = None

    # -- the actor's life -------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> None:
        ready: concurrent.futures.Future = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._main(ready)), name="networking", daemon=True
        )
        self._thread.start()
        ready.result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        loop, stop = self._loop, self._stop
        if loop is None or stop is None:
            return
        try:
            loop.call_soon_threadsafe(stop.set)
        except RuntimeError:
            return  # the loop already ended
        if self._thread is not None:
            self._thread.join(timeout)

    def tell(self, message: object) -> None:
        loop = self._loop
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(self._spawn, self._handle(message, None))
        except RuntimeError:
            pass  # stopping

    def ask(
        self, message: object, timeout: float | None = 60.0, progress: Progress | None = None
    ) -> Any:
        if self._loop is None:
            raise NetError("the network is not running")
        future = asyncio.run_coroutine_threadsafe(self._handle(message, progress), self._loop)
        return future.result(timeout)

    async def _main(self, ready: concurrent.futures.Future) -> None:

        ffi_buffer.install()
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            self._endpoint = await self._bind()
            self.addresses = self._own_addresses()
        except BaseException as exc:
            ready.set_exception(NetError(f"cannot start the network endpoint: {why(exc)}"))
            return
        log.info(
            "network_listening",
            device=self.device.hex(),
            addresses=list(self.addresses),
            relays=self.config.relays,
            discovery=self.config.discovery,
        )
        from sdactors.net.drop.service import Drops

        self.drops = Drops(self)
        ready.set_result(None)
        accept = asyncio.create_task(self._accept_loop())
        await self._stop.wait()
        accept.cancel()
        for ls in self._libs.values():
            ls.close()
        if self.drops is not None:
            self.drops.close()
        for task in list(self._tasks):
            task.cancel()
        try:
            await asyncio.wait_for(self._endpoint.close(), 3)
        except Exception:  # noqa: BLE001 - closing anyway
            pass
        log.info("network_stopped")

    async def _bind(self) -> Any:
        """Listen where this node listened last time, on both its ports, when node.toml
        leaves them to the system: peers dial a device at the addresses it recorded, and
        iroh sends their new handshakes on the path an older connection chose (the IPv6
        loopback, say) until that one times out (see :mod:`sdactors.net.held`)."""
        bind = self.config.bind
        host, _, port = bind.rpartition(":")
        if host.startswith("["):  # an IPv6 address chosen: its port is the IPv6 one
            last, last6 = self._state.port6, None
        else:
            last, last6 = self._state.port, self._state.port6
        if port != "0":
            last = None
        endpoint = None
        if last or last6:
            try:
                endpoint = await self._builder(f"{host}:{last or port}", last6).bind()
            except Exception as exc:  # noqa: BLE001 - taken meanwhile: any port will do
                log.info("network_port_taken", port=last, port6=last6, error=why(exc))
        if endpoint is None:
            endpoint = await self._builder(bind, None).bind()
        self._state.remember_ports(endpoint.bound_sockets())
        return endpoint

    def _builder(self, bind: str, port6: int | None) -> Any:
        """The endpoint as node.toml says: where it listens, relays and discovery. iroh
        listens on IPv6 too (on ``port6`` when given); when one IPv4 address is chosen,
        that is IPv6's loopback only, never every interface."""
        import iroh

        builder = iroh.EndpointBuilder()
        if self.config.discovery:
            builder.apply_n0() if self.config.relays else builder.apply_n0_disable_relay()
        else:
            builder.apply_minimal()
            if self.config.relays:
                builder.relay_mode(iroh.RelayMode.default_mode())
        builder.secret_key(self.host.key.secret_bytes())
        builder.alpns([ALPN_PAIR, ALPN_SYNC, ALPN_DROP])
        builder.bind_addr(bind)
        host = bind.rpartition(":")[0]
        if host not in ("0.0.0.0", "") and not host.startswith("["):
            builder.bind_addr(f"[::1]:{port6 or 0}")
        elif not host.startswith("[") and port6:
            builder.bind_addr(f"[::]:{port6}")
        return builder

    def _own_addresses(self) -> tuple[str, ...]:
        """Where peers can dial this node: the bound address itself when one interface was
        chosen, otherwise what iroh finds on every interface."""
        host, _, _port = self.config.bind.rpartition(":")
        bound = [a for a in self._endpoint.bound_sockets() if not a.startswith("[")]
        if host not in ("0.0.0.0", "", "[::]") and bound:
            return tuple(bound[:1])
        return tuple(sorted(self._endpoint.addr().direct_addresses()))[:32]

    def _spawn(self, coro: Any) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("network_task_failed", error=f"{type(exc).__name__}: {exc}")

    async def _blocking(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    async def dial(
        self, device: bytes, addresses: Sequence[str], alpn: bytes, timeout: float
    ) -> Any:
        """A connection to ``device`` (iroh's error if it fails, asyncio.TimeoutError if it
        takes longer than ``timeout``). When it hangs while connections to the device hear
        nothing, those are closed and the device dialed anew: see :mod:`sdactors.net.held`."""
        import iroh

        addr = iroh.EndpointAddr(iroh.EndpointId.from_bytes(device), None, list(addresses))
        heard = self._held.heard(device)
        connecting = asyncio.ensure_future(self._endpoint.connect(addr, alpn))
        try:
            done, _ = await asyncio.wait([connecting], timeout=min(SILENT_S, timeout))
            if not done and timeout > SILENT_S and self._held.close_silent(device, heard):
                # The handshake in flight went down the dead path: a new one will not.
                connecting.cancel()
                connecting = asyncio.ensure_future(self._endpoint.connect(addr, alpn))
                done, _ = await asyncio.wait([connecting], timeout=timeout - SILENT_S)
            if not done:
                raise asyncio.TimeoutError
        finally:
            if not connecting.done():
                connecting.cancel()
        conn = connecting.result()
        self._held.add(device, conn)
        return conn

    # -- messages ---------------------------------------------------------------------------

    async def _handle(self, message: object, progress: Progress | None) -> Any:
        if isinstance(message, Serve):
            return await self._serve(message.library)
        if isinstance(message, PeersChanged):
            ls = self._libs.get(message.library)
            return await self._refresh_peers(ls) if ls is not None else None
        if isinstance(message, Invite):
            return await self._invite(message)
        if isinstance(message, Join):
            return await self._join(message.ticket, progress)
        if isinstance(message, SyncStatus):
            return await self._status(message.library)
        if isinstance(message, SyncNow):
            return await self._sync_now(message.library)
        if isinstance(message, SyncPause):
            return await self._pause(message)
        if isinstance(message, PeersSeen):
            return self._seen(message.library)
        if self.drops is not None and self.drops.handles(message):
            return await self.drops.handle(message, progress)
        raise TypeError(f"Networking got an unexpected message: {message!r}")

    async def _serve(self, library_id: str) -> LibrarySync | None:
        ls = self._libs.get(library_id)
        if ls is not None:
            return ls
        lib = self.host.served(library_id)
        if lib is None:
            return None
        ls = self._libs[library_id] = LibrarySync(lib)
        loop = asyncio.get_running_loop()

        def committed(_events: Any) -> None:
            loop.call_soon_threadsafe(ls.wake_senders)

        def devices_changed(_events: Any) -> None:
            self.tell(PeersChanged(library_id))

        ls.tokens.append(await self._blocking(lib.subscribe, ("",), committed, "sync"))
        ls.tokens.append(
            await self._blocking(lib.subscribe, ("device.",), devices_changed, "peers")
        )
        lib.when_rebuilt(lambda: devices_changed(None))
        # Not awaited: after a forced restore the append waits for the sync below.
        self._spawn(self._announce(ls))
        unfinished = await self._blocking(Joining.load, lib.config.paths.root)
        if unfinished is not None:
            self._trust(ls, unfinished)
        await self._refresh_peers(ls)
        if unfinished is not None:
            self._spawn(self._finish_join(ls, unfinished))
        return ls

    async def _announce(self, ls: LibrarySync) -> None:
        """Record where this node listens, when the library does not say so already."""
        known = await self._blocking(self._peer_table, ls.lib)
        mine = next((p for p in known if p.device == self.device), None)
        if self.addresses and (mine is None or mine.addresses != self.addresses):
            try:
                await self._blocking(ls.lib.append_typed, DeviceReachable(self.addresses))
            except AwaitingOwnEvents as exc:
                log.warning("network_not_announced", library=ls.id, error=str(exc))

    def _is_admin(self, lib: "Library") -> bool:
        return any(p.device == self.device and p.role == "admin" for p in self._peer_table(lib))

    @staticmethod
    def _peer_table(lib: "Library") -> list[Peer]:
        lib.catch_up()
        with lib.index() as db:
            known = peers(db)
        restored = restored_peers(lib.config)
        if not restored:
            return known
        # After a forced restore the log may predate pairings the peers still hold: the
        # devices paired before may sync, and are dialed, until this device's own events are
        # back (with them, its records of those pairings).
        table = {p.device: p for p in known}
        for device, addresses in restored.items():
            had = table.get(device)
            if had is None or not (had.paired or had.revoked):
                name, where = (had.name, had.addresses) if had is not None else (None, ())
                table[device] = Peer(device, name, "member", False, None, where or addresses)
        return [table[device] for device in sorted(table)]

    async def _refresh_peers(self, ls: LibrarySync) -> None:
        """Follow the library's devices: dial the members, drop the revoked."""
        table = await self._blocking(self._peer_table, ls.lib)
        known = {peer.device for peer in table}
        table += [
            Peer(d, name, None, False, None, ()) for d, name in ls.joining.items() if d not in known
        ]
        for peer in table:
            if peer.device == self.device or not (peer.paired or peer.device in ls.joining):
                continue
            link = ls.links.get(peer.device)
            if link is None:
                link = ls.links[peer.device] = PeerLink(peer.device)
                link.paused = peer.device in self._state.paused(ls.id)
            link.name = peer.name
            link.addresses = peer.addresses or ls.hints.get(peer.device, ())
            if peer.revoked and not link.revoked:
                link.revoked = True
                link.fail("revoked")
                log.info("peer_revoked", library=ls.id, device=peer.device.hex())
                if link.session is not None:
                    link.session.close("revoked")
            link.wake.set()
            if peer.device not in ls.dialers and not link.revoked:
                ls.dialers[peer.device] = self._spawn(self._dial_loop(ls, link))

    # -- sync: dialing ----------------------------------------------------------------------

    async def _dial_loop(self, ls: LibrarySync, link: PeerLink) -> None:
        while not link.revoked:
            if link.session is not None:
                await link.session.ended.wait()
                continue
            link.wake.clear()
            if link.paused:
                link.fail("paused on this device ('sd sync resume' to resume)")
                await link.wake.wait()
                continue
            if not link.addresses:
                link.fail("no address known for it yet (it has not synced here since pairing)")
                await self._rest(link, BACKOFF_MOST_S)
                continue
            try:
                conn = await self.dial(link.device, link.addresses, ALPN_SYNC, CONNECT_TIMEOUT_S)
                bi = await conn.open_bi()
                send, recv = bi.send(), bi.recv()
                theirs, size = await asyncio.wait_for(
                    hello(send, recv, ls.lib.config.id_bytes, await ls.vector()), HELLO_TIMEOUT_S
                )
            except SessionRefused as exc:
                if exc.code == "duplicate":
                    await self._rest(link, 0.5)
                    continue
                link.fail(f"refused by the peer: {exc}")
                log.info(
                    "sync_refused_by_peer", library=ls.id, device=link.device.hex(), reason=str(exc)
                )
                await self._back_off(link)
                continue
            except (Exception, asyncio.TimeoutError) as exc:  # noqa: BLE001 - any failure to reach it
                if link.session is None:
                    link.fail(f"unreachable: {why(exc) or 'timed out'}")
                await self._back_off(link)
                continue
            link.received_bytes += size
            session = Session(ls.lib, link, send, recv, self.device, conn)
            if not self._adopt(link, session):
                conn.close(0, b"duplicate")
                continue
            link.theirs = dict(theirs)
            link.known = dict(theirs)
            await self._run_session(ls, link, session)

    async def _rest(self, link: PeerLink, seconds: float) -> None:
        try:
            await asyncio.wait_for(link.wake.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    async def _back_off(self, link: PeerLink) -> None:
        link.backoff = min(BACKOFF_MOST_S, max(BACKOFF_FIRST_S, link.backoff * 2))
        await self._rest(link, link.backoff)

    def _adopt(self, link: PeerLink, new: Session) -> bool:
        """Of two sessions with one peer, keep the one the lower device dialed: both sides
        decide alike without a word about it."""
        old = link.session
        if old is None:
            link.session = new
            return True
        lower = min(self.device, link.device)
        if old.initiator == lower and new.initiator != lower:
            return False
        old.close("replaced by a newer session")
        link.session = new
        return True

    async def _run_session(self, ls: LibrarySync, link: PeerLink, session: Session) -> None:
        link.ok()
        link.backoff = 0.0
        log.info("sync_connected", library=ls.id, device=link.device.hex())
        try:
            await session.run()
        except BatchRefused as exc:
            link.fail(str(exc))
            log.warning(
                "sync_batch_refused", library=ls.id, device=link.device.hex(), reason=str(exc)
            )
            link.backoff = BACKOFF_MOST_S / 2
        except (PeerGone, ProtocolViolation, OSError, Exception) as exc:  # noqa: BLE001
            if session.closing_reason is None:
                link.fail(f"connection lost: {why(exc)}")
                log.info(
                    "sync_disconnected", library=ls.id, device=link.device.hex(), reason=str(exc)
                )
        except asyncio.CancelledError:
            if session.closing_reason is None:
                raise
        finally:
            if (
                session.closing_reason is not None
                and session.closing_reason != "replaced by a newer session"
            ):
                link.fail(session.closing_reason)
            try:
                session.conn.close(0, b"bye")
            except Exception:  # noqa: BLE001
                pass

    # -- sync: answering --------------------------------------------------------------------

    async def _serve_sync(self, conn: Any, peer: bytes) -> None:
        bi = await asyncio.wait_for(conn.accept_bi(), HELLO_TIMEOUT_S)
        send, recv = bi.send(), bi.recv()
        opening, size = await asyncio.wait_for(read_frame(recv, SMALL_FRAME * 16), HELLO_TIMEOUT_S)
        if type(opening) is not dict or type(opening.get("lib")) is not bytes:
            raise ProtocolViolation("a sync opening without a library")
        theirs = check_vector(opening.get("vec"))
        library_id = opening["lib"].hex()
        ls = self._libs.get(library_id)
        refusal = None
        if ls is None:
            refusal = ("this device does not serve that library", "unknown-library")
        else:
            refusal = await self._refusal(ls, peer)
        if refusal is not None:
            log.warning("sync_refused", library=library_id, device=peer.hex(), reason=refusal[0])
            await write_frame(send, {"refused": refusal[0], "code": refusal[1]})
            await let_peer_close(conn)
            return
        link = ls.links[peer]
        if link.paused:
            await write_frame(send, {"refused": "sync is paused on that device", "code": "paused"})
            await let_peer_close(conn)
            return
        link.received_bytes += size
        session = Session(ls.lib, link, send, recv, peer, conn)
        if not self._adopt(link, session):
            await write_frame(send, {"refused": "already connected", "code": "duplicate"})
            await let_peer_close(conn)
            return
        link.sent_bytes += await write_frame(send, {"vec": await ls.vector()})
        link.theirs = dict(theirs)
        link.known = dict(theirs)
        await self._run_session(ls, link, session)

    async def _refusal(self, ls: LibrarySync, peer: bytes) -> tuple[str, str] | None:
        """Why ``peer`` may not sync this library, or None. Read fresh from the index: a
        pairing or revocation that just arrived counts."""
        table = {p.device: p for p in await self._blocking(self._peer_table, ls.lib)}
        found = table.get(peer)
        if found is not None and found.revoked:
            return ("this device was revoked in the library", "revoked")
        if (found is None or not found.member) and peer not in ls.joining:
            return ("this device is not paired in the library", "unauthorized")
        if peer not in ls.links:
            await self._refresh_peers(ls)
        return None

    async def _accept_loop(self) -> None:
        while True:
            incoming = await self._endpoint.accept_next()
            if incoming is None:
                return
            self._spawn(self._incoming(incoming))

    async def _incoming(self, incoming: Any) -> None:
        try:
            accepting = await incoming.accept()
            conn = await asyncio.wait_for(accepting.connect(), CONNECT_TIMEOUT_S)
        except (Exception, asyncio.TimeoutError) as exc:  # noqa: BLE001 - a failed handshake
            log.info("connection_failed", error=why(exc) or "timed out")
            return
        peer = conn.remote_id().to_bytes()
        alpn = conn.alpn()
        log.info("peer_connected", device=peer.hex(), protocol=alpn.decode(errors="replace"))
        self._held.add(peer, conn)
        try:
            if alpn == ALPN_SYNC:
                await self._serve_sync(conn, peer)
            elif alpn == ALPN_PAIR:
                await self._serve_pair(conn, peer)
            elif alpn == ALPN_DROP and self.drops is not None:
                await self.drops.serve(conn, peer)
            else:
                conn.close(1, b"unknown protocol")
        except (NetError, OSError, asyncio.TimeoutError) as exc:
            log.info("peer_dropped", device=peer.hex(), error=str(exc) or "timed out")
        except Exception as exc:  # noqa: BLE001 - iroh's own errors: the connection failed
            log.info("peer_dropped", device=peer.hex(), error=why(exc))
        finally:
            self._held.discard(peer, conn)
            try:
                conn.close(0, b"bye")
            except Exception:  # noqa: BLE001
                pass

    # -- pairing ----------------------------------------------------------------------------

    async def _invite(self, message: Invite) -> dict[str, Any]:
        ls = await self._serve(message.library)
        if ls is None:
            raise NetError(f"library {message.library} is not served by this node")
        if not self.addresses:
            raise NetError("this node has no address a peer could dial (see [network] bind)")
        invitation = self._invites.create(ls.lib.config.id_bytes, message.expires_s)
        ticket = Ticket(
            self.device,
            self.addresses,
            invitation.library,
            invitation.secret,
            invitation.expires_ms,
        )
        log.info("pair_invited", library=ls.id, expires_ms=invitation.expires_ms)
        return {
            "ticket": ticket.encode(),
            "library": ls.id,
            "library_name": ls.lib.config.name,
            "device": self.device.hex(),
            "expires": _iso(invitation.expires_ms / 1000),
        }

    async def _serve_pair(self, conn: Any, peer: bytes) -> None:
        bi = await asyncio.wait_for(conn.accept_bi(), HELLO_TIMEOUT_S)
        send, recv = bi.send(), bi.recv()
        request, _ = await asyncio.wait_for(read_frame(recv, SMALL_FRAME), HELLO_TIMEOUT_S)
        if (
            type(request) is not dict
            or type(request.get("lib")) is not bytes
            or type(request.get("proof")) is not bytes
            or type(request.get("name")) is not str
            or len(request["name"]) > 256
        ):
            raise ProtocolViolation("a pairing request without library, proof and name")
        library = request["lib"]
        try:
            self._invites.redeem(library, peer, self.device, request["proof"])
            ls = self._libs.get(library.hex())
            if ls is None:
                raise PairingDenied("this device no longer serves that library")
            if not await self._blocking(self._is_admin, ls.lib):
                raise PairingDenied(
                    "the device that made this ticket is not an admin of the library"
                )
        except PairingDenied as exc:
            log.warning("pair_refused", device=peer.hex(), library=library.hex(), reason=str(exc))
            await write_frame(send, {"refused": str(exc)})
            await let_peer_close(conn)
            return
        await self._blocking(ls.lib.append_typed, DevicePaired(peer, request["name"]))
        log.info("pair_accepted", device=peer.hex(), library=ls.id, name=request["name"])
        await write_frame(
            send,
            {"ok": True, "library_name": ls.lib.config.name, "name": self.host.device_name},
        )
        await let_peer_close(conn)
        await self._refresh_peers(ls)

    async def _join(self, text: str, progress: Progress | None) -> dict[str, Any]:
        ticket = Ticket.decode(text)
        if ticket.inviter == self.device:
            raise PairingRefused("the ticket was made by this device")
        if ticket.expires_ms <= time.time() * 1000:
            raise PairingRefused("this ticket has expired")
        who = short_device(ticket.inviter)
        try:
            conn = await self.dial(ticket.inviter, ticket.addresses, ALPN_PAIR, CONNECT_TIMEOUT_S)
            bi = await conn.open_bi()
            send, recv = bi.send(), bi.recv()
            shown = proof(ticket.secret, self.device, ticket.inviter, ticket.library)
            await write_frame(
                send, {"lib": ticket.library, "proof": shown, "name": self.host.device_name}
            )
            answer, _ = await asyncio.wait_for(read_frame(recv, SMALL_FRAME), HELLO_TIMEOUT_S)
        except NetError:
            raise
        except (Exception, asyncio.TimeoutError) as exc:  # noqa: BLE001
            raise PeerUnreachable(who, why(exc) or "timed out") from None
        conn.close(0, b"paired")
        if type(answer) is not dict:
            raise ProtocolViolation("a pairing answer that is not a map")
        if "refused" in answer:
            raise PairingRefused(str(answer["refused"])[:300])
        library_name = str(answer.get("library_name", "shared"))[:256]
        inviter_name = str(answer.get("name", ""))[:256]
        library_id = ticket.library.hex()
        created = self.host.served(library_id) is None
        if created:
            await self._blocking(self.host.create_served, library_name, library_id)
        ls = await self._serve(library_id)
        if ls is None:
            raise NetError(f"library {library_id} could not be opened here")
        joining = Joining(ticket.inviter, inviter_name or None, ticket.addresses)
        await self._blocking(joining.save, ls.lib.config.paths.root)
        self._trust(ls, joining)
        await self._refresh_peers(ls)
        try:
            received = await self._caught_up(ls, ticket.inviter, progress)
            await self._check_joined(ls, ticket.inviter, inviter_name)
        except BaseException:
            if created:
                await self._leave(ls)
            else:
                await self._joined(ls, ticket.inviter)  # no longer trusted beyond membership
            raise
        await self._joined(ls, ticket.inviter)
        log.info("pair_joined", library=library_id, inviter=ticket.inviter.hex(), created=created)
        return {
            "library": library_id,
            "library_name": ls.lib.config.name,
            "created": created,
            "device": ticket.inviter.hex(),
            "name": inviter_name,
            "events_received": received,
        }

    @staticmethod
    def _trust(ls: LibrarySync, joining: Joining) -> None:
        ls.hints[joining.inviter] = joining.addresses
        ls.joining[joining.inviter] = joining.name

    async def _joined(self, ls: LibrarySync, inviter: bytes) -> None:
        ls.joining.pop(inviter, None)
        await self._blocking(Joining.clear, ls.lib.config.paths.root)

    async def _finish_join(self, ls: LibrarySync, joining: Joining) -> None:
        """A join a killed node left unfinished: receive the rest, then check the pairing
        counts (else leave the library, which this device only held for that join)."""
        try:
            await self._caught_up(ls, joining.inviter, None)
            await self._check_joined(ls, joining.inviter, joining.name or "")
        except (PairingRefused, NetError) as exc:
            log.warning("pair_join_failed", library=ls.id, reason=str(exc))
            await self._leave(ls)
            return
        await self._joined(ls, joining.inviter)
        log.info("pair_joined", library=ls.id, inviter=joining.inviter.hex(), resumed=True)

    async def _check_joined(self, ls: LibrarySync, inviter: bytes, inviter_name: str) -> None:
        """Once the inviter's events are here, the library's own membership says whether the
        pairing counts: a ticket from a device that is not an admin pairs nobody."""
        table = {p.device: p for p in await self._blocking(self._peer_table, ls.lib)}
        mine, theirs = table.get(self.device), table.get(inviter)
        if mine is not None and mine.member and theirs is not None and theirs.member:
            return
        who = describe(inviter, inviter_name or None)
        if theirs is None or theirs.role != "admin":
            raise PairingRefused(
                f"{who} is not an admin of library {ls.lib.config.name!r}, so its ticket "
                "pairs no device (only admins pair devices): left the library"
            )
        raise PairingRefused(
            f"{who} let this device pair, but its pairing is not in the library's log: "
            "left the library"
        )

    async def _leave(self, ls: LibrarySync) -> None:
        """Stop syncing a library this device joined in vain, and delete it here."""
        self._libs.pop(ls.id, None)
        for token in ls.tokens:
            await self._blocking(ls.lib.unsubscribe, token)
        ls.close()
        await self._blocking(self.host.discard_served, ls.id)
        log.info("pair_left", library=ls.id)

    async def _caught_up(self, ls: LibrarySync, device: bytes, progress: Progress | None) -> int:
        """Wait until this node holds everything the inviter said it held; the events got."""
        link = ls.links[device]
        start = sum((await ls.vector()).values())
        while True:
            mine = await ls.vector()
            got = sum(mine.values()) - start
            if link.session is not None and link.theirs and lacking(mine, link.theirs) == 0:
                # Every event is here: the index folds them in the background (a read
                # catches up first), so joining does not wait for it.
                return got
            if link.session is None and link.reason and "refused" in link.reason:
                if "not paired" in link.reason:
                    raise PairingRefused(
                        f"{describe(device, link.name)} let this device pair but does not "
                        f"accept it in library {ls.lib.config.name!r}: its pairing does not "
                        "count (only admins pair devices): left the library"
                    )
                raise NetError(f"sync with {describe(device, link.name)} failed: {link.reason}")
            if progress is not None:
                want = sum(link.theirs.values()) - start if link.theirs else None
                await self._blocking(progress, {"done": got, "expected": want})
            await asyncio.sleep(0.2)

    # -- status -----------------------------------------------------------------------------

    async def _status(self, library_id: str) -> list[dict[str, Any]]:
        ls = await self._serve(library_id)
        if ls is None:
            return []
        mine = await ls.vector()
        clocks = await ls.clocks_ahead()
        out = []
        for link in sorted(ls.links.values(), key=lambda one: one.device):
            connected = link.session is not None
            behind = lacking(link.known, mine)
            ahead = lacking(mine, link.theirs)
            reason = link.reason
            if connected and reason is None and (behind or ahead):
                reason = f"syncing: {behind:,} to send, {ahead:,} to receive"
            elif not connected and reason is None:
                reason = "not connected yet"
            out.append(
                {
                    "device": link.device.hex(),
                    "name": link.name,
                    "connected": connected,
                    "behind": behind,
                    "ahead": ahead,
                    "last_sync": _iso(link.last_sync) if link.last_sync else None,
                    "reason": reason,
                    "since": _iso(link.reason_since) if link.reason and link.reason_since else None,
                    "addresses": list(link.addresses),
                    "bytes_sent": link.sent_bytes,
                    "bytes_received": link.received_bytes,
                    "connection": _wire(link.session),
                    "clock_ahead_ms": clocks.get(link.device),
                }
            )
        return out

    async def _sync_now(self, library_id: str) -> dict[str, Any]:
        ls = await self._serve(library_id)
        if ls is None:
            return {"woken": 0}
        await self._refresh_peers(ls)
        for link in ls.links.values():
            link.backoff = 0.0
            link.wake.set()
            if link.session is not None:
                link.session.wake.set()
        return {"woken": len(ls.links)}

    async def _pause(self, message: SyncPause) -> dict[str, Any]:
        ls = await self._serve(message.library)
        if ls is None:
            return {"devices": []}
        await self._refresh_peers(ls)
        chosen = [
            link
            for link in ls.links.values()
            if message.device is None or link.device == message.device
        ]
        for link in chosen:
            link.paused = message.paused
            if message.paused and link.session is not None:
                link.session.close("paused on this device ('sd sync resume' to resume)")
            if not message.paused:
                link.ok()
                link.backoff = 0.0
            link.wake.set()
        self._state.set_paused(ls.id, {d for d, link in ls.links.items() if link.paused})
        log.info(
            "sync_paused" if message.paused else "sync_resumed", library=ls.id, devices=len(chosen)
        )
        return {"devices": [link.device.hex() for link in chosen], "paused": message.paused}

    def _seen(self, library_id: str) -> dict[bytes, dict[str, Any]]:
        ls = self._libs.get(library_id)
        if ls is None:
            return {}
        return {
            link.device: {
                "connected": link.session is not None,
                "last_seen": _iso(link.last_seen) if link.last_seen else None,
            }
            for link in ls.links.values()
        }


def _wire(session: Session | None) -> dict[str, int] | None:
    """What the current connection put on the wire (UDP, with QUIC's own overhead)."""
    if session is None:
        return None
    try:
        stats = session.conn.stats()
    except Exception:  # noqa: BLE001 - closing meanwhile
        return None
    return {"udp_sent": stats.udp_tx_bytes, "udp_received": stats.udp_rx_bytes}


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
