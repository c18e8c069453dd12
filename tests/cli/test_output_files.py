"""Commands that write a file the user names (``sd log export FILE``, ``sd projections
rebuild --into FILE``) never write over the library's own files, over anything but a regular
file, or over an existing file without ``--force``; and never leave a half-written file."""

from __future__ import annotations

import os
import resource
import signal
import socket
import stat
import subprocess
from pathlib import Path

import pytest

from tests.conftest import SD, Sd
from tests.helpers_log import library_dirs, run_all
from tests.helpers_tree import write

# Both commands, each as a function of its target.
WRITERS = {
    "export": lambda target: ["log", "export", str(target)],
    "into": lambda target: ["projections", "rebuild", "--into", str(target)],
}


def snapshot(sd: Sd) -> dict[Path, bytes]:
    """Every file of the data directory with its content; but SQLite's WAL files, which
    come and go as the log is read."""
    return {
        p: p.read_bytes()
        for p in sorted(sd.data_dir.rglob("*"))
        if p.is_file() and not p.name.endswith(("-wal", "-shm"))
    }


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial" in p.name)


def assert_refused(sd: Sd, commands: list[list[str]], fragment: str) -> None:
    """Each command (run side by side: none writes) fails with one line on stderr saying
    why, exit 1, and ``{"error": ...}`` with --json."""
    results = run_all(sd, *commands, *[["--json", *args] for args in commands], check=False)
    for args, plain, as_json in zip(commands, results, results[len(commands) :]):
        assert plain.code == as_json.code == 1, (args, plain.err)
        lines = plain.err.strip().splitlines()
        assert len(lines) == 1 and fragment in lines[0], (args, plain.err)
        assert plain.out == ""
        assert fragment in as_json.json()["error"], (args, as_json.out)


@pytest.fixture
def home(sd: Sd, tmp_path: Path) -> Sd:
    sd.run("library", "create", "Home")
    sd.run("tag", "create", "Photos")
    return sd


@pytest.mark.parametrize("command", sorted(WRITERS))
def test_the_librarys_own_files_are_refused(
    home: Sd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    [library] = library_dirs(home.data_dir)
    link = tmp_path / "looks-harmless.db"
    link.symlink_to(library / "events.db")
    targets = [
        library / "events.db",
        library / "index.db",
        library / "library.toml",
        library / "a-new-file.db",  # anything inside a library's folder
        home.data_dir / "device.key",
        home.data_dir / "node.toml",
        link,  # a symbolic link is checked where it leads
        Path(os.path.relpath(library / "events.db", tmp_path)),  # relative to the cwd
    ]
    before = snapshot(home)
    events = home.json("log", "stats")["events"]
    monkeypatch.chdir(tmp_path)  # the child inherits it: the relative target resolves there
    # With --force: it does not make the library's files fair game.
    commands = [[*WRITERS[command](target), "--force"] for target in targets]
    assert_refused(home, [WRITERS[command](targets[0]), *commands], "sdactors' own files")
    assert snapshot(home) == before
    assert link.is_symlink()
    assert home.json("log", "verify") == {
        "ok": True,
        "events": events,
        "problems": [],
        "ownership_violations": [],
        "membership_not_counted": [],
        "held_past_cut": [],
        "not_members": [],
    }
    assert leftovers(library) == leftovers(tmp_path) == []


def special_files(folder: Path) -> list[tuple[Path, str]]:
    fifo = folder / "fifo"
    os.mkfifo(fifo)
    sock_path = folder / "sock"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    sock.close()
    found = [
        (fifo, "a FIFO"),
        (sock_path, "a socket"),
        (folder / "dir", "a directory"),
    ]
    (folder / "dir").mkdir()
    try:
        # A device node of its own (the one /dev/null is), so a failure cannot harm the system's.
        os.mknod(folder / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pass  # only root may make device nodes; the other kinds are still tested
    else:
        found.append((folder / "null", "a character device"))
    return found


@pytest.mark.parametrize("command", sorted(WRITERS))
def test_what_is_not_a_regular_file_is_refused(home: Sd, tmp_path: Path, command: str) -> None:
    folder = tmp_path / "special"
    folder.mkdir()
    for target, kind in special_files(folder):
        before = os.lstat(target)
        fragment = "directory" if kind == "a directory" else f"it is {kind}"
        assert_refused(home, [[*WRITERS[command](target), "--force"]], fragment)
        after = os.lstat(target)
        assert (after.st_ino, after.st_mode, after.st_rdev) == (
            before.st_ino,
            before.st_mode,
            before.st_rdev,
        )
    assert leftovers(folder) == []


@pytest.mark.parametrize("command", sorted(WRITERS))
def test_an_existing_file_needs_force(home: Sd, tmp_path: Path, command: str) -> None:
    target = tmp_path / "mine.txt"
    target.write_text("the user's own words\n")
    assert_refused(home, [WRITERS[command](target)], "already exists: add --force")
    assert target.read_text() == "the user's own words\n"

    result = home.json(*WRITERS[command](target), "--force")
    assert result["path"] == str(target)
    assert target.read_bytes() != b"the user's own words\n"
    assert leftovers(tmp_path) == []
    # What was written is whole: an export imports, an index has the live digest.
    if command == "export":
        elsewhere = Sd(tmp_path / "elsewhere")
        assert elsewhere.json("log", "import", str(target))["accepted"] == result["events"]
    else:
        assert result["digest"] == home.json("projections", "digest")["digest"]


def test_a_failed_write_leaves_no_file(home: Sd, tmp_path: Path) -> None:
    """A write that fails half-way (here: the file size limit of ``ulimit -f``, as a full
    disk or a quota would) removes its temporary file and leaves the old file as it was."""
    target = tmp_path / "log.sdlog"
    size = Path(home.json("log", "export", str(target))["path"]).stat().st_size
    old = target.read_bytes()
    for n in range(100):  # a log a few kB longer than the limit
        write(tmp_path / "docs", f"file-{n}.txt", str(n))
    home.run("location", "add", str(tmp_path / "docs"))

    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (size + 100, size + 100))

    proc = subprocess.run(
        [*SD, "log", "export", "--force", str(target)],
        env=home.env,
        capture_output=True,
        text=True,
        preexec_fn=small_files,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert target.read_bytes() == old
    assert leftovers(tmp_path) == []


def test_a_missing_folder_is_one_line(home: Sd, tmp_path: Path) -> None:
    commands = [make(tmp_path / "no-such-folder" / "x") for make in WRITERS.values()]
    assert_refused(home, commands, "cannot write")
