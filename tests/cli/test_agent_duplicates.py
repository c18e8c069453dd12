"""The duplicates agent on a real index (``sd location add`` of a generated home folder):
which copy it keeps and why, what it never proposes (a path of one file seen twice, the last
copy it may see, anything outside its grant), and the faster volume winning a tie."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from events.domain.agents import ITEMS_MAX
from sdactors.agent.builtin.duplicates import Duplicates
from tests.conftest import Sd, bind_mount, mount_tmpfs, unmount
from tests.helpers_agents import proposals, record_volume, removed
from tests.helpers_tree import disk_entries, pdf_bytes, random_bytes, write

REPORT = pdf_bytes() + b"quarterly figures" * 200


@pytest.fixture
def home(sd: Sd, tmp_path: Path) -> Iterator[Path]:
    """A home folder with copies in Downloads and on the Desktop, a copy-named file, a loose
    file, hard links, a folder bind-mounted into Downloads and a second location seen
    through another bind mount of it."""
    home = tmp_path / "home"
    write(home, "Documents/Projects/report.pdf", REPORT)
    write(home, "Downloads/report.pdf", REPORT)
    write(home, "Desktop/report (1).pdf", REPORT)
    notes = b"meeting notes\n" * 50
    write(home, "notes.txt", notes)
    write(home, "Documents/notes.txt", notes)
    cat = random_bytes(3000, 1)
    write(home, "Photos/cat.jpg", cat)
    write(home, "Photos/cat copy.jpg", cat)
    write(home, "Music/song.mp3", random_bytes(4000, 2))
    track = random_bytes(2500, 6)
    write(home, "Music/track.flac", track)
    write(home, "Music/Albums/2020/track.flac", track)
    (home / "Music/Old").mkdir()
    os.link(home / "Music/song.mp3", home / "Music/Old/song.mp3")
    data = random_bytes(5000, 3)
    write(home, "Archive/data.bin", data)
    os.link(home / "Archive/data.bin", home / "Archive/data-link.bin")
    write(home, "Downloads/data.bin", data)
    # One file in Downloads under two names, and a filed copy: the filed copy is kept, and
    # the file in Downloads, being one file, is not proposed either.
    installer = random_bytes(6000, 4)
    write(home, "Downloads/installer.dmg", installer)
    (home / "Downloads/old").mkdir()
    os.link(home / "Downloads/installer.dmg", home / "Downloads/old/installer.dmg")
    write(home, "Documents/Software/installer.dmg", installer)
    # In the bind-mounted folder, and filed deeper elsewhere: the deeper copy is kept, and
    # the one seen through three paths is not proposed.
    plan = random_bytes(7000, 5)
    write(home, "Documents/Projects/plan.odt", plan)
    write(home, "Documents/Work/2024/Q3/plan.odt", plan)
    (home / "Downloads/mirror").mkdir()
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    bind_mount(home / "Documents/Projects", home / "Downloads/mirror")
    try:
        bind_mount(home / "Documents/Projects", mirror)
        try:
            sd.run("library", "create", "Home")
            sd.json("location", "add", str(home))
            sd.json("location", "add", str(mirror))
            yield Path(os.path.realpath(home))
        finally:
            unmount(mirror)
    finally:
        unmount(home / "Downloads/mirror")


def _one_file_each(home: Path, trashed: set[str]) -> None:
    """What the disk says: no trashed path is a path of a file seen through another path,
    and every content keeps a file that is not trashed."""
    entries = {**disk_entries(home), **disk_entries(home.parent / "mirror")}
    files: dict[tuple[int, int], list[str]] = {}
    for e in entries.values():
        if e.type == "file":
            files.setdefault((e.dev, e.inode), []).append(e.path)
    for path in trashed:
        e = entries[path]
        assert files[(e.dev, e.inode)] == [path], (
            f"{path} is one file with {files[(e.dev, e.inode)]}"
        )
        kept = [
            p
            for p, other in entries.items()
            if other.content_id == e.content_id and p not in trashed
        ]
        assert kept, f"{path}: the last copy"


def test_keeps_the_organised_copy_and_never_trashes_a_path_of_one_file(sd: Sd, home: Path) -> None:
    found = proposals(sd, Duplicates())
    h = str(home)
    assert sorted(map(sorted, removed(found))) == sorted(
        [
            # Documents/Projects/report.pdf is kept: the same file as Downloads/mirror's and
            # the mirror location's, so none of those three paths is ever proposed.
            sorted([f"{h}/Downloads/report.pdf", f"{h}/Desktop/report (1).pdf"]),
            [f"{h}/notes.txt"],  # loose at the top; Documents/notes.txt is filed
            [f"{h}/Photos/cat copy.jpg"],  # a copy's name
            [f"{h}/Music/track.flac"],  # both filed: the deeper is kept
            # Archive/data.bin and its hard link are one file, kept; the Downloads copy goes.
            [f"{h}/Downloads/data.bin"],
        ]
    )
    _one_file_each(home, set().union(*removed(found)))
    [report] = [p for p in found if "report" in p.title]
    assert report.title == (
        f"2 extra copies of report.pdf (7.1 kB): keep {h}/Documents/Projects/report.pdf"
    )
    reasons = {os.fsdecode(i.args["path"]): i.reason for i in report.items}
    assert reasons[f"{h}/Downloads/report.pdf"] == (
        f"same content as {h}/Documents/Projects/report.pdf, which is kept: "
        "Downloads is a scratch folder"
    )
    assert reasons[f"{h}/Desktop/report (1).pdf"].endswith("Desktop is a scratch folder")
    [cat] = [p for p in found if "cat" in p.title]
    assert cat.items[0].reason.endswith("its name is a copy's")
    [track] = [p for p in found if "track" in p.title]
    assert track.items[0].reason.endswith("the kept one is in a deeper folder")
    [notes] = [p for p in found if "notes" in p.title]
    assert notes.items[0].reason.endswith("the kept one is filed in a folder")
    # The same index gives the same proposals (and ids): nothing depends on the run.
    assert [p.id for p in proposals(sd, Duplicates())] == [p.id for p in found]


def test_sees_and_names_only_its_grant_and_keeps_a_copy_inside_it(sd: Sd, home: Path) -> None:
    h = os.fsencode(home)
    within = proposals(sd, Duplicates(), places=[h + b"/Desktop", h + b"/Documents"])
    assert removed(within) == [{f"{home}/Desktop/report (1).pdf"}]
    # The Desktop copy alone in its grant: other copies exist (Documents, Downloads), but
    # not where it may look, so it is the last copy the agent may vouch for.
    assert proposals(sd, Duplicates(), places=[h + b"/Desktop", h + b"/Photos/cat.jpg"]) == []
    # Small files left out by the setting.
    large = proposals(sd, Duplicates(), config={"min_size": 4000})
    assert removed(large) == [{f"{home}/Downloads/data.bin"}]  # installer, plan: nothing


def test_the_faster_volume_keeps_a_copy_placed_alike(sd: Sd, tmp_path: Path) -> None:
    """Two disks, the same film filed alike on each: the faster one keeps it, by the speed
    tests; when they say the other is faster, the other does."""
    disks = [tmp_path / "a", tmp_path / "b"]
    film = random_bytes(20_000, 9)
    sd.run("library", "create", "Home")
    mounted = []
    try:
        for disk in disks:
            disk.mkdir()
            mount_tmpfs(disk)
            mounted.append(disk)
            write(disk, "Films/2019/film.mkv", film)
            sd.json("location", "add", str(disk))
        a, b = (os.path.realpath(d) for d in disks)
        # No speed measured: equally placed, the first by path is kept.
        [tie] = proposals(sd, Duplicates())
        assert removed([tie]) == [{f"{b}/Films/2019/film.mkv"}]
        assert tie.items[0].reason.endswith("equally placed: the first by path is kept")
        record_volume(sd, disks[0], speed_mbps=40)
        record_volume(sd, disks[1], speed_mbps=400)
        [faster] = proposals(sd, Duplicates())
        assert removed([faster]) == [{f"{a}/Films/2019/film.mkv"}]
        assert faster.items[0].reason.endswith(
            "the kept one is on a faster volume (400 MB/s vs 40 MB/s)"
        )
        record_volume(sd, disks[0], speed_mbps=900)
        assert removed(proposals(sd, Duplicates())) == [{f"{b}/Films/2019/film.mkv"}]
        # Disk a unplugged: its copy is no copy to vouch for (the disk may never come back),
        # so the one on b, the only one there, is the last copy.
        unmount(disks[0])
        mounted.remove(disks[0])
        assert "is offline" in sd.fails("location", "rescan", str(disks[0])).err
        assert proposals(sd, Duplicates()) == []
    finally:
        for disk in mounted:
            unmount(disk)


def test_more_copies_than_a_proposal_holds_are_proposed_a_proposal_at_a_time(
    sd: Sd, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    body = b"the same attachment, saved again and again\n"
    write(home, "Documents/attachment.txt", body)
    for n in range(1005):
        write(home, f"Downloads/attachment ({n}).txt", body)
    sd.run("library", "create", "Home")
    sd.json("location", "add", str(home))
    [first] = proposals(sd, Duplicates())  # the log takes it: at most ITEMS_MAX items
    assert len(first.items) == ITEMS_MAX
    assert first.title.startswith(f"{ITEMS_MAX} extra copies of attachment.txt")
    assert not any(b"Documents" in i.args["path"] for i in first.items)
