"""The first thing a user does: create a library, tag, read it back."""

from tests.conftest import Sd


def test_library_and_tags_round_trip(sd: Sd) -> None:
    created = sd.json("library", "create", "Home")
    assert created["name"] == "Home" and len(created["id"]) == 32
    sd.run("tag", "create", "Photos", "--color", "red")
    sd.run("tag", "create", "Work")
    sd.run("tag", "rename", "Work", "Job")
    sd.run("tag", "delete", "Photos")
    assert sd.json("tag", "list") == [
        {"id": sd.json("tag", "list")[0]["id"], "name": "Job", "color": None}
    ]
    assert sd.run("tag", "list", "--json").json()[0]["name"] == "Job"


def test_errors_are_one_line_and_json(sd: Sd) -> None:
    sd.run("library", "create", "Home")
    failed = sd.fails("tag", "delete", "Nope")
    assert failed.err.strip().count("\n") == 0
    assert "no tag named 'Nope'" in failed.err
    failed = sd.fails("--json", "tag", "delete", "Nope")
    assert failed.json() == {"error": "no tag named 'Nope'"}
