"""The Journal: the only writer of a library's events.db.

Appends are group-committed. An ``Append`` (asked) only queues its drafts and, if none is
queued yet, sends the Journal a ``_Flush`` behind everything already in its inbox. When the
flush runs, every append that arrived meanwhile goes into one transaction with one fsync, and
each asker's future is settled after the commit (the Journal answers each with a
:class:`~sdactors.runtime.mailbox.Later`). Under load the batches grow by themselves: while one commit
waits for the disk, the next batch gathers in the inbox.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import pykka

from events.checkpoint import WalCheckpointer
from events.clock import HybridClock, ahead_ms
from events.domain import CATALOG
from events.domain.device import DeviceRegistered
from events.envelope import Event
from events.errors import InvalidEvent
from events.exportfile import ExportReader
from events.keys import DeviceKey
from events.sqlite_faults import disk_full
from events.store import EventStore, IngestReport
from events.validation import event_problem
from events.writer import Draft, LogWriter
from sdactors.library.bus import Publish
from sdactors.library.health import LibraryHealth
from sdactors.runtime.errors import ActorFailed, AwaitingOwnEvents
from sdactors.runtime.logs import get_logger
from sdactors.runtime.mailbox import Later
from sdactors.runtime.supervisor import CrashHook, SupervisedActor

log = get_logger(__name__)

# Events ingested are published in chunks of at most this many bytes (and 1,000 events).
PUBLISH_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """How this device introduces itself in seq 1 of its events in a library."""

    name: str
    hostname: str
    os: str


@dataclass(frozen=True, slots=True)
class Append:
    """Append drafts as this device's next events; asked, the answer is :class:`Appended`
    once they are durable."""

    drafts: tuple[Draft, ...]


@dataclass(frozen=True, slots=True)
class Appended:
    first_pos: int
    events: tuple[Event, ...]

    @property
    def last_pos(self) -> int:
        return self.first_pos + len(self.events) - 1


@dataclass(frozen=True, slots=True)
class Ingest:
    """Verify and store foreign events, ``(data, sig)`` pairs; the answer is the
    :class:`IngestReport`.

    With ``whole``, events no seal covers are refused instead of held back.
    """

    wire: tuple[tuple[bytes, bytes | None], ...]
    whole: bool = False


@dataclass(frozen=True, slots=True)
class IngestExport:
    """Verify and store every event of the export file at ``path``, or none of them (it may
    be far larger than memory: the Journal reads it as it ingests); the answer is the
    :class:`IngestReport`. A file that breaks off or fails its trailer writes nothing."""

    path: str


@dataclass(frozen=True, slots=True)
class OwnEventsHeld:
    """A peer holds this device's own events up to ``seq`` (its vector, in a sync session).

    After a forced restore, appends wait until this device holds as many (see
    ``sdactors.library.log_health``)."""

    seq: int


@dataclass(frozen=True, slots=True)
class AcceptLoss:
    """Write again after a forced restore without waiting for a peer; the answer is whether
    writes were waiting."""


@dataclass(frozen=True, slots=True)
class _Flush:
    pass


@dataclass(frozen=True, slots=True)
class _HoldExpired:
    pass


class Journal(SupervisedActor):
    def __init__(
        self,
        events_path: str,
        key: DeviceKey,
        device: DeviceInfo,
        bus: pykka.ActorRef | Callable[[], pykka.ActorRef] | None,
        health: LibraryHealth,
        on_crash: CrashHook | None = None,
        restored: Path | None = None,
        hold_s: float = 0.0,
    ) -> None:
        """``bus`` may be a function that finds the current bus: a bus restarted by the
        supervisor is a new actor, and publishing to the dead one must not crash the Journal.
        ``health`` hears of a full disk (the writes are refused with its line) and of the
        next write that succeeds.

        ``restored`` is the library's mark of a forced restore (``sdactors.library.log_health``):
        while it exists, appends wait for a peer to send this device's own later events back,
        ``hold_s`` at most (a node's library, whose sync can bring them), or fail at once
        (0: a command's own library, which has no network)."""
        super().__init__(on_crash)
        self._path = events_path
        self._key = key
        self._device = device
        self._bus = bus
        self._health = health
        # Appends waiting for the next commit, each with its asker's answer.
        self._pending: list[tuple[Sequence[Draft], Later]] = []
        self._flush_queued = False
        self._restored = restored
        self._hold_s = hold_s
        self._held: list[tuple[float, tuple[Sequence[Draft], Later]]] = []
        self._timer: threading.Timer | None = None

    def started(self) -> None:
        self._store = EventStore(self._path)
        self._store.checkpoint_elsewhere()
        self._checkpointer = WalCheckpointer(self._path).start()
        seq, prev = self._store.head(self._key.public)
        self._writer = LogWriter(
            self._key, self._resumed_clock(), self._store.library_key, seq, prev
        )
        self._awaiting = self._restored is not None and self._restored.exists()
        if self._awaiting:
            log.info("journal_awaiting_own_events", head=seq)

    def _resumed_clock(self) -> HybridClock:
        """The clock goes on after this device's own last event, whatever the wall clock says
        (one device's events are in time order), and after the others' as far as
        ``MAX_AHEAD_MS`` allows: a peer's clock days ahead must not carry this one along
        every time the library opens."""
        own = self._store.last_hlcs().get(self._key.public, 0)
        ahead = ahead_ms(own)
        if ahead is not None:
            log.info("clock_behind_own_events", ahead_ms=ahead)
        clock = HybridClock(own)
        clock.observe(self._store.hlc_high)
        return clock

    def on_stop(self) -> None:
        self._commit_pending()
        if self._timer is not None:
            self._timer.cancel()
        for _deadline, request in self._held:
            self._refuse(request, None)
        self._held = []
        self._checkpointer.stop()
        self._store.close()

    def crashed(self, error: BaseException) -> None:
        checkpointer = getattr(self, "_checkpointer", None)
        if checkpointer is not None:
            checkpointer.stop()
        if self._timer is not None:
            self._timer.cancel()
        waiting = self._pending + [request for _deadline, request in self._held]
        for _drafts, answer in waiting:
            answer.set_exception(exc_info=(type(error), error, error.__traceback__))
        self._pending, self._held = [], []

    def on_receive(self, message: object) -> object:
        if isinstance(message, Append):
            answer = Later()
            if self._awaiting:
                self._hold((message.drafts, answer))
                return answer
            self._pending.append((message.drafts, answer))
            if not self._flush_queued:
                self._flush_queued = True
                self.actor_ref.tell(_Flush())
            return answer
        elif isinstance(message, _Flush):
            self._flush_queued = False
            self._commit_pending()
        elif isinstance(message, Ingest):
            self._commit_pending()
            return self._ingest(message.wire, message.whole)
        elif isinstance(message, IngestExport):
            self._commit_pending()
            with open(message.path, "rb") as fh:
                return self._ingest(ExportReader(fh, name=message.path).records(), True)
        elif isinstance(message, OwnEventsHeld):
            if self._awaiting and self._writer.seq >= message.seq:
                log.info("journal_own_events_back", head=self._writer.seq)
                self._stop_awaiting()
        elif isinstance(message, AcceptLoss):
            was = self._awaiting
            if was:
                log.warning("journal_own_events_given_up", head=self._writer.seq)
                self._stop_awaiting()
            return was
        elif isinstance(message, _HoldExpired):
            self._timer = None
            self._refuse_due()
        else:
            raise TypeError(f"Journal got an unexpected message: {message!r}")
        return None

    # -- after a forced restore: this device's appends wait for its own events -------------

    def _hold(self, request: tuple[Sequence[Draft], Later]) -> None:
        if self._hold_s <= 0:
            self._refuse(request, None)
            return
        self._held.append((time.monotonic() + self._hold_s, request))
        self._arm()

    def _arm(self) -> None:
        if self._timer is not None or not self._held:
            return
        wait = max(0.0, min(deadline for deadline, _ in self._held) - time.monotonic())
        self._timer = threading.Timer(wait + 0.01, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self) -> None:
        try:
            self.actor_ref.tell(_HoldExpired())
        except pykka.ActorDeadError:
            pass  # stopped meanwhile: on_stop answered the held appends

    def _refuse_due(self) -> None:
        """The held appends that waited ``hold_s``: no peer brought the events back."""
        now, keep = time.monotonic(), []
        for deadline, request in self._held:
            if deadline <= now:
                self._refuse(request, self._hold_s)
            else:
                keep.append((deadline, request))
        self._held = keep
        self._arm()

    def _refuse(self, request: tuple[Sequence[Draft], Later], waited_s: float | None) -> None:
        error = AwaitingOwnEvents(waited_s)
        drafts, answer = request
        log.info("journal_refused_awaiting_own_events", drafts=len(drafts))
        answer.set_exception(exc_info=(type(error), error, None))

    def _stop_awaiting(self) -> None:
        """Own events are back (or given up): the mark goes, the held appends go in."""
        assert self._restored is not None
        self._restored.unlink(missing_ok=True)
        self._awaiting = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._pending.extend(request for _deadline, request in self._held)
        self._held = []
        self._commit_pending()

    def _registration(self) -> list[Draft]:
        if self._writer.seq:
            return []
        info = self._device
        return [CATALOG.body(DeviceRegistered(info.name, info.hostname, info.os))]

    def _valid(
        self, requests: list[tuple[Sequence[Draft], Later]]
    ) -> list[tuple[Sequence[Draft], Later]]:
        """The requests whose drafts may enter the log; each other one fails alone, with the
        type, place and reason of its first invalid draft, and writes nothing."""
        library = self._store.library
        valid = []
        for request in requests:
            drafts, answer = request
            for i, (type_name, v, body) in enumerate(drafts):
                problem = event_problem(type_name, v, body, library, self._key.public)
                if problem is not None:
                    error = InvalidEvent(type_name, i + 1, len(drafts), problem)
                    log.warning("journal_refused_draft", error=str(error))
                    answer.set_exception(exc_info=(type(error), error, None))
                    break
            else:
                valid.append(request)
        return valid

    def _commit_pending(self) -> None:
        if not self._pending:
            return
        requests, self._pending = self._valid(self._pending), []
        if not requests:
            return
        drafts = self._registration()
        skip = len(drafts)
        for request_drafts, _answer in requests:
            drafts.extend(request_drafts)
        seq, prev = self._writer.seq, self._writer.prev
        try:
            # Inside the try: a draft that cannot be encoded (or a clock past its range) must
            # fail the callers' replies; they were already taken off ``_pending``, so a crash
            # here would leave them waiting for REPLY_TIMEOUT_S.
            # The only writer: its events go right after the head, and are built in place.
            first = self._store.head_pos + 1
            events = self._writer.build(drafts, first)
            self._store.append(events)
        except Exception as exc:
            self._writer.rewind(seq, prev)
            log.error("journal_commit_failed", error=str(exc), events=len(drafts))
            error = self._health.disk_full() if disk_full(exc) else exc
            for _drafts, answer in requests:
                answer.set_exception(exc_info=(type(error), error, error.__traceback__))
            return
        self._health.wrote()
        placed = tuple(events)
        at = skip
        for request_drafts, answer in requests:
            n = len(request_drafts)
            answer.set(Appended(first + at, placed[at : at + n]))
            at += n
        self._publish(placed)

    def _ingest(self, wire: Iterable[tuple[bytes, bytes | None]], whole: bool) -> IngestReport:
        """Raised, an error is the asker's answer; the Journal lives on."""
        try:
            report = self._store.ingest(wire, whole=whole)
        except Exception as exc:
            if disk_full(exc):
                raise self._health.disk_full() from exc
            raise
        if report.accepted:
            self._health.wrote()
            self._writer.clock.observe(report.max_hlc)
            own = self._store.head(self._key.public)
            if own[0] > self._writer.seq:
                # Our own events came back (a restore): continue the chain after them, and
                # the clock after their time.
                self._writer.rewind(*own)
                self._writer.clock.follow_own(self._store.last_hlcs()[self._key.public])
            # Read them back in chunks: an import can be far larger than memory should hold,
            # and a chunk of a peer's events decoded many times its bytes.
            chunk: list[Event] = []
            size = 0
            for ev in self._store.read(report.first_pos - 1, until=report.last_pos):
                chunk.append(ev)
                size += len(ev.data)
                if len(chunk) >= 1000 or size >= PUBLISH_BYTES:
                    self._publish(chunk)
                    chunk, size = [], 0
            self._publish(chunk)
        return report

    def _publish(self, events: Sequence[Event]) -> None:
        if self._bus is None or not events:
            return
        try:
            bus = self._bus if isinstance(self._bus, pykka.ActorRef) else self._bus()
            bus.tell(Publish(tuple(events)))
        except (pykka.ActorDeadError, ActorFailed) as exc:
            # The events are committed; only the notice is lost, and readers fold from the
            # log, not from notices. Crashing here would crash the only writer in a loop.
            log.warning("journal_publish_failed", error=str(exc), events=len(events))
