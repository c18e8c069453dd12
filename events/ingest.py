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

from events.chain import link_problem, seal_problem, unsealed
from events.envelope import ZERO_ID, Event, decode, event_id
from events.errors import CodecError
from events.keys import short_device
from events.segments import SEGMENT_MAX

# An ingest holds unsealed events in memory until their seal arrives; more than this in one
# run is either a broken sender or an attack on memory.
MAX_UNSEALED_RUN = 100_000
# Sealed events are written in runs of about this many, so an ingest holds no more.
WRITE_EVERY = 4 * SEGMENT_MAX


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


class Ingestion:
    """One ingest's decisions: each device's chain as far as it goes so far, the runs
    waiting for their seal, the sealed events waiting to be written, and the report."""

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

    def feed(self, data: bytes, sig: bytes | None) -> None:
        report = self.report
        self.position += 1
        try:
            ev = decode(data, event_id(self.library_key, data), sig)
        except CodecError as exc:
            report.refused.append(
                Refusal(ZERO_ID, 0, f"malformed event: {exc}", position=self.position)
            )
            return
        reason = self.check(ev)
        if reason == "held":
            report.skipped += 1
            return
        if reason is None:
            problem = self.problem(ev.type, ev.v, ev.body, self.library, ev.device)
            reason = f"its body is invalid: {problem}" if problem is not None else None
        if reason:
            report.refused.append(Refusal(ev.device, ev.seq, reason, ev.type, self.position))
            return
        if report.refused:
            return  # keep checking, to report every refusal, but keep nothing
        # Checked: what is kept until it is written is its bytes, not its decoded body (a
        # frame of bodies decoded costs many times its size).
        ev = ev._replace(body=None)
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

    def check(self, ev: Event) -> str | None:
        """``None`` if ``ev`` extends its chain, ``"held"`` if already stored, else a reason."""
        seq, prev = self.heads.get(ev.device) or self._head(ev.device)
        if ev.seq <= seq:
            held = self.seen.get((ev.device, ev.seq)) or self._held_id(ev.device, ev.seq)
            if held == ev.id:
                return "held"
            return f"equivocation: a different event is already held at seq {ev.seq}"
        reason = link_problem(ev, seq, prev) or seal_problem(ev)
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
        """Decide what becomes of runs no seal closed: held back for the sender to send again
        with the rest of their run, or, for a ``whole`` ingest (an import), refused."""
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
