"""This node's one iroh endpoint: its loop thread, where it listens, what it accepts, dialing.

iroh's binding is asyncio, so the endpoint runs an asyncio loop on a thread of its own, and
everything networking holds (sessions, offers, what it knows of each peer) is touched on
that loop only, one step at a time. The endpoint knows no protocol: each connection it
accepts goes to the handler of the protocol (ALPN) it speaks, as the services registered
them when it started (:mod:`sdactors.net.networking`).

Blocking work (the store, the Journal, the index) runs in executor threads, so the loop only
moves frames: a large ingest never delays a ping, a status, or another peer.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any, Awaitable, Callable, Coroutine, Mapping, Sequence

from events.keys import DeviceKey
from sdactors.net import ffi_buffer
from sdactors.net.frames import why
from sdactors.net.held import SILENT_S, Held
from sdactors.net.state import NetState
from sdactors.runtime.config import NetworkConfig
from sdactors.runtime.errors import NetError
from sdactors.runtime.logs import get_logger

log = get_logger(__name__)

CONNECT_TIMEOUT_S = 10.0
# How long the opening of a protocol (its first frames) may take.
HELLO_TIMEOUT_S = 10.0

# Serves one accepted connection from a device: (connection, device id).
Handler = Callable[[Any, bytes], Awaitable[None]]


class Endpoint:
    """See the module's text. ``start`` binds and listens; ``stop`` closes."""

    def __init__(self, key: DeviceKey, config: NetworkConfig, state: NetState) -> None:
        """``state``: where the node keeps the port it listened on, to listen on it again
        (peers know a device by the addresses it recorded; a new port each start would
        leave two restarted devices dialing each other's old ones)."""
        self.config = config
        self.device = key.public
        self._key = key
        self._state = state
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._iroh: Any = None
        self._protocols: Mapping[bytes, Handler] = {}
        self._tasks: set[asyncio.Task] = set()
        self._held = Held()
        self.addresses: tuple[str, ...] = ()

    # -- the loop's life ----------------------------------------------------------------------

    def start(
        self,
        protocols: Mapping[bytes, Handler],
        stopping: Callable[[], None],
        timeout: float = 30.0,
    ) -> None:
        """Listen for ``protocols``; ``stopping`` runs on the loop when it stops, before the
        tasks are cancelled (sessions end saying why)."""
        self._protocols = protocols
        ready: concurrent.futures.Future = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._main(ready, stopping)), name="networking", daemon=True
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

    def submit(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        """Run ``coro`` on the loop (from another thread); its outcome."""
        if self._loop is None:
            coro.close()
            raise NetError("the network is not running")
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Call ``fn`` on the loop (from any thread); nothing once the loop has ended."""
        loop = self._loop
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:
            pass  # stopping

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task:
        """A task of the endpoint's (on the loop): cancelled when it stops, logged if it fails."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    async def blocking(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in an executor thread: the loop goes on meanwhile."""
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    async def _main(self, ready: concurrent.futures.Future, stopping: Callable[[], None]) -> None:
        ffi_buffer.install()
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            self._iroh = await self._bind()
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
        ready.set_result(None)
        accept = asyncio.create_task(self._accept_loop())
        await self._stop.wait()
        accept.cancel()
        stopping()
        for task in list(self._tasks):
            task.cancel()
        try:
            await asyncio.wait_for(self._iroh.close(), 3)
        except Exception:  # noqa: BLE001 - closing anyway
            pass
        log.info("network_stopped")

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("network_task_failed", error=f"{type(exc).__name__}: {exc}")

    # -- where it listens -------------------------------------------------------------------

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
        builder.secret_key(self._key.secret_bytes())
        builder.alpns(list(self._protocols))
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
        bound = [a for a in self._iroh.bound_sockets() if not a.startswith("[")]
        if host not in ("0.0.0.0", "", "[::]") and bound:
            return tuple(bound[:1])
        return tuple(sorted(self._iroh.addr().direct_addresses()))[:32]

    # -- connections --------------------------------------------------------------------------

    async def dial(
        self, device: bytes, addresses: Sequence[str], alpn: bytes, timeout: float
    ) -> Any:
        """A connection to ``device`` (iroh's error if it fails, asyncio.TimeoutError if it
        takes longer than ``timeout``). When it hangs while connections to the device hear
        nothing, those are closed and the device dialed anew: see :mod:`sdactors.net.held`."""
        import iroh

        addr = iroh.EndpointAddr(iroh.EndpointId.from_bytes(device), None, list(addresses))
        heard = self._held.heard(device)
        connecting = asyncio.ensure_future(self._iroh.connect(addr, alpn))
        try:
            done, _ = await asyncio.wait([connecting], timeout=min(SILENT_S, timeout))
            if not done and timeout > SILENT_S and self._held.close_silent(device, heard):
                # The handshake in flight went down the dead path: a new one will not.
                connecting.cancel()
                connecting = asyncio.ensure_future(self._iroh.connect(addr, alpn))
                done, _ = await asyncio.wait([connecting], timeout=timeout - SILENT_S)
            if not done:
                raise asyncio.TimeoutError
        finally:
            if not connecting.done():
                connecting.cancel()
        conn = connecting.result()
        self._held.add(device, conn)
        return conn

    async def _accept_loop(self) -> None:
        while True:
            incoming = await self._iroh.accept_next()
            if incoming is None:
                return
            self.spawn(self._incoming(incoming))

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
            handler = self._protocols.get(alpn)
            if handler is not None:
                await handler(conn, peer)
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
