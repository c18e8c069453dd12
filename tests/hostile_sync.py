"""A peer that speaks ``sd/sync/1`` (and offers Spacedrops, ``sd/drop/1``, and asks for
thumbnails, ``sd/thumb/1``) by hand: it says what it likes, with whatever key it holds, so
tests can check what a node refuses (and that it writes nothing of it)."""

from __future__ import annotations

import asyncio
from typing import Any

import iroh

from sdactors.net import ffi_buffer
from sdactors.net.drop.wire import ALPN_DROP
from sdactors.net.frames import pack, read_frame, write_frame
from sdactors.net.sync import ALPN_SYNC
from sdactors.net.thumbs.wire import ALPN_THUMB, ANSWER_MOST


async def _endpoint(secret: bytes, alpn: bytes) -> Any:
    ffi_buffer.install()
    return await iroh.Endpoint.bind(
        iroh.EndpointOptions(
            preset=iroh.preset_minimal(),
            bind_addr="127.0.0.1:0",
            secret_key=secret,
            alpns=[alpn],
        )
    )


async def _session(
    secret: bytes,
    target: bytes,
    addresses: list[str],
    library: bytes,
    vector: dict[bytes, int],
    frames: list[Any],
    linger: float,
) -> dict[str, Any]:
    endpoint = await _endpoint(secret, ALPN_SYNC)
    try:
        addr = iroh.EndpointAddr(iroh.EndpointId.from_bytes(target), None, addresses)
        conn = await asyncio.wait_for(endpoint.connect(addr, ALPN_SYNC), 10)
        bi = await conn.open_bi()
        send, recv = bi.send(), bi.recv()
        await write_frame(send, {"lib": library, "vec": vector})
        answer, _ = await asyncio.wait_for(read_frame(recv), 10)
        dropped = False
        received: list[Any] = []
        if "refused" not in answer:
            for frame in frames:
                data = frame if isinstance(frame, bytes) else pack(frame)
                await send.write_all(data)
            # A node that refuses drops the session: reading then ends.
            try:
                while True:
                    received.append((await asyncio.wait_for(read_frame(recv), linger))[0])
            except asyncio.TimeoutError:
                dropped = False
            except Exception:  # noqa: BLE001 - the session ended: what we want to see
                dropped = True
        conn.close(0, b"done")
        return {"answer": answer, "dropped": dropped, "received": received}
    finally:
        await endpoint.close()


def offer(
    secret: bytes,
    target: bytes,
    addresses: list[str],
    library: bytes,
    vector: dict[bytes, int],
    frames: list[Any] = (),  # type: ignore[assignment]
    linger: float = 5.0,
) -> dict[str, Any]:
    """Dial ``target`` as the device of ``secret``, open a sync of ``library`` claiming
    ``vector``, send ``frames`` (maps, or raw bytes) if let in; what was answered, the frames
    the node sent then (until it was silent ``linger`` seconds), and whether it then dropped
    the session."""
    return asyncio.run(_session(secret, target, addresses, library, vector, list(frames), linger))


async def _drop(
    secret: bytes, target: bytes, addresses: list[str], frame: dict[str, Any], linger: float
) -> Any:
    endpoint = await _endpoint(secret, ALPN_DROP)
    try:
        addr = iroh.EndpointAddr(iroh.EndpointId.from_bytes(target), None, addresses)
        conn = await asyncio.wait_for(endpoint.connect(addr, ALPN_DROP), 10)
        bi = await conn.open_bi()
        await write_frame(bi.send(), frame)
        try:
            answer, _ = await asyncio.wait_for(read_frame(bi.recv()), 10)
        except Exception as exc:  # noqa: BLE001 - the node hung up: what the test looks at
            answer = {"gone": str(exc)}
        if "pending" in answer:
            await asyncio.sleep(linger)  # the offer waits there while the connection lives
        conn.close(0, b"done")
        return answer
    finally:
        await endpoint.close()


def drop_offer(
    secret: bytes,
    target: bytes,
    addresses: list[str],
    frame: dict[str, Any],
    linger: float = 5.0,
) -> Any:
    """Offer a Spacedrop to ``target`` as the device of ``secret``: ``frame`` is the offer as
    sent (``sdactors.net.drop.wire.offer_frame``, or anything else); the node's answer. An
    offer left pending is held open ``linger`` seconds."""
    return asyncio.run(_drop(secret, target, addresses, frame, linger))


async def _thumb(secret: bytes, target: bytes, addresses: list[str], frame: Any) -> Any:
    endpoint = await _endpoint(secret, ALPN_THUMB)
    try:
        addr = iroh.EndpointAddr(iroh.EndpointId.from_bytes(target), None, addresses)
        conn = await asyncio.wait_for(endpoint.connect(addr, ALPN_THUMB), 10)
        bi = await conn.open_bi()
        await write_frame(bi.send(), frame)
        try:
            answer, _ = await asyncio.wait_for(read_frame(bi.recv(), ANSWER_MOST), 10)
        except Exception as exc:  # noqa: BLE001 - the node hung up: what the test looks at
            answer = {"gone": str(exc)}
        conn.close(0, b"done")
        return answer
    finally:
        await endpoint.close()


def thumb_ask(secret: bytes, target: bytes, addresses: list[str], frame: Any) -> Any:
    """Ask ``target`` for a thumbnail (``sd/thumb/1``) as the device of ``secret``: ``frame``
    is the ask as sent (``sdactors.net.thumbs.wire.ask_frame``, or anything else); the
    node's answer, or ``{gone: why}`` when it hung up instead."""
    return asyncio.run(_thumb(secret, target, addresses, frame))
