"""Faster plumbing for pykka: a C-implemented inbox and a one-shot reply on a bare lock,
and the way an actor answers an ask after it has returned from the message.

pykka's defaults (``queue.Queue`` and a Condition-based future) cost about 80 µs per
request/reply round trip here, which alone capped 64 concurrent durable appends below the
20k/s target. ``queue.SimpleQueue`` and a future built on one ``threading.Lock`` halve it.
pykka lets an actor class choose both through ``_create_actor_inbox`` and
``_create_future``.

Replies travel only in the ask's own future, never inside a message. An actor that answers
later (the Journal once the group commit is durable, the JobManager when a job ends) returns
a :class:`Later` from ``on_receive`` and settles it when it can: the asker's future gets
what the Later is settled with.
"""

from __future__ import annotations

import queue
import sys
import threading
from typing import Any, Callable

import pykka
from pykka._types import OptExcInfo  # noqa: PLC2701 - the type pykka's own futures use


class Reply(pykka.Future[Any]):
    """A future that is set once. ``get`` may be called any number of times, by any thread.

    A get hook (pykka's ``map``/``filter``/``join`` and ``ActorRef.stop`` use one) is served
    by pykka's base class, as in pykka's own futures. ``add_done_callback`` and ``result``
    are those of ``concurrent.futures.Future``: what a progress channel follows until the
    answer comes (``sdactors.runtime.progress``).
    """

    def __init__(self) -> None:
        super().__init__()
        self._ready = threading.Lock()
        self._ready.acquire()
        self._result: tuple[Any, OptExcInfo | None] | None = None
        self._done: list[Callable[[Reply], object]] = []

    def get(self, *, timeout: float | None = None) -> Any:
        if self._get_hook is not None:
            return super().get(timeout=timeout)
        if self._result is None:
            if not self._ready.acquire(timeout=-1 if timeout is None else timeout):
                raise pykka.Timeout(f"{timeout} seconds")
            self._ready.release()
        value, exc_info = self._result  # type: ignore[misc]
        if exc_info is not None:
            exc_type, exc_value, tb = exc_info
            raise (exc_value or exc_type()).with_traceback(tb)  # type: ignore[misc]
        return value

    def set(self, value: Any | None = None) -> None:
        if type(value) is Later:  # the actor answers later: the Later settles this future
            value._bind(self)
            return
        self._settle((value, None))

    def set_exception(self, exc_info: OptExcInfo | None = None) -> None:
        self._settle((None, exc_info or sys.exc_info()))

    def _settle(self, result: tuple[Any, OptExcInfo | None]) -> None:
        if self._result is not None:
            raise queue.Full
        self._result = result
        self._ready.release()
        self._call_done()

    def add_done_callback(self, callback: Callable[[Reply], object]) -> None:
        """Call ``callback(self)`` once the answer is in (at once, if it is)."""
        self._done.append(callback)
        if self._result is not None:
            self._call_done()

    def _call_done(self) -> None:
        # Whichever thread pops a callback calls it: each is called once, even when the
        # answer comes while one is being added (list.pop is atomic).
        while self._done:
            try:
                callback = self._done.pop()
            except IndexError:
                return
            callback(self)

    def result(self, timeout: float | None = None) -> Any:
        try:
            return self.get(timeout=timeout)
        except pykka.Timeout as exc:
            raise TimeoutError(str(exc)) from None

    def set_get_hook(self, func: Any) -> None:
        if self._result is not None:
            raise queue.Full
        super().set_get_hook(func)


class Later:
    """An answer an actor gives after ``on_receive`` has returned: return one from it, keep
    it, and settle it (``set`` or ``set_exception``, once, from any thread). Told rather
    than asked, nobody waits on it, and settling it does nothing."""

    __slots__ = ("_lock", "_reply", "_result")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reply: Reply | None = None
        self._result: tuple[Any, OptExcInfo | None] | None = None

    def set(self, value: Any | None = None) -> None:
        self._settle((value, None))

    def set_exception(self, exc_info: OptExcInfo | None = None) -> None:
        self._settle((None, exc_info or sys.exc_info()))

    def _settle(self, result: tuple[Any, OptExcInfo | None]) -> None:
        with self._lock:
            if self._result is not None:
                raise queue.Full
            self._result = result
            reply = self._reply
        if reply is not None:
            reply._settle(result)

    def _bind(self, reply: Reply) -> None:
        """The asker's future (set by pykka with what ``on_receive`` returned)."""
        with self._lock:
            self._reply = reply
            result = self._result
        if result is not None:
            reply._settle(result)


def fast_inbox() -> queue.SimpleQueue:
    return queue.SimpleQueue()
