"""Content ids and the full-file hash, checked against plain blake3 of the bytes."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import blake3
import pytest

from sdactors.indexer.content import (
    FULL_HASH_BUFFER,
    SMALL_FILE_MAX,
    content_id_of_bytes,
    full_hash,
    identify,
    sample_ranges,
)
from tests.helpers_tree import random_bytes, spacedrive_cid

KIB = 1024
SIZES = [1, 1000, SMALL_FILE_MAX, SMALL_FILE_MAX + 1, 116 * KIB + 3, 5 * 1024 * KIB + 3]


@pytest.mark.parametrize("size", SIZES)
def test_content_ids_read_the_sampled_ranges(tmp_path: Path, size: int) -> None:
    data = random_bytes(size, seed=size)
    path = tmp_path / "f"
    path.write_bytes(data)
    st = path.stat()
    expected = spacedrive_cid(data)
    assert content_id_of_bytes(data).hex() == expected
    assert identify(os.fsencode(path), st.st_size, st.st_mtime_ns).cid.hex() == expected
    read = sum(length for _offset, length in sample_ranges(size))
    assert read == size if size <= SMALL_FILE_MAX else read == 56 * KIB


@pytest.mark.parametrize(
    "size", [0, 1, FULL_HASH_BUFFER - 1, FULL_HASH_BUFFER, FULL_HASH_BUFFER + 1, 3_000_017]
)
def test_full_hash_is_blake3_of_every_byte(tmp_path: Path, size: int) -> None:
    data = random_bytes(size, seed=size)
    path = tmp_path / "f"
    path.write_bytes(data)
    assert full_hash(os.fsencode(path)) == blake3.blake3(data).digest()


def test_full_hash_reuses_a_buffer_across_files(tmp_path: Path) -> None:
    buffer = bytearray(4096)  # smaller than the files: many reads each
    blobs = {f"f{i}": random_bytes(10_000 + i * 7_001, seed=i) for i in range(4)}
    for name, data in blobs.items():
        (tmp_path / name).write_bytes(data)
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        for name, data in blobs.items():
            got = full_hash(name, dir_fd=fd, buffer=buffer)
            assert got == blake3.blake3(data).digest(), name
    finally:
        os.close(fd)


def test_full_hash_refuses_links_and_fifos(tmp_path: Path) -> None:
    (tmp_path / "real").write_bytes(b"x")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(OSError) as link:
        full_hash(str(tmp_path / "link"))
    assert link.value.errno == errno.ELOOP
    with pytest.raises(OSError) as fifo:
        full_hash(str(tmp_path / "fifo"))  # returns at once: no writer is waited for
    assert fifo.value.errno == errno.EINVAL
