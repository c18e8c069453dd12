"""Two devices of one library, each indexing its own disk, exchange exports through ``sd``:
both end with the same index (digest), the same answers to searches, duplicates and stats,
whatever order they fold each other's events in."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Sd
from tests.helpers_log import device_of, pair_offline, run_each
from tests.helpers_tree import write

# The same contents under different names and extensions on each device: the kinds the two
# devices see for one content id disagree (a kind also comes from the name).
CONTENTS = {
    "notes": b"def main():\n    print('hello')\n" * 40,
    "report": b"%PDF-1.7\n" + b"\x00" * 3000,
    "data": b'{"a": 1, "b": [1, 2, 3]}\n' * 50,
}
NAMES_A = {"notes": "notes.py", "report": "report.pdf", "data": "data.json"}
NAMES_B = {"notes": "Notes.txt", "report": "report-final.bin", "data": "data.txt"}


def _tree(root: Path, names: dict[str, str]) -> Path:
    for key, name in names.items():
        write(root, f"docs/{name}", CONTENTS[key])
        write(root, f"backup/2024/{name}", CONTENTS[key])
    return root


def test_two_devices_exchange_exports_and_agree(tmp_path: Path) -> None:
    a, b = Sd(tmp_path / "a"), Sd(tmp_path / "b")
    a.run("library", "create", "Home")
    # A, the library's admin, pairs B (what 'sd pair' records; these devices meet by exports).
    pair_offline(a.data_dir, device_of(b.data_dir), "b")
    a.run("log", "export", str(tmp_path / "a0.sdlog"))
    b.run("log", "import", str(tmp_path / "a0.sdlog"))
    tree_a = _tree(tmp_path / "disk-a", NAMES_A)
    tree_b = _tree(tmp_path / "disk-b", NAMES_B)
    run_each((a, ["location", "add", str(tree_a)]), (b, ["location", "add", str(tree_b)]))
    run_each((a, ["tag", "create", "Work"]), (b, ["tag", "create", "Family"]))
    run_each(
        (a, ["log", "export", str(tmp_path / "a1.sdlog")]),
        (b, ["log", "export", str(tmp_path / "b1.sdlog")]),
    )
    run_each(
        (a, ["log", "import", str(tmp_path / "b1.sdlog")]),
        (b, ["log", "import", str(tmp_path / "a1.sdlog")]),
    )
    reads = [
        ["projections", "digest"],
        ["search", "notes"],
        ["search", "report"],
        ["search", "2024 data"],
        ["duplicates"],
        ["stats"],
        ["tag", "list"],
        ["location", "list"],
    ]
    results = run_each(*[(sd, ["--json", *args]) for args in reads for sd in (a, b)])
    for i, args in enumerate(reads):
        seen_a, seen_b = results[2 * i].json(), results[2 * i + 1].json()
        assert seen_a == seen_b, args
    digest = results[0].json()["digest"]
    # Both devices' files are found on both; each content's kind is the same everywhere.
    found = {hit["path"] for hit in results[2].json()}
    assert found == {
        str(tree_a / "docs/notes.py"),
        str(tree_a / "backup/2024/notes.py"),
        str(tree_b / "docs/Notes.txt"),
        str(tree_b / "backup/2024/Notes.txt"),
    }
    groups = results[8].json()
    assert len(groups) == 3 and all(g["count"] == 4 for g in groups)
    assert results[10].json()["files"] == 12
    # A rebuild on either device gives the digest both already have.
    rebuilt = run_each(
        (a, ["--json", "projections", "rebuild"]), (b, ["--json", "projections", "rebuild"])
    )
    assert {r.json()["digest"] for r in rebuilt} == {digest}
    verify = run_each((a, ["--json", "log", "verify"]), (b, ["--json", "log", "verify"]))
    assert all(v.json()["ok"] for v in verify)
