"""Spacedrop's disk side and offer checks, without a network: what lands in the inbox is
checked whole and never replaces anything; what a peer offers is one plain name each."""

from __future__ import annotations

import os
from pathlib import Path

import blake3
import pytest

from sdactors.net.drop.disk import (
    NAME_MOST,
    Offered,
    Writer,
    describe,
    held,
    inbox,
    numbered,
    partial_of,
    place,
)
from sdactors.net.drop.wire import OfferedFiles, check_offer, offer_frame
from sdactors.runtime.errors import DropMismatch, DropNotAFile, ProtocolViolation


def _offered(name: bytes, data: bytes) -> Offered:
    return Offered(name, len(data), blake3.blake3(data).digest())


def test_numbered_names_keep_the_extension_and_the_length_limit() -> None:
    assert numbered(b"report.pdf", 0) == b"report.pdf"
    assert numbered(b"report.pdf", 1) == b"report (1).pdf"
    assert numbered(b"archive.tar.gz", 2) == b"archive.tar (2).gz"
    assert numbered(b".profile", 1) == b".profile (1)"
    assert numbered(b"README", 3) == b"README (3)"
    long = numbered(b"x" * 250 + b".bin", 12)
    assert len(long) <= NAME_MOST and long.endswith(b" (12).bin")


def test_a_received_file_never_replaces_one_already_there(tmp_path: Path) -> None:
    folder = inbox(tmp_path / "inbox")
    assert os.stat(folder).st_mode & 0o777 == 0o700
    (tmp_path / "inbox" / "a.txt").write_bytes(b"mine")
    (tmp_path / "inbox" / "a (1).txt").write_bytes(b"mine too")
    data = b"theirs"
    offered = _offered(b"a.txt", data)
    writer = Writer(partial_of(folder, offered.blake3), 0)
    writer.write(data)
    placed = writer.finish(folder, offered)
    assert placed == os.path.join(folder, b"a (2).txt")
    assert (tmp_path / "inbox" / "a.txt").read_bytes() == b"mine"
    assert Path(os.fsdecode(placed)).read_bytes() == data
    assert sorted(os.listdir(folder)) == [b"a (1).txt", b"a (2).txt", b"a.txt"]


def test_a_file_that_arrived_different_is_discarded(tmp_path: Path) -> None:
    folder = inbox(tmp_path / "inbox")
    offered = _offered(b"b.bin", b"the real contents")
    partial = partial_of(folder, offered.blake3)
    writer = Writer(partial, 0)
    writer.write(b"the fake contents")
    with pytest.raises(DropMismatch, match="b.bin"):
        writer.finish(folder, offered)
    assert os.listdir(folder) == []


def test_a_partial_resumes_from_its_size_and_a_longer_one_starts_again(tmp_path: Path) -> None:
    folder = inbox(tmp_path / "inbox")
    data = os.urandom(10_000)
    offered = _offered(b"c.bin", data)
    partial = partial_of(folder, offered.blake3)
    assert held(partial, offered.size) == 0
    first = Writer(partial, 0)
    first.write(data[:4000])
    first.close()
    assert held(partial, offered.size) == 4000
    rest = Writer(partial, 4000)
    rest.write(data[4000:])
    assert Path(os.fsdecode(rest.finish(folder, offered))).read_bytes() == data
    Path(os.fsdecode(partial)).write_bytes(b"\0" * (offered.size + 1))
    assert held(partial, offered.size) == 0 and not os.path.exists(partial)


def test_chunks_of_any_size_land_whole_and_a_stop_keeps_every_byte_received(
    tmp_path: Path,
) -> None:
    """Whole blocks go straight to the disk and the rest waits in a buffer: stopping part
    way (a broken connection) must still leave every byte received in the partial, and a
    resume from the middle of a block must carry on exactly there."""
    folder = inbox(tmp_path / "inbox")
    data = os.urandom(3 * (1 << 20) + 12_345)
    offered = _offered(b"e.bin", data)
    partial = partial_of(folder, offered.blake3)
    sizes = [1, 4095, 4096, 70_001, 1 << 20, 3, (1 << 20) + 5000]
    first = Writer(partial, 0)
    at = 0
    for size in sizes:
        first.write(data[at : at + size])
        at += size
    first.close()
    assert held(partial, offered.size) == at
    assert Path(os.fsdecode(partial)).read_bytes() == data[:at]
    rest = Writer(partial, at)
    while at < len(data):
        rest.write(data[at : at + 300_007])
        at += 300_007
    assert Path(os.fsdecode(rest.finish(folder, offered))).read_bytes() == data


def test_place_numbers_past_names_taken_meanwhile(tmp_path: Path) -> None:
    folder = os.fsencode(tmp_path)
    (tmp_path / "d.txt").write_bytes(b"x")
    (tmp_path / ".sd-partial-1").write_bytes(b"y")
    assert place(os.path.join(folder, b".sd-partial-1"), folder, b"d.txt").endswith(b"d (1).txt")


def test_only_regular_files_are_offered(tmp_path: Path) -> None:
    with pytest.raises(DropNotAFile):
        describe(os.fsencode(tmp_path))
    (tmp_path / "real").write_bytes(b"abc")
    os.symlink(tmp_path / "real", tmp_path / "link")
    with pytest.raises(DropNotAFile):
        describe(os.fsencode(tmp_path / "link"))
    source = describe(os.fsencode(tmp_path / "real"))
    assert source.offered == _offered(b"real", b"abc")


@pytest.mark.parametrize(
    "name", [b"../evil", b"a/b", b"..", b".", b"", b"nul\0", b".sd-partial-abc", "text", b"x" * 256]
)
def test_an_offer_names_one_plain_file_each(name: object) -> None:
    frame = offer_frame(None, "peer", [Offered(b"ok.txt", 1, b"\1" * 32)], None)
    frame["files"].append({"name": name, "size": 1, "blake3": b"\1" * 32})
    with pytest.raises(ProtocolViolation):
        check_offer(frame)


@pytest.mark.parametrize(
    "change",
    [
        {"v": 2},
        {"lib": b"short"},
        {"name": 7},
        {"resume": ""},
        {"files": []},
        {"files": [{"name": b"a", "size": -1, "blake3": b"\1" * 32}]},
        {"files": [{"name": b"a", "size": 1, "blake3": b"\1" * 31}]},
        {"files": [{"name": b"a", "size": 1.5, "blake3": b"\1" * 32}]},
    ],
)
def test_a_malformed_offer_is_refused(change: dict) -> None:
    frame = offer_frame(b"\0" * 16, "peer", [Offered(b"ok.txt", 1, b"\1" * 32)], "abcd1234")
    assert check_offer(frame).files[0].name == b"ok.txt"
    with pytest.raises(ProtocolViolation):
        check_offer({**frame, **change})


def test_an_offers_files_are_kept_packed_and_read_back_as_offered() -> None:
    files = [_offered(b"a.txt", b"x"), _offered(b"b" * NAME_MOST, b"yy"), _offered(b"c", b"")]
    packed = OfferedFiles(files)
    assert list(packed) == files and len(packed) == 3
    assert (packed[0], packed[-1], packed[-3]) == (files[0], files[2], files[0])
    assert packed.total == 3
    assert packed == OfferedFiles(files) and packed != OfferedFiles(files[:2])
    with pytest.raises(IndexError):
        packed[3]
