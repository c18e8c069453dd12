"""Faults a user can meet: a process killed mid-append, a damaged events.db, a forged export.

The two processes on one library case is in test_lock.py.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.envelope import encode_data, event_id, library_key
from events.errors import EventsError
from events.exportfile import ExportHeader, ExportReader
from events.keys import DeviceKey
from projections.catalog import library_projections
from projections.runner import digest_of
from tests.conftest import Sd, examples
from tests.helpers_log import (
    Wire,
    decoded,
    library_dirs,
    new_store,
    read_export,
    run_all,
    write_export_file,
)

# Appends from four threads until killed; prints "pos seq id" of each event once acknowledged.
APPENDER = """
import os, sys, threading
from sdactors.runtime import logs
logs.configure(json=True)
from events.domain import CATALOG
from events.domain.tags import TagCreated
from sdactors.node.node import Node

node = Node(sys.argv[1])
lib = node.open_library(None)
out = threading.Lock()

def work(n):
    i = 0
    while True:
        i += 1
        drafts = [CATALOG.body(TagCreated(os.urandom(16), f"t{n}-{i}-{k}", None))
                  for k in range(1 + i % 3)]
        done = lib.append(drafts)
        with out:
            for ev in done.events:
                sys.stdout.write(f"{ev.pos} {ev.seq} {ev.id.hex()}\\n")
            sys.stdout.flush()

threads = [threading.Thread(target=work, args=(n,), daemon=True) for n in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
"""


async def test_kill_9_while_appending_loses_no_acknowledged_event(sd: Sd, tmp_path: Path) -> None:
    sd.run("library", "create", "Home")
    (lib_dir,) = library_dirs(sd.data_dir)
    with open(tmp_path / "appender.err", "wb") as err:
        proc = await trio.lowlevel.open_process(
            [sys.executable, "-c", APPENDER, str(sd.data_dir)],
            stdout=subprocess.PIPE,
            stderr=err,
            env=sd.env,
        )
    assert proc.stdout is not None
    output = b""
    try:
        with trio.fail_after(60):
            while output.count(b"\n") < 600:
                chunk = await proc.stdout.receive_some()
                assert chunk, f"appender died: {(tmp_path / 'appender.err').read_text()}"
                output += chunk
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    # Whatever it printed before dying was acknowledged too.
    while chunk := await proc.stdout.receive_some():
        output += chunk
    await proc.stdout.aclose()
    acked = [line.split() for line in output.split(b"\n")[:-1]]  # the last may be cut short
    assert len(acked) >= 600

    # Before any process reopens the library: the index is never ahead of the log, and what
    # it holds is exactly the fold of the log up to its checkpoint.
    copy = tmp_path / "index-after-kill"
    copy.mkdir()
    for name in ("index.db", "index.db-wal"):
        if (lib_dir / name).exists():
            shutil.copy(lib_dir / name, copy / name)
    db = sqlite3.connect(copy / "index.db")
    checkpoint = int(db.execute("SELECT value FROM _meta WHERE key = 'checkpoint'").fetchone()[0])
    killed_digest = digest_of(db, library_projections())
    db.close()

    shown = {line["pos"]: line for line in sd.run("--json", "log", "show").json_lines()}
    for pos, seq, eid in acked:
        event = shown.get(int(pos))
        assert event is not None, f"acknowledged event at pos {pos.decode()} is lost"
        assert (event["seq"], event["id"]) == (int(seq), eid.decode())
    assert sorted(shown) == list(range(1, len(shown) + 1))
    assert checkpoint <= len(shown)
    at_checkpoint = sd.json(
        "projections",
        "rebuild",
        "--until",
        str(checkpoint),
        "--into",
        str(tmp_path / "at-checkpoint.db"),
    )
    assert at_checkpoint["digest"] == killed_digest

    verify = sd.json("log", "verify")
    assert verify["ok"] and verify["events"] == len(shown), verify["problems"]
    stats = sd.json("log", "stats")
    assert stats["events"] == len(shown)
    live = sd.json("projections", "digest")["digest"]
    fresh = sd.json("projections", "rebuild", "--into", str(tmp_path / "fresh.db"))
    assert fresh["digest"] == live and fresh["events"] == len(shown)
    assert sd.json("projections", "rebuild")["digest"] == live
    info = sd.json("library", "info")
    assert info["checkpoint"] == info["head"] == len(shown)
    # And the library carries on where the acknowledged chain ended.
    sd.run("tag", "create", "after-the-crash")
    assert sd.json("log", "verify")["ok"]


def test_a_flipped_byte_in_events_db_is_found(sd: Sd) -> None:
    sd.run("library", "create", "Home")
    needle = "Needle-" + os.urandom(6).hex()
    sd.run("tag", "create", "Before")
    sd.run("tag", "create", needle)
    sd.run("tag", "create", "After")
    (target,) = [
        line
        for line in sd.run("--json", "log", "show", "--type", "tag.created").json_lines()
        if line["body"]["name"] == needle
    ]
    sd.run("log", "verify")
    (lib_dir,) = library_dirs(sd.data_dir)
    raw = bytearray((lib_dir / "events.db").read_bytes())
    # The name is in three events, appended in order: the audit's
    # action.requested, the tag.created itself, the audit's action.completed.
    found = [m.start() for m in re.finditer(re.escape(needle.encode()), raw)]
    assert len(found) == 3, "the name should be in the file three times"
    at = found[1]
    raw[at + 3] ^= 0x01  # "Needle" -> "Neeele": still a valid name, a different event
    (lib_dir / "events.db").write_bytes(bytes(raw))

    failed = sd.run("log", "verify", check=False)
    assert failed.code == 1
    broken = [line for line in failed.out.splitlines() if line.startswith("BROKEN")]
    assert len(broken) == 1
    assert f"pos {target['pos']} " in broken[0] and f"#{target['seq']}:" in broken[0]
    assert "changed" in broken[0]
    report = sd.run("--json", "log", "verify", check=False)
    assert report.code == 1
    problems = report.json()["problems"]
    assert [(p["pos"], p["seq"], p["device"]) for p in problems] == [
        (target["pos"], target["seq"], target["device"])
    ]
    # The damage cannot travel: an export of this log is refused elsewhere.
    sd.run("log", "export", str(sd.data_dir.parent / "damaged.sdlog"))
    elsewhere = Sd(sd.data_dir.parent / "elsewhere")
    refused = elsewhere.fails("log", "import", str(sd.data_dir.parent / "damaged.sdlog"))
    assert f"#{target['seq']} (" in refused.err and "nothing was written" in refused.err
    assert elsewhere.json("library", "list") == []


# -- forged exports ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    """A source library, an export of all of it, and a target holding its earlier part."""

    source: Sd
    export: Path
    header: ExportHeader
    records: Wire
    key: DeviceKey
    first_new: int  # index in ``records`` of the first event the target lacks
    target_dir: Path
    target_stats: dict
    target_digest: str


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    root = tmp_path_factory.mktemp("forgery")
    source = Sd(root / "source")
    source.run("library", "create", "Home")
    for name in ("one", "two"):
        source.run("tag", "create", name)
    source.run("log", "export", str(root / "early.sdlog"))
    target = Sd(root / "target")
    target.run("log", "import", str(root / "early.sdlog"))
    for name in ("three", "four", "five"):
        source.run("tag", "create", name)
    source.run("tag", "rename", "three", "drei")
    source.run("log", "export", str(root / "full.sdlog"))
    header, records = read_export(root / "full.sdlog")
    _, early = read_export(root / "early.sdlog")
    return Setup(
        source,
        root / "full.sdlog",
        header,
        records,
        DeviceKey((source.data_dir / "device.key").read_bytes()),
        len(early),
        target.data_dir,
        target.json("log", "stats"),
        target.json("projections", "digest")["digest"],
    )


def _resign(s: Setup, data: bytes) -> bytes:
    return s.key.sign(event_id(library_key(s.header.library), data))


def _seq(s: Setup, data: bytes) -> int:
    return decoded(data, s.header.library).seq


def bad_signature(s: Setup) -> tuple[Wire, int, str]:
    records = list(s.records)
    i = next(i for i in range(s.first_new, len(records)) if records[i][1] is not None)
    sig = bytearray(records[i][1] or b"")
    sig[0] ^= 0x80
    records[i] = (records[i][0], bytes(sig))
    return records, _seq(s, records[i][0]), "bad signature"


def wrong_prev(s: Setup) -> tuple[Wire, int, str]:
    """Properly signed with the device's own key: only the chain check can catch it."""
    records = list(s.records)
    i = s.first_new + 1
    ev = decoded(records[i][0], s.header.library)
    data = encode_data(ev.device, ev.seq, ev.hlc, ev.type, ev.v, ev.body, os.urandom(32))
    records[i] = (data, _resign(s, data))
    return records, ev.seq, "wrong prev"


def gap(s: Setup) -> tuple[Wire, int, str]:
    records = list(s.records)
    i = s.first_new + 1
    missing = _seq(s, records[i][0])
    del records[i]
    return records, missing + 1, f"gap: expected seq {missing}"


def changed_body(s: Setup) -> tuple[Wire, int, str]:
    records = list(s.records)
    i = next(i for i in range(s.first_new, len(records)) if b"four" in records[i][0])
    records[i] = (records[i][0].replace(b"four", b"fore"), records[i][1])
    return records, _seq(s, records[i][0]), "bad signature"


FORGERIES: list[Callable[[Setup], tuple[Wire, int, str]]] = [
    bad_signature,
    wrong_prev,
    gap,
    changed_body,
]


def _forge(
    s: Setup, forgery: Callable[[Setup], tuple[Wire, int, str]], path: Path
) -> tuple[int, str]:
    records, seq, reason = forgery(s)
    assert records != s.records
    write_export_file(path, s.header, records)
    # The file itself is well formed: its trailer matches, so only the event checks catch it.
    with open(path, "rb") as fh:
        assert list(ExportReader(fh).records()) == records
    return seq, reason


def _assert_refusal(err: str, seq: int, reason: str) -> None:
    line = err.strip()
    assert "\n" not in line, line
    assert re.search(rf"#{seq} \([a-z.]+, record \d+\): {reason}", line), line
    assert "nothing was written" in line, line


@pytest.mark.parametrize("forgery", FORGERIES, ids=lambda f: f.__name__)
def test_a_forged_export_is_refused_by_a_library_that_has_it(
    setup: Setup, forgery: Callable[[Setup], tuple[Wire, int, str]], tmp_path: Path
) -> None:
    seq, reason = _forge(setup, forgery, tmp_path / "forged.sdlog")
    target = Sd(tmp_path / "target")
    shutil.copytree(setup.target_dir, target.data_dir)
    _assert_refusal(target.fails("log", "import", str(tmp_path / "forged.sdlog")).err, seq, reason)
    stats, digest = run_all(target, ["--json", "log", "stats"], ["--json", "projections", "digest"])
    assert stats.json() == setup.target_stats
    assert digest.json()["digest"] == setup.target_digest
    # The genuine file still merges afterwards.
    merged = target.json("log", "import", str(setup.export))
    assert merged["accepted"] == len(setup.records) - setup.first_new


@pytest.mark.parametrize("forgery", FORGERIES, ids=lambda f: f.__name__)
def test_a_forged_export_restores_nothing(
    setup: Setup, forgery: Callable[[Setup], tuple[Wire, int, str]], tmp_path: Path
) -> None:
    seq, reason = _forge(setup, forgery, tmp_path / "forged.sdlog")
    empty = Sd(tmp_path / "empty")
    refused = empty.run("--json", "log", "import", str(tmp_path / "forged.sdlog"), check=False)
    assert refused.code == 1
    _assert_refusal(refused.err, seq, reason)
    assert refused.json() == {"error": refused.err.strip().removeprefix("sd: error: ")}
    assert library_dirs(empty.data_dir) == []


def test_a_cut_export_is_refused(setup: Setup, tmp_path: Path) -> None:
    data = setup.export.read_bytes()
    cut = tmp_path / "cut.sdlog"
    cut.write_bytes(data[: len(data) - 40])
    empty = Sd(tmp_path / "empty")
    failed = empty.fails("log", "import", str(cut))
    assert "\n" not in failed.err.strip() and str(cut) in failed.err
    assert library_dirs(empty.data_dir) == []
    cut.write_bytes(b"PK\x03\x04 not an export")
    assert "not an sdactors log export" in empty.fails("log", "import", str(cut)).err


@settings(
    max_examples=examples(150),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(at=st.integers(min_value=0), value=st.integers(min_value=0, max_value=255))
def test_any_damaged_byte_of_an_export_is_refused_or_harmless(
    setup: Setup, tmp_path: Path, at: int, value: int
) -> None:
    """Fuzz: a file damaged anywhere either fails with a clear error (a format error or
    refused events) and writes nothing, or carries exactly the original events (the damage
    hit the header's name)."""
    data = bytearray(setup.export.read_bytes())
    at %= len(data)
    if data[at] == value:
        return
    data[at] = value
    path = tmp_path / f"damaged-{at}-{value}.sdlog"
    path.write_bytes(bytes(data))
    store = new_store(tmp_path / f"fuzz-{at}-{value}.db", setup.header.library)
    try:
        try:
            with open(path, "rb") as fh:
                records = list(ExportReader(fh, str(path)).records())
        except EventsError as exc:
            assert str(exc)
            return
        report = store.ingest(records, whole=True)
        if report.ok:
            assert records == setup.records
            assert store.head_pos == len(records)
        else:
            assert store.head_pos == 0 and store.stats().events == 0
    finally:
        store.close()
