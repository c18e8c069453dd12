"""The rules for foreign events (a peer's, an import's): what the store accepts, and why it
refuses the rest.

Only bytes cross this boundary: each event is decoded and its id computed here, so a sender's
claims about an event are never trusted. Its place in its device's chain is checked against
what is held (``events.chain``), its body against its declared shape
(``events.validation``), and runs are accepted only up to a valid seal. A copy of a held
event is skipped; a different event at a held ``(device, seq)`` is an equivocation.
:class:`Ingestion` decides; the store writes what it accepts, in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from events.chain import BAD_SEAL, link_problem, seal_problem, unsealed
from events.envelope import ZERO_ID, Event, decode, event_id
from events.errors import CodecError
from events.keys import short_device, start_checks
from events.segments import SEGMENT_MAX

# An ingest holds unsealed events in memory until their seal arrives; more than this in one
# run is either a broken sender or an attack on memory.
MAX_UNSEALED_RUN = 100_000
# Sealed events are written in runs of about this many, so an ingest holds no more.
WRITE_EVERY = 4 * SEGMENT_MAX
# Records read ahead of the decisions (see :class:`Ingestion`): this many, or this many bytes.
WINDOW = 1024
WINDOW_BYTES = 4 << 20


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why one foreign event was not accepted, and where it was in what was offered."""

    device: bytes
    seq: int
    reason: str
    type: str = ""
    # Its place among the records offered (1 for the first), when known.
    position: int | None = None

    def __str__(self) -> str:
        where = []
        if self.type:
            where.append(self.type)
        if self.position is not None:
            where.append(f"record {self.position}")
        context = f" ({', '.join(where)})" if where else ""
        return f"event {short_device(self.device)}#{self.seq}{context}: {self.reason}"


@dataclass(slots=True)
class IngestReport:
    """What an ingest did. Accepted events sit at positions ``first_pos .. last_pos``."""

    accepted: int = 0
    skipped: int = 0
    first_pos: int = 0
    max_hlc: int = 0
    held_back: list[Event] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.refused

    @property
    def last_pos(self) -> int:
        return self.first_pos + self.accepted - 1


# A record as read: its place among the records offered, the event (None: malformed, and
# then why), what is wrong with its body (None: nothing, or not checked: it is held), and
# whether its seal is being checked.
_Read = tuple[int, "Event | None", "str | None", bool]


class Ingestion:
    """One ingest's decisions: each device's chain as far as it goes so far, the runs
    waiting for their seal, the sealed events waiting to be written, and the report.

    Records are read in windows. What an event is alone (its id, its body's shape, whether
    its seal signs it) is found as it is read, its signature on worker threads
    (:func:`events.keys.start_checks`) while the next window is read; its place in the chain
    is decided in order, one window behind. The decisions, and so the report, are those of
    checking each record in turn: only the work moves.
    """

    def __init__(
        self,
        library: bytes,
        library_key: bytes,
        head: Callable[[bytes], tuple[int, bytes]],
        held_id: Callable[[bytes, int], bytes | None],
    ) -> None:
        """``head`` and ``held_id`` answer for what the store held before this ingest."""
        # The domain's catalog is needed only here: a store opened to be read loads none of it.
        from events.validation import event_problem

        self.problem = event_problem
        self.library = library
        self.library_key = library_key
        self._head = head
        self._held_id = held_id
        self.position = 0
        self.report = IngestReport()
        self.heads: dict[bytes, tuple[int, bytes]] = {}
        self.seen: dict[tuple[bytes, int], bytes] = {}
        self.pending: dict[bytes, list[Event]] = {}
        # Accepted and sealed, not written yet: the store takes them (see :meth:`written`).
        self.sealed: list[Event] = []
        # Records read and not decided yet, and their bytes; the window before, its
        # signatures being checked.
        self._window: list[_Read] = []
        self._window_bytes = 0
        self._checking: tuple[list[_Read], Callable[[], list[int]]] | None = None

    def feed(self, data: bytes, sig: bytes | None) -> None:
        self.position += 1
        self._window.append(self._read(data, sig))
        self._window_bytes += len(data)
        if len(self._window) >= WINDOW or self._window_bytes >= WINDOW_BYTES:
            self._turn()

    def _read(self, data: bytes, sig: bytes | None) -> _Read:
        """What one record is alone. Its body is checked, and its seal, only if it may be new
        to the chain (past what is held or decided): one already held is skipped unchecked."""
        try:
            ev = decode(data, event_id(self.library_key, data), sig)
        except CodecError as exc:
            return (self.position, None, f"malformed event: {exc}", False)
        seq = (self.heads.get(ev.device) or self._head(ev.device))[0]
        if ev.seq <= seq:
            return (self.position, ev.without_body(), None, False)
        problem = self.problem(ev.type, ev.v, ev.body, self.library, ev.device)
        return (self.position, ev.without_body(), problem, sig is not None)

    def _turn(self) -> None:
        """Start checking the current window's signatures; decide the window before it."""
        window, self._window, self._window_bytes = self._window, [], 0
        signed = [(r[1].device, r[1].id, r[1].sig) for r in window if r[3]]
        checking, self._checking = self._checking, (window, start_checks(signed))
        if checking is not None:
            self._decide(*checking)

    def flush(self) -> None:
        """Decide every record fed so far."""
        self._turn()
        checking, self._checking = self._checking, None
        if checking is not None:
            self._decide(*checking)

    def _decide(self, window: list[_Read], bad_signatures: Callable[[], list[int]]) -> None:
        bad = set(bad_signatures())
        checked = 0
        for position, ev, problem, signed in window:
            if ev is None:
                self.report.refused.append(Refusal(ZERO_ID, 0, problem or "", position=position))
                continue
            if signed:
                self._decide_one(position, ev, problem, checked in bad)
                checked += 1
            else:
                self._decide_one(position, ev, problem, None)

    def _decide_one(
        self, position: int, ev: Event, problem: str | None, bad_seal: bool | None
    ) -> None:
        report = self.report
        reason = self.check(ev, bad_seal)
        if reason == "held":
            report.skipped += 1
            return
        if reason is None and problem is not None:
            reason = f"its body is invalid: {problem}"
        if reason:
            report.refused.append(Refusal(ev.device, ev.seq, reason, ev.type, position))
            return
        if report.refused:
            return  # keep checking, to report every refusal, but keep nothing
        self.seen[(ev.device, ev.seq)] = ev.id
        if ev.sig is None:
            run = self.pending.setdefault(ev.device, [])
            run.append(ev)
            if len(run) > MAX_UNSEALED_RUN:
                report.refused.append(
                    Refusal(ev.device, ev.seq, "too many events without a signature")
                )
            return
        self.sealed.extend(self.pending.pop(ev.device, ()))
        self.sealed.append(ev)

    def check(self, ev: Event, bad_seal: bool | None = None) -> str | None:
        """``None`` if ``ev`` extends its chain, ``"held"`` if already stored, else a reason.
        ``bad_seal``: whether its seal was found not to sign it (None: not checked yet)."""
        seq, prev = self.heads.get(ev.device) or self._head(ev.device)
        if ev.seq <= seq:
            held = self.seen.get((ev.device, ev.seq)) or self._held_id(ev.device, ev.seq)
            if held == ev.id:
                return "held"
            return f"equivocation: a different event is already held at seq {ev.seq}"
        reason = link_problem(ev, seq, prev)
        if reason is None:
            reason = seal_problem(ev) if bad_seal is None else BAD_SEAL if bad_seal else None
        if reason is None:
            self.heads[ev.device] = (ev.seq, ev.id)
        return reason

    def written(self, first_pos: int) -> None:
        """The store wrote :attr:`sealed`, the first at ``first_pos``."""
        report = self.report
        if not report.accepted:
            report.first_pos = first_pos
        report.accepted += len(self.sealed)
        report.max_hlc = max(report.max_hlc, max(ev.hlc for ev in self.sealed))
        self.sealed = []

    def finish(self, whole: bool) -> None:
        """Decide the records still undecided, then what becomes of runs no seal closed: held
        back for the sender to send again with the rest of their run, or, for a ``whole``
        ingest (an import), refused."""
        self.flush()
        report = self.report
        for run in self.pending.values():
            if whole:
                report.refused.append(Refusal(run[0].device, run[0].seq, unsealed(len(run) - 1)))
            report.held_back.extend(run)
            if run[0].seq > 1:
                self.heads[run[0].device] = (run[0].seq - 1, run[0].prev)
            else:
                # Nothing of this device is held: it must not appear in the vector at seq 0.
                self.heads.pop(run[0].device, None)
