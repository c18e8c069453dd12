"""The tests' ``sd`` helper (``tests.conftest.Sd``): where a call needs no process of its own
it runs in this one, and where it may depend on the process it still starts one."""

from __future__ import annotations

import types

import pytest

import tests.conftest as helpers
from tests.conftest import Sd


@pytest.fixture
def no_process(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """The helper's way to start ``sd``, recording each start instead of making it."""
    started: list[tuple] = []

    def run(args: list[str], **kwargs: object) -> None:
        started.append(tuple(args))
        raise AssertionError(f"started a process: {args}")

    monkeypatch.setattr(helpers, "subprocess", types.SimpleNamespace(run=run))
    return started


def test_the_fixtures_sd_runs_in_this_process(sd: Sd, no_process: list[tuple]) -> None:
    """The fixture made the helper while pytest set the test up; the call comes later, while
    pytest runs it (and says so in the environment): still no interpreter to start."""
    sd.run("library", "create", "Home")
    assert sd.json("library", "list")[0]["name"] == "Home"
    assert no_process == []


def test_an_environment_of_the_tests_own_gets_a_process(sd: Sd, no_process: list[tuple]) -> None:
    sd.env["SD_SOMETHING_OF_THE_TESTS"] = "1"
    with pytest.raises(AssertionError, match="started a process"):
        sd.run("library", "list")
    assert len(no_process) == 1
