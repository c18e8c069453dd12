"""``sd log`` and ``sd projections`` as a user runs them: show, stats, export/import (restore and
merge between two devices), time travel, and the one-line error contract."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from events.exportfile import ExportHeader
from events.keys import DeviceKey
from tests.conftest import Sd
from tests.helpers_log import (
    chain_raw,
    device_of,
    library_dirs,
    pair_offline,
    read_export,
    run_all,
    run_each,
    write_export_file,
)

FIELDS = {"pos", "id", "device", "seq", "hlc", "type", "v", "body"}


@dataclass(frozen=True)
class Pair:
    """Two devices of one library: A created it, B restored it from A's export, both wrote,
    then each imported the other's export."""

    a: Sd
    b: Sd
    library: dict
    restored: dict
    a_into_b: dict
    b_into_a: dict
    again: dict
    a_new: int
    b_new: int
    shared: int
    early_export: Path


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    root = tmp_path_factory.mktemp("pair")
    a, b = Sd(root / "a"), Sd(root / "b")
    library = a.json("library", "create", "Home")
    pair_offline(a.data_dir, device_of(b.data_dir), "b")  # A, the admin, pairs B
    a.run("tag", "create", "Photos", "--color", "red")
    a.run("tag", "create", "Work")
    a.run("log", "export", str(root / "a0.sdlog"))
    restored = b.json("log", "import", str(root / "a0.sdlog"))
    shared = restored["accepted"]
    # Both devices write while apart (each device's commands in order, the two side by side).
    for step_a, step_b in [
        (["tag", "rename", "Work", "Job"], ["tag", "create", "Music"]),
        (["tag", "create", "Travel", "--color", "#00ff00"], ["tag", "delete", "Photos"]),
        (["log", "export", str(root / "a1.sdlog")], ["log", "export", str(root / "b1.sdlog")]),
    ]:
        run_each((a, step_a), (b, step_b))
    stats_a, stats_b = run_each((a, ["--json", "log", "stats"]), (b, ["--json", "log", "stats"]))
    a_new = stats_a.json()["events"] - shared
    b_new = stats_b.json()["events"] - shared  # includes B's device.registered
    a_into_b, b_into_a = (
        r.json()
        for r in run_each(
            (b, ["--json", "log", "import", str(root / "a1.sdlog")]),
            (a, ["--json", "log", "import", str(root / "b1.sdlog"), "--library", "Home"]),
        )
    )
    again = a.json("log", "import", str(root / "b1.sdlog"))
    return Pair(
        a, b, library, restored, a_into_b, b_into_a, again, a_new, b_new, shared, root / "a0.sdlog"
    )


def shown(sd: Sd, *args: str) -> list[dict[str, Any]]:
    return sd.run("log", "show", *args, "--json").json_lines()


# -- export and import ---------------------------------------------------------------------


def test_restore_into_an_empty_data_dir_keeps_the_library(pair: Pair) -> None:
    assert pair.restored["created"] is True
    assert (pair.restored["library"], pair.restored["name"]) == (pair.library["id"], "Home")
    assert pair.restored["skipped"] == 0
    assert pair.shared == len(shown(pair.a, "--device", shown(pair.a)[0]["device"])) - pair.a_new
    assert pair.b.json("library", "list")[0]["id"] == pair.library["id"]


def test_merging_two_devices_both_ways_converges(pair: Pair) -> None:
    assert pair.a_into_b["created"] is False and pair.b_into_a["created"] is False
    assert (pair.a_into_b["accepted"], pair.a_into_b["skipped"]) == (pair.a_new, pair.shared)
    assert (pair.b_into_a["accepted"], pair.b_into_a["skipped"]) == (pair.b_new, pair.shared)
    assert (pair.again["accepted"], pair.again["skipped"]) == (0, pair.shared + pair.b_new)
    reads = [
        ["--json", "projections", "digest"],
        ["--json", "tag", "list"],
        ["--json", "log", "show"],
        ["--json", "log", "stats"],
        ["--json", "log", "verify"],
    ]
    results = run_each(*[(sd, args) for args in reads for sd in (pair.a, pair.b)])
    (digest_a, digest_b), (tags_a, tags_b), (log_a, log_b), (stats_a, stats_b), (ok_a, ok_b) = (
        (results[i], results[i + 1]) for i in range(0, len(results), 2)
    )
    assert digest_a.json()["digest"] == digest_b.json()["digest"]
    assert sorted(t["name"] for t in tags_a.json()) == ["Job", "Music", "Travel"]
    assert tags_a.json() == tags_b.json()
    assert sorted(e["id"] for e in log_a.json_lines()) == sorted(
        e["id"] for e in log_b.json_lines()
    )
    assert stats_a.json() == stats_b.json()
    assert ok_a.json()["ok"] and ok_b.json()["ok"]


def test_importing_another_librarys_log_into_a_library_is_refused(
    pair: Pair, tmp_path: Path
) -> None:
    other, target = Sd(tmp_path / "other"), Sd(tmp_path / "target")
    created, _ = run_each(
        (other, ["--json", "library", "create", "Other"]), (target, ["library", "create", "Mine"])
    )
    other_lib = created.json()
    other.run("log", "export", str(tmp_path / "other.sdlog"))
    target.run("log", "import", str(tmp_path / "other.sdlog"))  # restores Other beside Mine
    before = target.json("log", "stats", "--library", "Mine")
    failed = target.fails("log", "import", str(tmp_path / "other.sdlog"), "--library", "Mine")
    line = failed.err.strip()
    assert "\n" not in line and other_lib["id"] in line and "Mine" in line
    assert target.json("log", "stats", "--library", "Mine") == before
    # Importing it into its own library is fine: nothing new.
    again = target.json("log", "import", str(tmp_path / "other.sdlog"), "--library", "Other")
    assert again["accepted"] == 0


def test_events_of_another_library_are_refused_even_under_a_forged_header(
    sd: Sd, tmp_path: Path
) -> None:
    """A device's well-signed events of one library, relabelled as another library's export,
    do not verify there: each event's id is keyed by its library, so the signature fails."""
    mine = sd.json("library", "create", "Mine")
    other = Sd(tmp_path / "other")
    other.run("library", "create", "Other")
    other.run("tag", "create", "Stolen")
    other.run("log", "export", str(tmp_path / "other.sdlog"))
    header, records = read_export(tmp_path / "other.sdlog")
    forged = tmp_path / "forged.sdlog"
    write_export_file(
        forged, ExportHeader(bytes.fromhex(mine["id"]), "Mine", len(records)), records
    )
    before = sd.json("log", "stats")
    failed = sd.fails("log", "import", str(forged), "--library", "Mine")
    line = failed.err.strip()
    assert "\n" not in line and "another library" in line and "nothing was written" in line
    assert sd.json("log", "stats") == before
    assert sd.json("tag", "list") == []
    assert header.library != bytes.fromhex(mine["id"])


def test_a_log_of_the_old_format_is_refused_in_one_line(sd: Sd) -> None:
    import sqlite3

    sd.run("library", "create", "Home")
    (events,) = [d / "events.db" for d in library_dirs(sd.data_dir)]
    db = sqlite3.connect(events)
    db.execute("UPDATE meta SET value = 1 WHERE key = 'format'")
    db.commit()
    db.close()
    for args in (["tag", "list"], ["tag", "create", "x"], ["log", "show"]):
        line = sd.fails(*args).err.strip()
        assert "\n" not in line and "format 1" in line and "nothing to migrate" in line, line


def test_restore_under_another_name(pair: Pair, tmp_path: Path) -> None:
    fresh = Sd(tmp_path / "fresh")
    restored = fresh.json("log", "import", str(pair.early_export), "--name", "Copy")
    assert restored["library"] == pair.library["id"] and restored["name"] == "Copy"
    assert [(t["name"], t["color"]) for t in fresh.json("tag", "list")] == [
        ("Photos", "red"),
        ("Work", None),
    ]


# -- show and stats --------------------------------------------------------------------------


def test_log_show_json_lines(pair: Pair) -> None:
    events = shown(pair.a)
    assert all(set(e) == FIELDS for e in events)
    assert [e["pos"] for e in events] == list(range(1, len(events) + 1))
    for dev in {e["device"] for e in events}:
        seqs = [e["seq"] for e in events if e["device"] == dev]
        assert seqs == list(range(1, len(seqs) + 1))
    assert len({e["device"] for e in events}) == 2
    assert all(len(e["id"]) == 64 and len(e["device"]) == 64 for e in events)
    created = [e for e in events if e["type"] == "tag.created"]
    assert {e["body"]["name"] for e in created} == {"Photos", "Work", "Travel", "Music"}
    assert events[0]["type"] == "device.registered"


def test_log_show_filters(pair: Pair) -> None:
    events = shown(pair.a)
    b_device = next(e["device"] for e in events if e["seq"] == 1 and e["pos"] > 1)
    checks: list[tuple[list[str], list[dict]]] = [
        (["--since", "3"], [e for e in events if e["pos"] > 3]),
        (["--type", "tag."], [e for e in events if e["type"].startswith("tag.")]),
        (
            ["--type", "tag.created", "--since", "4"],
            [e for e in events if e["type"] == "tag.created" and e["pos"] > 4],
        ),
        (["--device", b_device[:8]], [e for e in events if e["device"] == b_device]),
        (
            ["--device", b_device.upper()[:12], "--type", "tag."],
            [e for e in events if e["device"] == b_device and e["type"].startswith("tag.")],
        ),
        (["--limit", "2"], events[:2]),
        (
            ["--type", "tag.", "--limit", "3", "--since", "1"],
            [e for e in events if e["type"].startswith("tag.") and e["pos"] > 1][:3],
        ),
        (["--since", str(len(events))], []),
        (["--type", "nothing."], []),
    ]
    results = run_all(
        pair.a,
        *[["log", "show", *args, "--json"] for args, _ in checks],
        ["log", "show", "--type", "tag."],
    )
    for (args, want), result in zip(checks, results):
        assert result.json_lines() == want, args
    # The same through the human form: one line per event.
    text = results[-1].out.splitlines()
    assert len(text) == len([e for e in events if e["type"].startswith("tag.")])


def test_log_stats_json(pair: Pair) -> None:
    events = shown(pair.a)
    stats = pair.a.json("log", "stats")
    assert set(stats) == {"events", "by_type", "devices", "bytes"}
    assert stats["events"] == len(events)
    assert stats["by_type"] == dict(Counter(e["type"] for e in events))
    assert stats["devices"] == len({e["device"] for e in events}) == 2
    assert stats["bytes"] > 0


def test_stats_grow_with_the_log(sd: Sd) -> None:
    sd.run("library", "create", "Home")
    before = sd.json("log", "stats")
    # device.registered, library.created, and the audit of the command that created it.
    assert before["events"] == 4 and before["devices"] == 1
    assert before["by_type"]["action.completed"] == 1
    sd.run("tag", "create", "x")
    after = sd.json("log", "stats")
    # The tag, and the action that made it, recorded before and after.
    assert after["events"] == 7 and after["by_type"]["tag.created"] == 1
    assert after["by_type"]["action.requested"] == after["by_type"]["action.completed"] == 2
    assert after["bytes"] > before["bytes"]


def test_log_show_copes_with_any_foreign_event(sd: Sd, tmp_path: Path) -> None:
    """A peer's events this version cannot read (a clock far in the future, a msgpack
    timestamp in the body) are stored; every way of reading the log must still work."""
    lib = sd.json("library", "create", "Home")
    key = DeviceKey.generate()
    records = chain_raw(
        key,
        [("x.when", 1, b"\xd6\xff\x00\x00\x00\x01"), ("x.ext", 2, b"\xd4\x05\x01")],
        hlc0=2**63 - 10,
        library=bytes.fromhex(lib["id"]),
    )
    write_export_file(
        tmp_path / "odd.sdlog", ExportHeader(bytes.fromhex(lib["id"]), "Home", 2), records
    )
    sd.run("log", "import", str(tmp_path / "odd.sdlog"))
    text, as_json, verify = run_all(
        sd, ["log", "show"], ["--json", "log", "show"], ["log", "verify"]
    )
    # Its own four (device, library, the audit of its creation), and the peer's two.
    assert len(text.out.splitlines()) == 6 and "x.when" in text.out
    odd = [e for e in as_json.json_lines() if e["device"] == key.public.hex()]
    assert [(e["type"], e["v"], e["hlc"]) for e in odd] == [
        ("x.when", 1, 2**63 - 10),
        ("x.ext", 2, 2**63 - 9),
    ]
    assert verify.code == 0


# -- time travel ---------------------------------------------------------------------------


def test_rebuild_until_gives_the_state_at_that_position(sd: Sd, tmp_path: Path) -> None:
    sd.run("library", "create", "Home")
    digests: list[str] = []
    export = tmp_path / "at-step-1.sdlog"
    for step, args in enumerate(
        [
            ("tag", "create", "A"),
            ("tag", "create", "B", "--color", "red"),
            ("tag", "delete", "A"),
        ]
    ):
        sd.run(*args)
        digests.append(sd.json("projections", "digest")["digest"])
        if step == 1:
            sd.run("log", "export", str(export))
    assert len(set(digests)) == len(digests), "each step should change the state"
    # Where each step ended in the log: the end of its action.
    # (The first action completed is the library's own creation.)
    positions = [e["pos"] for e in shown(sd, "--type", "action.completed")][1:]
    assert len(positions) == len(digests)
    results = run_all(
        sd,
        *[
            [
                "--json",
                "projections",
                "rebuild",
                "--until",
                str(pos),
                "--into",
                str(tmp_path / f"{pos}.db"),
            ]
            for pos in positions
        ],
    )
    for pos, digest, result in zip(positions, digests, results):
        assert result.json() == {
            "digest": digest,
            "events": pos,
            "path": str(tmp_path / f"{pos}.db"),
        }
    # A log exported at that point and rebuilt elsewhere agrees.
    elsewhere = Sd(tmp_path / "elsewhere")
    elsewhere.run("log", "import", str(export))
    assert elsewhere.json("projections", "rebuild")["digest"] == digests[1]
    # The live index was not touched by the time travel.
    assert sd.json("projections", "digest")["digest"] == digests[-1]


# -- errors and --json ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Sd:
    sd = Sd(tmp_path_factory.mktemp("home") / "data")
    sd.run("library", "create", "Home")
    return sd


# (arguments, a fragment of the message, whether the command opens the library to write)
ERRORS = [
    (["tag", "delete", "Nope"], "no tag named 'Nope'", True),
    (["tag", "create", "x", "--color", "not a color"], "is not a color", True),
    (["log", "show", "--device", "ffff"], "no device 'ffff'", False),
    (["log", "show", "--library", "Nowhere"], "no library named or with id 'Nowhere'", False),
    (["log", "show", "--limit", "0"], "--limit", False),
    (["log", "import", "/nonexistent/file.sdlog"], "does not exist", False),
    (["library", "create", "Home"], "already exists", False),
    (["log", "frobnicate"], "frobnicate", False),
    (["projections", "rebuild", "--until", "3"], "--into", False),
]


def test_errors_are_one_line_and_json(home: Sd) -> None:
    """Each error plainly and with ``--json`` (before the command for some, after it for the
    others). Commands that open the library to write run one at a time (the lock); the rest
    side by side."""
    variants = [
        (args, ["--json", *args] if i % 2 else [*args, "--json"])
        for i, (args, _, _) in enumerate(ERRORS)
    ]
    readers = [
        v
        for (plain, as_json), (_, _, writes) in zip(variants, ERRORS)
        if not writes
        for v in (plain, as_json)
    ]
    results = dict(zip(map(tuple, readers), run_all(home, *readers, check=False)))
    for (plain_args, json_args), (args, fragment, writes) in zip(variants, ERRORS):
        plain, as_json = (
            home.run(*v, check=False) if writes else results[tuple(v)]
            for v in (plain_args, json_args)
        )
        assert plain.code == as_json.code == 1, args
        assert plain.out == "", args
        assert plain.err.count("\n") == 1 and plain.err.startswith("sd: error: "), args
        assert fragment in plain.err, args
        assert as_json.json() == {"error": plain.err.strip().removeprefix("sd: error: ")}, args


def test_errors_without_any_library(sd: Sd) -> None:
    failed = sd.fails("log", "show")
    assert "no library yet" in failed.err and failed.err.count("\n") == 1
    assert sd.fails("--json", "tag", "list").json() == {
        "error": failed.err.strip().removeprefix("sd: error: ")
    }
    assert library_dirs(sd.data_dir) == []


def test_json_before_and_after_the_command(pair: Pair) -> None:
    commands = [
        ["log", "stats"],
        ["log", "show", "--limit", "3"],
        ["tag", "list"],
        ["projections", "digest"],
    ]
    results = run_all(
        pair.a, *[v for args in commands for v in (["--json", *args], [*args, "--json"])]
    )
    for i, args in enumerate(commands):
        before, after = results[2 * i].out, results[2 * i + 1].out
        assert before == after, args
        assert before.lstrip().startswith(("{", "[")), args


def test_an_export_of_the_old_format_is_refused_in_one_line(sd: Sd, tmp_path: Path) -> None:
    old = tmp_path / "old.sdlog"
    old.write_bytes(b"SDACTORS-LOG\x00\x01\n" + b"\x80" * 8)
    line = sd.fails("log", "import", str(old)).err.strip()
    assert "\n" not in line and "export of format 1" in line and "format 3 only" in line
    assert sd.json("library", "list") == []
