"""The thumbnail protocol (``sd/thumb/1``): one ask and one answer on one stream.

1. asker: ``{lib, cid, size}``: the library (its 16-byte id), the content id (32 bytes) and
   one of the sizes thumbnails are made at (:data:`sdactors.media.layout.SIZES`).
2. answerer: ``{webp: bytes}`` (at most :data:`WEBP_MOST`), ``{none: true}`` when it has no
   such thumbnail, or ``{refused: reason, code}`` (``unknown-library``, ``unauthorized``,
   ``revoked``, ``too-large``). The asker closes the connection.

The file served is found by the values checked here only: its path is built from a content
id of 32 bytes and a size of :data:`SIZES` under the library's thumbnails folder, never from
text the peer sent, and it is opened without following a link.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from events.envelope import LIBRARY_ID_LEN
from sdactors.media.layout import SIZES, thumbnail_path
from sdactors.runtime.errors import PeerRefused, ProtocolViolation

ALPN_THUMB = b"sd/thumb/1"
# The most a thumbnail may weigh: a 1024 px WebP at q90 of a noisy photo is a few hundred
# kB. A bigger file is refused by the side that holds it, and never read past by the asker.
WEBP_MOST = 2 << 20
# An answer's frame: the bytes and their framing.
ANSWER_MOST = WEBP_MOST + 1024
CID_LEN = 32


def ask_frame(library: bytes, cid: bytes, size: int) -> dict[str, Any]:
    return {"lib": library, "cid": cid, "size": size}


def check_ask(frame: Any) -> tuple[str, bytes, int]:
    """The library (its id in hex), content id and size an ask names; anything else in it
    is a :class:`ProtocolViolation`."""
    if type(frame) is not dict:
        raise ProtocolViolation("a thumbnail ask that is not a map")
    library, cid, size = frame.get("lib"), frame.get("cid"), frame.get("size")
    if type(library) is not bytes or len(library) != LIBRARY_ID_LEN:
        raise ProtocolViolation("a thumbnail ask without a library")
    if type(cid) is not bytes or len(cid) != CID_LEN:
        raise ProtocolViolation("a thumbnail ask without a content id of 32 bytes")
    if type(size) is not int or size not in SIZES:
        raise ProtocolViolation(f"a thumbnail ask for a size not made ({str(size)[:20]})")
    return library.hex(), cid, size


def is_webp(data: bytes) -> bool:
    """RIFF's header of a WebP file: what a thumbnail is, whatever the peer says."""
    return len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP"


def check_answer(answer: Any, device: str) -> bytes | None:
    """The thumbnail an answer from ``device`` carries, or None when it has none."""
    if type(answer) is not dict:
        raise ProtocolViolation("a thumbnail answer that is not a map")
    if "refused" in answer:
        raise PeerRefused(device, str(answer["refused"])[:200])
    if answer.get("none") is True:
        return None
    data = answer.get("webp")
    if type(data) is not bytes or len(data) > WEBP_MOST or not is_webp(data):
        raise ProtocolViolation("a thumbnail answer without a WebP file of at most 2 MiB")
    return data


def read_thumbnail(root: Path, cid: bytes, size: int) -> bytes | None:
    """The thumbnail of ``cid`` at ``size`` under the thumbnails folder ``root`` (at most
    one byte past :data:`WEBP_MOST`: the caller refuses a bigger one), or None when there is
    no such regular file (a link is not followed)."""
    try:
        # O_NONBLOCK: a FIFO in a thumbnail's place is refused below, never waited on.
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        fd = os.open(thumbnail_path(root, cid, size), flags)
    except OSError:  # missing, a link, unreadable: none to serve
        return None
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return file.read(WEBP_MOST + 1)
