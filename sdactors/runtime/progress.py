"""Progress by channel: how far a long piece of work has come, sent to a channel named by id.

Whoever waits on the work opens a channel with what should hear of it (the client's socket,
the terminal), and puts the channel's id in the message that asks for the work: a message
carries data, never a callable. The actor doing the work reports to that id; a report to a
channel closed meanwhile (the waiter gave up) goes nowhere.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator

Listener = Callable[[dict[str, Any]], None]


class Channels:
    """The open channels of this process, by id. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, Listener] = {}

    def open(self, listener: Listener) -> str:
        channel = os.urandom(8).hex()
        with self._lock:
            self._open[channel] = listener
        return channel

    def close(self, channel: str) -> None:
        with self._lock:
            self._open.pop(channel, None)

    def put(self, channel: str | None, info: dict[str, Any]) -> None:
        if channel is None:
            return
        with self._lock:
            listener = self._open.get(channel)
        if listener is not None:
            listener(info)


CHANNELS = Channels()


@contextmanager
def progress_channel(listener: Listener | None) -> Iterator[str | None]:
    """A channel open for as long as the block runs (None, when nobody listens)."""
    if listener is None:
        yield None
        return
    channel = CHANNELS.open(listener)
    try:
        yield channel
    finally:
        CHANNELS.close(channel)


def report(channel: str | None, info: dict[str, Any]) -> None:
    """Tell the channel's listener how far the work has come."""
    CHANNELS.put(channel, info)
