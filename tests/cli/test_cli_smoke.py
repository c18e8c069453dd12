"""The first thing a user does: create a library, tag, read it back."""

import pytest

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


@pytest.mark.hostile("L8")
def test_audit_since_any_span_or_time(sd: Sd) -> None:
    """A span reaching before 1970, or a time before it, is everything; a time past what a
    clock can carry is nothing; neither is an error, and a word is one line of error."""
    sd.run("library", "create", "Home")
    for since in ("99999999d", "9" * 40 + "w", "0001-01-01", "1969-12-31T23:00"):
        assert [a["command"] for a in sd.json("audit", "--since", since)] == ["library.create"]
    assert sd.json("audit", "--since", "9999-12-31") == []
    failed = sd.fails("audit", "--since", "soon")
    assert failed.err.count("\n") == 1 and "neither a time" in failed.err
