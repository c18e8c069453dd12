"""Agents as a user meets them without a node: the downloads agent on a generated home
folder, its proposals previewed, accepted (all, or some items), rejected; the grant that
bounds what it sees and what the ActionManager lets it run; replays that must not run
anything again. (With nodes, and between devices: ``tests/system/test_agents_node.py``.)"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from events.domain.agents import AgentProposed, proposal_id
from projections.agents import proposals
from sdactors.agent.builtin import BUILTIN
from sdactors.agent.manager import DEBOUNCE_S, RunNow
from sdactors.ops.agents import AgentList
from tests.conftest import Sd
from tests.helpers_tree import write

DAY_S = 86400


def home(root: Path) -> dict[str, Path]:
    """A home folder: Downloads with leftovers (partials, zero-byte files, empty folders)
    among real files; Documents with an empty file and an empty folder of its own (outside
    the grant); everything three days old."""
    files = {
        "part": write(root, "Downloads/movie.mkv.part", b"half a movie"),
        "crdownload": write(root, "Downloads/setup.exe.crdownload", b"half an installer"),
        "qb": write(root, "Downloads/linux/debian.iso.!qB", b"half an iso"),
        "zero": write(root, "Downloads/notes.txt", b""),
        "keep": write(root, "Downloads/paper.pdf", b"%PDF-1.4 a real paper"),
        "keep2": write(root, "Downloads/linux/README", b"keep me"),
        "doc_zero": write(root, "Documents/empty.txt", b""),
        "doc": write(root, "Documents/letter.txt", b"Dear..."),
    }
    (root / "Downloads/old-folder").mkdir()
    (root / "Documents/empty-folder").mkdir()
    files["empty"] = root / "Downloads/old-folder"
    files["doc_empty"] = root / "Documents/empty-folder"
    old = time.time() - 3 * DAY_S
    for path in sorted(root.rglob("*"), key=lambda p: -len(p.parts)):
        os.utime(path, (old, old))
    return files


@pytest.fixture
def granted(sd: Sd, tmp_path: Path) -> dict[str, Path]:
    """A library indexing the home folder, the downloads agent enabled and granted
    Downloads only, and swept once."""
    files = home(tmp_path / "home")
    sd.json("library", "create", "Home")
    sd.json("location", "add", str(tmp_path / "home"))
    sd.json("agent", "enable", "downloads")
    sd.json("agent", "grant", "downloads", "--location", str(tmp_path / "home/Downloads"))
    assert sd.json("agent", "run", "downloads")["proposed"] == 3
    return files


def by_title(sd: Sd, *extra: str) -> dict[str, dict[str, Any]]:
    return {p["title"]: p for p in sd.json("agent", "proposals", *extra)}


def item_paths(sd: Sd, proposal: str) -> list[str]:
    return [i["trash"][0] for i in sd.json("agent", "show", proposal)["preview"]]


def test_downloads_agent_proposes_the_leftovers_in_its_grant(
    sd: Sd, granted: dict[str, Path]
) -> None:
    found = by_title(sd)
    assert set(found) == {
        "3 partial downloads left unfinished",
        "1 zero-byte file",
        "1 empty folder",
    }
    partial = found["3 partial downloads left unfinished"]
    assert partial["agent"] == "downloads" and partial["state"] == "open"
    assert sorted(item_paths(sd, partial["id"])) == sorted(
        str(granted[k]) for k in ("part", "crdownload", "qb")
    )
    assert item_paths(sd, found["1 zero-byte file"]["id"]) == [str(granted["zero"])]
    assert item_paths(sd, found["1 empty folder"]["id"]) == [str(granted["empty"])]
    # Documents is outside the grant: its empty file and folder are never named.
    every = [p for f in found.values() for p in item_paths(sd, f["id"])]
    assert not any("Documents" in p for p in every)
    # The same leftovers make the same proposals: a second sweep writes nothing new.
    assert sd.json("agent", "run", "downloads")["proposed"] == 0
    assert len(sd.json("agent", "proposals")) == 3
    # A new leftover is a proposal of its own, not the open one again with one more item.
    late = write(granted["part"].parent, "late.iso.part", b"x")
    old = time.time() - 3 * DAY_S
    os.utime(late, (old, old))
    sd.json("location", "rescan", str(granted["part"].parent.parent))
    assert sd.json("agent", "run", "downloads")["proposed"] == 1
    assert item_paths(sd, by_title(sd)["1 partial download left unfinished"]["id"]) == [str(late)]


def test_show_previews_what_would_be_trashed_and_the_bytes_freed(
    sd: Sd, granted: dict[str, Path]
) -> None:
    pid = by_title(sd)["3 partial downloads left unfinished"]["id"]
    shown = sd.json("agent", "show", pid[:8])
    assert shown["proposal"]["id"] == pid
    assert [i["item"] for i in shown["preview"]] == [1, 2, 3]
    assert all(
        i["op"] == "file.remove" and i["args"]["permanent"] is False for i in shown["preview"]
    )
    assert all(i["command"].startswith("sd rm ") for i in shown["preview"])
    sizes = {granted[k].stat().st_size for k in ("part", "crdownload", "qb")}
    assert {i["bytes"] for i in shown["preview"]} == sizes
    assert shown["bytes_freed"] == sum(sizes)
    text = sd.run("agent", "show", pid[:8]).out
    assert "partial download" in text and str(granted["part"]) in text and "to the trash" in text


def test_accepting_trashes_exactly_those_files_audited_with_the_proposal(
    sd: Sd, granted: dict[str, Path]
) -> None:
    pid = by_title(sd)["3 partial downloads left unfinished"]["id"]
    done = sd.json("agent", "accept", pid)
    assert done["decision"] == "accepted" and done["runs_on"] is None
    assert [o["ok"] for o in done["outcomes"]] == [True, True, True]
    for key in ("part", "crdownload", "qb"):
        assert not granted[key].exists()
    for key in ("zero", "keep", "keep2", "doc_zero", "doc", "empty", "doc_empty"):
        assert granted[key].exists(), key
    # In the trash, restorable.
    assert len(sd.json("trash", "list")) == 3
    removes = [a for a in sd.json("audit") if a["command"] == "file.remove"]
    assert len(removes) == 3
    assert {a["proposal"] for a in removes} == {pid}
    # (bytes in a JSON answer are hex)
    assert {bytes.fromhex(a["arguments"]["path"]).decode() for a in removes} == {
        str(granted[k]) for k in ("part", "crdownload", "qb")
    }
    assert "proposal " + pid[:12] in sd.run("audit").out
    row = by_title(sd, "--all")["3 partial downloads left unfinished"]
    assert row["state"] == "applied" and len(row["outcomes"]) == 3
    # Decided: it is no longer open, and cannot be decided again.
    assert pid not in {p["id"] for p in sd.json("agent", "proposals")}
    err = sd.fails("agent", "reject", pid).err
    assert "already applied" in err and err.count("\n") == 1


def test_accept_only_some_items_and_bad_item_numbers(sd: Sd, granted: dict[str, Path]) -> None:
    pid = by_title(sd)["3 partial downloads left unfinished"]["id"]
    paths = item_paths(sd, pid)
    for bad in ("4", "0", "1,x", "-1"):
        result = sd.run("--json", "agent", "accept", pid, "--only", bad, check=False)
        assert result.code == 1 and "error" in result.json(), bad
    err = sd.fails("agent", "accept", pid, "--only", "2,9").err
    assert "no item 9" in err and "1 to 3" in err
    assert all(Path(p).exists() for p in paths)  # nothing ran, nothing was decided
    done = sd.json("agent", "accept", pid, "--only", "1,3")
    assert done["items"] == [1, 3]
    assert [(o["item"], o["ok"]) for o in done["outcomes"]] == [(1, True), (3, True)]
    assert [Path(p).exists() for p in paths] == [False, True, False]
    row = by_title(sd, "--all")["3 partial downloads left unfinished"]
    assert row["accepted_items"] == [1, 3]


def test_a_rejected_proposal_changes_nothing(sd: Sd, granted: dict[str, Path]) -> None:
    pid = by_title(sd)["1 zero-byte file"]["id"]
    before = sd.json("projections", "digest")["read_models"]["files"]
    assert sd.json("agent", "reject", pid[:10]) == {"id": pid, "decision": "rejected"}
    assert granted["zero"].exists()
    assert sd.json("projections", "digest")["read_models"]["files"] == before
    assert [a for a in sd.json("audit") if a["command"] == "file.remove"] == []
    assert by_title(sd, "--all")["1 zero-byte file"]["state"] == "rejected"
    # Proposed again by a sweep: the same id, still rejected, not reopened.
    sd.json("agent", "run", "downloads")
    assert "1 zero-byte file" not in by_title(sd)


def test_a_grant_taken_back_stops_an_accepted_item(
    sd: Sd, granted: dict[str, Path], tmp_path: Path
) -> None:
    """The ActionManager checks each item against the grant of the moment, whatever the
    proposal says: a proposal made while Downloads was granted, accepted after it was taken
    back, removes nothing."""
    pid = by_title(sd)["1 zero-byte file"]["id"]
    sd.json(
        "agent", "grant", "downloads", "--revoke", "--location", str(tmp_path / "home/Downloads")
    )
    (downloads,) = [a for a in sd.json("agent", "list") if a["name"] == "downloads"]
    assert downloads["places"] == []
    done = sd.json("agent", "accept", pid)
    (outcome,) = done["outcomes"]
    assert outcome["ok"] is False and "outside the agent's grant" in outcome["error"]
    assert granted["zero"].exists()
    assert [a for a in sd.json("audit") if a["command"] == "file.remove"] == []


def _forge(sd: Sd, items: list[tuple[str, str, dict[str, Any]]]) -> str:
    """Write an ``agent.proposed`` by hand (as a buggy plugin or a tampered log could):
    what the ActionManager must still hold to the grant."""
    from sdactors.library.config import find_library
    from sdactors.node.node import Node

    with Node(sd.data_dir) as node:
        lib = node.write_library(find_library(node.data, None).id)
        pid = proposal_id("downloads", [(op, args) for _r, op, args in items])
        lib.append_typed(AgentProposed(pid, "downloads", "forged", tuple(items)))
    return pid.hex()


def test_the_action_manager_refuses_what_no_agent_may_run(sd: Sd, granted: dict[str, Path]) -> None:
    inside, outside = granted["keep"], granted["doc"]
    # A link inside the grant to a folder outside it.
    (granted["keep"].parent / "docs-link").symlink_to(granted["doc"].parent)
    through = granted["keep"].parent / "docs-link" / granted["doc"].name
    pid = _forge(
        sd,
        [
            ("outside", "file.remove", {"path": os.fsencode(outside), "permanent": False}),
            ("via a link", "file.remove", {"path": os.fsencode(through), "permanent": False}),
            ("for good", "file.remove", {"path": os.fsencode(inside), "permanent": True}),
            ("not agentable", "tag.create", {"name": "x"}),
            ("fine", "file.remove", {"path": os.fsencode(granted["keep2"]), "permanent": False}),
        ],
    )
    done = sd.json("agent", "accept", pid)
    assert [o["ok"] for o in done["outcomes"]] == [False, False, False, False, True]
    assert "outside the agent's grant" in done["outcomes"][0]["error"]
    assert "outside the agent's grant" in done["outcomes"][1]["error"]
    assert "not a command an agent may propose" in done["outcomes"][2]["error"]
    assert "not a command an agent may propose" in done["outcomes"][3]["error"]
    assert outside.exists() and inside.exists() and not granted["keep2"].exists()
    assert sd.json("tag", "list") == []


def test_replays_never_run_an_accepted_proposal_again(
    sd: Sd, granted: dict[str, Path], tmp_path: Path
) -> None:
    """A rebuild of the index, a look back in time and an import of the library's own
    export fold the decision and the outcome again; none of them runs an item again."""
    pid = by_title(sd)["3 partial downloads left unfinished"]["id"]
    sd.json("agent", "accept", pid)
    # What ran is now gone; put a file back at one of its paths: a second run would trash it.
    write(granted["part"].parent, granted["part"].name, b"a new download, wanted")
    sd.json("location", "rescan", str(tmp_path / "home"))
    position = sd.json("log", "stats")["events"]
    sd.json("projections", "rebuild")
    sd.json("ls", "--at", str(position - 1), str(tmp_path / "home/Downloads"))
    export = tmp_path / "export.sdlog"
    sd.json("log", "export", str(export))
    sd.json("log", "import", str(export))
    sd.json("agent", "run", "downloads")
    assert granted["part"].exists()
    assert len([a for a in sd.json("audit") if a["command"] == "file.remove"]) == 3


def test_huge_proposals_are_split_and_numbered(sd: Sd, tmp_path: Path) -> None:
    root = tmp_path / "home"
    old = time.time() - 3 * DAY_S
    for n in range(1500):
        path = write(root, f"Downloads/f{n:04}.part", b"")
        os.utime(path, (old, old))
    sd.json("library", "create", "Home")
    sd.json("location", "add", str(root))
    sd.json("agent", "grant", "downloads", "--location", str(root / "Downloads"))
    assert sd.json("agent", "run", "downloads")["proposed"] == 2
    sizes = sorted(p["items"] for p in sd.json("agent", "proposals"))
    assert sizes == [500, 1000]
    big = next(p for p in sd.json("agent", "proposals") if p["items"] == 1000)
    assert "(part " in big["title"]
    assert len(sd.json("agent", "show", big["id"])["preview"]) == 1000
    err = sd.fails("agent", "accept", big["id"], "--only", "1001").err
    assert "no item 1001" in err and "1 to 1000" in err


def test_agent_commands_say_what_is_wrong_in_one_line(sd: Sd, tmp_path: Path) -> None:
    sd.json("library", "create", "Home")
    (tmp_path / "loc").mkdir()
    sd.json("location", "add", str(tmp_path / "loc"))
    for args, words in [
        (("agent", "enable", "nosuch"), "no agent named 'nosuch'"),
        (("agent", "grant", "downloads"), "give a place"),
        (("agent", "grant", "downloads", "--location", str(tmp_path)), "not a location"),
        (("agent", "grant", "downloads", "--tag", "Nope"), "Nope"),
        (("agent", "show", "abcdef"), "no proposal with id 'abcdef'"),
        (("agent", "accept", "zz"), "zz"),
        (("agent", "proposals", "--agent", "nosuch"), "no agent named"),
    ]:
        err = sd.fails(*args).err
        assert words in err and err.count("\n") == 1, (args, err)
        result = sd.run("--json", *args, check=False)
        assert result.code == 1 and words in result.json()["error"], args
    listed = {a["name"]: a for a in sd.json("agent", "list")}
    assert set(listed) == set(BUILTIN)
    downloads = listed["downloads"]
    assert downloads["enabled"] is False and downloads["follows"] == ["entries.", "location."]


def test_the_node_clock_says_what_is_old_enough(sd: Sd, tmp_path: Path) -> None:
    """A fresh partial download is one in progress: not proposed, until the node's clock
    (shifted here, as tests inject it) says it has not changed for a day."""
    root = tmp_path / "home"
    fresh = write(root, "Downloads/live.part", b"still coming")
    sd.json("library", "create", "Home")
    sd.json("location", "add", str(root))
    sd.json("agent", "grant", "downloads", "--location", str(root / "Downloads"))
    assert sd.json("agent", "run", "downloads")["proposed"] == 0
    sd.env["SD_TEST_CLOCK_OFFSET_S"] = str(2 * DAY_S)
    assert sd.json("agent", "run", "downloads")["proposed"] == 1
    (found,) = sd.json("agent", "proposals")
    assert item_paths(sd, found["id"]) == [str(fresh)]


def test_an_empty_folder_goes_to_the_trash_whole(sd: Sd, granted: dict[str, Path]) -> None:
    pid = by_title(sd)["1 empty folder"]["id"]
    (outcome,) = sd.json("agent", "accept", pid)["outcomes"]
    assert outcome["ok"] is True
    assert not granted["empty"].exists()
    (item,) = sd.json("trash", "list")
    assert item["path"] == str(granted["empty"])


def test_tags_an_agent_may_put_are_those_granted(sd: Sd, granted: dict[str, Path]) -> None:
    sd.json("tag", "create", "Cleanup")
    sd.json("tag", "create", "Private")
    sd.json("agent", "grant", "downloads", "--tag", "Cleanup")
    (downloads,) = [a for a in sd.json("agent", "list") if a["name"] == "downloads"]
    assert [t["name"] for t in downloads["tags"]] == ["Cleanup"]
    paper = [os.fsencode(granted["keep"])]
    pid = _forge(
        sd,
        [
            ("granted", "tag.add", {"paths": paper, "tag": "Cleanup"}),
            ("not granted", "tag.add", {"paths": paper, "tag": "Private"}),
            ("a new tag", "tag.add", {"paths": paper, "tag": "New", "create": True}),
        ],
    )
    shown = sd.json("agent", "show", pid)["preview"]
    assert [i["tag"] for i in shown] == [
        {"add": True, "name": "Cleanup"},
        {"add": True, "name": "Private"},
        {"add": True, "name": "New"},
    ]
    done = sd.json("agent", "accept", pid)
    assert [o["ok"] for o in done["outcomes"]] == [True, False, False]
    assert "tag 'Private' is outside the agent's grant" in done["outcomes"][1]["error"]
    (entry,) = sd.json("ls", str(granted["keep"]))
    assert entry["tags"] == ["Cleanup"]


def test_a_restarted_manager_takes_over_its_subscription(sd: Sd, granted: dict[str, Path]) -> None:
    """A crash of the AgentManager (here: a message it does not know) restarts it; the new
    instance replaces the bus subscription of the old one, which would tell a dead actor."""
    from sdactors.node.node import Node
    from tests.system.test_node import until

    with Node(sd.data_dir, serving=True) as node:
        (config,) = node.libraries()
        lib = node.open_library(config.id)
        node.follow_agents(config.id)

        def subscribed() -> list[Any]:
            return [s for s in lib._subscriptions.current() if s.name == "agents"]

        until(lambda: len(subscribed()) == 1, 10, "the manager subscribed")
        first = node.supervisor.live_ref("agents")
        first.tell("not a message of the manager's")
        until(lambda: node.supervisor.ref("agents") is not first, 10, "a restart")
        node.supervisor.live_ref("agents").ask(RunNow(config.id), timeout=30)
        assert len(subscribed()) == 1
        assert subscribed()[0].prefixes == ("agent.", "entries.", "location.")
        time.sleep(DEBOUNCE_S * 3)  # the run its start scheduled is over
        # It hears the bus: a new leftover, indexed, is proposed without being asked.
        late = write(granted["part"].parent, "late.iso.part", b"x")
        old = time.time() - 3 * DAY_S
        os.utime(late, (old, old))
        (downloads,) = [a for a in node.execute(AgentList()) if a["name"] == "downloads"]
        (location,) = {p["location"] for p in downloads["places"]}
        lib.index_location(bytes.fromhex(location))

        def proposed() -> bool:
            lib.catch_up()
            with lib.index() as db:
                return any(p.title == "1 partial download left unfinished" for p in proposals(db))

        until(proposed, 10, "the new leftover proposed")
