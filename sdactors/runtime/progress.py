"""Progress of a long ask, as data: a channel named by an id, never a callable in a message.

The asker opens a channel and puts its id in the message; the actor posts plain records under
that id (from any thread, never waiting: a slow client cannot hold up the actor's loop); the
asker's own thread reads them until the reply comes through the ask's future, and hands each
to whoever waits (a client's progress bar). A record posted to a channel that closed meanwhile
is dropped: the asker stopped listening.
"""

from __future__ import annotations

import concurrent.futures
import queue
import secrets
import threading
import time
from typing import Any, Callable

# Put on a channel's queue when the reply is ready: reading stops there.
_REPLIED = object()


class Channel:
    """One ask's progress records, in the order posted."""

    def __init__(self, channels: ProgressChannels, channel_id: str) -> None:
        self.id = channel_id
        self._channels = channels
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def put(self, record: dict[str, Any]) -> None:
        self._queue.put(record)

    def follow(
        self,
        reply: concurrent.futures.Future[Any],
        report: Callable[[dict[str, Any]], None],
        timeout: float | None,
    ) -> Any:
        """Hand each record to ``report`` (in this thread) until ``reply`` is done; its
        result. ``TimeoutError`` after ``timeout`` seconds, as ``reply.result`` would."""
        reply.add_done_callback(lambda _done: self._queue.put(_REPLIED))
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                record = self._queue.get(timeout=left)
            except queue.Empty:
                raise TimeoutError(f"no reply within {timeout} s") from None
            if record is _REPLIED:
                return reply.result(0)
            report(record)

    def __enter__(self) -> Channel:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._channels.close(self.id)


class ProgressChannels:
    """The open channels, by id: what an actor posts to (see the module's text)."""

    def __init__(self) -> None:
        self._open: dict[str, Channel] = {}
        self._lock = threading.Lock()

    def open(self) -> Channel:
        """A new channel; closed when its ``with`` block ends."""
        channel = Channel(self, secrets.token_hex(8))
        with self._lock:
            self._open[channel.id] = channel
        return channel

    def close(self, channel_id: str) -> None:
        with self._lock:
            self._open.pop(channel_id, None)

    def post(self, channel_id: str | None, record: dict[str, Any]) -> None:
        """Post ``record`` (plain data) to the channel, if it is still open."""
        if channel_id is None:
            return
        with self._lock:
            channel = self._open.get(channel_id)
        if channel is not None:
            channel.put(record)
