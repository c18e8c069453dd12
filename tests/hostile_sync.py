"""A peer that speaks ``sd/sync/1`` by hand: it says what it likes, with whatever key it
holds, so tests can check what a node refuses (and that it writes nothing of it)."""

from __future__ import annotations

import asyncio
from typing import Any

import iroh

from sdactors.actors.networking import ALPN_SYNC
from sdactors.net import ffi_buffer
from sdactors.net.frames import pack, read_frame, write_frame


async def _session(
    secret: bytes,
    target: bytes,
    addresses: list[str],
    library: bytes,
    vector: dict[bytes, int],
    frames: list[Any],
    linger: float,
) -> dict[str, Any]:
    ffi_buffer.install()
    endpoint = await iroh.Endpoint.bind(
        iroh.EndpointOptions(
            preset=iroh.preset_minimal(),
            bind_addr="127.0.0.1:0",
            secret_key=secret,
            alpns=[ALPN_SYNC],
        )
    )
    try:
        addr = iroh.EndpointAddr(iroh.EndpointId.from_bytes(target), None, addresses)
        conn = await asyncio.wait_for(endpoint.connect(addr, ALPN_SYNC), 10)
        bi = await conn.open_bi()
        send, recv = bi.send(), bi.recv()
        await write_frame(send, {"lib": library, "vec": vector})
        answer, _ = await asyncio.wait_for(read_frame(recv), 10)
        dropped = False
        if "refused" not in answer:
            for frame in frames:
                data = frame if isinstance(frame, bytes) else pack(frame)
                await send.write_all(data)
            # A node that refuses drops the session: reading then ends.
            try:
                while True:
                    await asyncio.wait_for(read_frame(recv), linger)
            except asyncio.TimeoutError:
                dropped = False
            except Exception:  # noqa: BLE001 - the session ended: what we want to see
                dropped = True
        conn.close(0, b"done")
        return {"answer": answer, "dropped": dropped}
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
    ``vector``, send ``frames`` (maps, or raw bytes) if let in; what was answered, and
    whether the node then dropped the session."""
    return asyncio.run(_session(secret, target, addresses, library, vector, list(frames), linger))
