"""The hostile test kit: every fault the hostile pass of issue 14 found has tests marked
``@pytest.mark.hostile(CASE)``, and ``pytest -m hostile`` runs them all. This test keeps the
kit whole: a case whose last test is removed (or unmarked) fails here, so none returns
unseen."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).parents[1]

CASES = {
    "H1": "sizes that overflow a counter stop a library (sparse exabyte files, a peer's extremes)",
    "H2": "every paired device is an administrator (revokes the creator, pairs any key)",
    "H3": "revocation races (an event made after the revocation, admins revoking each other)",
    "H4": "a cross-volume move loses what is written to the source during the copy",
    "M5": "a control-socket reply that cannot be encoded ends the node",
    "M6": "one huge frame of empty arrays drives the node out of memory",
    "M7": "disk full: hangs, an unrelated error, no recovery until a restart",
    "M8": "a Spacedrop to a restarted receiver fails until the sender restarts",
    "M9": "a killed cross-volume move leaves an indexed partial and an action never closed",
    "M10": "the data directory accepted as a location, its own files indexed and synced",
    "M11": "hard links and bind mounts listed as duplicates",
    "M12": "a device whose clock is ahead wins silently and drags every clock with it",
    "M13": "a read-only query that never ends ignores SIGINT and SIGTERM",
    "M14": "a damaged index: the node says serving, never rebuilds",
    "M15": "a restore of an older export rolls back events the peers hold",
    "L1": "sync status trusts a refused batch's upto",
    "L2": "pending offers from strangers hold unbounded memory",
    "L3": "a drop larger than the receiver's free space is reported done",
    "L4": "--json of a non-UTF-8 name reads like another name",
    "L5": "a location that contains another gets a wrong message",
    "L6": "a folder made readable again is not indexed until a rescan",
    "L7": "sd rm has no restore, the trash forgets paths, mv --force destroys the replaced file",
    "L8": "audit --since with a huge span is an internal error",
    "L9": "files and folders of the data directory readable by others",
}


def marked_cases() -> dict[str, list[str]]:
    """Each case, and the tests marked with it, read from the test files' source."""
    found: dict[str, list[str]] = {}
    for path in sorted(TESTS.rglob("test_*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for deco in node.decorator_list:
                if (
                    isinstance(deco, ast.Call)
                    and isinstance(deco.func, ast.Attribute)
                    and deco.func.attr == "hostile"
                    and deco.args
                    and isinstance(deco.args[0], ast.Constant)
                ):
                    name = f"{path.relative_to(TESTS)}::{node.name}"
                    found.setdefault(deco.args[0].value, []).append(name)
    return found


def test_every_case_of_the_hostile_pass_has_a_test() -> None:
    found = marked_cases()
    missing = {case: what for case, what in CASES.items() if case not in found}
    assert not missing, f"cases of the hostile pass with no test: {missing}"
    unknown = set(found) - set(CASES)
    assert not unknown, f"tests marked with cases that are not in the kit: {unknown}"
