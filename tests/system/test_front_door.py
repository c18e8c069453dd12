"""``sd search``, ``ls``, ``stats`` and ``node status`` say the same through the front door
as through click: every byte of stdout and stderr and the exit status, asked of a real node
serving a real tree, each command line run as its own ``sd`` process both ways
(``SD_FRONT_DOOR=0`` sends it to click)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from sdactors.cli import front
from tests.conftest import SD, Result, Sd
from tests.helpers_media import describe, photo, scene
from tests.helpers_tree import write
from tests.system.test_node import node_on

pytestmark = pytest.mark.slow

# Names a table prints as plain text, and names it leaves to rich (other scripts, wide
# characters, a control character escaped): ``sd search report`` lists them all.
NAMES = [
    "docs/report.txt",
    "docs/Report 2.TXT",
    "docs/-dash report.md",
    "docs/deep/er/report.log",
    "pics/report.png",
    "pics/café au lait report.jpg",
    "pics/報告 report.txt",
    "misc/tab\treport.txt",
]


def through(sd: Sd, door: str, args: list[str]) -> Result:
    sd.env[front.OPEN_ENV] = door
    return sd.run(*args, check=False)


def to_a_closed_pipe(sd: Sd, door: str, args: list[str]) -> tuple[int, str]:
    """Exit status and stderr of ``sd ARGS`` writing into a pipe nobody reads any more."""
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run(
            [*SD, *args],
            env={**sd.env, front.OPEN_ENV: door},
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write)
    return proc.returncode, proc.stderr


def _steady(result: Result, args: list[str]) -> tuple[int, str, str]:
    """``node status`` less what moves between two asks (uptime, memory, rates, free space)."""
    out = result.out
    if "status" in args:
        if "--json" in args:
            st = json.loads(out)
            for volatile in ("uptime_s", "rss_bytes", "events_per_s"):
                st.pop(volatile)
            for library in st["libraries"]:
                library["disk"].pop("free_bytes")  # the disk is shared
            out = json.dumps(st)
        else:
            out = re.sub(r"(?m)^(uptime|memory|events/s) .*$", r"\1", out)
    return result.code, out, result.err


def test_the_front_door_says_what_click_says(sd: Sd, tmp_path: Path) -> None:
    root = tmp_path / "tree"
    for name in NAMES:
        write(root, name, f"{name}\n")
    sea = photo(root / "pics/sea.jpg", scene(3), "2024:07:14 18:30:05", "Canon", "EOS R5")
    docs = str(root / "docs")
    sd.run("library", "create", "Home")
    sd.run("location", "add", str(root))
    describe(sd, sea)
    # Tags, a favourite and a note: columns and marks the tables print.
    sd.run("tag", "add", "--create", str(root / "docs/report.txt"), str(root / "pics"), "Work")
    sd.run("tag", "add", "--create", str(root / "pics/report.png"), str(sea), "été")
    sd.run("favourite", str(root / "docs/report.txt"))
    sd.run("note", str(root / "pics/report.png"), "first line\nsecond line")
    sd.in_process = False  # each way as the process a user starts
    # (command line, whether the door takes it: the rest goes to click either way)
    lines: list[tuple[list[str], bool]] = [
        (["search", "report"], True),
        (["search", "report", "--json", "--limit", "2"], True),
        (["search", "--kind", "text", "--ext=txt", "-l", "Home", "re"], True),
        (["search", "--under", docs, "--", "-dash"], True),
        (["search", "nothing like this"], True),
        (["search", "report", "--at", "3"], True),
        (["search", "x", "--library", "nope"], True),
        (["--json", "search", "x", "--library=nope"], True),
        (["--json", "search", "--limit", "0", "x"], False),
        (["search", "--taken", "2024-07"], True),
        (["--json", "search", "sea", "--sort=taken", "--reverse", "--min-width", "10"], True),
        (["search"], True),
        (["info", str(sea)], False),
        (["search", "--tag", "Work"], True),
        (["search", "report", "--tag=Work", "--favourite"], True),
        (["--json", "search", "--favourite", "--limit", "1"], True),
        (["search", "--tag", "été", "--tag", "Work"], True),
        (["search", "--tag", "été", "--taken", "2024"], True),
        (["search", "--tag", "Nope"], True),
        (["search", "--favourite=yes"], False),
        (["ls"], True),
        (["--json", "ls"], True),
        (["ls", docs], True),
        (["ls", str(root / "pics")], True),
        (["ls", str(root / "pics"), "--json", "-l", "Home"], True),
        (["ls", "--at", "2", str(root)], True),
        (["ls", str(root / "nowhere")], True),
        (["stats"], True),
        (["stats", "--json"], True),
        (["stats", "-l", "nope"], True),
        (["--data-dir", str(sd.data_dir), "stats"], True),
        (["node", "status"], True),
        (["--json", "node", "status"], True),
        (["node", "status", "-h"], False),
    ]
    with node_on(sd, tmp_path):
        for args, taken in lines:
            assert (front.parse(args) is not None) is taken, args
            door, click = through(sd, "1", args), through(sd, "0", args)
            assert _steady(door, args) == _steady(click, args), args
        # A reader gone before the answer (``sd search report | true``): the same exit status
        # and the same words (none) both ways.
        for args in (["--json", "search", "report"], ["search", "report"], ["stats"]):
            assert to_a_closed_pipe(sd, "1", args) == to_a_closed_pipe(sd, "0", args), args
        # What is compared is what a user sees: answers, and errors as one line.
        assert "Report 2.TXT" in through(sd, "1", ["search", "report"]).out
        failed = through(sd, "1", ["search", "x", "--library", "nope"])
        assert failed.code == 1 and failed.err.startswith("sd: error: no library named")
        # Media data, asked of the node: a search by it, and everything known of the file.
        assert f"{sea}  image" in through(sd, "1", ["search", "--camera", "eos"]).out
        info = json.loads(through(sd, "1", ["--json", "info", str(sea)]).out)
        assert info["media"]["taken"] == "2024-07-14T18:30:05"
