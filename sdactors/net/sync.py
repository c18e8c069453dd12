"""Log replication (``sd/sync/1``): one session per library and peer, on one QUIC stream.

1. The dialing side sends ``{lib, vec}``; the other side answers with its own ``{vec}``, or
   ``{refused, code}`` (not paired, revoked, no such library here, already connected).
   Either side adds ``revoked: true`` when it holds the other revoked, but contestably
   (``projections.membership``: an admin, which may hold the earlier revocation that undoes
   its own): that side only takes what the other sends, and sends it nothing, not one event.
   Two devices that hold each other so would send each other nothing: the answer refuses.
2. Each side then sends what the other lacks, read from the store as stored (no decoding),
   in frames of about a MiB, each ending at a seal: ``{ev: [[data, seal], ...], upto:
   {device: seq}}``.
3. Each frame received is checked whole in memory and handed to the Journal as one ingest:
   the network never holds the write transaction. Events after the last seal of their
   device are kept back and sent with the next frame; any refusal ends the session and
   writes nothing of the frame. The Journal is told how many of this device's own events
   the peer holds (at the start, after each frame): after a forced restore it writes only
   once it holds as many.
4. Then the session stays: each commit to the library wakes the sender, which sends what the
   peer still lacks (by what it said it has, and what was sent to it since). Two peers in
   sync exchange their vectors and nothing else.

What a session knows of its peer (``known``: what the peer holds, ``theirs``: what it
said it holds) is only ever used to choose what to send, never to accept anything: every
event received is verified by the store as if nothing were known.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from events.keys import short_device
from events.store import EventStore
from sdactors.net.frames import read_frame, write_frame
from sdactors.runtime.errors import PeerGone, ProtocolViolation
from sdactors.runtime.logs import get_logger

if TYPE_CHECKING:
    from sdactors.library.handle import Library

log = get_logger(__name__)

ALPN_SYNC = b"sd/sync/1"
# A frame of events holds about this much (whole events; the last may overshoot). The node's
# environment may set it (SD_SYNC_BATCH_BYTES): smaller frames make a slow link's progress
# finer, and let tests stop a node in the middle of a sync.
BATCH_BYTES = 1 << 20
BATCH_ENV = "SD_SYNC_BATCH_BYTES"
# A frame with no seal yet is cut at this many times the frame size anyway.
UNSEALED_MOST = 8
# A session sends a ping this often when idle, and a peer silent for PEER_SILENT_S is gone.
PING_S = 10.0
PEER_SILENT_S = 35.0
# Frames received and waiting for the Journal: reading goes on while a frame is ingested.
INGEST_QUEUE = 4


class BatchRefused(Exception):
    """A frame from the peer failed verification: nothing of it was written."""


class SessionRefused(Exception):
    def __init__(self, reason: str, code: str) -> None:
        super().__init__(reason)
        self.code = code


Vector = dict[bytes, int]
# The highest seq an event can carry (events.envelope): a vector claiming more is no vector.
SEQ_MAX = (1 << 63) - 1


def merge(into: Vector, other: Vector) -> None:
    for device, seq in other.items():
        if seq > into.get(device, 0):
            into[device] = seq


def clamp(vector: Vector, upto: Vector | None) -> Vector:
    """``vector`` cut to what ``upto`` lets through (a device not in it: nothing; None: all)."""
    if upto is None:
        return vector
    out = {}
    for device, seq in vector.items():
        seq = min(seq, upto.get(device, 0))
        if seq > 0:
            out[device] = seq
    return out


def lacking(have: Vector, wanted: Vector) -> int:
    """How many events of ``wanted`` are not in ``have``."""
    return sum(max(0, seq - have.get(device, 0)) for device, seq in wanted.items())


def check_vector(value: Any) -> Vector:
    """A vector from a peer: device ids to sequence numbers an event can have, nothing else."""
    if type(value) is not dict or len(value) > 100_000:
        raise ProtocolViolation("a version vector that is not a map")
    for device, seq in value.items():
        if type(device) is not bytes or len(device) != 32 or type(seq) is not int:
            raise ProtocolViolation("a version vector with a bad entry")
        if not 0 <= seq <= SEQ_MAX:
            raise ProtocolViolation(f"a version vector with a seq out of range ({seq})")
    return value


def check_events(value: Any) -> list[tuple[bytes, bytes | None]]:
    if type(value) is not list:
        raise ProtocolViolation("events that are not a list")
    out = []
    for item in value:
        if (
            type(item) is not list
            or len(item) != 2
            or type(item[0]) is not bytes
            or not (item[1] is None or type(item[1]) is bytes)
        ):
            raise ProtocolViolation("an event that is not [data, seal]")
        out.append((item[0], item[1]))
    return out


@dataclass
class PeerLink:
    """This node's view of one peer in one library: sync status reads it as it is."""

    device: bytes
    name: str | None = None
    addresses: tuple[str, ...] = ()
    # Revoked: refused, never dialed. Heard: revoked, contestably (see the module's text):
    # dialed and answered, in sessions that only take what it sends.
    revoked: bool = False
    heard: bool = False
    paused: bool = False
    session: "Session | None" = None
    known: Vector = field(default_factory=dict)
    theirs: Vector = field(default_factory=dict)
    last_sync: float | None = None
    last_seen: float | None = None
    reason: str | None = None
    reason_since: float | None = None
    backoff: float = 0.0
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    sent_bytes: int = 0
    received_bytes: int = 0

    def fail(self, reason: str) -> None:
        if self.reason != reason:
            self.reason_since = time.time()
        self.reason = reason

    def ok(self) -> None:
        self.reason = None
        self.reason_since = None


class Session:
    """One live exchange with a peer over a stream; ``run`` returns when it ends."""

    def __init__(
        self,
        lib: "Library",
        link: PeerLink,
        send: Any,
        recv: Any,
        initiator: bytes,
        conn: Any,
        receive_only: bool = False,
    ) -> None:
        """``receive_only``: the peer is revoked here, but contestably (see the module's
        text): nothing is sent to it, and what it says it holds counts for nothing."""
        self.lib = lib
        self.link = link
        self.send = send
        self.recv = recv
        self.conn = conn
        self.receive_only = receive_only
        # Which device dialed: of two sessions between the same pair, the one the lower
        # device dialed is kept, on both sides alike.
        self.initiator = initiator
        self.wake = asyncio.Event()
        self.ended = asyncio.Event()
        self.closing_reason: str | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="sync-read")
        self._store: EventStore | None = None
        self._tasks: list[asyncio.Task] = []
        self._batch_bytes = max(1, int(os.environ.get(BATCH_ENV) or BATCH_BYTES))

    async def run(self) -> None:
        link = self.link
        link.session = self
        link.last_seen = time.time()
        self._own_held()
        try:
            async with asyncio.TaskGroup() as group:
                self._tasks = [
                    group.create_task(self._sender()),
                    group.create_task(self._receiver()),
                    group.create_task(self._pinger()),
                ]
        except BaseExceptionGroup as group:
            raise first_failure(group) from None
        finally:
            if link.session is self:
                link.session = None
            self.ended.set()
            self._pool.submit(self._close_store)
            self._pool.shutdown(wait=False)

    def close(self, reason: str) -> None:
        """End the session from outside (revoked, replaced, the node stopping)."""
        self.closing_reason = reason
        for task in self._tasks:
            task.cancel()
        try:
            self.conn.close(0, reason.encode()[:100])
        except Exception:  # noqa: BLE001 - already closed
            pass

    # -- sending ----------------------------------------------------------------------------

    def _open_store(self) -> EventStore:
        if self._store is None:
            self._store = EventStore(self.lib.config.paths.events, readonly=True)
        else:
            self._store.refresh()
        return self._store

    def _close_store(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def _batches(self, known: Vector) -> Any:
        """Batches of what a peer holding ``known`` lacks (runs in the reading thread)."""
        store = self._open_store()
        pairs: list[list[Any]] = []
        upto: Vector = {}
        size = 0
        allowed = self.lib.forwardable(self.lib.device)
        for device, first, items, sig in store.missing_wire(known, allowed):
            last = len(items) - 1
            for i, data in enumerate(items):
                sealed = i == last and sig is not None
                pairs.append([data, sig if i == last else None])
                size += len(data)
                upto[device] = first + i
                # Frames end at a seal, so each is a run the receiver can ingest whole; only
                # a run far longer than a frame is cut anywhere (the receiver holds back its
                # unsealed tail until the rest comes).
                if (
                    sealed and size >= self._batch_bytes
                ) or size >= UNSEALED_MOST * self._batch_bytes:
                    yield pairs, upto
                    pairs, upto, size = [], {}, 0
        if pairs:
            yield pairs, upto

    async def _sender(self) -> None:
        if self.receive_only:
            return
        loop = asyncio.get_running_loop()
        link = self.link
        while True:
            self.wake.clear()
            batches = await loop.run_in_executor(self._pool, self._batches, dict(link.known))
            while True:
                batch = await loop.run_in_executor(self._pool, next, batches, None)
                if batch is None:
                    break
                pairs, upto = batch
                link.sent_bytes += await write_frame(self.send, {"ev": pairs, "upto": upto})
                merge(link.known, upto)
            link.last_sync = time.time()
            await self.wake.wait()

    async def _pinger(self) -> None:
        while True:
            await asyncio.sleep(PING_S)
            self.link.sent_bytes += await write_frame(self.send, {"p": 0})
            if time.time() - (self.link.last_seen or 0) > PEER_SILENT_S:
                raise PeerGone(f"silent for more than {PEER_SILENT_S:.0f} s")

    # -- receiving --------------------------------------------------------------------------

    async def _receiver(self) -> None:
        queue: asyncio.Queue = asyncio.Queue(INGEST_QUEUE)
        async with asyncio.TaskGroup() as group:
            group.create_task(self._ingester(queue))
            while True:
                message, size = await read_frame(self.recv)
                self.link.received_bytes += size
                self.link.last_seen = time.time()
                if type(message) is not dict:
                    raise ProtocolViolation("a frame that is not a map")
                if "ev" in message:
                    pairs = check_events(message["ev"])
                    upto = check_vector(message.get("upto", {}))
                    await queue.put((pairs, upto))
                elif "p" in message:
                    continue
                else:
                    raise ProtocolViolation(f"an unexpected frame ({sorted(map(str, message))})")

    async def _ingester(self, queue: asyncio.Queue) -> None:
        loop = asyncio.get_running_loop()
        link = self.link
        held: list[tuple[bytes, bytes | None]] = []
        while True:
            pairs, upto = await queue.get()
            # The peer holds what it sent: never send it back (the ingest's own notice wakes
            # the sender, so this must be known before). A frame that fails ends the session.
            merge(link.known, upto)
            wire = held + pairs
            report = await loop.run_in_executor(None, self.lib.ingest, wire)
            if report.refused:
                refusal = report.refused[0]
                raise BatchRefused(f"refused its batch: {refusal}")
            # What it holds, as far as status counts: only what a frame we took says.
            merge(link.theirs, upto)
            held = [(ev.data, ev.sig) for ev in report.held_back]
            link.last_sync = time.time()
            self._own_held()

    def _own_held(self) -> None:
        """Tell the library how many of this device's own events the peer holds: after a
        forced restore, this device writes only once it holds as many again (they come in
        the frames before, as any event it lacks). A revoked peer's word is not taken."""
        if not self.receive_only:
            self.lib.own_events_held(self.link.theirs.get(self.lib.device, 0))


@dataclass
class Hello:
    """What the other side answered a dialer's opening."""

    vector: Vector
    # The bytes the opening and the answer took on the wire.
    size: int
    # It holds the dialer revoked, contestably: it takes what the dialer sends, nothing more.
    takes_only: bool


async def hello(
    send: Any, recv: Any, library: bytes, vector: Vector, revoked: bool = False
) -> Hello:
    """The dialing side's opening: our vector out (and whether we hold the peer revoked,
    contestably), theirs back (or a refusal)."""
    opening: dict[str, Any] = {"lib": library, "vec": vector}
    if revoked:
        opening["revoked"] = True
    sent = await write_frame(send, opening)
    answer, size = await read_frame(recv)
    if type(answer) is not dict:
        raise ProtocolViolation("an answer that is not a map")
    if "refused" in answer:
        raise SessionRefused(str(answer["refused"])[:300], str(answer.get("code", ""))[:32])
    return Hello(check_vector(answer.get("vec")), sent + size, answer.get("revoked") is True)


def first_failure(group: BaseExceptionGroup) -> BaseException:
    """The exception that ended a task group (the others were cancelled because of it)."""
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            return first_failure(exc)
        if not isinstance(exc, asyncio.CancelledError):
            return exc
    return group.exceptions[0]


def describe(device: bytes, name: str | None) -> str:
    return f"{name} ({short_device(device)})" if name else short_device(device)
