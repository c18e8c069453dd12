"""Search: the query is literal text as a user types it, matched against names and paths.

The ``search`` FTS5 table holds one document per listing part (up to a thousand names, one
per line, lower-cased) indexed with the trigram tokenizer, and is queried with GLOB patterns
whose special characters are bracketed. Any run of three or more characters is an index
lookup whatever dots, dashes, quotes or underscores it holds (``v1.2-final``, ``o'brien``,
``IMG_0001``); the line breaks anchor names, so ``*\\nreport*`` finds names that start
with "report".

Matching: the query is split on whitespace (and on ``/``, which separates path fragments)
into terms; an entry matches when every term is in its name, or in its path (the names of
the folders above it). Ranking, best first: the name equals the query; the name without its
extension equals it; the name starts with it; a word of the name starts with it; the name
contains it; every term is in the name; some terms only in the path. Ties go to the shorter
name, then the path.

Candidates come from a few index queries run best first (exact, prefix, substring, all
terms, path), each bounded, so a common term over a million names still answers in
milliseconds: the best matches are found first and the scan stops once there are enough.
"""

from __future__ import annotations

import os
import re
import sqlite3
from dataclasses import dataclass
from typing import Any, NamedTuple

from events.domain.entries import DIR
from projections.files import (
    C_CID,
    C_EID,
    C_FTYPE,
    C_KIND,
    C_MTIME,
    C_NAME,
    C_SIZE,
    EID_MASK,
    extension,
    unpack_children,
)
from projections.files_query import folder_path

# Listing parts fetched per index query, examined per search, and hits kept per result
# wanted, before ranking.
DOCS_PER_QUERY = 200
DOCS_BUDGET = 80
HITS_PER_RESULT = 2
# Folders whose names match a term, whose subtrees a path search looks into.
PATH_FOLDERS = 10


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

    def accept(self, child: list[Any]) -> bool:
        if self.kind and child[C_KIND] != self.kind:
            return False
        return not self.ext or extension(child[C_NAME]) == self.ext.lower().lstrip(".")


def terms_of(query: str) -> list[str]:
    return [t for t in re.split(r"[\s/]+", query.strip().lower()) if t]


def _glob_literal(text: str) -> str:
    """``text`` as a GLOB pattern matching itself: each special character in brackets."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def _indexable(term: str) -> bool:
    """Whether a GLOB for ``term`` is a trigram lookup: three literal characters in a row.

    Only such patterns are ever combined in one query: SQLite 3.40 (Debian 12's) crashes on
    an FTS5 query that ANDs a trigram GLOB with one too short to use the index. Short terms
    are checked on the candidates instead.
    """
    return re.search(r"[^*?\[]{3}", term) is not None


class _Search:
    def __init__(self, db: sqlite3.Connection, query: str, filters: Filters, limit: int) -> None:
        self.db = db
        self.terms = terms_of(query)
        self.whole = " ".join(query.strip().lower().split())
        self.filters = filters
        self.limit = limit
        self.hits: dict[tuple[int, int], Hit] = {}
        self.paths: dict[int, bytes] = {}
        # Listing parts examined at most, all queries together: what bounds a search's time.
        self.budget = DOCS_BUDGET
        self._under_sql = ""
        self._under: list[object] = []
        if filters.under is not None:
            self._under_sql = " AND l.folder IN (SELECT descendant FROM closure WHERE ancestor = ?)"
            self._under = [filters.under]

    @property
    def enough(self) -> bool:
        return len(self.hits) >= self.limit * HITS_PER_RESULT

    def docs(self, patterns: list[str], under: int | None = None):  # type: ignore[no-untyped-def]
        """Listing parts whose names match every pattern (or, with ``under``, every part in
        that folder's subtree, which the caller filters)."""
        if under is not None:
            # Driven from the closure: the subtree is small next to what a pattern matches.
            return self.db.execute(
                "SELECT l.doc, l.folder, s.names, l.children FROM closure c CROSS JOIN listings l "
                "ON l.folder = c.descendant CROSS JOIN search s ON s.rowid = l.doc "
                f"WHERE c.ancestor = ? LIMIT {DOCS_PER_QUERY}",
                (under,),
            )
        where = " AND ".join(["s.names GLOB ?"] * len(patterns))
        return self.db.execute(
            "SELECT l.doc, l.folder, s.names, l.children FROM search s "
            f"JOIN listings l ON l.doc = s.rowid WHERE {where}{self._under_sql} "
            f"LIMIT {DOCS_PER_QUERY}",
            [*patterns, *self._under],
        )

    def scan(self, patterns: list[str], under: int | None = None) -> None:
        """Rank the names of the documents matching ``patterns``; keep those that match."""
        if self.enough or self.budget <= 0:
            return
        whole, terms = self.whole, self.terms
        for doc, folder, names, blob in self.docs(patterns, under):
            if self.enough or self.budget <= 0:
                return
            self.budget -= 1
            where = folder_path(self.db, folder, cache=self.paths)
            if where is None:
                continue
            where_text = where.decode("utf-8", "backslashreplace").lower()
            # Terms the folder's path already holds need not be in the name.
            needed = [t for t in terms if t not in where_text]
            ranked = []
            for i, name in enumerate(names.split("\n")[1:-1]):
                if all(t in name for t in needed) and (doc, i) not in self.hits:
                    rank = rank_of(name, whole, terms, where_text)
                    if rank is not None:
                        ranked.append((i, rank))
            if not ranked:
                continue
            children = unpack_children(blob)
            for i, rank in ranked:
                child = children[i]
                if self.filters.accept(child):
                    self.hits[(doc, i)] = Hit(
                        child[C_NAME],
                        child[C_FTYPE],
                        child[C_KIND],
                        child[C_SIZE],
                        child[C_MTIME],
                        child[C_CID],
                        os.path.join(where, child[C_NAME]),
                        rank,
                    )

    def run(self) -> list[Hit]:
        if not self.terms:
            return []
        whole, terms = self.whole, self.terms
        # One lookup finds names equal to, starting with or containing the query; ranking
        # tells them apart. (Separate anchored lookups cost as much each, at a million
        # names, as this one.)
        self.scan([f"*{_glob_literal(whole)}*"])
        if len(terms) > 1 and len(self.hits) < self.limit:
            usable = [f"*{_glob_literal(t)}*" for t in terms if _indexable(t)]
            if usable:
                self.scan(usable)
            # A term may be only in the path: try each alone, the most selective first.
            for term in sorted((t for t in terms if _indexable(t)), key=len, reverse=True):
                if len(self.hits) >= self.limit:
                    break
                self.scan([f"*{_glob_literal(term)}*"])
        if len(self.hits) < self.limit:
            self._by_path()
        hits = sorted(self.hits.values(), key=lambda h: (h.rank, len(h.name), h.path))
        return hits[: self.limit]

    def _by_path(self) -> None:
        """Entries under folders whose names hold some terms, whose own names hold the rest."""
        for folder_term in self.terms:
            if not _indexable(folder_term) or self.enough or self.budget <= 0:
                continue
            folders: list[int] = []
            for _doc, folder, names, blob in self.docs([f"*{_glob_literal(folder_term)}*"]):
                if len(folders) >= PATH_FOLDERS:
                    break
                lines = names.split("\n")[1:-1]
                if not any(folder_term in line for line in lines):
                    continue
                base = folder & ~EID_MASK
                folders.extend(
                    base | c[C_EID]
                    for c, line in zip(unpack_children(blob), lines)
                    if folder_term in line and c[C_FTYPE] == DIR
                )
            for folder in folders[:PATH_FOLDERS]:
                self.scan([], under=folder)


def search(
    db: sqlite3.Connection, query: str, filters: Filters = Filters(), limit: int = 50
) -> list[Hit]:
    return _Search(db, query, filters, limit).run()


def rank_of(name: str, whole: str, terms: list[str], folder: str) -> int | None:
    """0 is best; None when the entry does not match every term in its name or path."""
    if name == whole:
        return 0
    stem = name.rsplit(".", 1)[0] if "." in name[1:] else name
    if stem == whole:
        return 1
    if name.startswith(whole):
        return 2
    at = name.find(whole)
    if at > 0:
        return 3 if not name[at - 1].isalnum() else 4
    if all(t in name for t in terms):
        return 5
    path = f"{folder}/{name}"
    if all(t in path for t in terms):
        return 6
    return None
