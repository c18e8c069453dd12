"""A volume unmounted while a rescan walks it leaves an empty mount point behind: the walk
then finds nothing where every entry was. The job asks again whether the volume is there
before it deletes anything, and deletes nothing when it is not (seen in the node's tmpfs test
under load: a rescan that had passed the first check walked the emptied mount point and
deleted the location's every entry)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from projections.files.query import IndexView
from sdactors.indexer.identify import Identifier
from sdactors.indexer.job import IndexJob
from sdactors.indexer.rules import Rules
from sdactors.runtime.errors import LocationIsOffline
from tests.conftest import Sd
from tests.helpers_tree import write


def emptied_walk(sd: Sd, root: Path, still_there: Any, emitted: list[Any]) -> None:
    """Index ``root``, empty it as an unmount would, and walk it again; the drafts emitted go
    to ``emitted`` (kept when the walk raises)."""
    write(root, "keep/a.txt", "alpha\n")
    write(root, "keep/b.txt", "bravo\n")
    sd.run("library", "create", "Home")
    sd.json("location", "add", str(root))
    shutil.rmtree(root / "keep")
    [index] = (sd.data_dir / "libraries").glob("*.sdlibrary/index.db")
    db = sqlite3.connect(f"file:{index}?mode=ro", uri=True)
    location, device, path, rules = db.execute(
        "SELECT location, device, path, rules FROM locations"
    ).fetchone()
    view = IndexView(db, device)
    eids = iter(range(view.max_eid() + 1, view.max_eid() + 1000))
    job = IndexJob(
        location,
        path,
        Rules.from_dict(json.loads(rules)),
        view,
        emitted.extend,
        lambda: next(eids),
        Identifier(0),
        still_there=still_there,
    )
    try:
        job.run()
    finally:
        db.close()


def deletions(drafts: list[Any]) -> int:
    """How many ``entries.deleted`` events the drafts hold (a draft: type, version, body)."""
    return sum(1 for kind, _, _ in drafts if kind == "entries.deleted")


def test_a_volume_gone_before_the_deletions_deletes_nothing(sd: Sd, tmp_path: Path) -> None:
    def gone() -> None:
        raise LocationIsOffline(str(tmp_path / "disk"), "volume X is not mounted")

    emitted: list[Any] = []
    with pytest.raises(LocationIsOffline):
        emptied_walk(sd, tmp_path / "disk", gone, emitted)
    assert deletions(emitted) == 0


def test_a_volume_still_there_deletes_what_went(sd: Sd, tmp_path: Path) -> None:
    asked: list[bool] = []
    emitted: list[Any] = []
    emptied_walk(sd, tmp_path / "disk", lambda: asked.append(True), emitted)
    assert asked == [True] and deletions(emitted) == 1
