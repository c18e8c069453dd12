"""``sd node run``: the long-running node of a data directory.

A trio program around one :class:`sdactors.node.node.Node`: it holds the data directory (a second
node refuses to start, naming the first), opens every library (one failing to open is
marked failed; the others go on), serves the control socket, and on SIGINT or SIGTERM stops
cleanly: no new command is taken, the actors stop (appends queued are committed, the index
caught up), the locks are released, exit status 0.

Commands run in worker threads (they wait on actors and on SQLite); the trio loop only
moves frames, so the node answers ``sd node status`` even while it indexes.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import trio

from projections.files.query import locations
from sdactors.indexer.rules import Rules
from sdactors.library.config import list_libraries
from sdactors.node.control.protocol import (
    HEADER,
    SOCKET_NAME,
    ProtocolError,
    frame,
    length_of,
    message_of,
)
from sdactors.node.failures import failure
from sdactors.runtime import tuning
from sdactors.runtime.errors import LibraryLocked, LibraryOpening, NodeRunning, SdError
from sdactors.runtime.lock import LibraryLock
from sdactors.runtime.logs import get_logger
from sdactors.runtime.paths import DataDir, file_id
from sdactors.watch.limits import Backoff
from sdactors.watch.watcher import Changed, LocationWatcher, WatchedLocation

if TYPE_CHECKING:
    from sdactors.library.handle import Library
    from sdactors.net.networking import Networking
    from sdactors.node.http.server import HttpServer
    from sdactors.ops.base import Op
    from sdactors.ops.context import CallContext, ProgressSink

log = get_logger(__name__)
T = TypeVar("T")

LOCK_NAME = "node.lock"
# The port the node's endpoint listened on, to listen on it again after a restart.
NET_STATE_NAME = "network.json"
# How often the node takes the rate of committed events, and over how long it averages it.
RATE_WINDOW_S = 10.0
# A location that cannot be watched (gone, unmounted, past the inotify limit) is rescanned
# and tried again after this wait, doubling up to the most.
WATCH_RETRY_S = tuning.backoff(5.0)
WATCH_RETRY_MOST_S = tuning.backoff(300.0)


class NodeProcess:
    """The state ``sd node status`` reports, and what the trio program runs."""

    def __init__(self, data_dir: Path) -> None:
        from sdactors.node.node import Node

        self.data = DataDir(data_dir)
        self.started = time.time()
        self._lock = LibraryLock(self.data.root / LOCK_NAME, "node")
        try:
            self._lock.acquire()
        except LibraryLocked as exc:
            raise NodeRunning(str(self.data.root), exc.holder) from None
        try:
            self.node = Node(self.data.root, serving=True)
        except BaseException:
            self._lock.release()
            raise
        self.node.service = self
        self.failed: dict[str, str] = {}
        # The libraries serving, by id: status reads them without asking any actor.
        self.libs: dict[str, Library] = {}
        self.watcher = LocationWatcher(backoff=Backoff(WATCH_RETRY_S, WATCH_RETRY_MOST_S))
        # What is watched: location id -> (library id, path, rules as stored).
        self._watched: dict[bytes, tuple[str, bytes, str]] = {}
        self._token: trio.lowlevel.TrioToken | None = None
        self._commits: deque[tuple[float, int]] = deque()
        self._commits_lock = threading.Lock()
        # The node's iroh endpoint (pairing, sync, Spacedrop); None until started, or when it
        # could not start (``net_error`` says why; everything local still serves).
        self.net: Networking | None = None
        self.net_error: str | None = None
        # The HTTP API and Explorer (None: [http] enabled = false).
        self.http: HttpServer | None = None

    def start_http(self) -> None:
        """Bind the HTTP server's socket (before anything else starts: a port in use or an
        address that must not be served without a password stops the node at once)."""
        from sdactors.node.http.server import HttpServer

        config = self.node.config.http
        if config.enabled:
            self.http = HttpServer(self, config)

    # -- what the HTTP server asks of the node ----------------------------------------------

    def execute(self, command: Op, progress: ProgressSink | None = None) -> Any:
        return self.node.execute(command, progress)

    def find_id(self, wanted: str | None) -> str:
        return self.node.find(wanted).id

    def context(self) -> CallContext:
        from sdactors.ops.context import CallContext

        return CallContext(self.node)

    # -- what the Networking actor asks of the node -----------------------------------------

    @property
    def key(self) -> Any:
        return self.node.key

    @property
    def device_name(self) -> str:
        return self.node.config.device_name

    def served(self, library_id: str) -> Library | None:
        return self.libs.get(library_id)

    def serving(self) -> list[str]:
        return list(self.libs)

    def create_served(self, name: str, library_id: str) -> Library:
        self.node.create_library(name, library_id, empty=True)
        self.serve_created(library_id, name)
        lib = self.libs.get(library_id)
        if lib is None:
            raise SdError(self.failed.get(library_id, f"library {library_id} failed to open"))
        return lib

    def discard_served(self, library_id: str) -> None:
        self.libs.pop(library_id, None)
        self.node.discard_library(library_id)
        log.info("library_discarded", library=library_id)

    def start_network(self) -> None:
        from sdactors.net.networking import Networking
        from sdactors.net.thumbs.cache import ThumbnailCache

        config = self.node.config
        cache = ThumbnailCache.of(self.data, config.thumbnails)
        net = Networking(self, config.network, cache, self.data.root / NET_STATE_NAME)
        try:
            net.start()
        except SdError as exc:
            self.net_error = str(exc)
            log.error("network_failed", error=str(exc))
            return
        self.net = net

    def stop_network(self) -> None:
        net, self.net = self.net, None
        if net is not None:
            net.stop()

    # -- libraries --------------------------------------------------------------------------

    async def open_libraries(self) -> None:
        """Open every library of the data directory, side by side (a large one catching up
        never holds up another); one that fails is marked failed. The watches follow each
        library as it comes up."""

        async def one(config: Any) -> None:
            await trio.to_thread.run_sync(self._open, config.id, config.name)
            self.sync_watches()

        async with trio.open_nursery() as nursery:
            for config in list_libraries(self.data):
                nursery.start_soon(one, config)

    def _open(self, library_id: str, name: str, rebuild: str | None = None) -> None:
        """``rebuild``: why its index is to be folded anew from the log (reads get the
        rebuild's progress until the swap)."""
        try:
            lib = self.node.open_library(library_id, rebuild=rebuild)
            lib.subscribe(("",), self._count, name="node-rate")
            lib.subscribe(
                ("location.",), lambda events: self._locations_changed(lib), name="node-watch"
            )
            # Its index could not be read while it was rebuilt: watch its locations anew.
            lib.when_recovered(
                lambda: threading.Thread(
                    target=self._locations_changed, args=(lib,), daemon=True
                ).start()
            )
            lib.resume_unfinished_jobs()
        except (SdError, OSError) as exc:
            self.failed[library_id] = str(exc)
            log.error("library_failed", library=library_id, name=name, error=str(exc))
            return
        self.failed.pop(library_id, None)
        self.libs[library_id] = lib
        self.node.follow_agents(library_id)
        log.info("library_serving", library=library_id, name=name)
        if self.net is not None:
            from sdactors.net.messages import Serve

            self.net.tell(Serve(library_id))

    def serve_created(self, library_id: str, name: str) -> None:
        """A library created through the node (from a worker thread): serve and watch it."""
        self._open(library_id, name)
        self._resync_watches()

    def closed_for(self, library_id: str, work: Callable[[], T]) -> T:
        """Run ``work`` (from a worker thread) with the library closed in this node, then
        serve it again: a restore replaces its log file, which its actors hold open. Its
        watches and sync stop meanwhile; the node's other libraries go on."""
        lib = self.libs.pop(library_id, None)
        if lib is None and library_id not in self.failed:
            raise LibraryOpening(library_id)
        name = lib.config.name if lib is not None else self.node.find(library_id).name
        self._resync_watches()
        log.info("library_closed_for_swap", library=library_id, name=name)
        self.node.unfollow_agents(library_id)
        self.node.close_library(library_id)
        try:
            return work()
        finally:
            self._open(library_id, name, rebuild="its log was restored")
            self._resync_watches()

    def _resync_watches(self) -> None:
        if self._token is not None:
            try:
                trio.from_thread.run_sync(self.sync_watches, trio_token=self._token)
            except trio.RunFinishedError:
                pass  # stopping

    # -- watching ---------------------------------------------------------------------------

    def _locations_changed(self, lib: Library) -> None:
        """A location added, removed, or with new rules (from a bus thread), or the library
        recovered: watch anew, once the index has folded it."""
        if self._token is None:
            return
        try:
            lib.catch_up()
        except SdError as exc:  # a full disk, an index being rebuilt: watched on recovery
            log.warning("watches_not_synced", library=lib.config.id, error=str(exc))
            return
        try:
            trio.from_thread.run_sync(self.sync_watches, trio_token=self._token)
        except trio.RunFinishedError:
            pass  # stopping

    def sync_watches(self) -> None:
        """Watch this device's locations of every serving library, as they are now (in the
        trio thread: the watcher is not thread-safe)."""
        wanted: dict[bytes, tuple[str, bytes, str]] = {}
        for library_id, lib in list(self.libs.items()):
            try:
                with lib.index() as db:
                    mine = [row for row in locations(db) if row.device == lib.device]
            except SdError as exc:
                # Its index cannot be read now (being rebuilt): keep its watches as they are.
                log.warning("watches_kept", library=library_id, error=str(exc))
                wanted.update((k, v) for k, v in self._watched.items() if v[0] == library_id)
                continue
            for row in mine:
                wanted[row.location] = (library_id, row.path, row.rules)
        for location in set(self._watched) - set(wanted):
            self.watcher.remove(location)
            del self._watched[location]
        for location, spec in wanted.items():
            if self._watched.get(location) != spec:
                rules = Rules.from_dict(json.loads(spec[2]))
                private = file_id(self.data.root)
                self.watcher.add(WatchedLocation(location, spec[1], rules, private=private))
                self._watched[location] = spec

    async def rescan_changes(self, receive: trio.MemoryReceiveChannel[Changed]) -> None:
        """Each batch of changes becomes a rescan job of its location (merged with one
        still waiting), so the watcher never waits for an index."""
        async for changed in receive:
            owner = self._watched.get(changed.location)
            lib = self.libs.get(owner[0]) if owner is not None else None
            if lib is None:
                continue
            try:
                lib.rescan_soon(changed.location, None if changed.whole else changed.folders)
            except SdError as exc:
                log.warning("rescan_not_queued", location=changed.location.hex(), error=str(exc))

    def _count(self, events: Any) -> None:
        with self._commits_lock:
            now = time.monotonic()
            self._commits.append((now, len(events)))
            while self._commits and now - self._commits[0][0] > RATE_WINDOW_S:
                self._commits.popleft()

    # -- status -----------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        import psutil

        with self._commits_lock:
            now = time.monotonic()
            recent = sum(n for at, n in self._commits if now - at <= RATE_WINDOW_S)
        libraries = []
        jobs = []
        for lib in list(self.libs.values()):
            jobs.extend({"library": lib.config.name, **j} for j in lib.jobs.snapshot())
        for config in list_libraries(self.data):
            lib = self.libs.get(config.id)
            health = lib.health.status() if lib is not None else {"index": None, "disk": None}
            state, error = health.get("state", "opening"), health.get("error")
            failed = self.failed.get(config.id)
            if failed is None:
                failed_actors = self._failed_actors(config.id)
                if failed_actors:
                    failed = "; ".join(f"{a}: {e}" for a, e in failed_actors.items())
            if failed is not None:
                state, error = "failed", failed
            libraries.append(
                {
                    "id": config.id,
                    "name": config.name,
                    "state": state,
                    "error": error,
                    "restarts": self._restarts(config.id),
                    "index": health["index"],
                    "disk": health["disk"],
                }
            )
        return {
            "pid": os.getpid(),
            "uptime_s": round(time.time() - self.started, 3),
            "libraries": libraries,
            "jobs": jobs,
            "rss_bytes": psutil.Process().memory_info().rss,
            "events_per_s": round(recent / RATE_WINDOW_S, 3),
            "network": {
                "device": self.node.device.hex(),
                "addresses": list(self.net.addresses) if self.net is not None else [],
                "error": self.net_error,
            },
            "watching": [
                {"location": key, "library": self._library_name(key), **state}
                for key, state in self.watcher.status().items()
            ],
            "http": {"url": self.http.url} if self.http is not None else None,
        }

    def _failed_actors(self, library_id: str) -> dict[str, str]:
        lib = self.libs.get(library_id)
        return lib.supervisor.failed() if lib is not None else {}

    def _restarts(self, library_id: str) -> dict[str, int]:
        lib = self.libs.get(library_id)
        if lib is None:
            return {}
        counts: dict[str, int] = {}
        for crash in lib.supervisor.history():
            counts[crash["actor"]] = crash["restarts"]
        return counts

    def _library_name(self, location_hex: str) -> str | None:
        owner = self._watched.get(bytes.fromhex(location_hex))
        lib = self.libs.get(owner[0]) if owner is not None else None
        return lib.config.name if lib is not None else None

    def close(self) -> None:
        try:
            self.stop_network()
            self.node.close()
        finally:
            self._lock.release()


# -- the trio program -----------------------------------------------------------------------


def run(data_dir: Path, ready: trio.Event | None = None) -> int:
    """Run the node until SIGINT or SIGTERM; the exit status."""
    process = NodeProcess(data_dir)
    try:
        process.start_http()
        return trio.run(_main, process, ready)
    finally:
        process.close()
        log.info("node_stopped", data=str(data_dir))


async def _main(process: NodeProcess, ready: trio.Event | None) -> int:
    path = process.data.root / SOCKET_NAME
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            listener = await _listen(path)
            nursery.start_soon(_serve, listener, process, nursery)
            if process.http is not None:
                await nursery.start(process.http.run)
            process._token = trio.lowlevel.current_trio_token()
            await trio.to_thread.run_sync(process.start_network)
            send, receive = trio.open_memory_channel[Changed](0)
            await nursery.start(process.watcher.run, send)
            nursery.start_soon(process.rescan_changes, receive)
            await process.open_libraries()
            log.info(
                "node_serving",
                data=str(process.data.root),
                pid=os.getpid(),
                socket=str(path),
                http=process.http.url if process.http is not None else None,
            )
            if ready is not None:
                ready.set()
            async for signum in signals:
                log.info("node_stopping", signal=signal.Signals(signum).name)
                break
            process._token = None
            if process.http is not None:
                await process.http.stop()
            process.watcher.stop()
            await trio.to_thread.run_sync(process.stop_network)
            nursery.cancel_scope.cancel()
    path.unlink(missing_ok=True)
    return 0


async def _listen(path: Path) -> trio.SocketListener:
    import socket as stdsocket

    path.unlink(missing_ok=True)  # left by a node that died: the instance lock says it is gone
    sock = trio.socket.socket(stdsocket.AF_UNIX, stdsocket.SOCK_STREAM)
    old = os.umask(0o177)  # owner-only from the start, not chmod-ed afterwards
    try:
        await sock.bind(os.fspath(path))
    finally:
        os.umask(old)
    sock.listen(64)
    return trio.SocketListener(sock)


async def _serve(
    listener: trio.SocketListener, process: NodeProcess, nursery: trio.Nursery
) -> None:
    async with listener:
        while True:
            stream = await listener.accept()
            nursery.start_soon(_connection, stream, process)


async def _connection(stream: trio.SocketStream, process: NodeProcess) -> None:
    """One client's requests, one after the other. Whatever goes wrong with one connection
    ends that connection, never the node: the connection's task runs in the node's nursery,
    where an exception would cancel everything."""
    log.info("client_connected")
    async with stream:
        buffer = b""
        try:
            while True:
                while len(buffer) < HEADER.size:
                    chunk = await stream.receive_some(1 << 16)
                    if not chunk:
                        return
                    buffer += chunk
                length = length_of(buffer[: HEADER.size])
                while len(buffer) < HEADER.size + length:
                    chunk = await stream.receive_some(1 << 20)
                    if not chunk:
                        return
                    buffer += chunk
                body = buffer[HEADER.size : HEADER.size + length]
                buffer = buffer[HEADER.size + length :]
                await _request(stream, process, message_of(body))
        except (ProtocolError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            log.info("client_dropped", error=str(exc))
        except Exception as exc:  # noqa: BLE001 - a bug in serving one client: log it, go on
            log.error("client_failed", error=f"{type(exc).__name__}: {exc}")


async def _request(stream: trio.SocketStream, process: NodeProcess, message: dict) -> None:
    from sdactors.ops import registry  # noqa: F401 - every command registered
    from sdactors.ops.base import decode

    request_id = message.get("id")
    await _send(stream, request_id, {"accepted": True})
    try:
        command = decode(message.get("op"), message.get("args"))
    except SdError as exc:
        await _send(stream, request_id, _error(exc))
        return
    token = trio.lowlevel.current_trio_token()
    sink = _Sink(stream, request_id, token)
    try:
        result = await trio.to_thread.run_sync(
            process.node.execute, command, sink, abandon_on_cancel=True
        )
    except Exception as exc:  # noqa: BLE001 - every failure is the client's answer
        await _send(stream, request_id, _error(exc))
        return
    await _send(stream, request_id, {"result": result}, op=command.op_name)


async def _send(
    stream: trio.SocketStream, request_id: Any, message: dict[str, Any], op: str | None = None
) -> None:
    """Send one answer; one that cannot be encoded becomes an error answer and a log record."""
    try:
        data = frame({"id": request_id, **message})
    except (TypeError, ValueError, OverflowError) as exc:
        why = f"{type(exc).__name__}: {exc}"
        log.error("reply_unencodable", op=op, error=why)
        failure = SdError(f"internal error: the node could not send its answer ({why})")
        data = frame({"id": request_id, **_error(failure)})
    await stream.send_all(data)


def _error(exc: BaseException) -> dict[str, Any]:
    kind, message, _expected = failure(exc)
    return {"error": {"kind": kind, "message": message}}


class _Sink:
    """A command's progress, sent to its client from the worker thread it runs in."""

    def __init__(self, stream: trio.SocketStream, request_id: Any, token: Any) -> None:
        self._stream = stream
        self._id = request_id
        self._token = token

    def put(self, info: dict[str, Any]) -> None:
        try:
            data = frame({"id": self._id, "progress": info})
        except (TypeError, ValueError, OverflowError) as exc:
            log.error("progress_unencodable", error=f"{type(exc).__name__}: {exc}")
            return  # the command goes on; its result says how it ended
        try:
            trio.from_thread.run(self._stream.send_all, data, trio_token=self._token)
        except (trio.BrokenResourceError, trio.ClosedResourceError, trio.RunFinishedError):
            pass  # the client went away; the command goes on
