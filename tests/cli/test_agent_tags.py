"""The tag suggestions agent on a real index: untagged files get the tags their nearest
tagged neighbours (folder, time, name words or meaning) share, only granted tags, never
outside the grant."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from sdactors.agent.builtin.tags import Tags
from tests.conftest import Sd
from tests.helpers_agents import View, proposals
from tests.helpers_tree import write

DAY = 86_400
JULY = 1_688_169_600  # 2023-07-01


def put(root: Path, rel: str, when: float) -> Path:
    path = write(root, rel, f"{rel} content")
    os.utime(path, (when, when))
    return path


@pytest.fixture
def root(sd: Sd, tmp_path: Path) -> Path:
    root = tmp_path / "home"
    trip = "Pictures/Rome 2023"
    put(root, f"{trip}/rome colosseum.jpg", JULY)
    put(root, f"{trip}/rome forum.jpg", JULY + 3600)
    put(root, f"{trip}/rome pantheon.jpg", JULY + 7200)  # untagged: Rome, Holiday
    put(root, f"{trip}/IMG_0042.jpg", JULY + 9000)  # untagged, a counter for a name
    put(root, "Pictures/Paris 2019/eiffel.jpg", JULY - 1400 * DAY)  # far in time: nothing
    put(root, "Documents/Invoices/acme invoice march.pdf", JULY - 90 * DAY)
    put(root, "Documents/Invoices/acme invoice april.pdf", JULY - 60 * DAY)  # Invoices
    put(root, "Documents/Invoices/acme invoice may.pdf", JULY - 30 * DAY)
    put(root, "Documents/Private/acme invoice june.pdf", JULY)  # beside: Private only
    put(root, "notes/todo.txt", JULY)  # near nothing tagged: nothing
    sd.run("library", "create", "Home")
    sd.run("location", "add", str(root))
    for tag in ("Rome", "Holiday", "Invoices", "Private"):
        sd.run("tag", "create", tag)
    sd.run(
        "tag",
        "add",
        str(root / trip / "rome colosseum.jpg"),
        str(root / trip / "rome forum.jpg"),
        "Rome",
    )
    sd.run(
        "tag",
        "add",
        str(root / trip / "rome colosseum.jpg"),
        str(root / trip / "rome forum.jpg"),
        "Holiday",
    )
    march, may = (root / f"Documents/Invoices/acme invoice {m}.pdf" for m in ("march", "may"))
    sd.run("tag", "add", str(march), str(may), "Invoices")
    sd.run("tag", "add", str(root / "Documents/Private/acme invoice june.pdf"), "Private")
    return root


def tag_ids(sd: Sd, *names: str) -> frozenset[bytes]:
    return frozenset(
        bytes.fromhex(t["id"]) for t in sd.json("--json", "tag", "list") if t["name"] in names
    )


def suggested(
    sd: Sd, monkeypatch: pytest.MonkeyPatch, tags: frozenset[bytes], **view: Any
) -> dict[str, set[str]]:
    """Path -> the tags proposed for it; every item one file, its reason naming neighbours."""
    monkeypatch.setattr(View, "granted_tags", lambda self: tags)
    out: dict[str, set[str]] = {}
    for p in proposals(sd, Tags(), **view):
        assert p.title.startswith("tag ")
        for item in p.items:
            assert item.op == "tag.add" and len(item.args["paths"]) == 1
            [path] = item.args["paths"]
            out.setdefault(os.fsdecode(path), set()).add(item.args["tag"])
            assert f"carry {item.args['tag']}: " in item.reason
    return out


def test_untagged_files_get_the_tags_their_nearest_neighbours_share(
    sd: Sd, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    granted = tag_ids(sd, "Rome", "Holiday", "Invoices")
    found = suggested(sd, monkeypatch, granted)
    trip = root / "Pictures/Rome 2023"
    assert found == {
        str(trip / "rome pantheon.jpg"): {"Rome", "Holiday"},
        str(trip / "IMG_0042.jpg"): {"Rome", "Holiday"},
        str(root / "Documents/Invoices/acme invoice april.pdf"): {"Invoices"},
    }
    # The reason names the neighbours and how they are near.
    monkeypatch.setattr(View, "granted_tags", lambda self: granted)
    [rome] = [p for p in proposals(sd, Tags()) if p.title.startswith("tag Rome ")]
    reasons = {os.fsdecode(i.args["paths"][0]): i.reason for i in rome.items}
    assert reasons[str(trip / "rome pantheon.jpg")] == (
        "2 of its 2 nearest files carry Rome: rome colosseum.jpg (same folder, same day, "
        "name means alike: rome colosseum ~ rome pantheon); rome forum.jpg (same folder, "
        "same day, name means alike: rome forum ~ rome pantheon)"
    )
    assert rome.title == f"tag Rome on 2 files in {trip}"


def test_only_granted_tags_are_read_and_proposed(
    sd: Sd, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Private is not granted: nothing proposes it, and the June invoice, which carries it,
    # is left alone (someone chose its tags).
    found = suggested(sd, monkeypatch, tag_ids(sd, "Invoices"))
    assert found == {str(root / "Documents/Invoices/acme invoice april.pdf"): {"Invoices"}}
    assert suggested(sd, monkeypatch, frozenset()) == {}


def test_a_folder_outside_the_grant_is_never_named(
    sd: Sd, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    granted = tag_ids(sd, "Rome", "Holiday", "Invoices")
    pictures = os.fsencode(root / "Pictures")
    found = suggested(sd, monkeypatch, granted, places=[pictures])
    assert set(found) == {
        str(root / "Pictures/Rome 2023/rome pantheon.jpg"),
        str(root / "Pictures/Rome 2023/IMG_0042.jpg"),
    }
    # Neighbours outside the grant are not read either: with the tagged invoices outside,
    # the April one (granted alone) has no neighbour to learn from.
    april = os.fsencode(root / "Documents/Invoices/acme invoice april.pdf")
    assert suggested(sd, monkeypatch, granted, places=[april]) == {}


def test_granted_run_and_accepted_the_suggested_tags_are_on_the_files(sd: Sd, root: Path) -> None:
    trip = root / "Pictures/Rome 2023"
    sd.run("agent", "grant", "tags", "--location", str(root / "Pictures"), "--tag", "Rome")
    assert sd.json("agent", "run", "tags")["proposed"] == 1
    [found] = sd.json("agent", "proposals")
    assert found["agent"] == "tags" and found["title"] == f"tag Rome on 2 files in {trip}"
    shown = [i["command"] for i in sd.json("agent", "show", found["id"])["preview"]]
    assert shown == [
        f"sd tag add {trip / 'IMG_0042.jpg'} Rome",
        f"sd tag add {trip / 'rome pantheon.jpg'} Rome",
    ]
    sd.run("agent", "accept", found["id"])
    tags = {e["name"]: e.get("tags") for e in sd.json("ls", str(trip))}
    assert tags["rome pantheon.jpg"] == ["Rome"] and tags["IMG_0042.jpg"] == ["Rome"]
    # Tagged now: nothing more to suggest.
    assert sd.json("agent", "run", "tags")["proposed"] == 0


def test_a_name_alike_in_meaning_brings_the_tag_from_another_folder_and_year(
    sd: Sd, tmp_path: Path
) -> None:
    # The Holiday photos share no word with "seaside vacation", nor its folder (nor one
    # beside it), nor its year: only their names' meaning makes them its neighbours.
    root = tmp_path / "home"
    trip = root / "Pictures/Trips/Greece 2019"
    tagged = [
        put(trip, n, JULY - 1400 * DAY + i * 3600)
        for i, n in enumerate(("beach holiday.jpg", "holiday at the beach.jpg", "beach trip.jpg"))
    ]
    put(root, "Phone/Camera/IMG_2041 seaside vacation.jpg", JULY)
    put(root, "Phone/Camera/tax return 2023.pdf", JULY)
    # A library holds other tags too: Holiday is not on every tagged file, so being on the
    # files alike in meaning says something.
    others = {
        "Invoices": (
            "Documents/Invoices/acme invoice march.pdf",
            "Documents/Invoices/gas bill.pdf",
        ),
        "Work": ("Work/project report.docx", "Work/meeting minutes.txt"),
    }
    for paths in others.values():
        for rel in paths:
            put(root, rel, JULY - 200 * DAY)
    sd.run("library", "create", "Home")
    sd.run("location", "add", str(root))
    sd.run("tag", "create", "Holiday")
    sd.run("tag", "add", *map(str, tagged), "Holiday")
    for tag, paths in others.items():
        sd.run("tag", "create", tag)
        sd.run("tag", "add", *(str(root / rel) for rel in paths), tag)
    granted = ("--tag", "Holiday", "--tag", "Invoices", "--tag", "Work")
    sd.run("agent", "grant", "tags", "--location", str(root), *granted)
    assert sd.json("agent", "run", "tags")["proposed"] == 1
    [found] = sd.json("agent", "proposals")
    camera = root / "Phone/Camera"
    assert found["title"] == f"tag Holiday on file in {camera}"
    [item] = sd.json("agent", "show", found["id"])["preview"]
    # The tax return (its name unlike theirs, its folder the photo's) is not proposed.
    assert item["command"] == f"sd tag add {camera / 'IMG_2041 seaside vacation.jpg'} Holiday"
    assert (
        "beach holiday.jpg (name means alike: beach holiday ~ seaside vacation)" in (item["reason"])
    )


def test_a_tag_on_every_tagged_file_is_not_spread_by_meaning(sd: Sd, tmp_path: Path) -> None:
    # Every tagged file carries Photos. Names in another folder, far in time, that the model
    # finds alike to some by chance ("recipe pancakes" ~ "birthday cake", "car insurance" ~
    # "new car") get nothing: being on the files alike in meaning says nothing of a tag on
    # all of them.
    root = tmp_path / "home"
    photos = [
        put(root, f"Pictures/2021/{n}.jpg", JULY - 900 * DAY + i * 3600)
        for i, n in enumerate(
            (
                "birthday cake",
                "chocolate cake",
                "wedding cake",
                "school concert",
                "concert night",
                "new car",
                "car wash",
                "family dinner",
                "dinner party",
                "cat sleeping",
            )
        )
    ]
    for name in ("recipe pancakes.pdf", "car insurance.pdf", "meeting notes.txt"):
        put(root, f"Documents/Letters/{name}", JULY)
    sd.run("library", "create", "Home")
    sd.run("location", "add", str(root))
    sd.run("tag", "create", "Photos")
    sd.run("tag", "add", *map(str, photos), "Photos")
    sd.run("agent", "grant", "tags", "--location", str(root), "--tag", "Photos")
    assert sd.json("agent", "run", "tags")["proposed"] == 0
    assert sd.json("agent", "proposals") == []
