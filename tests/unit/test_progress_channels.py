"""Progress as data: an actor posts plain records to a channel named by id, and the asker's
thread reads them until the reply comes (``sdactors.runtime.progress``)."""

from __future__ import annotations

import concurrent.futures
import threading
import time

import pytest

from sdactors.runtime.progress import ProgressChannels


def test_records_posted_by_id_reach_the_asker_in_order_then_the_reply() -> None:
    channels = ProgressChannels()
    reply: concurrent.futures.Future[str] = concurrent.futures.Future()
    seen: list[dict] = []

    def actor(channel_id: str) -> None:  # another thread, knowing only the id
        for done in range(3):
            channels.post(channel_id, {"done": done})
        reply.set_result("finished")

    with channels.open() as channel:
        threading.Thread(target=actor, args=(channel.id,)).start()
        assert channel.follow(reply, seen.append, timeout=5) == "finished"
    assert seen == [{"done": 0}, {"done": 1}, {"done": 2}]


def test_the_reply_error_is_raised_to_the_asker() -> None:
    channels = ProgressChannels()
    reply: concurrent.futures.Future[str] = concurrent.futures.Future()
    reply.set_exception(ValueError("refused"))
    with channels.open() as channel, pytest.raises(ValueError, match="refused"):
        channel.follow(reply, lambda _record: None, timeout=5)


def test_a_record_for_a_closed_or_unnamed_channel_is_dropped() -> None:
    channels = ProgressChannels()
    with channels.open() as channel:
        closed = channel.id
    channels.post(closed, {"done": 1})
    channels.post(None, {"done": 1})
    reply: concurrent.futures.Future[None] = concurrent.futures.Future()
    reply.set_result(None)
    seen: list[dict] = []
    with channels.open() as other:
        other.follow(reply, seen.append, timeout=5)
    assert seen == []


def test_no_reply_in_time_is_a_timeout_even_while_records_come() -> None:
    channels = ProgressChannels()
    reply: concurrent.futures.Future[None] = concurrent.futures.Future()
    stop = threading.Event()
    with channels.open() as channel:

        def chatty() -> None:
            while not stop.is_set():
                channels.post(channel.id, {"phase": "waiting"})
                time.sleep(0.01)

        threading.Thread(target=chatty, daemon=True).start()
        started = time.monotonic()
        try:
            with pytest.raises(TimeoutError):
                channel.follow(reply, lambda _record: None, timeout=0.3)
        finally:
            stop.set()
    assert time.monotonic() - started < 2
