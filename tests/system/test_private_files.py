"""The data directory and library folders are 0700, databases (with SQLite's -wal and -shm
files) and the device key 0600, whatever the umask; looser modes are tightened when the data
directory is opened; a device.key that is a symbolic link (or not a file) is refused, and
what it points at is left alone."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Iterator

import psutil
import pytest

from tests.conftest import Sd
from tests.helpers_cluster import Peer
from tests.helpers_log import library_dirs
from tests.helpers_tree import write
from tests.system.test_node import until


@pytest.fixture
def open_umask() -> Iterator[None]:
    """sd runs with umask 000 (inherited): private modes must not depend on the user's."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def private_modes(sd: Sd) -> dict[str, int]:
    """The mode of everything that must be private, by its path in the data directory."""
    root = sd.data_dir
    paths = [root, root / "device.key"]
    for library in library_dirs(root):
        paths.append(library)
        paths += [p for p in library.iterdir() if p.name.startswith(("events.db", "index.db"))]
    return {str(p.relative_to(root.parent)): mode(p) for p in paths}


def assert_private(sd: Sd) -> dict[str, int]:
    modes = private_modes(sd)
    want = {p: 0o700 if p == "data" or p.endswith(".sdlibrary") else 0o600 for p in modes}
    assert {p: oct(m) for p, m in modes.items()} == {p: oct(m) for p, m in want.items()}
    return modes


def test_created_private(sd: Sd, tmp_path: Path, open_umask: None) -> None:
    sd.run("library", "create", "Home")
    modes = assert_private(sd)
    assert any(p.endswith("events.db") for p in modes) and any(
        p.endswith("index.db") for p in modes
    )
    write(tmp_path / "docs", "a.txt", "a")
    sd.run("location", "add", str(tmp_path / "docs"))
    assert_private(sd)
    sd.run("search", "a")  # a reader leaves SQLite's WAL files beside both databases
    modes = assert_private(sd)
    for name in ("events.db-wal", "events.db-shm", "index.db-wal", "index.db-shm"):
        assert any(p.endswith(name) for p in modes), sorted(modes)
    sd.run("projections", "rebuild")  # a fresh index.db, swapped in
    assert_private(sd)


def test_loosened_modes_are_tightened(sd: Sd, tmp_path: Path) -> None:
    sd.run("library", "create", "Home")
    write(tmp_path / "docs", "a.txt", "a")
    sd.run("location", "add", str(tmp_path / "docs"))
    sd.run("search", "a")
    modes = private_modes(sd)
    assert len(modes) == 9  # data, key, the library, two databases, their -wal and -shm
    for path in modes:
        p = tmp_path / path
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    sd.run("tag", "create", "Photos")
    assert_private(sd)


@pytest.mark.parametrize("exists", [True, False], ids=["to-a-file", "dangling"])
def test_a_symlinked_device_key_is_refused(sd: Sd, tmp_path: Path, exists: bool) -> None:
    elsewhere = tmp_path / "elsewhere.key"
    if exists:
        sd.run("library", "create", "Home")
        key = sd.data_dir / "device.key"
        elsewhere.write_bytes(key.read_bytes())
        os.chmod(elsewhere, 0o644)
        key.unlink()
    else:
        sd.data_dir.mkdir()
    (sd.data_dir / "device.key").symlink_to(elsewhere)
    command = ["tag", "create", "Photos"] if exists else ["library", "create", "Home"]
    result = sd.fails(*command)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and "device.key is a symbolic link" in lines[0], result.err
    assert "symbolic link" in sd.fails("--json", *command).json()["error"]
    assert (sd.data_dir / "device.key").is_symlink()
    if exists:
        assert mode(elsewhere) == 0o644  # what the link points at is untouched
    else:
        assert not elsewhere.exists()  # and nothing is created through it


def test_a_device_key_that_is_not_a_file_is_refused(sd: Sd) -> None:
    sd.data_dir.mkdir()
    os.mkfifo(sd.data_dir / "device.key")
    # A FIFO must not hang the command (nothing will ever write to it).
    result = sd.run("library", "create", "Home", check=False, timeout=30)
    assert result.code == 1
    assert result.err.strip().splitlines() == [
        f"sd: error: {sd.data_dir / 'device.key'} is a FIFO, not a regular file"
    ]


def ended(pid: int) -> bool:
    """Whether a process has ended: gone, or a zombie (the background index is this
    process's child when the test runs sd in itself, and nothing reaps it here)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.slow
@pytest.mark.hostile("L9")
def test_everything_sd_and_a_node_write_is_private(
    sd: Sd, tmp_path: Path, open_umask: None
) -> None:
    """Every folder sd or a node makes in the data directory is 0700 and every file 0600
    (node.toml, library.toml, locks, network.json, the node's log, background.log...),
    whatever the umask; the user's own files moved into the trash keep theirs."""
    docs = tmp_path / "docs"
    write(docs, "a.txt", "a")
    write(tmp_path / "later", "b.txt", "b")
    sd.run("library", "create", "Home")
    added = sd.json("location", "add", "--no-wait", str(tmp_path / "later"))
    until(lambda: ended(added["background_pid"]), 60, "background index")
    node = Peer(sd, tmp_path / "node.log")
    try:
        node.start()
        sd.run("location", "add", str(docs))
        sd.run("rm", str(docs / "a.txt"))
        sd.run("tag", "create", "Photos")
    finally:
        node.stop()
    loose = {}
    for folder, dirs, files in os.walk(sd.data_dir):
        where = Path(folder)
        for name in dirs:
            if mode(where / name) != 0o700:
                loose[str((where / name).relative_to(sd.data_dir))] = oct(mode(where / name))
        for name in files:
            if where.parent.name != "trash" and mode(where / name) != 0o600:
                loose[str((where / name).relative_to(sd.data_dir))] = oct(mode(where / name))
    assert mode(sd.data_dir) == 0o700
    assert loose == {}
    names = {p.name for p in sd.data_dir.rglob("*")}
    assert {"node.toml", "library.toml", "node.lock", "lock", "network.json", "node.log"} <= names
    assert "background.log" in names
