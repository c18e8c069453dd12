"""``GET /api/v1/events``: a library's log as server-sent events, from a position on, then
live.

Each event is one message: ``id:`` its position in the log, ``data:`` the JSON that
``sd log tail --json`` prints of it. A client resumes where it stopped by its last position
(``after=POS``, or the ``Last-Event-ID`` header a browser's EventSource sends by itself).

A stream first joins the library's :class:`Feed` (the bus's committed events, as they are
published), then reads the committed events past its position from the log, then goes on
with what the feed brought meanwhile, skipping what it already sent: an event committed
while it caught up is sent once, none is missed. A gap in what the bus delivers (a notice
lost while its actor restarted) is read from the log. A stream that falls too far behind
is ended, and its client resumes from its last position like after any other break.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Sequence

import trio

from events.envelope import Event
from events.store import EventStore, read_head, type_matches
from sdactors.ops.log_read import event_json
from sdactors.runtime.plain import dumps

if TYPE_CHECKING:
    from sdactors.library.handle import Library

# What a stream's client may fall behind by, in commits and in bytes of JSON, before its
# stream is ended (it resumes from the log, which costs the node nothing meanwhile).
BACKLOG = 1024
BACKLOG_BYTES = 8 << 20
# A comment line this often keeps proxies from closing a quiet stream.
KEEPALIVE_S = 15.0
# At most this many events, or this much of their JSON, read from the log per step of a
# catch-up (a batch of a thousand entries is some hundred KiB of JSON): a hundred streams
# catching up at once hold a few MiB each, at most.
CATCH_UP_STEP = 2000
CATCH_UP_BYTES = 1 << 20


# What the feed hands a stream per commit: the positions it spans, and the events of it the
# stream wants, each as (position, its JSON).
Batch = tuple[int, int, list[tuple[int, str]]]


def sse(pos: int, data: str) -> bytes:
    return f"id: {pos}\ndata: {data}\n\n".encode()


@dataclass(eq=False)
class _Listener:
    prefixes: tuple[str, ...]
    send: trio.MemorySendChannel[Batch]
    overflowed: bool = field(default=False)
    # Bytes of JSON handed over and not yet taken by its stream (trio's thread only).
    pending: int = field(default=0)

    def wants(self, event_type: str) -> bool:
        return not self.prefixes or any(type_matches(event_type, p) for p in self.prefixes)


class Feed:
    """One library's committed events, fanned out to its streams. Subscribed to the bus only
    while a stream listens; each event matching a stream is turned into JSON once, on the
    bus's thread, and handed to the streams on the trio loop."""

    def __init__(self, lib: Library, token: trio.lowlevel.TrioToken) -> None:
        self.library = lib
        self._token = token
        self._lock = threading.Lock()
        self._listeners: tuple[_Listener, ...] = ()
        self._subscription: int | None = None

    def join(self, prefixes: tuple[str, ...]) -> tuple[_Listener, trio.MemoryReceiveChannel]:
        send, receive = trio.open_memory_channel[Batch](BACKLOG)
        listener = _Listener(prefixes, send)
        with self._lock:
            self._listeners = (*self._listeners, listener)
            if self._subscription is None:
                self._subscription = self.library.subscribe(
                    ("",), self._deliver, name="http-events"
                )
        return listener, receive

    def leave(self, listener: _Listener) -> None:
        with self._lock:
            self._listeners = tuple(x for x in self._listeners if x is not listener)
            if not self._listeners and self._subscription is not None:
                self.library.unsubscribe(self._subscription)
                self._subscription = None

    def _deliver(self, events: Sequence[Event]) -> None:
        listeners = self._listeners
        if not listeners or not events:
            return
        lo, hi = events[0].pos, events[-1].pos
        encoded: dict[int, str] = {}
        batches: list[tuple[_Listener, Batch]] = []
        for listener in listeners:
            items = []
            for ev in events:
                if listener.wants(ev.type):
                    text = encoded.get(ev.pos)
                    if text is None:
                        text = encoded[ev.pos] = dumps(event_json(ev))
                    items.append((ev.pos, text))
            batches.append((listener, (lo, hi, items)))
        try:
            self._token.run_sync_soon(_hand_over, batches)
        except trio.RunFinishedError:
            pass  # the node is stopping


def _hand_over(batches: list[tuple[_Listener, Batch]]) -> None:
    for listener, batch in batches:
        size = sum(len(text) for _, text in batch[2])
        try:
            if listener.pending + size > BACKLOG_BYTES:
                raise trio.WouldBlock
            listener.send.send_nowait(batch)
            listener.pending += size
        except trio.WouldBlock:
            listener.overflowed = True
            listener.send.close()
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            pass


def head(path: Any) -> int:
    """The log's last position (a stream given no position starts there: live only)."""
    return read_head(str(path))


def read_committed(
    path: Any, after: int, prefixes: tuple[str, ...], until: int | None = None
) -> tuple[list[tuple[int, str]], int]:
    """The matching events past ``after`` (up to ``until``), at most CATCH_UP_STEP of them or
    CATCH_UP_BYTES of their JSON, and the position read up to (in a worker thread: it reads
    SQLite)."""
    most, budget = CATCH_UP_STEP, CATCH_UP_BYTES
    store = EventStore(path, readonly=True)
    try:
        head = store.head_pos if until is None else min(until, store.head_pos)
        out: list[tuple[int, str]] = []
        last = after
        for ev in store.read(after, until=head):
            last = ev.pos
            if not prefixes or any(type_matches(ev.type, p) for p in prefixes):
                text = dumps(event_json(ev))
                out.append((ev.pos, text))
                budget -= len(text)
                if len(out) >= most or budget <= 0:
                    break
        else:
            last = head
        return out, max(last, after)
    finally:
        store.close()


async def follow(
    feed: Feed,
    path: Any,
    after: int,
    prefixes: tuple[str, ...],
    stopping: trio.Event,
    to_thread: Callable[..., Any],
) -> AsyncIterator[tuple[int, str] | None]:
    """Each event past ``after`` as ``(position, its JSON)``, from the log, then live; None
    after KEEPALIVE_S of nothing. Ends when the node stops (``stopping``) or the client
    falls behind."""
    listener, receive = feed.join(prefixes)
    try:
        sent = after
        while True:  # the log up to now, in steps
            items, read_to = await to_thread(read_committed, path, sent, prefixes)
            for item in items:
                yield item
            if read_to <= sent:
                break
            sent = read_to
        async with receive:
            while True:
                batch = await _next(receive, stopping)
                if batch is _STOP:
                    return  # the node stops, or the client fell behind (it resumes)
                if batch is None:
                    yield None
                    continue
                lo, hi, items = batch
                listener.pending -= sum(len(text) for _, text in items)
                if hi <= sent:
                    continue
                if lo > sent + 1:  # a notice lost: read what it held from the log
                    missed, _ = await to_thread(read_committed, path, sent, prefixes, lo - 1)
                    for item in missed:
                        yield item
                for pos, text in items:
                    if pos > sent:
                        yield pos, text
                sent = hi
    finally:
        feed.leave(listener)


_STOP: Any = object()


async def _next(receive: trio.MemoryReceiveChannel, stopping: trio.Event) -> Any:
    """The next batch; None after KEEPALIVE_S without one; _STOP when the node stops or the
    channel was closed (its stream fell behind). Waits in tasks of its own, never across a
    ``yield`` of the stream."""
    got: Any = None

    async with trio.open_nursery() as nursery:

        async def take() -> None:
            nonlocal got
            try:
                got = await receive.receive()
            except (trio.EndOfChannel, trio.ClosedResourceError):
                got = _STOP
            nursery.cancel_scope.cancel()

        async def stop() -> None:
            nonlocal got
            await stopping.wait()
            got = _STOP
            nursery.cancel_scope.cancel()

        nursery.cancel_scope.deadline = trio.current_time() + KEEPALIVE_S
        nursery.start_soon(take)
        nursery.start_soon(stop)
    return got


async def sse_body(events: AsyncIterator[tuple[int, str] | None]) -> AsyncIterator[bytes]:
    """The server-sent events of ``follow``: a comment line keeps a quiet stream open."""
    yield b": sd events\nretry: 1000\n\n"
    async for item in events:
        yield b": alive\n\n" if item is None else sse(*item)
