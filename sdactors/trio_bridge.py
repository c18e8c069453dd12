"""Awaiting actor replies from trio without a thread per waiter.

The node shell is trio: many requests wait on actors at once. Parking each in a worker thread
(``trio.to_thread``) costs a thread and a handoff per request; instead the reply wakes the
waiting task directly, through the trio token, from whichever actor thread sets it.
"""

from __future__ import annotations

from typing import Any, Callable

import trio

from sdactors.mailbox import Reply


class TrioReply(Reply):
    """A Reply that also wakes one trio task when it is set."""

    __slots__ = ("_token", "_event")

    def __init__(self, token: trio.lowlevel.TrioToken, event: trio.Event) -> None:
        super().__init__()
        self._token = token
        self._event = event

    def set(self, value: Any | None = None) -> None:
        super().set(value)
        self._token.run_sync_soon(self._event.set)

    def set_exception(self, exc_info: Any = None) -> None:
        super().set_exception(exc_info)
        self._token.run_sync_soon(self._event.set)


async def wait_reply(send: Callable[[Reply], None]) -> Any:
    """Call ``send(reply)`` (which hands the reply to an actor) and await the answer."""
    event = trio.Event()
    reply = TrioReply(trio.lowlevel.current_trio_token(), event)
    send(reply)
    await event.wait()
    return reply.get(timeout=0)
