"""Agents in a running node, and between devices: real ``sd node run`` processes on
127.0.0.1, paired with ``sd pair``. The node's AgentManager proposes by itself as files come
and go, never again after a restart, and runs a proposal accepted on another device once, on
the device whose files it names; both devices then show the outcome. A member cannot grant,
and what a hostile member writes by hand (a grant, an outcome of someone else's proposal)
changes nothing."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from events.domain.agents import AgentApplied, AgentGranted
from tests.cli.test_agents import DAY_S, home
from tests.conftest import Sd
from tests.helpers_cluster import Peer, device, in_sync, pair, running, until
from tests.helpers_tree import write

pytestmark = pytest.mark.slow

WITHIN_S = 30.0


def titles(sd: Sd, *extra: str) -> dict[str, dict[str, Any]]:
    return {p["title"]: p for p in sd.json("agent", "proposals", *extra)}


def removes(sd: Sd) -> list[dict[str, Any]]:
    return [a for a in sd.json("audit") if a["command"] == "file.remove"]


def _leftover(root: Path, rel: str) -> Path:
    """A leftover three days old, appearing at once (made beside the tree, renamed in: the
    watch must not index it between its creation and its age)."""
    staged = write(root.parent / "staging", rel.replace("/", "_"), b"")
    old = time.time() - 3 * DAY_S
    os.utime(staged, (old, old))
    path = root / rel
    staged.rename(path)
    return path


def test_a_node_proposes_by_itself_and_a_restart_repeats_nothing(tmp_path: Path) -> None:
    a = device(tmp_path, "ash")
    files = home(tmp_path / "home")
    a.json("library", "create", "Home")
    a.json("location", "add", str(tmp_path / "home"))
    a.json("agent", "enable", "downloads")
    a.json("agent", "grant", "downloads", "--location", str(tmp_path / "home/Downloads"))
    peer = Peer(a, tmp_path / "ash.log")
    with running(peer):
        # No position yet: the node's first run sweeps the grant.
        until(lambda: len(titles(a)) == 3, WITHIN_S, "the three proposals of the sweep")
        # A new leftover, seen by the watch and indexed: proposed without being asked, on
        # its own (the open proposal keeps the three it names).
        until(lambda: peer.status()["watching"][0]["mode"] == "watching", WITHIN_S, "watching")
        late = _leftover(tmp_path / "home", "Downloads/late.part")
        until(
            lambda: "1 partial download left unfinished" in titles(a),
            WITHIN_S,
            "the leftover found by the watch proposed",
        )
        pid = titles(a)["3 partial downloads left unfinished"]["id"]
        done = a.json("agent", "accept", pid)
        assert [o["ok"] for o in done["outcomes"]] == [True, True, True]
        time.sleep(1)  # past the manager's debounce: what the accept committed was handed
        before = a.json("agent", "proposals", "--all")
        peer.stop()
        positions = json.loads(next((a.data_dir / "libraries").glob("*/agents.json")).read_text())
        assert positions["positions"]["downloads"] > 0
        peer.start()
        time.sleep(2)  # well past the manager's debounce: it ran, and found nothing to do
        assert a.json("agent", "proposals", "--all") == before
        assert len(removes(a)) == 3
        assert late.exists() and not files["part"].exists()
        # One sweep, the node's first; after it, each run handed the agent only events past
        # the last it was handed, across the restart too.
        runs = peer.log_records("agent_run")
        assert [r["since"] is None for r in runs].count(True) == 1 and runs[0]["since"] is None
        handed = [(r["since"], r["until"]) for r in runs[1:]]
        assert handed and all(e[0] >= s[1] for s, e in zip(handed, handed[1:])), handed
        # Disabled, it proposes nothing by itself; asked (sd agent run, through the node),
        # it sweeps its grant.
        a.json("agent", "disable", "downloads")
        later = _leftover(tmp_path / "home", "Downloads/later.part")
        time.sleep(2)
        assert "later.part" not in json.dumps(a.json("agent", "proposals"))
        assert a.json("agent", "run", "downloads") == {"name": "downloads", "proposed": 1}
        (fresh,) = [p for p in a.json("agent", "proposals") if p["id"] not in {
            q["id"] for q in before}]  # fmt: skip
        shown = a.json("agent", "show", fresh["id"])["preview"]
        assert [i["trash"] for i in shown] == [[str(later)]]


def test_a_second_device_accepts_and_the_owning_device_runs_it(tmp_path: Path) -> None:
    a, b = device(tmp_path, "ash"), device(tmp_path, "birch")
    files = home(tmp_path / "home")
    a.json("library", "create", "Home")
    pa, pb = Peer(a, tmp_path / "ash.log"), Peer(b, tmp_path / "birch.log")
    with running(pa, pb):
        pair(a, b)
        a.json("location", "add", str(tmp_path / "home"))
        # A member may not grant nor enable: one line, nothing written.
        for args in (
            ("agent", "grant", "downloads", "--location", str(tmp_path / "home")),
            ("agent", "enable", "downloads"),
        ):
            err = b.fails(*args).err
            assert "only an admin" in err and err.count("\n") == 1, err
        a.json("agent", "enable", "downloads")
        # Enabled with nothing granted, its first sweep finds nothing; granted a place
        # later, it looks at the place at once (no file event has to come first).
        until(lambda: pa.log_records("agent_run"), WITHIN_S, "the first sweep")
        a.json("agent", "grant", "downloads", "--location", str(tmp_path / "home/Downloads"))
        until(lambda: len(titles(b)) == 3, WITHIN_S, "birch sees ash's proposals")
        pid = titles(b)["3 partial downloads left unfinished"]["id"]
        done = b.json("agent", "accept", pid, "--only", "1,2")
        assert done["runs_on"] == "ash" and done["outcomes"] is None
        assert len(removes(b)) == 0  # birch ran nothing itself

        def applied(sd: Sd) -> bool:
            row = titles(sd, "--all")["3 partial downloads left unfinished"]
            return row["state"] == "applied"

        until(lambda: applied(a) and applied(b), WITHIN_S, "both see the outcome")
        row = titles(b, "--all")["3 partial downloads left unfinished"]
        assert [(o["item"], o["ok"]) for o in row["outcomes"]] == [(1, True), (2, True)]
        assert row["decided_by"] == "birch"
        trashed = [Path(bytes.fromhex(r["arguments"]["path"]).decode()) for r in removes(a)]
        assert len(trashed) == 2 and not any(p.exists() for p in trashed)
        assert sum(files[k].exists() for k in ("part", "crdownload", "qb")) == 1
        assert {r["proposal"] for r in removes(b)} == {pid}
        assert {r["device_name"] for r in removes(b)} == {"ash"}
        # Ran once. Put a file back where one was trashed (a second run would trash it),
        # then replay: a rebuild through the node, an import of the library's own export
        # (its events go through the Journal and the bus, as a sync's do), a restart.
        write(trashed[0].parent, trashed[0].name, b"a new download, wanted")
        a.json("projections", "rebuild")
        export = tmp_path / "home.sdlog"
        a.json("log", "export", str(export))
        a.json("log", "import", str(export))
        pa.stop()
        pa.start()
        time.sleep(2)
        assert len(removes(a)) == 2 and trashed[0].exists()
        until(lambda: in_sync(a, b), WITHIN_S, "equal digests")


def test_what_a_hostile_member_writes_by_hand_changes_nothing(tmp_path: Path) -> None:
    a, b = device(tmp_path, "ash"), device(tmp_path, "birch")
    home(tmp_path / "home")
    a.json("library", "create", "Home")
    pa, pb = Peer(a, tmp_path / "ash.log"), Peer(b, tmp_path / "birch.log")
    with running(pa, pb):
        pair(a, b)
        a.json("location", "add", str(tmp_path / "home"))
        a.json("agent", "enable", "downloads")
        a.json("agent", "grant", "downloads", "--location", str(tmp_path / "home/Downloads"))
        until(lambda: len(titles(b)) == 3, WITHIN_S, "birch sees ash's proposals")
        zero = titles(b)["1 zero-byte file"]["id"]
        (downloads,) = [x for x in a.json("agent", "list") if x["name"] == "downloads"]
        (location,) = {p["location"] for p in downloads["places"]}
        # Birch's node is compromised: it writes, with its own key, a grant of ash's whole
        # location and the outcome of ash's proposal.
        pb.stop()
        from sdactors.node.node import Node

        with Node(b.data_dir) as node:
            lib = node.write_library(None)
            lib.append_typed(
                AgentGranted("downloads", ((bytes.fromhex(location), ""),), ()),
                AgentApplied(bytes.fromhex(zero), ((0, True, None),)),
            )
        pb.start()
        until(lambda: in_sync(a, b), WITHIN_S, "birch's events reached ash")
        for sd in (a, b):
            (agent,) = [x for x in sd.json("agent", "list") if x["name"] == "downloads"]
            assert [p["path"] for p in agent["places"]] == ["Downloads"]
            assert titles(sd)["1 zero-byte file"]["state"] == "open"
        # sd log verify names the grant that did not count (and exits 1 for it).
        verify = a.run("--json", "log", "verify", check=False).json()
        (forged,) = verify["membership_not_counted"]
        assert (
            forged["type"] == "agent.granted" and forged["reason"] == "its device is not an admin"
        )
