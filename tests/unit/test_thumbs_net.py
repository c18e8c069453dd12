"""The cache of thumbnails fetched from other devices (``sdactors/net/thumbs/cache.py``):
bounded, least recently used out first, in the same order after a restart, and no file a
killed writer left behind. The asks a node answers are checked by ``check_ask`` before any
path is built."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sdactors.media.layout import thumbnail_path
from sdactors.net.thumbs.cache import ThumbnailCache
from sdactors.net.thumbs.wire import check_answer, check_ask, read_thumbnail
from sdactors.runtime.errors import PeerRefused, ProtocolViolation

LIB = "ab" * 16
KB = 1000


def cid(n: int) -> bytes:
    return bytes([n]) * 32


def webp(size: int) -> bytes:
    return b"RIFF\0\0\0\0WEBP" + bytes(size - 12)


def held(cache: ThumbnailCache) -> set[int]:
    """Which of the thumbnails (by their cid's byte) are on the disk."""
    return {
        bytes.fromhex(name[:64])[0]
        for _folder, _dirs, names in os.walk(cache.root)
        for name in names
        if name.endswith(".webp")
    }


def test_the_least_recently_used_go_first_also_after_a_restart(tmp_path: Path) -> None:
    cache = ThumbnailCache(tmp_path, 3 * KB)
    for n in (1, 2, 3):
        cache.put(LIB, cid(n), 256, webp(KB))
    assert cache.get(LIB, cid(1), 256) is not None  # used: 2 is now the oldest
    cache.put(LIB, cid(4), 256, webp(KB))
    assert held(cache) == {1, 3, 4} and cache.total() == 3 * KB
    assert cache.get(LIB, cid(2), 256) is None

    # Another process (a restart): the order is read back from the disk, 1 used after 3.
    again = ThumbnailCache(tmp_path, 3 * KB)
    again.put(LIB, cid(5), 256, webp(KB))
    assert held(again) == {1, 4, 5}
    assert again.get(LIB, cid(1), 256) is not None
    again.put(LIB, cid(6), 256, webp(KB))
    assert held(again) == {1, 5, 6}

    # One larger than the bound stays alone: the asker is about to read it.
    again.put(LIB, cid(6), 512, webp(5 * KB))
    assert held(again) == {6} and again.total() == 5 * KB
    assert again.get(LIB, cid(6), 512) == again.path(LIB, cid(6), 512)


def test_what_a_killed_writer_left_is_removed(tmp_path: Path) -> None:
    cache = ThumbnailCache(tmp_path, 10 * KB)
    kept = cache.put(LIB, cid(1), 256, webp(KB))
    left = kept.with_name(f".{kept.name}.tmp-999999999")
    left.write_bytes(b"half")
    fresh = ThumbnailCache(tmp_path, 10 * KB)
    fresh.put(LIB, cid(2), 256, webp(KB))
    assert not left.exists() and kept.read_bytes() == webp(KB)
    assert fresh.total() == 2 * KB


@pytest.mark.parametrize(
    "frame",
    [
        [b"x"],
        {"lib": "ab" * 16, "cid": cid(1), "size": 256},
        {"lib": bytes(16), "cid": cid(1)[:31], "size": 256},
        {"lib": bytes(16), "cid": "../../../device.key", "size": 256},
        {"lib": bytes(16), "cid": cid(1), "size": 300},
        {"lib": bytes(16), "cid": cid(1), "size": "256"},
    ],
)
def test_an_ask_out_of_the_protocol_is_refused(frame: object) -> None:
    with pytest.raises(ProtocolViolation):
        check_ask(frame)


def test_only_a_webp_within_bounds_is_taken_from_a_peer() -> None:
    assert check_answer({"webp": webp(KB)}, "ash") == webp(KB)
    assert check_answer({"none": True}, "ash") is None
    with pytest.raises(PeerRefused, match="device ash refused: revoked"):
        check_answer({"refused": "revoked", "code": "revoked"}, "ash")
    for bad in ({"webp": b"<html>" + bytes(100)}, {"webp": webp(3 << 20)}, {"none": 1}, []):
        with pytest.raises(ProtocolViolation):
            check_answer(bad, "ash")


def test_a_link_or_a_fifo_in_a_thumbnails_place_is_not_served(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(webp(KB))
    link = thumbnail_path(tmp_path / "thumbnails", cid(1), 256)
    link.parent.mkdir(parents=True)
    link.symlink_to(secret)
    fifo = thumbnail_path(tmp_path / "thumbnails", cid(2), 256)
    fifo.parent.mkdir(parents=True)
    os.mkfifo(fifo)
    real = thumbnail_path(tmp_path / "thumbnails", cid(3), 256)
    real.parent.mkdir(parents=True)
    real.write_bytes(webp(KB))
    assert read_thumbnail(tmp_path / "thumbnails", cid(1), 256) is None
    assert read_thumbnail(tmp_path / "thumbnails", cid(2), 256) is None
    assert read_thumbnail(tmp_path / "thumbnails", cid(3), 256) == webp(KB)
    assert read_thumbnail(tmp_path / "thumbnails", cid(4), 256) is None
