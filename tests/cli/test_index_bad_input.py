"""What a real disk throws at the indexer: odd names, links, loops, pipes, sockets, folders it
may not read, paths that are not folders, and files that change under its feet.

None of it may stop a scan or hang it, and the rest of the tree must still be indexed.
"""

from __future__ import annotations

import errno
import os
import random
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SD, Result, Sd
from tests.helpers_tree import (
    assert_index_matches_disk,
    cid_of_file,
    disk_entries,
    disk_stats,
    entry_event_counts,
    jpeg_bytes,
    make_many,
    readable,
    shown,
    write,
)


def raw_write(path: bytes, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)


def zeros(result: dict[str, Any]) -> bool:
    return all(result[k] == 0 for k in ("created", "modified", "moved", "deleted"))


# -- names, links, special files -------------------------------------------------------------------------


def test_odd_names_links_loops_fifos_and_sockets(sd: Sd, tmp_path: Path) -> None:
    # The location's own name is not valid UTF-8 either.
    root = os.path.realpath(os.fsencode(tmp_path) + b"/tr\xe9e")
    outside = os.fsencode(tmp_path) + b"/outside"
    raw_write(root + b"/ok.txt", b"fine\n")
    os.link(root + b"/ok.txt", root + b"/hard-link-to-ok.txt")  # two names, one inode
    raw_write(root + b"/caf\xe9-menu.txt", b"latin-1 name\n")
    raw_write(root + b"/r\xe9sum\xe9s/cv.txt", b"curriculum\n")
    raw_write(root + b"/r\xe9sum\xe9s/\xff\xfe.bin", b"\x00\x01")
    raw_write(root + b"/two\nlines.txt", b"a name with a newline\n")
    raw_write(root + b"/tab\tand \\ back.txt", b"odd characters\n")
    for i in range(200):
        raw_write(root + b"/big/f%03d.txt" % i, b"big %d\n" % i)
        raw_write(outside + b"/o%03d.txt" % i, b"outside %d\n" % i)
    links = root + b"/links"
    os.makedirs(links)
    os.symlink(b"../ok.txt", links + b"/to-file")
    os.symlink(b"../big", links + b"/to-big")
    os.symlink(outside, links + b"/to-outside")
    os.symlink(b"/nonexistent/nowhere", links + b"/dangling")
    os.symlink(b"self", links + b"/self")
    os.symlink(b"b", links + b"/a")
    os.symlink(b"a", links + b"/b")
    os.symlink(b"..", links + b"/up")
    special = root + b"/special"
    os.makedirs(special)
    fifo = special + b"/pipe"
    os.mkfifo(fifo)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(special + b"/sock")
    server.listen(4)
    server.setblocking(False)

    # If anything opens the pipe for reading during the scan, a non-blocking writer can open
    # it; if nothing does, that open fails with ENXIO every time.
    fifo_opened: list[bool] = []
    stop = threading.Event()

    def watch_fifo() -> None:
        while not stop.is_set():
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                assert exc.errno == errno.ENXIO
            else:
                os.close(fd)
                fifo_opened.append(True)
            time.sleep(0.001)

    watcher = threading.Thread(target=watch_fifo, daemon=True)
    watcher.start()
    try:
        sd.run("library", "create", "Home")
        started = time.monotonic()
        added = sd.run("--json", "location", "add", os.fsdecode(root), timeout=60).json()
        assert time.monotonic() - started < 60
    finally:
        stop.set()
        watcher.join()
    assert not fifo_opened, "the indexer opened the FIFO"
    with pytest.raises(BlockingIOError):
        server.accept()  # nobody connected to the socket
    server.close()

    disk = disk_entries(root)
    st = disk_stats(disk)
    shown_root = readable(root)
    assert added["path"] == shown_root and added["name"] == "tr\\xe9e"
    assert added["errors"] == 0
    # Links are not followed: the big folder counts once, the outside folder not at all.
    assert (added["files"], added["dirs"], added["bytes"]) == (st["files"], st["dirs"], st["bytes"])
    assert added["created"] == len(disk)
    stats = sd.json("stats")
    assert (stats["files"], stats["dirs"], stats["other"]) == (st["files"], st["dirs"], st["other"])
    assert st["other"] == 10  # 8 links, a pipe, a socket

    items = assert_index_matches_disk(sd, shown_root, disk)
    by_name = {i["name"]: i for i in items.values()}
    for name in ("to-file", "to-big", "to-outside", "dangling", "self", "a", "b", "up"):
        assert by_name[name]["type"] == "symlink" and by_name[name]["content_id"] is None
    assert by_name["pipe"]["type"] == "fifo" and by_name["sock"]["type"] == "socket"
    assert "caf\udce9-menu.txt" in by_name and "r\udce9sum\udce9s" in by_name
    assert "\udcff\udcfe.bin" in by_name and "two\nlines.txt" in by_name
    # ls takes the real bytes of a folder whose name is not UTF-8.
    listed = sd.json("ls", os.fsdecode(root + b"/r\xe9sum\xe9s"))
    assert sorted(i["path"] for i in listed) == [
        f"{shown_root}/r\udce9sum\udce9s/cv.txt",
        f"{shown_root}/r\udce9sum\udce9s/\udcff\udcfe.bin",
    ]

    # Search finds them by their readable part.
    assert [h["name"] for h in sd.json("search", "menu")] == ["caf\udce9-menu.txt"]
    assert [h["path"] for h in sd.json("search", "cv.txt")] == [
        f"{shown_root}/r\udce9sum\udce9s/cv.txt"
    ]
    assert "r\udce9sum\udce9s" in [h["name"] for h in sd.json("search", "sum")]
    assert [h["name"] for h in sd.json("search", "lines")] == ["two\nlines.txt"]
    assert [h["name"] for h in sd.json("search", "and \\ back")] == ["tab\tand \\ back.txt"]

    assert by_name["hard-link-to-ok.txt"]["content_id"] == by_name["ok.txt"]["content_id"]
    # The names round-trip (and a second link is not taken for a move): a rescan finds
    # nothing new, nothing gone.
    before = entry_event_counts(sd.json("log", "stats"))
    assert zeros(sd.run("--json", "location", "rescan", os.fsdecode(root), timeout=60).json())
    assert entry_event_counts(sd.json("log", "stats")) == before
    digest = sd.json("projections", "digest")["digest"]
    assert sd.json("projections", "rebuild")["digest"] == digest


# -- folders and files that cannot be read ----------------------------------------------------------------


class SdWithoutOverride(Sd):
    """``sd`` run by root without the capabilities that let root ignore permissions."""

    PREFIX = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--"]

    def run(
        self, *args: str, check: bool = True, timeout: float = 120, input: str | None = None
    ) -> Result:
        proc = subprocess.run(
            [*self.PREFIX, *SD, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        result = Result(proc.returncode, proc.stdout, proc.stderr)
        if check and proc.returncode != 0:
            raise AssertionError(f"sd {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
        return result


@pytest.fixture
def unprivileged(sd: Sd, data_dir: Path) -> Sd:
    """An ``sd`` that permissions apply to.

    Root reads everything; as root, ``sd`` runs without CAP_DAC_OVERRIDE and
    CAP_DAC_READ_SEARCH (``setpriv``), or the test is skipped.
    """
    if os.geteuid() != 0:
        return sd
    if shutil.which("setpriv") is None:
        pytest.skip("running as root, and no setpriv to drop the capability to read anything")
    probe = subprocess.run([*SdWithoutOverride.PREFIX, "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"running as root, and setpriv cannot drop capabilities: {probe.stderr!r}")
    return SdWithoutOverride(data_dir)


def test_unreadable_folder_and_file_are_reported_and_skipped(
    unprivileged: Sd, tmp_path: Path
) -> None:
    sd = unprivileged
    root_path = tmp_path / "tree"
    write(root_path, "a-locked/secret.txt", "you cannot list me\n")
    write(root_path, "a-locked/inner/deeper.txt", "nor me\n")
    write(root_path, "b-unreadable.txt", "you cannot read me\n")
    write(root_path, "c-ok/fine.txt", "fine\n")
    write(root_path, "d-after.txt", "after\n")
    os.chmod(root_path / "b-unreadable.txt", 0)
    os.chmod(root_path / "a-locked", 0)
    root = str(root_path)
    try:
        sd.run("library", "create", "Home")
        added = sd.json("location", "add", root)
        assert added["errors"] == 2
        # The rest of the tree is indexed; the locked folder is there, empty; the unreadable
        # file is there, with no content id.
        listed = {i["name"]: i for i in sd.json("ls", root)}
        assert set(listed) == {"a-locked", "b-unreadable.txt", "c-ok", "d-after.txt"}
        assert listed["a-locked"]["type"] == "dir"
        assert listed["b-unreadable.txt"]["content_id"] is None
        assert listed["d-after.txt"]["content_id"] is not None
        assert [i["name"] for i in sd.json("ls", f"{root}/c-ok")] == ["fine.txt"]
        assert sd.json("ls", f"{root}/a-locked") == []
        # People read why, in one line.
        text = sd.run("location", "rescan", root).out
        assert "could not be read" in text and "a-locked" in text
        assert len(text.strip().splitlines()) == 1

        # Once the folder is readable again, a rescan brings in what it holds; the file
        # still cannot be read and keeps no content id.
        os.chmod(root_path / "a-locked", 0o755)
        rescanned = sd.json("location", "rescan", root)
        assert (rescanned["created"], rescanned["deleted"]) == (
            3,
            0,
        )  # secret.txt, inner, deeper.txt
        disk = disk_entries(root)
        unreadable = f"{root}/b-unreadable.txt"
        disk[unreadable] = disk[unreadable]._replace(content_id=None)
        assert_index_matches_disk(sd, root, disk)
    finally:
        os.chmod(root_path / "a-locked", 0o755)
        os.chmod(root_path / "b-unreadable.txt", 0o644)


def test_a_file_readable_again_gets_its_content_id(unprivileged: Sd, tmp_path: Path) -> None:
    sd = unprivileged
    path = write(tmp_path / "tree", "later.txt", "readable later\n")
    os.chmod(path, 0)
    try:
        sd.run("library", "create", "Home")
        assert sd.json("location", "add", str(tmp_path / "tree"))["errors"] == 1
        # Still unreadable: reported again, but nothing new goes into the log.
        before = sd.json("log", "stats")["by_type"].get("entries.modified", 0)
        again = sd.json("location", "rescan", str(tmp_path / "tree"))
        assert again["errors"] == 1 and again["modified"] == 0
        assert sd.json("log", "stats")["by_type"].get("entries.modified", 0) == before
        os.chmod(path, 0o644)
        healed = sd.json("location", "rescan", str(tmp_path / "tree"))
        assert healed["errors"] == 0 and healed["modified"] == 1
        listed = sd.json("ls", str(path))
        assert listed[0]["content_id"] == shown(cid_of_file(path))
    finally:
        os.chmod(path, 0o644)


# -- locations that cannot be added -------------------------------------------------------------------


def test_bad_locations_fail_with_one_clear_line(sd: Sd, tmp_path: Path) -> None:
    sd.run("library", "create", "Home")
    write(tmp_path, "tree/sub/inner/file.txt", "x\n")
    write(tmp_path, "a-file.txt", "x\n")
    missing = str(tmp_path / "does-not-exist")

    failed = sd.fails("location", "add", missing)
    assert failed.err.strip().count("\n") == 0
    assert "does not exist" in failed.err and "does-not-exist" in failed.err
    failed = sd.fails("--json", "location", "add", missing)
    assert "does not exist" in failed.json()["error"]

    failed = sd.fails("location", "add", str(tmp_path / "a-file.txt"))
    assert failed.err.strip().count("\n") == 0 and "not a folder" in failed.err

    root = os.path.realpath(tmp_path / "tree")
    sd.json("location", "add", root)
    for nested, what in ((f"{root}/sub", "is inside"), (f"{root}/sub/inner", "is inside"),
                         (str(tmp_path), "holds")):  # fmt: skip
        failed = sd.fails("location", "add", nested)
        assert failed.err.strip().count("\n") == 0
        assert f"it {what} the location 'tree' ({root})" in failed.err, failed.err
    # Through a symlink, it is still the same folder inside the location.
    os.symlink(f"{root}/sub", tmp_path / "link-to-sub")
    assert (
        "is inside the location" in sd.fails("location", "add", str(tmp_path / "link-to-sub")).err
    )
    assert [loc["path"] for loc in sd.json("location", "list")] == [root]

    for command in (
        ("location", "rescan", missing),
        ("location", "remove", "nope"),
        ("location", "rules", "nope", "--no-hidden"),
        ("ls", missing),
    ):
        failed = sd.fails(*command)
        assert failed.err.strip().count("\n") == 0, command

    # A location whose folder went away: its rescan says so, in one line, and keeps the index.
    shutil.rmtree(root)
    failed = sd.fails("location", "rescan", root)
    assert failed.err.strip().count("\n") == 0 and "does not exist" in failed.err
    assert sd.json("stats")["files"] == 1


@pytest.mark.hostile("M10")
def test_the_data_directory_cannot_be_a_location(tmp_path: Path) -> None:
    """The node's own files (its log, its index, device.key) are never indexed: neither the
    data directory nor anything inside it can be a location, whichever path names it."""
    sd = Sd(tmp_path / "data")
    sd.run("library", "create", "Home")
    data = os.path.realpath(tmp_path / "data")
    (tmp_path / "link-to-data").symlink_to(data)
    for path in (data, f"{data}/libraries", str(tmp_path / "link-to-data")):
        failed = sd.fails("location", "add", path)
        assert failed.err.strip().count("\n") == 0, failed.err
        assert "sdactors' own data directory" in failed.err and data in failed.err, failed.err
    assert sd.json("location", "list") == []
    assert sd.json("log", "stats")["by_type"].get("location.added", 0) == 0


@pytest.mark.hostile("L5")
def test_a_location_around_or_inside_another_names_it(sd: Sd, tmp_path: Path) -> None:
    sd.run("library", "create", "Home")
    write(tmp_path, "home/photos/2024/a.jpg", jpeg_bytes())
    home = os.path.realpath(tmp_path / "home")
    sd.json("location", "add", f"{home}/photos", "--name", "Pictures")
    # Around it: the folder holds the location, it is not part of it.
    around = sd.fails("location", "add", home).err.strip()
    assert around == (
        f"sd: error: cannot add {home}: it holds the location 'Pictures' ({home}/photos); "
        "a folder can be in one location only (remove 'Pictures' first to index the whole of it)"
    )
    # Inside it: already indexed, as part of that location.
    inside = sd.fails("location", "add", f"{home}/photos/2024").err.strip()
    assert inside == (
        f"sd: error: cannot add {home}/photos/2024: it is inside the location 'Pictures' "
        f"({home}/photos), which indexes it already"
    )
    assert [loc["name"] for loc in sd.json("location", "list")] == ["Pictures"]


# -- files that change while being indexed ------------------------------------------------------------------


@pytest.mark.slow
def test_files_changing_during_the_scan_converge_on_rescan(sd: Sd, tmp_path: Path) -> None:
    root_path = tmp_path / "busy"
    make_many(root_path, 12_000, fanout=(2, 4), seed=3)
    for i in range(40):  # larger files: their sampled reads take a moment
        write(root_path, f"d0_{i % 2:02d}/large{i:02d}.bin", random.Random(i).randbytes(300_000))
    root = os.path.realpath(root_path)
    sd.run("library", "create", "Home")

    files = sorted(p for p in root_path.rglob("*") if p.is_file())
    rnd = random.Random(7)
    rnd.shuffle(files)
    done: list[str] = []
    stop = threading.Event()

    def churn() -> None:
        """Delete, grow, rename, replace and create files (and a folder) while sd works."""
        n = 0
        while not stop.is_set() and files:
            path = files.pop()
            op = n % 7
            n += 1
            try:
                if op == 0:
                    path.unlink()
                elif op == 1:
                    with open(path, "ab") as fh:  # grows: its size says it changed
                        fh.write(b"appended while indexing\n" * (1 + n % 3))
                elif op == 2:
                    path.rename(path.with_name(path.name + ".renamed"))
                elif op == 3:
                    path.unlink()
                    os.symlink("elsewhere", path)  # a file swapped for a link
                elif op == 4:
                    path.unlink()
                    os.mkfifo(path)  # ... or for a pipe (must not hang the reader)
                elif op == 5:
                    write(path.parent, f"new-{n}.txt", f"born during the scan {n}\n")
                else:
                    with open(path, "r+b") as fh:  # shrinks
                        fh.truncate(max(0, path.stat().st_size // 2))
                done.append(f"{op}:{path.name}")
            except FileNotFoundError:
                pass
            if n % 200 == 0:
                victim = root_path / f"d0_{n // 200 % 2:02d}" / f"d1_{n // 50 % 4:02d}"
                shutil.rmtree(victim, ignore_errors=True)  # a whole folder vanishes
            time.sleep(0.0005)

    proc = sd.popen(
        "--json", "location", "add", root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    churner = threading.Thread(target=churn, daemon=True)
    churner.start()
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        stop.set()
        churner.join()
    assert proc.returncode == 0, err
    first = __import__("json").loads(out)
    assert len(done) > 100, "the churn hardly overlapped the scan"

    rescanned = sd.run("--json", "location", "rescan", root).json()
    assert rescanned["errors"] == 0
    disk = disk_entries(root)
    st = disk_stats(disk)
    assert (rescanned["files"], rescanned["dirs"], rescanned["bytes"]) == (
        st["files"],
        st["dirs"],
        st["bytes"],
    )
    stats = sd.json("stats")
    assert (stats["files"], stats["dirs"], stats["bytes"], stats["other"]) == (
        st["files"],
        st["dirs"],
        st["bytes"],
        st["other"],
    )
    assert_index_matches_disk(sd, root, disk)
    assert first["files"] > 0
    # And it stays converged.
    assert zeros(sd.json("location", "rescan", root))
    assert sd.json("projections", "rebuild")["digest"] == sd.json("projections", "digest")["digest"]
