"""Spacedrop, the sending side: hash the files, offer them, stream what the receiver lacks.

A connection that breaks part way is dialed again (with backoff, a few times) and the offer
made again with its id: the receiver says how much of each file it already holds, and
sending goes on from there. Refusals, a file that arrived different, a file the receiver
has no room for, a file that changed here while it was sent: those end the drop at once,
they would only happen again.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from events.keys import short_device
from sdactors.fileops.transfer import CHUNK
from sdactors.net.drop.disk import Reader, Source, describe
from sdactors.net.drop.wire import (
    ALPN_DROP,
    ANSWER_MOST,
    DECIDE_WAIT_S,
    HELLO_S,
    STALL_S,
    Meter,
    offer_frame,
    one_of,
    settled,
    write_bytes,
)
from sdactors.net.frames import let_peer_close, read_frame, why, write_frame
from sdactors.runtime import tuning
from sdactors.runtime.errors import (
    DropFailed,
    DropInterrupted,
    InvalidArgument,
    PeerGone,
    PeerRefused,
    PeerUnreachable,
    ProtocolViolation,
)
from sdactors.runtime.logs import get_logger
from sdactors.runtime.paths import show, text

if TYPE_CHECKING:
    from sdactors.net.context import NetContext
    from sdactors.net.messages import DropSend

log = get_logger(__name__)

CONNECT_S = 10.0
# A file's stream stopped by the receiver: how long its reason may take to arrive.
STOPPED_S = 3.0
# After a broken connection: this many more tries, waiting BACKOFF_FIRST_S, doubling.
RETRIES = 5
BACKOFF_FIRST_S = tuning.backoff(0.5)
# Fault injection, for tests only: the sender cuts its first connection of each drop once
# this many bytes of file contents went out on it (see tests/system/test_drop.py).
CUT_AFTER_ENV = "SD_DROP_CUT_AFTER"


class _Broken(Exception):
    """The connection failed in a way another connection may not."""


@dataclass
class _Sending:
    """One drop on the sending side, across its connections."""

    message: DropSend
    sources: list[Source]
    who: str
    offer: str | None = None
    delivered: dict[int, str] = field(default_factory=dict)
    resumed_from: dict[int, int] = field(default_factory=dict)
    sent: int = 0
    # How far into the file being sent now.
    position: int = 0
    attempts: int = 0
    cut_after: int | None = None
    # When the receiver first took the offer (the time its user took to decide is not
    # the transfer's).
    accepted_at: float | None = None

    @property
    def total(self) -> int:
        return sum(s.offered.size for s in self.sources)

    @property
    def done(self) -> int:
        return self.position + sum(self.sources[i].offered.size for i in self.delivered)


def cut_after_from_env() -> int | None:
    """SD_DROP_CUT_AFTER (bytes), for tests only."""
    value = os.environ.get(CUT_AFTER_ENV)
    return int(value) if value and value.isdigit() else None


async def send(ctx: NetContext, message: DropSend) -> dict[str, Any]:
    """Send the files of ``message``; what was delivered (plain data). How far it has come
    goes to the message's progress channel, if it names one."""
    if message.device == ctx.device:
        raise InvalidArgument("that is this device: Spacedrop sends to another one")
    if not message.addresses:
        raise PeerUnreachable(short_device(message.device), "no address is known for it")
    meter = Meter(ctx.progress, message.progress)
    started = time.monotonic()
    meter.tell({"phase": "hashing", "done": 0, "expected": None}, now=True)
    sources = [await ctx.blocking(describe, path) for path in message.paths]
    state = _Sending(message, sources, short_device(message.device))
    state.cut_after = cut_after_from_env()
    log.info(
        "drop_sending",
        device=message.device.hex(),
        files=len(sources),
        bytes=state.total,
    )
    while True:
        try:
            await _attempt(ctx, state, meter)
            break
        except _Broken as exc:
            if state.offer is None and state.attempts == 0:
                raise PeerUnreachable(state.who, str(exc)) from None
            state.attempts += 1
            if state.attempts > RETRIES:
                raise DropInterrupted(state.who, state.attempts, str(exc)) from None
            wait = BACKOFF_FIRST_S * 2 ** (state.attempts - 1)
            log.info("drop_reconnecting", offer=state.offer, error=str(exc), wait_s=wait)
            meter.tell({"phase": "reconnecting", **_counts(state)}, now=True)
            await asyncio.sleep(wait)
    now = time.monotonic()
    seconds = now - (state.accepted_at or started)
    log.info("drop_sent", offer=state.offer, bytes=state.sent, seconds=round(seconds, 3))
    return _result(state, seconds, now - started)


async def _attempt(ctx: NetContext, state: _Sending, meter: Meter) -> None:
    conn = await _connect(ctx, state.message)
    try:
        bi = await conn.open_bi()
        send_, recv = bi.send(), bi.recv()
        files = [s.offered for s in state.sources]
        offer = offer_frame(_library(state.message), ctx.device_name, files, state.offer)
        try:
            await write_frame(send_, offer)
        except PeerGone:
            refused = await _last_word(recv, "refused")  # too busy to read it
            if refused is not None:
                raise PeerRefused(state.who, refused) from None
            raise
        await _admitted(state, recv, meter)
        for i, source in enumerate(state.sources):
            if i not in state.delivered:
                await _one_file(conn, send_, recv, state, i, source, meter)
        await write_frame(send_, {"end": True})
        await let_peer_close(conn)
    except (PeerGone, asyncio.TimeoutError) as exc:
        raise _Broken(str(exc) or f"no answer within {STALL_S:.0f} s") from None
    except Exception as exc:
        if not type(exc).__module__.startswith("iroh"):
            raise  # a refusal, a file that changed or cannot be read here: final
        raise _Broken(why(exc)) from None  # iroh's own errors: the connection failed
    finally:
        try:
            conn.close(0, b"bye")
        except Exception:  # noqa: BLE001
            pass


async def _connect(ctx: NetContext, message: DropSend) -> Any:
    addresses = await _addresses(ctx, message)
    try:
        return await ctx.dial(message.device, addresses, ALPN_DROP, CONNECT_S)
    except asyncio.TimeoutError:
        raise _Broken(f"no answer within {CONNECT_S:.0f} s") from None
    except Exception as exc:  # noqa: BLE001 - any failure to reach it
        raise _Broken(why(exc)) from None


async def _addresses(ctx: NetContext, message: DropSend) -> tuple[str, ...]:
    """Where the device is now: where the library last heard it is (a device that restarted
    on another port says so as soon as it syncs again), then where the drop began with."""
    lib = ctx.library(message.library) if message.library else None
    heard: tuple[str, ...] = ()
    if lib is not None:
        table = await ctx.peers(lib)
        heard = next((p.addresses for p in table if p.device == message.device), ())
    return tuple(dict.fromkeys((*heard, *message.addresses)))[:32]


def _library(message: DropSend) -> bytes | None:
    return bytes.fromhex(message.library) if message.library else None


async def _admitted(state: _Sending, recv: Any, meter: Meter) -> None:
    """Wait for the receiver to take the offer: at once when this device is paired there,
    else when its user accepts."""
    wait = HELLO_S
    while True:
        answer, _ = await asyncio.wait_for(read_frame(recv, ANSWER_MOST), wait)
        key, value = one_of(answer, "pending", "accepted", "refused")
        if key == "refused":
            raise PeerRefused(state.who, str(value)[:300])
        if type(value) is not str or not 0 < len(value) <= 32:
            raise PeerGone("an answer without the offer's id")
        state.offer = value
        if key == "accepted":
            if state.accepted_at is None:
                state.accepted_at = time.monotonic()
            return
        log.info("drop_waiting", offer=value, device=state.message.device.hex())
        meter.tell({"phase": "waiting", "offer": value, **_counts(state)}, now=True)
        wait = DECIDE_WAIT_S + HELLO_S


async def _one_file(
    conn: Any, send_: Any, recv: Any, state: _Sending, i: int, source: Source, meter: Meter
) -> None:
    size = source.offered.size
    await write_frame(send_, {"file": i})
    key, value = await _answer(recv, "from", "done", "failed")
    if key == "failed":
        raise DropFailed(state.who, show(source.offered.name), str(value)[:300])
    if key == "done":
        state.delivered[i] = str(value)[:1024]
        return
    if type(value) is not int or not 0 <= value <= size:
        raise PeerGone(f"the receiver asked for {source.offered.name!r} from {value!r}")
    if value and i not in state.resumed_from:
        state.resumed_from[i] = value
        log.info("drop_resuming", offer=state.offer, file=show(source.offered.name), at=value)
    try:
        await _stream(conn, send_, state, source, value, meter)
    except PeerGone:
        failed = await _last_word(recv, "failed")  # its disk filled up
        if failed is not None:
            raise DropFailed(state.who, show(source.offered.name), failed) from None
        raise
    key, value = await _answer(recv, "done", "failed")
    if key == "failed":
        raise DropFailed(state.who, show(source.offered.name), str(value)[:300])
    state.position = 0
    state.delivered[i] = str(value)[:1024]


async def _last_word(recv: Any, key: str) -> str | None:
    """Why the receiver stopped reading part way, when it says so (``{key: why}``): that
    ends the drop; without a word, the connection broke, and is dialed again."""
    try:
        answer, _ = await asyncio.wait_for(read_frame(recv, ANSWER_MOST), STOPPED_S)
    except (PeerGone, ProtocolViolation, asyncio.TimeoutError):
        return None
    if type(answer) is dict and set(answer) == {key}:
        return str(answer[key])[:300]
    return None


async def _answer(recv: Any, *keys: str) -> tuple[str, Any]:
    answer, _ = await asyncio.wait_for(read_frame(recv, ANSWER_MOST), STALL_S)
    return one_of(answer, *keys)


async def _stream(
    conn: Any, send_: Any, state: _Sending, source: Source, offset: int, meter: Meter
) -> None:
    """The file's bytes from ``offset``: the next chunk is read while this one is sent."""
    loop = asyncio.get_running_loop()
    reader = await _in_thread(loop, Reader, source, offset)
    left = source.offered.size - offset
    state.position = offset
    complete = False
    reading = loop.run_in_executor(None, reader.read, min(CHUNK, left))
    try:
        while left:
            chunk = await settled(reading)
            if not chunk:
                raise PeerGone(f"{show(source.path)} ended early: it changed while being sent")
            left -= len(chunk)
            reading = loop.run_in_executor(None, reader.read, min(CHUNK, left))
            await write_bytes(send_, chunk)
            state.sent += len(chunk)
            state.position += len(chunk)
            await _cut_for_test(conn, state)
            meter.tell({"phase": "sending", "file": show(source.offered.name),
                              "offer": state.offer, **_counts(state)})  # fmt: skip
        complete = True
    finally:
        await settled(reading)
        await _in_thread(loop, reader.close, complete)


async def _in_thread(loop: asyncio.AbstractEventLoop, fn: Any, *args: Any) -> Any:
    return await settled(loop.run_in_executor(None, fn, *args))


async def _cut_for_test(conn: Any, state: _Sending) -> None:
    """SD_DROP_CUT_AFTER: break the first connection once, after that many bytes (a moment
    later, so that what was sent has reached the receiver), to exercise resuming."""
    if state.cut_after is None or state.attempts or state.sent < state.cut_after:
        return
    state.cut_after = None
    await asyncio.sleep(0.3)
    log.warning("drop_cut_for_test", offer=state.offer, after=state.sent)
    conn.close(1, b"cut for a test")
    raise PeerGone(f"cut by {CUT_AFTER_ENV} after {state.sent:,} bytes")


def _counts(state: _Sending) -> dict[str, Any]:
    return {"done": state.done, "expected": state.total}


def _result(state: _Sending, seconds: float, overall: float) -> dict[str, Any]:
    """What was delivered; ``seconds`` from the offer's acceptance, ``overall`` with the
    hashing and the wait for the receiver's user too."""
    files = []
    for i, source in enumerate(state.sources):
        files.append(
            {
                **source.offered.shown(),
                "path": text(source.path),
                "state": "delivered",
                "as": state.delivered.get(i),
                "resumed_from": state.resumed_from.get(i, 0),
            }
        )
    return {
        "id": state.offer,
        "device": state.message.device.hex(),
        "files": files,
        "bytes": state.total,
        "bytes_sent": state.sent,
        "reconnects": state.attempts,
        "resumed_from": sum(state.resumed_from.values()),
        "seconds": round(seconds, 3),
        "overall_seconds": round(overall, 3),
        "mb_per_s": round(state.sent / seconds / 1e6, 1) if seconds > 0 else None,
    }
