"""The log, index and volume commands while ``sd node run`` serves the data directory: they
are ops the node runs, so an import, a restore and a rebuild work on a library the node holds
(it stops folding that library, swaps, and resumes) while the node goes on serving the
others, and the volumes are listed and measured by the node's VolumeManager (which records
them in the library it holds).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sdactors.ops.base import CHECK_RESULTS_ENV
from tests.cli.test_volumes import _holder
from tests.conftest import Sd
from tests.system.test_node import node_on, small_tree, until

pytestmark = pytest.mark.slow

# A restored library is served again, its index rebuilt, within this.
REBUILT_WITHIN_S = 20.0


def _tags(sd: Sd, library: str) -> list[str] | None:
    """The library's tags; None while its index is being rebuilt."""
    answer = sd.run("--json", "tag", "list", "--library", library, check=False)
    if answer.code != 0:
        assert "being rebuilt" in answer.json()["error"], answer.out + answer.err
        return None
    return sorted(t["name"] for t in answer.json())


def test_import_restore_and_rebuild_while_the_node_serves_the_other_library(
    sd: Sd, tmp_path: Path
) -> None:
    sd.run("library", "create", "Home")
    sd.run("library", "create", "Other")
    sd.run("tag", "create", "Kept", "--library", "Home")
    sd.run("tag", "create", "Elsewhere", "--library", "Other")
    sd.json("location", "add", str(small_tree(tmp_path / "tree")), "--library", "Other")
    # A library of another device's data directory, to import as a new one.
    far = Sd(tmp_path / "far")
    far.run("library", "create", "Far")
    far.run("tag", "create", "Remote", "--library", "Far")
    far_export = tmp_path / "far.sdlog"
    far.json("log", "export", str(far_export), "--library", "Far")

    with node_on(sd, tmp_path) as node:
        early = tmp_path / "early.sdlog"
        exported = sd.json("log", "export", str(early), "--library", "Home")
        assert exported["events"] > 0 and early.exists()
        sd.run("tag", "create", "Later", "--library", "Home")
        assert _tags(sd, "Home") == ["Kept", "Later"]

        # An import merges into the library the node holds: nothing new in it.
        merged = sd.json("log", "import", str(early), "--library", "Home")
        assert merged["created"] is False and merged["accepted"] == 0
        # An import of a library this data directory lacks creates it, and the node serves it.
        made = sd.json("log", "import", str(far_export))
        assert made["created"] is True and made["name"] == "Far"
        assert _tags(sd, "Far") == ["Remote"]

        # A restore to the earlier export: the node closes Home, swaps its log, and serves
        # it again with its index rebuilt from the restored log. "Later" was written by this
        # device after the export: refused without --force, as without a node.
        refused = sd.run("--json", "log", "restore", str(early), "--library", "Home", check=False)
        assert refused.code == 1 and "--force" in refused.json()["error"]
        assert _tags(sd, "Other") == ["Elsewhere"]
        restored = sd.json("log", "restore", str(early), "--library", "Home", "--force")
        assert restored["accepted"] == exported["events"] and restored["kept"]
        # Meanwhile, and after, the other library answers as before.
        assert _tags(sd, "Other") == ["Elsewhere"]
        until(lambda: _tags(sd, "Home") == ["Kept"], REBUILT_WITHIN_S, "Home rebuilt")
        states = {lib["name"]: lib["state"] for lib in node.status()["libraries"]}
        assert states == {"Home": "serving", "Other": "serving", "Far": "serving"}

        # A rebuild of the index by the node: the same digest as the one it replaced.
        before = sd.json("projections", "digest", "--library", "Other")["digest"]
        rebuilt = sd.json("projections", "rebuild", "--library", "Other")
        assert rebuilt["digest"] == before
        assert sd.json("projections", "digest", "--library", "Other")["digest"] == before
        tables = {t["table"] for t in sd.json("projections", "tables", "--library", "Other")}
        assert "tags" in tables
        assert _tags(sd, "Home") == ["Kept"]
        assert sd.json("log", "verify", "--library", "Home")["ok"] is True
        node.stop()


def test_volumes_are_listed_and_measured_by_the_node(sd: Sd, tmp_path: Path) -> None:
    sd.run("library", "create", "Home")
    with node_on(sd, tmp_path) as node:
        volumes = sd.json("volume", "list")
        volume = _holder(volumes, tmp_path)
        # The node holds the library: it is the node that records what it sees.
        counts = sd.json("log", "stats")["by_type"]
        assert counts.get("volume.observed") == len(volumes)
        measured = sd.json(
            "volume", "speedtest", volume["mount_point"], "--size", "1", "--seconds", "5"
        )
        assert measured["volume"] == volume["id"] and measured["recorded"] is True
        shown: dict[str, Any] = {v["id"]: v for v in sd.json("volume", "list")}
        assert shown[volume["id"]]["read_mbps"] > 0
        node.stop()


def test_a_result_outside_its_declared_shape_fails_the_command(sd: Sd) -> None:
    """The check the tests above rely on can fail: a declaration that does not fit what the
    command answers is caught (here the declaration of ``library.list`` is made to lie)."""
    from sdactors.ops.base import checked_result
    from sdactors.ops.libraries import LibraryList
    from sdactors.runtime.errors import ResultMisshapen

    command = LibraryList()
    good = [{"id": "ab" * 32, "name": "Home", "created": "2026-01-01T00:00:00Z"}]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CHECK_RESULTS_ENV, "1")
        assert checked_result(command, good) is good
        with pytest.raises(ResultMisshapen, match="library.list"):
            checked_result(command, [{"id": "ab" * 32, "name": "Home"}])


def test_an_answer_may_hold_any_name_and_any_total_but_no_live_object() -> None:
    """A name whose bytes are not UTF-8 (a lone surrogate) and a total past 2**64 are what
    some answers hold; an object that is not plain data is not."""
    from sdactors.ops.results import PLAIN

    check = PLAIN.checker()
    assert check({"name": "caf\udce9 menu.txt", "bytes": 1 << 70, "by": [None, 1.5, b"x"]}) is None
    assert check({"progress": [object()]}) is not None
