"""The AgentManager: runs the enabled agents of every library a node serves, and writes what
they propose; runs on the device that owns the files the proposals accepted elsewhere.

One actor per node (not per library): agents are few and mostly idle, a node serves few
libraries, and one actor keeps one place where the positions and the debounce live. The
node tells it :class:`Attach` when it serves a library and :class:`Detach` before closing
one.

**Following the log.** Each library's bus wakes it (a subscription to ``agent.`` and the
types the enabled agents follow); after a short quiet (``DEBOUNCE_S``) it reads the log
from each agent's position (``sdactors.agent.positions``, a file of this device's), hands
each agent the followed events it has not seen, and moves the position past them before it
writes anything, so no event is handed to an agent twice, after a restart either. An agent
with no position yet (just enabled, or a new data directory) starts with a sweep of its
grant, as does one granted a place or a tag, or enabled, since its position (what it may
see changed). Agents run on this actor's thread, never the bus's.

**Writing.** Each item passes the grant check (``sdactors.agent.grants``) against the
agent's grant of the moment; a proposal left with no item is dropped; one whose id the
library holds already (open, decided or applied) is not written again. The manager writes
``agent.proposed`` and, for the proposals it runs, ``agent.applied``; nothing else.

**Running accepted proposals.** A proposal of this device accepted on another device (the
decision that stands, not applied yet) is run here once: marked run in the positions file
first, then each chosen item through the host's ``apply`` (the ActionManager's audited
path), which writes ``agent.applied``. A proposal accepted on this device was run by the
accepting command itself. Nothing else makes an agent act: a rebuild, ``--at``, a joining
device or ``sd log import`` fold events; they never reach this actor except through the
log past its positions, and what was run already is marked.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Protocol, Sequence

from events.domain.agents import ITEMS_MAX, AgentProposed
from events.domain.device import AGENT_MEMBERSHIP_TYPES
from events.envelope import Event
from events.store import type_matches
from projections.agents import accepted_unapplied, held_proposals
from projections.membership import agents_enabled
from sdactors.agent.builtin import BUILTIN
from sdactors.agent.grants import Grants, Touches
from sdactors.agent.positions import Positions
from sdactors.agent.protocol import Agent, Item, Proposal
from sdactors.agent.view import LibraryView
from sdactors.library.handle import Library
from sdactors.runtime.errors import SdError
from sdactors.runtime.logs import get_logger
from sdactors.runtime.supervisor import CrashHook, SupervisedActor

log = get_logger(__name__)

# How long a library's log must be quiet before its agents run: an index commits a batch
# every few hundred milliseconds, and an agent asked once for the lot does the work once.
DEBOUNCE_S = 0.3
# Proposals written per append.
WRITE_BATCH = 64
# The most events an agent is handed at once: past them (a first index of a large tree,
# a device that was away long) a sweep of its grant says as much, without holding every
# event's body in memory.
HANDED_MOST = 10_000


class AgentHost(Protocol):
    """What the manager needs of the node (a port: the node stands behind it)."""

    @property
    def device(self) -> bytes: ...

    def library(self, library_id: str) -> Library:
        """The library, open here."""

    def touches(self, op: str, args: dict[str, Any]) -> Touches | None:
        """What the command ``op`` with ``args`` touches; None if an agent may not propose
        it (or its arguments are not valid)."""

    def apply(self, library_id: str, proposal: bytes) -> None:
        """Run the chosen items of an accepted proposal of this device, each audited with
        the proposal's id, and record how each ended (``agent.applied``)."""


@dataclass(frozen=True, slots=True)
class Attach:
    """Follow the library ``library`` (the node serves it from now on)."""

    library: str


@dataclass(frozen=True, slots=True)
class Detach:
    """Stop following ``library`` (the node is about to close it)."""

    library: str


@dataclass(frozen=True, slots=True)
class Wake:
    """Events were committed to ``library``: run its agents once the log is quiet."""

    library: str


@dataclass(frozen=True, slots=True)
class RunNow:
    """Run now (asked: the answer is the number of proposals written). ``agent``: sweep that
    agent's whole grant, whatever its position (``sd agent run``); None: hand each agent
    what it follows since its position."""

    library: str
    agent: str | None = None


class Followed:
    """What outlives one manager instance, kept by the node: the libraries it serves (a
    restarted manager follows them again, from its positions), and each one's bus
    subscription (``(token, prefixes)``: a restarted manager takes over, not adds to it)."""

    def __init__(self) -> None:
        self.libraries: set[str] = set()
        self.tokens: dict[str, tuple[int, tuple[str, ...]]] = {}


class AgentManager(SupervisedActor):
    def __init__(
        self, host: AgentHost, followed: Followed, on_crash: CrashHook | None = None
    ) -> None:
        super().__init__(on_crash)
        self._host = host
        self._followed = followed
        # Per followed library: its positions.
        self._positions: dict[str, Positions] = {}
        self._tokens = followed.tokens
        self._timers: dict[str, threading.Timer] = {}
        self._lock = threading.Lock()

    def on_receive(self, message: object) -> object:
        if isinstance(message, Attach):
            self._attach(message.library)
            return None
        if isinstance(message, Detach):
            self._detach(message.library)
            return None
        if isinstance(message, Wake):
            self._wake(message.library)
            return None
        if isinstance(message, RunNow):
            with self._lock:
                self._timers.pop(message.library, None)
            if message.library not in self._positions:
                return 0
            return self._run(message.library, message.agent)
        raise TypeError(f"AgentManager got an unexpected message: {message!r}")

    def started(self) -> None:
        for library in sorted(self._followed.libraries):
            try:
                self._attach(library)
            except SdError as exc:
                log.warning("agents_not_following", library=library, error=str(exc))

    def on_stop(self) -> None:
        with self._lock:
            timers, self._timers = list(self._timers.values()), {}
        for timer in timers:
            timer.cancel()
        for library in list(self._tokens):
            self._unsubscribe(library)

    # -- following --------------------------------------------------------------------------

    def _attach(self, library: str) -> None:
        lib = self._host.library(library)
        self._positions[library] = Positions(lib.config.paths.root)
        self._unsubscribe(library)  # a crashed instance's, which tells a dead actor
        self._subscribe(library, lib)
        self._wake(library)  # catch up with what was committed while no node ran

    def _detach(self, library: str) -> None:
        with self._lock:
            timer = self._timers.pop(library, None)
        if timer is not None:
            timer.cancel()
        self._unsubscribe(library)
        self._positions.pop(library, None)

    def _subscribe(self, library: str, lib: Library) -> None:
        """Listen for ``agent.`` and what the enabled agents follow (again when that set
        changes: an ``agent.enabled`` wakes the manager through ``agent.``)."""
        try:
            with lib.index() as db:
                enabled = agents_enabled(db)
        except SdError:
            enabled = {}
        prefixes = ("agent.", *sorted({p for n, c in BUILTIN.items() if enabled.get(n)
                                       for p in c.follows}))  # fmt: skip
        held = self._tokens.get(library)
        if held is not None and held[1] == prefixes:
            return
        if held is not None:
            lib.unsubscribe(held[0])
        me = self.actor_ref
        token = lib.subscribe(
            prefixes, lambda _events: _tell_quietly(me, Wake(library)), name="agents"
        )
        self._tokens[library] = (token, prefixes)

    def _unsubscribe(self, library: str) -> None:
        held = self._tokens.pop(library, None)
        if held is None:
            return
        try:
            self._host.library(library).unsubscribe(held[0])
        except SdError:
            pass  # closed already

    def _wake(self, library: str) -> None:
        """Run the library's agents once no event has come for ``DEBOUNCE_S``."""
        me = self.actor_ref
        with self._lock:
            old = self._timers.get(library)
            if old is not None:
                old.cancel()
            timer = threading.Timer(DEBOUNCE_S, lambda: _tell_quietly(me, RunNow(library)))
            timer.daemon = True
            self._timers[library] = timer
        timer.start()

    # -- running ----------------------------------------------------------------------------

    def _run(self, library: str, sweep: str | None) -> int:
        positions = self._positions[library]
        try:
            lib = self._host.library(library)
            lib.catch_up()
        except SdError as exc:
            log.warning("agents_not_run", library=library, error=str(exc))
            return 0
        self._subscribe(library, lib)
        written = run_agents(lib, self._host, positions, sweep)
        self._apply_accepted(library, lib, positions)
        return written

    def _apply_accepted(self, library: str, lib: Library, positions: Positions) -> None:
        with lib.index() as db:
            waiting = accepted_unapplied(db, self._host.device)
        for row in waiting:
            if positions.ran(row.proposal):
                continue
            positions.running(row.proposal)
            log.info("agent_proposal_applying", library=library, proposal=row.proposal.hex())
            try:
                self._host.apply(library, row.proposal)
            except SdError as exc:
                log.warning("agent_proposal_not_applied", proposal=row.proposal.hex(),
                            error=str(exc))  # fmt: skip


def _tell_quietly(ref: Any, message: object) -> None:
    try:
        ref.tell(message)
    except Exception:  # noqa: BLE001 - the manager stopped meanwhile: nothing to run
        pass


def run_agents(
    lib: Library, host: AgentHost, positions: Positions, sweep: str | None = None
) -> int:
    """Hand each enabled agent of ``lib`` what it follows since its position (``sweep``:
    that agent alone, its whole grant), write the proposals it makes within its grant;
    the number written. Used by the manager, and by ``sd agent run`` without a node."""
    store = lib.log()
    try:
        head = store.head_pos
        with lib.index() as db:
            enabled = agents_enabled(db)
        plugins: list[tuple[Agent, int | None]] = []
        for name, cls in BUILTIN.items():
            if sweep is not None:
                if name == sweep:
                    plugins.append((cls(), None))
            elif enabled.get(name):
                plugins.append((cls(), positions.position(name)))
        since = min((p for _a, p in plugins if p is not None), default=head)
        follows = {p for agent, _pos in plugins for p in agent.follows}
        follows.update(AGENT_MEMBERSHIP_TYPES)
        events: list[Event] | None = []
        if since < head:
            for ev in store.read(since=since, until=head):
                if any(type_matches(ev.type, p) for p in follows):
                    events.append(ev)
                    if len(events) > HANDED_MOST:
                        events = None  # more than an agent is handed: each sweeps instead
                        break
    finally:
        store.close()
    written = 0
    for agent, position in plugins:
        if position is None or events is None:
            mine: Sequence[Event] = ()
        else:
            mine = [
                ev
                for ev in events
                if ev.pos > position and any(type_matches(ev.type, p) for p in agent.follows)
            ]
            if _regranted(events, agent.name, position):
                mine = ()  # what it may see changed: it looks at its whole grant again
            elif not mine:
                positions.advance(agent.name, head)
                continue
        with lib.index() as db:
            grants = Grants(db, lib.device, agent.name)
        view = LibraryView(lib, lib.device, agent.name, grants)
        # What it is handed: the events past ``since`` up to ``until`` (a sweep: none).
        log.info("agent_run", agent=agent.name, since=position, until=head, events=len(mine))
        try:
            made = list(agent.propose(view, mine))
        except Exception as exc:  # noqa: BLE001 - one plugin's fault must not stop the rest
            log.warning("agent_failed", agent=agent.name, error=f"{type(exc).__name__}: {exc}")
            made = []
        if sweep is None:
            # Past these events before anything is written: never handed over twice.
            positions.advance(agent.name, head)
            positions.save()
        written += write_proposals(lib, host, grants, agent.name, made)
    if sweep is None:
        positions.save()
    return written


def _regranted(events: Sequence[Event], agent: str, position: int) -> bool:
    """Whether ``agent`` was granted or denied a place or a tag, or enabled, since
    ``position`` (then it sweeps: a place granted now holds what no event will bring)."""
    return any(
        ev.pos > position
        and ev.type in AGENT_MEMBERSHIP_TYPES
        and isinstance(ev.body, dict)
        and ev.body.get("agent") == agent
        for ev in events
    )


def within_grant(host: AgentHost, grants: Grants, proposal: Proposal) -> Proposal | None:
    """``proposal`` without the items outside the grant (None if none is left)."""
    kept: list[Item] = []
    for item in proposal.items:
        reason = grants.refusal(item.op, host.touches(item.op, item.args))
        if reason is None:
            kept.append(item)
        else:
            log.info("agent_item_dropped", agent=proposal.agent, op=item.op, reason=reason)
    if not kept:
        return None
    return Proposal(proposal.agent, proposal.title, tuple(kept[:ITEMS_MAX]))


def write_proposals(
    lib: Library, host: AgentHost, grants: Grants, agent: str, made: Sequence[Proposal]
) -> int:
    """Write each of ``made`` (held to the grant) that the library does not hold yet."""
    kept: dict[bytes, Proposal] = {}
    for proposal in made:
        if proposal.agent != agent:
            continue
        checked = within_grant(host, grants, proposal)
        if checked is not None:
            kept.setdefault(checked.id, checked)
    with lib.index() as db:
        held = held_proposals(db, kept)
    new = [(pid, p) for pid, p in kept.items() if pid not in held]
    for start in range(0, len(new), WRITE_BATCH):
        lib.append_typed(
            *(
                AgentProposed(
                    pid,
                    p.agent,
                    p.title[:200],
                    tuple((i.reason[:500], i.op, i.args) for i in p.items),
                )
                for pid, p in new[start : start + WRITE_BATCH]
            )
        )
    if new:
        log.info("agent_proposed", agent=agent, proposals=len(new))
    return len(new)
