"""Search: every entry whose name or path matches, best first, up to the limit.

The query is literal text as a user types it. It is folded as names are (case folding, NFC;
``projections/names.py``) and split on whitespace into terms; a term holding ``/`` is a path
fragment (``photos/2024/img_1``). An entry matches when every term is found in its path
(its folder's path, ``/``, its name). Its rank, best first:

0. its name is the query (the terms joined by one space);
1. its name starts with the query;
2. a word of its name starts with the query;
3. its name holds the query, or every term;
4. some term is only in its folders' path (always so for a path fragment).

Ties go to the shorter name, then the path. No result that ranks within the limit is ever
left out: :func:`rank_of` is the definition, and :func:`search_by_scan` applies it to every
entry, for tests and benchmarks to compare with.

The fast way reads name pages (names of one length per page, shortest first) through their
indexes, one rank at a time: exact names from the pages of the query's length, names that
start with it (trigrams), names with a word that does (words), names that hold it
(trigrams). Each read stops at the first length by which it has enough results, since every
later page holds longer names. Path matches come from the folders whose path holds a term.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, NamedTuple

from projections.files import (
    C_CID,
    C_EID,
    C_FTYPE,
    C_KIND,
    C_MTIME,
    C_NAME,
    C_SIZE,
    EID_MASK,
    chunks,
    unpack_children,
)
from projections.names import (
    MAX_LENGTH,
    Page,
    first_page,
    fold_name,
    fold_text,
    is_word_char,
)

EXACT, PREFIX, WORD, IN_NAME, IN_PATH = range(5)
# Path matches whose folders hold at most this many entries are read from their listings;
# more, and the name pages are read in length order instead, to stop early.
DIRECT_PATH_ENTRIES = 20_000


class Hit(NamedTuple):
    name: bytes
    ftype: str
    kind: str | None
    size: int
    mtime_ns: int
    cid: bytes | None
    path: bytes
    rank: int


@dataclass(frozen=True, slots=True)
class Filters:
    kind: str | None = None
    ext: str | None = None
    under: int | None = None  # a folder's local id


@dataclass(frozen=True, slots=True)
class Query:
    terms: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> "Query":
        return cls(tuple(fold_text(text).split()))

    @property
    def phrase(self) -> str:
        return " ".join(self.terms)

    @property
    def has_fragment(self) -> bool:
        return any("/" in t for t in self.terms)


def rank_of(name: str, folder: str, query: Query) -> int | None:
    """The rank of an entry with folded ``name`` in the folder whose folded path (with a
    trailing ``/``) is ``folder``; None when it does not match."""
    full = folder + name
    terms = query.terms
    if not all(t in full for t in terms):
        return None
    if query.has_fragment:
        return IN_PATH
    phrase = query.phrase
    at = name.find(phrase)
    if at == 0:
        return EXACT if len(name) == len(phrase) else PREFIX
    if at > 0:
        if is_word_char(phrase[0]):
            while at > 0:
                if not is_word_char(name[at - 1]):
                    return WORD
                at = name.find(phrase, at + 1)
        return IN_NAME
    return IN_NAME if all(t in name for t in terms) else IN_PATH


def extension(name: str) -> str | None:
    dot = name.rfind(".")
    return name[dot + 1 :] if 0 < dot < len(name) - 1 else None


def _glob_literal(text: str) -> str:
    """``text`` as a GLOB pattern matching itself: each special character in brackets."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def _indexable(text: str) -> bool:
    """Whether a GLOB of ``text`` is a trigram lookup: three characters in a row.

    Only such patterns are ever combined in one query: SQLite 3.40 (Debian 12's) crashes on
    an FTS5 query that ANDs a trigram GLOB with one too short to use the index.
    """
    return len(text) >= 3


class _Found(NamedTuple):
    rank: int
    length: int
    full: str  # folded path: the tie-break after length
    folder: int
    eid: int


class _Search:
    def __init__(self, db: sqlite3.Connection, query: Query, filters: Filters, limit: int):
        self.db = db
        self.query = query
        self.filters = filters
        self.limit = limit
        self.found: dict[int, _Found] = {}  # local entry id -> what it ranks
        self._ranked = [0] * (IN_PATH + 1)  # how many were found at each rank
        self._children: dict[int, dict[int, list[Any]]] = {}
        self._under: dict[int, bool] = {}
        self._ext = filters.ext.lower().lstrip(".") if filters.ext else None

    # -- what is accepted -------------------------------------------------------------------

    def child(self, folder: int, eid: int) -> list[Any] | None:
        children = self._children.get(folder)
        if children is None:
            children = self._children[folder] = {}
            for (blob,) in self.db.execute(
                "SELECT children FROM listings WHERE folder = ?", (folder,)
            ):
                for c in unpack_children(blob):
                    children[c[C_EID]] = c
        return children.get(eid)

    def _is_under(self, folder: int) -> bool:
        ok = self._under.get(folder)
        if ok is None:
            ok = self._under[folder] = (
                self.db.execute(
                    "SELECT 1 FROM closure WHERE ancestor = ? AND descendant = ?",
                    (self.filters.under, folder),
                ).fetchone()
                is not None
            )
        return ok

    def accept(self, rank: int, name: str, folder_path: str, folder: int, eid: int) -> None:
        entry = (folder & ~EID_MASK) | eid
        if entry in self.found:
            return
        if self._ext is not None and extension(name) != self._ext:
            return
        if self.filters.under is not None and not self._is_under(folder):
            return
        if self.filters.kind is not None:
            child = self.child(folder, eid)
            if child is None or child[C_KIND] != self.filters.kind:
                return
        self.found[entry] = _Found(rank, len(name), folder_path + name, folder, eid)
        self._ranked[rank] += 1

    def enough(self, worst: int) -> bool:
        """Whether ``limit`` results rank at ``worst`` or better."""
        return sum(self._ranked[: worst + 1]) >= self.limit

    # -- reading name pages -----------------------------------------------------------------

    def pages(
        self, patterns: list[str], shortest: int, longest: int | None = None
    ) -> Iterator[Page]:
        """Name pages whose text matches every GLOB pattern, shortest names first."""
        bounds = "t.rowid >= ?" + (" AND t.rowid < ?" if longest is not None else "")
        params: list[Any] = [first_page(shortest)]
        if longest is not None:
            params.append(first_page(longest + 1))
        indexed = [p for p in patterns if _indexable(p.strip("*"))]
        if indexed:
            where = " AND ".join(["t.text GLOB ?"] * len(indexed))
            sql = (
                "SELECT p.doc, p.text, p.refs FROM names_tri t JOIN pages p ON p.doc = t.rowid "
                f"WHERE {where} AND {bounds} ORDER BY t.rowid"
            )
            rows = self.db.execute(sql, [*indexed, *params])
        else:
            where = " AND ".join(["text GLOB ?"] * len(patterns)) or "1"
            sql = (
                f"SELECT doc, text, refs FROM pages t WHERE {where} "
                f"AND {bounds.replace('t.rowid', 'doc')} ORDER BY doc"
            )
            rows = self.db.execute(sql, [*patterns, *params])
        for doc, text, refs in rows:
            yield Page(doc, text, refs)

    def word_pages(self, word: str, shortest: int) -> Iterator[Page]:
        """Name pages with a word starting with ``word``, shortest names first."""
        rows = self.db.execute(
            "SELECT p.doc, p.text, p.refs FROM names_word w JOIN pages p ON p.doc = w.rowid "
            "WHERE names_word MATCH ? AND w.rowid >= ? ORDER BY w.rowid",
            ('"' + word.replace('"', '""') + '"*', first_page(shortest)),
        )
        for doc, text, refs in rows:
            yield Page(doc, text, refs)

    def read(self, pages: Iterable[Page], needle: str, worst: int) -> None:
        """Rank every line of ``pages`` holding ``needle``; stop after the first length by
        which ``limit`` results rank at ``worst`` or better."""
        query, at_line_start = self.query, needle.startswith("\n")
        boundary = None
        for page in pages:
            if boundary is not None and page.length > boundary:
                return
            text, stride = page.text, page.length + 1
            at = text.find(needle)
            while at >= 0:
                i = at // stride if at_line_start else (at - 1) // stride
                name, folder_path = page.line(i), page.fpath(i)
                rank = rank_of(name, folder_path, query)
                if rank is not None and rank <= worst:
                    self.accept(rank, name, folder_path, page.folder(i), page.eids[i])
                at = text.find(needle, (i + 1) * stride + (0 if at_line_start else 1))
            if boundary is None and self.enough(worst):
                boundary = page.length

    # -- the ranks --------------------------------------------------------------------------

    def run(self) -> list[Hit]:
        query = self.query
        if not query.terms:
            return []
        if not query.has_fragment:
            phrase = query.phrase
            literal = _glob_literal(phrase)
            if len(phrase) <= MAX_LENGTH:
                exact = self.pages([f"*\n{literal}\n*"], len(phrase), len(phrase))
                self.read(exact, f"\n{phrase}\n", EXACT)
            if not self.enough(PREFIX):
                self.read(self.pages([f"*\n{literal}*"], len(phrase)), f"\n{phrase}", PREFIX)
            if not self.enough(WORD) and is_word_char(phrase[0]):
                first = "".join(itertools.takewhile(is_word_char, phrase))
                self.read(self.word_pages(first, len(phrase)), phrase, WORD)
            if not self.enough(IN_NAME):
                longest = max(query.terms, key=len)
                patterns = [f"*{_glob_literal(t)}*" for t in query.terms]
                self.read(self.pages(patterns, len(longest)), longest, IN_NAME)
        if not self.enough(IN_PATH):
            self._paths()
        return self._hits()

    def _paths(self) -> None:
        """Entries whose folders' path holds a term that is not in their name."""
        folders: dict[int, str] = {}
        for term in self.query.terms:
            # A fragment found in a path ends in a folder's name, or runs on into the name:
            # either way, its part up to its last "/" is in the folder's path.
            piece = term[: term.rfind("/") + 1] if "/" in term else term
            folders.update(
                self.db.execute("SELECT id, fpath FROM folders WHERE instr(fpath, ?) > 0", (piece,))
            )
        if not folders:
            return
        held = 0
        for chunk in chunks(list(folders)):
            marks = ",".join("?" * len(chunk))
            held += self.db.execute(
                f"SELECT coalesce(sum(n), 0) FROM listings WHERE folder IN ({marks})", chunk
            ).fetchone()[0]
        if held <= DIRECT_PATH_ENTRIES:
            for folder, folder_path in folders.items():
                for eid, child in list(self._listing(folder).items()):
                    name = fold_name(child[C_NAME])
                    if rank_of(name, folder_path, self.query) == IN_PATH:
                        self.accept(IN_PATH, name, folder_path, folder, eid)
            return
        boundary = None
        for page in self.pages([], 0):
            if boundary is not None and page.length > boundary:
                return
            for i, eid in enumerate(page.eids):
                folder = page.folder(i)
                folder_path = folders.get(folder)
                if folder_path is not None:
                    name = page.line(i)
                    if rank_of(name, folder_path, self.query) == IN_PATH:
                        self.accept(IN_PATH, name, folder_path, folder, eid)
            if boundary is None and self.enough(IN_PATH):
                boundary = page.length

    def _listing(self, folder: int) -> dict[int, list[Any]]:
        self.child(folder, 0)
        return self._children[folder]

    def _hits(self) -> list[Hit]:
        """The best ``limit`` found, with what the listings hold of each. Ties on the folded
        path are broken by the raw one, so the order is the same on every device."""
        ranked = sorted(self.found.values())
        if len(ranked) > self.limit:
            last = ranked[self.limit - 1][:3]
            ranked = [f for i, f in enumerate(ranked) if i < self.limit or f[:3] == last]
        paths = self._folder_paths({f.folder for f in ranked})
        out = []
        for f in ranked:
            child = self.child(f.folder, f.eid)
            where = paths.get(f.folder)
            if child is None or where is None:
                continue
            out.append(
                (
                    f[:3],
                    Hit(
                        child[C_NAME],
                        child[C_FTYPE],
                        child[C_KIND],
                        child[C_SIZE],
                        child[C_MTIME],
                        child[C_CID],
                        os.path.join(where, child[C_NAME]),
                        f.rank,
                    ),
                )
            )
        out.sort(key=lambda pair: (pair[0], pair[1].path))
        return [hit for _, hit in out[: self.limit]]

    def _folder_paths(self, folders: set[int]) -> dict[int, bytes]:
        found: dict[int, bytes] = {}
        for chunk in chunks(sorted(folders)):
            marks = ",".join("?" * len(chunk))
            found.update(
                self.db.execute(f"SELECT id, path FROM folders WHERE id IN ({marks})", chunk)
            )
        return found


def search(
    db: sqlite3.Connection, query: str, filters: Filters = Filters(), limit: int = 50
) -> list[Hit]:
    return _Search(db, Query.parse(query), filters, limit).run()


def every_name(db: sqlite3.Connection) -> list[tuple[str, str, int, int]]:
    """``(folded name, folded folder path, folder, eid)`` of every entry: what a scan ranks."""
    out = []
    for folder, folder_path in db.execute("SELECT id, fpath FROM folders"):
        for (blob,) in db.execute("SELECT children FROM listings WHERE folder = ?", (folder,)):
            for child in unpack_children(blob):
                out.append((fold_name(child[C_NAME]), folder_path, folder, child[C_EID]))
    return out


def search_by_scan(
    db: sqlite3.Connection,
    query: str,
    filters: Filters = Filters(),
    limit: int = 50,
    names: list[tuple[str, str, int, int]] | None = None,
) -> list[Hit]:
    """The same answer as :func:`search`, by ranking every entry of the index: the
    definition that tests and benchmarks hold the fast way to. ``names`` (from
    :func:`every_name`) saves reading the index again for each query."""
    parsed = Query.parse(query)
    scan = _Search(db, parsed, filters, limit)
    if parsed.terms:
        first = parsed.terms[0]
        for name, folder_path, folder, eid in names if names is not None else every_name(db):
            if first in folder_path + name:
                rank = rank_of(name, folder_path, parsed)
                if rank is not None:
                    scan.accept(rank, name, folder_path, folder, eid)
    return scan._hits()
