"""Appends from trio tasks, gathered: the node shell is trio, and many of its tasks may
append at once."""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Sequence

import trio


class TrioAppender:
    """Group commit on the trio side: appends from many tasks go to the Journal as one.

    Each task's append waits in a list; a single flusher task sends everything gathered
    since the last commit as one ``Append`` and, on its one reply, wakes every waiter with
    its share. Per append that saves a message, a reply object and a cross-thread wake-up,
    which is most of what an append costs when many tasks write one event each. While one
    batch is being committed the next one gathers, so the disk is never idle under load.
    """

    def __init__(self, journal: Callable[[], Any]) -> None:
        self._journal = journal
        self._waiting: list[tuple[tuple[Any, ...], "_Slot"]] = []
        self._ready = trio.Event()

    async def append(self, drafts: Sequence[Any]) -> Any:
        """Append drafts as this device's next events; returns the ``Appended`` share."""
        slot = _Slot()
        self._waiting.append((tuple(drafts), slot))
        self._ready.set()
        await slot.done.wait()
        if slot.error is not None:
            raise slot.error
        return slot.result

    async def run(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """The flusher: run it in a nursery for as long as appends may come."""
        from sdactors.library.journal import Append, Appended

        task_status.started()
        while True:
            await self._ready.wait()
            self._ready = trio.Event()
            batch, self._waiting = self._waiting, []
            if not batch:
                continue
            drafts = tuple(d for part, _ in batch for d in part)
            try:
                answer = self._journal().ask(Append(drafts), block=False)
                # The answer wakes this task directly, from whichever thread sets it.
                answered = trio.Event()
                wake = partial(trio.lowlevel.current_trio_token().run_sync_soon, answered.set)
                answer.add_done_callback(lambda _, wake=wake: wake())
                await answered.wait()
                done = answer.get(timeout=0)
            except Exception as exc:  # noqa: BLE001 - every waiter gets the failure
                for _, slot in batch:
                    slot.fail(exc)
                continue
            at = 0
            for part, slot in batch:
                slot.give(Appended(done.first_pos + at, done.events[at : at + len(part)]))
                at += len(part)


class _Slot:
    __slots__ = ("done", "result", "error")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.result: Any = None
        self.error: BaseException | None = None

    def give(self, result: Any) -> None:
        self.result = result
        self.done.set()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.done.set()
