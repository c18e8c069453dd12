"""Search through ``sd``: complete (every match up to the limit), ranked (exact name, name
prefix, a word of the name, substring of the name, path), and folded (case, NFC/NFD, any
script, emoji, one or two characters). The fast answer is also held to a scan of every
entry, on a tree of many names."""

from __future__ import annotations

import os
import random
import sqlite3
import sys
import unicodedata
from pathlib import Path

import pytest

from projections.files.schema import EID_MASK
from projections.files.search import Filters, every_name, search, search_by_scan
from tests.conftest import Sd
from tests.helpers_log import library_dirs
from tests.helpers_tree import write

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
from gen_tree import generate  # noqa: E402


def paths(hits: list[dict]) -> list[str]:
    return [h["path"] for h in hits]


@pytest.fixture(scope="module")
def many_reports(tmp_path_factory: pytest.TempPathFactory) -> tuple[Sd, Path]:
    """300 folders each holding ``xreportx-NNN.txt``, a file named ``report``, 15,000
    ``file_*`` names, and one file in ``zzz_last/``."""
    root = tmp_path_factory.mktemp("many")
    tree = root / "tree"
    for i in range(300):
        write(tree, f"folder{i:03d}/xreportx-{i:03d}.txt", b"x")
    write(tree, "report", b"the one")
    write(tree, "zzz_last/report", b"last")
    bulk = tree / "bulk"
    bulk.mkdir()
    for i in range(15_000):
        (bulk / f"file_{i:05d}").touch()
    sd = Sd(root / "data")
    sd.run("library", "create", "Home")
    sd.run("location", "add", str(tree), timeout=300)
    return sd, tree


def test_every_match_comes_back_best_first(many_reports: tuple[Sd, Path]) -> None:
    sd, tree = many_reports
    hits = sd.json("search", "report", "--limit", "1000")
    # The file named exactly "report", then the other one (same rank, longer path), then
    # 300 names that hold it mid-word, shortest first, then by path.
    assert len(hits) == 302
    assert paths(hits)[:2] == [str(tree / "report"), str(tree / "zzz_last/report")]
    rest = paths(hits)[2:]
    assert rest == sorted(rest)
    assert {os.path.basename(p) for p in rest} == {f"xreportx-{i:03d}.txt" for i in range(300)}
    assert paths(sd.json("search", "zzz_last/report")) == [str(tree / "zzz_last/report")]
    assert paths(sd.json("search", "last report")) == [str(tree / "zzz_last/report")]


def test_a_large_limit_is_honoured(many_reports: tuple[Sd, Path]) -> None:
    sd, tree = many_reports
    hits = sd.json("search", "file_", "--limit", "10000")
    assert len(hits) == 10_000
    assert paths(hits) == [str(tree / "bulk" / f"file_{i:05d}") for i in range(10_000)]
    assert len(sd.json("search", "file_1", "--limit", "10000")) == 5_000


def test_ranks_and_ties(tmp_path: Path, sd: Sd) -> None:
    tree = tmp_path / "tree"
    for rel in (
        "tax",
        "taxes.pdf",
        "2024 tax return.pdf",
        "syntax.txt",
        "tax-docs/receipt.pdf",
        "a/taxes.pdf",
        "Report-Final.txt",
        "final report.txt",
    ):
        write(tree, rel, b"-")
    sd.run("library", "create", "Home")
    sd.run("location", "add", str(tree))
    assert paths(sd.json("search", "tax")) == [
        str(tree / "tax"),  # the name itself
        str(tree / "tax-docs"),  # starts with it, shortest first
        str(tree / "a/taxes.pdf"),  # same length: by path
        str(tree / "taxes.pdf"),
        str(tree / "2024 tax return.pdf"),  # a word of the name
        str(tree / "syntax.txt"),  # inside a word
        str(tree / "tax-docs/receipt.pdf"),  # only in its path
    ]
    # Several words, in any order, each in the name or the path.
    assert paths(sd.json("search", "return 2024")) == [str(tree / "2024 tax return.pdf")]
    assert paths(sd.json("search", "receipt tax")) == [str(tree / "tax-docs/receipt.pdf")]
    assert paths(sd.json("search", "final report")) == [
        str(tree / "final report.txt"),
        str(tree / "Report-Final.txt"),
    ]
    assert paths(sd.json("search", "REPORT-final")) == [str(tree / "Report-Final.txt")]


def test_any_script_case_and_normal_form(tmp_path: Path, sd: Sd) -> None:
    tree = tmp_path / "tree"
    names = {
        "party 🎉.jpg": ["🎉", "party 🎉"],
        "写真2024.png": ["写真", "真2"],
        "STRASSE.txt": ["straße", "Strasse"],
        unicodedata.normalize("NFD", "Café.md"): ["café", unicodedata.normalize("NFD", "CAFÉ")],
        "Ärger.txt": ["ärger", unicodedata.normalize("NFD", "ärg")],
        "é": ["É", "é"],
        "ab": ["ab", "b"],
    }
    for name in names:
        write(tree, name, b"-")
    sd.run("library", "create", "Home")
    sd.run("location", "add", str(tree))
    for name, queries in names.items():
        for query in queries:
            found = [os.path.basename(p) for p in paths(sd.json("search", query))]
            assert name in found, (query, found)


def test_filters_keep_the_search_complete(tmp_path: Path, sd: Sd) -> None:
    tree = tmp_path / "tree"
    for i in range(120):
        write(tree, f"inside/report-{i:03d}.txt", b"-")
        write(tree, f"outside/report-{i:03d}.py", b"-")
    sd.run("library", "create", "Home")
    sd.run("location", "add", str(tree))
    under = sd.json("search", "report", "--under", str(tree / "inside"), "--limit", "500")
    assert len(under) == 120 and all("/inside/" in p for p in paths(under))
    code = sd.json("search", "report", "--ext", "PY", "--limit", "500")
    assert len(code) == 120 and all(p.endswith(".py") for p in paths(code))
    assert len(sd.json("search", "report", "--kind", "text", "--limit", "500")) == 120


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    generate(root / "tree", 3000, max_size=2000)
    sd = Sd(root / "data")
    sd.run("library", "create", "Home")
    sd.run("location", "add", str(root / "tree"), timeout=300)
    (lib,) = library_dirs(sd.data_dir)
    return lib / "index.db"


def test_the_fast_answer_is_the_scans_answer(corpus: Path) -> None:
    """Many queries of every shape, each answered both ways: the same hits, in the same
    order, for several limits and filters."""
    db = sqlite3.connect(f"file:{corpus}?mode=ro", uri=True)
    rng = random.Random(5)
    names = [
        name
        for (blob,) in db.execute("SELECT children FROM listings")
        for name in [c[1].decode("utf-8", "replace") for c in __import__("msgpack").unpackb(blob)]
    ]
    from bench_index import search_queries

    # Read once: a scan of its own per query re-reads the same index thousands of times.
    everything = every_name(db)
    typed = search_queries(everything, 150, seed=11)
    queries = ["a", "e", "1", "12", "jpg", ".jpg", "_0", "photo", "report final", "2 photo"]
    queries += typed["typed"] + typed["short"]
    for name in rng.sample(names, 60):
        start = rng.randint(0, max(0, len(name) - 3))
        queries += [name, name[: rng.randint(1, len(name))], name[start : start + 4]]
        queries.append(" ".join(rng.sample(name.replace("_", " ").split(), 1)))
    for query in queries:
        for limit in (1, 7, 50):
            scanned = search_by_scan(db, query, limit=limit, names=everything)
            assert search(db, query, limit=limit) == scanned, (query, limit)
        filtered = Filters(kind="image")
        scanned = search_by_scan(db, query, filtered, 20, names=everything)
        assert search(db, query, filtered, 20) == scanned, query
    db.close()


@pytest.mark.parametrize("among_most", [2_000, 0], ids=["each-entry", "by-the-pages"])
def test_a_set_of_entries_is_searched_whole(
    corpus: Path, monkeypatch: pytest.MonkeyPatch, among_most: int
) -> None:
    """Entries a filter on another table gives (media data, tags) are the candidates: the
    scan's hits, with a query and without one (every entry of the set, by path), in the
    rank's order or another (``--sort taken``), each entry ranked or found by the pages."""
    from projections.files import search as module

    monkeypatch.setattr(module, "AMONG_MOST", among_most)
    monkeypatch.setattr(module, "AMONG_RATIO", 1 if among_most else 0)
    db = sqlite3.connect(f"file:{corpus}?mode=ro", uri=True)
    every = sorted((folder & ~EID_MASK) | eid for _, _, folder, eid in every_name(db))
    rng = random.Random(8)
    # Another order than the rank's, with many ties (then by path).
    order = {entry: rng.randrange(5) for entry in every}.__getitem__
    for size in (0, 1, 30, 600):
        chosen = frozenset(rng.sample(every, size))
        for filters in (Filters(entries=chosen), Filters(kind="image", entries=chosen)):
            for query in ("", "a", "jpg", "photo", "2 photo", "_0"):
                for limit in (1, 7, 1000):
                    assert search(db, query, filters, limit) == search_by_scan(
                        db, query, filters, limit
                    ), (size, filters.kind, query, limit)
                    for reverse in (False, True):
                        sorted_ = search(db, query, filters, limit, order, reverse)
                        by_scan = search_by_scan(db, query, filters, limit, None, order, reverse)
                        assert sorted_ == by_scan, (size, query, limit, reverse)
        listed = search(db, "", Filters(entries=chosen), 1000)
        assert {h.entry for h in listed} == chosen
    db.close()


@pytest.mark.parametrize(
    "tuning",
    [
        {"SCAN_FIRST": 1, "FEW_PAGES": 0, "PAGES_AT_ONCE": 1},
        {"SCAN_FIRST": 0, "FEW_PAGES": 100_000},
    ],
    ids=["index-after-one-page", "every-phrase-few"],
)
def test_each_way_to_read_gives_the_scans_answer(
    corpus: Path, monkeypatch: pytest.MonkeyPatch, tuning: dict[str, int]
) -> None:
    """The choices made by size on a large index (read the first pages of a short word
    start whole, then ask the words index; read every page holding a rare phrase at once
    for all its ranks), made here on a small one, where the default sizes never reach
    them: the answer stays the scan's."""
    from projections.files import search as module

    for name, value in tuning.items():
        monkeypatch.setattr(module, name, value)
    db = sqlite3.connect(f"file:{corpus}?mode=ro", uri=True)
    from bench_index import search_queries

    everything = every_name(db)
    mix = search_queries(everything, 80, seed=3)
    queries = ["a", "u", "2", "v", "_0", "09", "l.", "c_", "jpg", "dget-", "port-", "report final"]
    for query in queries + mix["typed"] + mix["short"]:
        for limit in (3, 50):
            scanned = search_by_scan(db, query, limit=limit, names=everything)
            assert search(db, query, limit=limit) == scanned, (query, limit)
    db.close()


@pytest.mark.parametrize(
    "few, ratio, at_once",
    [(10**9, 1, 32), (10**9, 1, 1), (0, 0, 32), (100, 1, 32)],
    ids=["ranked-directly", "folder-by-folder", "read-from-pages", "by-their-number"],
)
def test_a_set_of_entries_filters_as_the_scan_does(
    corpus: Path, monkeypatch: pytest.MonkeyPatch, few: int, ratio: int, at_once: int
) -> None:
    """Entries chosen by what is known of them (tags, favourites, media data) as a filter:
    with a query, ranked as without one among those entries only, nothing they hold dropped
    for the limit, whichever way they are read (each of them ranked, or the name pages read
    as for any query); without one, every one of them, by path; with the other filters
    too, all of them must hold."""
    from projections.files import search as module

    monkeypatch.setattr(module, "AMONG_MOST", few)
    monkeypatch.setattr(module, "AMONG_RATIO", ratio)
    # Listed by path, folders are read a few at a time until no later one can hold a path
    # before the limit's: one at a time, each stop is taken where it can be.
    monkeypatch.setattr(module, "PAGES_AT_ONCE", at_once)
    db = sqlite3.connect(f"file:{corpus}?mode=ro", uri=True)
    names = every_name(db)
    rng = random.Random(17)
    entries = [(folder & ~((1 << 40) - 1)) | eid for _, _, folder, eid in names]
    for size in (0, 1, 5, 60, 700):
        chosen = frozenset(rng.sample(entries, size))
        # An entry the index does not hold (a file tagged, then deleted) is no match.
        chosen |= {max(entries) + 1000}
        for query in ["", "a", "photo", "report final", ".jpg", "2024/"]:
            for filters in (
                Filters(entries=chosen),
                Filters(kind="image", entries=chosen),
                Filters(ext="txt").only(chosen),
            ):
                for limit in (1, 7, 1000):
                    fast = search(db, query, filters, limit)
                    assert fast == search_by_scan(db, query, filters, limit, names), (
                        size,
                        query,
                        filters.kind,
                        limit,
                    )
                    assert all(h.entry in chosen for h in fast)
        listed = search(db, "", Filters(entries=chosen), 10_000)
        assert len(listed) == size
        assert [h.path.lower() for h in listed] == sorted(h.path.lower() for h in listed)
    db.close()
