"""Strangers that make Spacedrop offers by hand: many devices (fresh keys, paired with
nobody), each offering many files under long names, all waiting for an answer at once."""

from __future__ import annotations

import asyncio
import os
from typing import Any, Callable

import iroh

from sdactors.net import ffi_buffer
from sdactors.net.drop.disk import Offered
from sdactors.net.drop.wire import ALPN_DROP, offer_frame
from sdactors.net.frames import read_frame, write_frame
from sdactors.runtime.errors import PeerGone


def _files(count: int, name_len: int) -> list[Offered]:
    return [
        Offered(b"%06d-" % i + b"x" * (name_len - 7), 1000, os.urandom(32)) for i in range(count)
    ]


async def _offer(endpoint: Any, target: bytes, addresses: list[str], offered: list) -> Any:
    """One offer on a connection of its own: the receiver's first answer, and the connection
    (left open: the offer waits as long as its sender does)."""
    addr = iroh.EndpointAddr(iroh.EndpointId.from_bytes(target), None, addresses)
    conn = await asyncio.wait_for(endpoint.connect(addr, ALPN_DROP), 30)
    bi = await conn.open_bi()
    try:
        await write_frame(bi.send(), offer_frame(None, "stranger", offered, None))
    except PeerGone:
        pass  # it stopped reading: its answer says why
    answer, _ = await asyncio.wait_for(read_frame(bi.recv()), 60)
    return answer, conn


async def _strangers(
    target: bytes,
    addresses: list[str],
    devices: int,
    each: int,
    files: int,
    name_len: int,
    meanwhile: Callable[[], Any],
) -> tuple[list[list[Any]], Any]:
    ffi_buffer.install()
    endpoints = [
        await iroh.Endpoint.bind(
            iroh.EndpointOptions(
                preset=iroh.preset_minimal(),
                bind_addr="127.0.0.1:0",
                secret_key=os.urandom(32),
                alpns=[ALPN_DROP],
            )
        )
        for _ in range(devices)
    ]
    offered = _files(files, name_len)
    try:
        made = [
            [asyncio.ensure_future(_offer(e, target, addresses, offered)) for _ in range(each)]
            for e in endpoints
        ]
        await asyncio.wait([m for mine in made for m in mine])
        seen = meanwhile()
        return [[m.result()[0] for m in mine] for mine in made], seen
    finally:
        for endpoint in endpoints:
            await endpoint.close()


def offer_many(
    target: bytes,
    addresses: list[str],
    devices: int,
    each: int,
    files: int,
    name_len: int,
    meanwhile: Callable[[], Any],
) -> tuple[list[list[Any]], Any]:
    """``devices`` strangers offer ``target`` ``each`` drops of ``files`` files at once;
    the answers, by device, and what ``meanwhile`` returned while every offer was still
    open (the strangers hang up afterwards)."""
    return asyncio.run(_strangers(target, addresses, devices, each, files, name_len, meanwhile))
