"""Supervision: a crashed actor is restarted, its crash recorded in the library log, and a
child that keeps crashing is given up on instead of restarted forever."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import pykka
import pytest
import trio

from events.domain.tags import TagCreated
from sdactors.library.handle import Library
from sdactors.node.node import Node
from sdactors.runtime.errors import ActorFailed
from sdactors.runtime.supervisor import BACKOFF_S, CrashHook, SupervisedActor, Supervisor


class Crasher(SupervisedActor):
    """Crashes on ``"crash"`` told to it; answers ``"who"`` with its instance number."""

    _instances = itertools.count(1)

    def __init__(self, on_crash: CrashHook | None = None, fail_start: bool = False) -> None:
        super().__init__(on_crash)
        self.instance = next(Crasher._instances)
        self.fail_start = fail_start

    def started(self) -> None:
        if self.fail_start:
            raise OSError("cannot open its files")

    def on_receive(self, message: Any) -> Any:
        if message == "crash":
            raise RuntimeError("boom")
        if message == "who":
            return self.instance
        raise TypeError(f"unexpected {message!r}")


async def until(predicate: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    """Poll ``predicate`` (cheap, non-blocking) until it holds; fail after ``timeout``."""
    with trio.move_on_after(timeout):
        while not (value := predicate()):
            await trio.sleep(0.005)
        return value
    raise AssertionError(f"timed out waiting for {what}")


def ask(ref: pykka.ActorRef, message: Any) -> Any:
    return ref.ask(message, timeout=10)


def recorded(sup: Supervisor) -> list[tuple[str, str, int]]:
    return [(c["actor"], c["error"], c["restarts"]) for c in sup.history()]


@pytest.fixture
def supervisor() -> Any:
    sup = Supervisor("test", max_restarts=2, window_s=60)
    yield sup
    sup.stop_all()


async def test_a_crash_on_a_told_message_restarts_the_actor(supervisor: Supervisor) -> None:
    first = supervisor.start("crasher", lambda hook: Crasher.start(hook))
    instance = ask(first, "who")
    first.tell("crash")
    await until(lambda: supervisor.ref("crasher") is not first, "a restart")
    second = supervisor.ref("crasher")
    assert supervisor.restarts("crasher") == 1 and not first.is_alive()
    assert ask(second, "who") > instance  # a fresh instance, and it answers
    assert recorded(supervisor) == [("crasher", "RuntimeError: boom", 1)]


async def test_restarts_back_off() -> None:
    """Each crash in a row waits twice as long before the restart. Held to lower bounds: a
    loaded machine only makes a wait longer (a ratio of two measured waits failed under load),
    and without the doubling the fourth wait would be a fraction of its bound."""
    supervisor = Supervisor("test", max_restarts=4, window_s=60)
    try:
        await _back_offs(supervisor)
    finally:
        supervisor.stop_all()


async def _back_offs(supervisor: Supervisor) -> None:
    waits = []
    for n in range(1, supervisor.max_restarts + 1):
        before = (
            supervisor.ref("crasher")
            if n > 1
            else supervisor.start("crasher", lambda hook: Crasher.start(hook))
        )
        start = trio.current_time()
        before.tell("crash")
        await until(lambda before=before: supervisor.ref("crasher") is not before, f"restart {n}")
        waits.append(trio.current_time() - start)
    assert all(wait >= BACKOFF_S * 2**n for n, wait in enumerate(waits)), waits


async def test_a_crash_on_an_asked_message_goes_to_the_caller(supervisor: Supervisor) -> None:
    """Asked, the failure is the caller's answer; the actor is fine and not restarted."""
    ref = supervisor.start("crasher", lambda hook: Crasher.start(hook))
    with pytest.raises(RuntimeError, match="boom"):
        ask(ref, "crash")
    assert ref.is_alive() and supervisor.restarts("crasher") == 0
    assert supervisor.ref("crasher") is ref


async def test_a_child_that_keeps_crashing_is_given_up(supervisor: Supervisor) -> None:
    supervisor.start("crasher", lambda hook: Crasher.start(hook))
    for n in range(1, supervisor.max_restarts + 1):
        before = supervisor.ref("crasher")
        before.tell("crash")
        await until(lambda before=before: supervisor.ref("crasher") is not before, f"restart {n}")
    last = supervisor.ref("crasher")
    last.tell("crash")
    with pytest.raises(ActorFailed, match="repeated failures: RuntimeError: boom"):
        await until(lambda: supervisor.ref("crasher") is not last, "giving up")
    assert supervisor.restarts("crasher") == supervisor.max_restarts
    assert [r[2] for r in recorded(supervisor)] == list(range(1, supervisor.max_restarts + 1))
    assert "crasher" in supervisor.failed()
    # Other children are unaffected.
    other = supervisor.start("other", lambda hook: Crasher.start(hook))
    assert ask(other, "who")


async def test_a_crash_while_starting_is_restarted(supervisor: Supervisor) -> None:
    attempts = itertools.count()
    first = supervisor.start(
        "flaky", lambda hook: Crasher.start(hook, fail_start=next(attempts) == 0)
    )
    await until(lambda: supervisor.ref("flaky") is not first, "a restart after a failed start")
    assert supervisor.restarts("flaky") == 1
    assert ask(supervisor.ref("flaky"), "who")


async def test_crashes_are_spread_over_the_window() -> None:
    """Crashes older than the window do not count toward giving up."""
    sup = Supervisor("test", max_restarts=1, window_s=0.2)
    try:
        sup.start("crasher", lambda hook: Crasher.start(hook))
        for n in range(1, 4):
            before = sup.ref("crasher")
            before.tell("crash")
            await until(lambda before=before: sup.ref("crasher") is not before, f"restart {n}")
            await trio.sleep(0.25)  # let the window pass
        assert ask(sup.ref("crasher"), "who")
    finally:
        sup.stop_all()


# -- inside a library: the crash is in the log ---------------------------------------------


@pytest.fixture
async def library(tmp_path: Path) -> AsyncIterator[Library]:
    node = await trio.to_thread.run_sync(Node, tmp_path / "data")
    try:
        yield await trio.to_thread.run_sync(node.create_library, "Home")
    finally:
        await trio.to_thread.run_sync(node.close)


def restart_events(lib: Library) -> list[dict]:
    """The restarts the library's supervisor reports (an operational record, not events)."""
    return [{k: v for k, v in crash.items() if k != "at"} for crash in lib.supervisor.history()]


def no_restart_in_the_log(lib: Library) -> None:
    store = lib.log()
    try:
        assert not [ev for ev in store.read() if ev.type.startswith("node.")]
    finally:
        store.close()


async def test_a_crash_inside_a_library_is_reported_not_logged_as_an_event(
    library: Library,
) -> None:
    sup = library.supervisor
    sup.start("crasher", lambda hook: Crasher.start(hook))
    sup.ref("crasher").tell("crash")
    (event,) = await until(lambda: restart_events(library), "the restart reported")
    assert event == {"actor": "crasher", "error": "RuntimeError: boom", "restarts": 1}
    # The rest of the library never noticed.
    done = await trio.to_thread.run_sync(library.append_typed, TagCreated(b"\x01" * 16, "x", None))
    assert done.events[0].type == "tag.created"
    # Crash it until the supervisor gives up: each restart is in the log, then no more.
    for n in range(2, sup.max_restarts + 1):
        await until(lambda: sup.ref("crasher").is_alive(), f"restart {n - 1} running")
        sup.ref("crasher").tell("crash")
        await until(lambda n=n: len(restart_events(library)) == n, f"restart {n} recorded")
    await until(lambda: sup.ref("crasher").is_alive(), "the last restart running")
    sup.ref("crasher").tell("crash")
    with pytest.raises(ActorFailed):
        await until(lambda: sup.ref("crasher") is None, "giving up")
    await trio.to_thread.run_sync(library.catch_up)
    assert [e["restarts"] for e in restart_events(library)] == list(range(1, sup.max_restarts + 1))
    assert "crasher" in sup.failed()
    no_restart_in_the_log(library)
    store = library.log()
    try:
        assert store.verify() == []
    finally:
        store.close()


async def test_the_journal_itself_is_restarted_and_continues_the_chain(library: Library) -> None:
    """The Journal is the only writer: after a crash its new instance must pick the chain up
    where the log ends, or the next append would be refused (or fork the device's history)."""
    library.supervisor.ref("journal").tell("not a journal message")
    await until(lambda: library.supervisor.restarts("journal") == 1, "the journal restarted")
    done = await trio.to_thread.run_sync(library.append_typed, TagCreated(b"\x02" * 16, "y", None))
    await until(lambda: restart_events(library), "the journal crash recorded")
    store = library.log()
    try:
        events = list(store.read())
        assert store.verify() == []
    finally:
        store.close()
    assert [ev.seq for ev in events] == list(range(1, len(events) + 1))
    assert done.events[0].id in {ev.id for ev in events}
    assert restart_events(library)[0]["actor"] == "journal"


async def test_a_crashed_bus_does_not_take_the_journal_down(library: Library) -> None:
    """The Journal publishes to the bus after each commit. A restarted bus is a new actor:
    publishing to the dead one used to crash the Journal on every commit until the supervisor
    gave up on it, and the library could not write any more."""
    library.supervisor.ref("bus").tell("not a bus message")
    await until(lambda: library.supervisor.restarts("bus") == 1, "the bus restarted")
    await until(lambda: restart_events(library), "the bus crash recorded")
    for n in range(3):
        await trio.to_thread.run_sync(
            library.append_typed, TagCreated(bytes([n]) * 16, f"t{n}", None)
        )
    assert library.supervisor.restarts("journal") == 0
    assert [e["actor"] for e in restart_events(library)] == ["bus"]
    store = library.log()
    try:
        assert await trio.to_thread.run_sync(library.catch_up) == store.head_pos
    finally:
        store.close()


async def test_a_restarted_bus_keeps_its_subscribers(library: Library) -> None:
    """Subscriptions outlive the bus actor: after a restart, subscribers (the Projector
    among them) still hear of every commit, without subscribing again."""
    heard: list[str] = []
    library.subscribe(("tag.",), lambda events: heard.extend(e.type for e in events), "test")
    library.supervisor.ref("bus").tell("not a bus message")
    await until(lambda: library.supervisor.restarts("bus") == 1, "the bus restarted")
    await trio.to_thread.run_sync(library.append_typed, TagCreated(b"\x09" * 16, "z", None))
    await until(lambda: heard == ["tag.created"], "the subscriber heard the commit")
