"""Search: the query is literal text as a user types it, matched against names and paths.

The ``search`` FTS5 table indexes every (lower-cased) name with the trigram tokenizer and is
queried with GLOB patterns whose special characters are bracketed, so any substring of
three or more characters is an index lookup whatever dots, dashes, quotes or underscores it
holds (``v1.2-final``, ``o'brien``, ``IMG_0001``).

Matching: the query is split on whitespace (and on ``/``, which separates path fragments)
into terms; an entry matches when every term is in its name or in the name of a folder above
it. Ranking, best first: the name equals the query; the name without its extension equals
it; the name starts with it; a word of the name starts with it; the name contains it; every
term is in the name; some terms only in the path. Ties go to the shorter name, then the path.

Candidates come from a few index queries (exact, prefix, substring), each bounded, so a
common term over a million names still answers in milliseconds: the best candidates are
fetched first, and what is fetched last is only ranked among itself.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from typing import NamedTuple

from projections.files import readable
from projections.files_query import entry_path

# How many rows each candidate query may return before ranking.
CANDIDATES = 2000


class Hit(NamedTuple):
    entry: int
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
    under: int | None = None  # a folder's entry id


def terms_of(query: str) -> list[str]:
    return [t for t in re.split(r"[\s/]+", query.strip().lower()) if t]


def _glob_literal(text: str) -> str:
    """``text`` as a GLOB pattern matching itself: each special character in brackets."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def _contains(term: str) -> str:
    return f"*{_glob_literal(term)}*"


def _indexable(term: str) -> bool:
    """Whether a GLOB for ``term`` is a trigram lookup: three literal characters in a row.

    Only such patterns are ever combined in one query: SQLite 3.40 (Debian 12's) crashes on
    an FTS5 query that ANDs a trigram GLOB with one too short to use the index. Short terms
    are checked on the candidates instead.
    """
    return re.search(r"[^*?\[]{3}", term) is not None


def _all_of(terms: list[str]) -> tuple[str, list[object]]:
    """SQL (and parameters) requiring every indexable term in the name; may be empty."""
    usable = [t for t in terms if _indexable(t)]
    return " AND ".join(["s.name GLOB ?"] * len(usable)), [_contains(t) for t in usable]


def _filter_sql(filters: Filters) -> tuple[str, list[object]]:
    sql, params = "", []
    if filters.kind:
        sql += " AND e.kind = ?"
        params.append(filters.kind)
    if filters.ext:
        sql += " AND e.ext = ?"
        params.append(filters.ext.lower().lstrip("."))
    if filters.under is not None:
        sql += " AND e.parent IN (SELECT descendant FROM folders WHERE ancestor = ?)"
        params.append(filters.under)
    return sql, params


_COLUMNS = "e.id, e.name, e.ftype, e.kind, e.size, e.mtime, c.cid"
_SELECT = (
    f"SELECT {_COLUMNS} FROM search s "
    "JOIN entries e ON e.id = s.rowid LEFT JOIN contents c ON c.id = e.content WHERE "
)
_SELECT_UNDER = (
    f"SELECT {_COLUMNS} FROM entries e LEFT JOIN contents c ON c.id = e.content WHERE "
)


def search(db: sqlite3.Connection, query: str, filters: Filters = Filters(), limit: int = 50) -> list[Hit]:
    terms = terms_of(query)
    if not terms:
        return []
    whole = " ".join(query.strip().lower().split())
    extra_sql, extra = _filter_sql(filters)
    rows: dict[int, tuple] = {}

    def take(where: str, params: list[object], select: str = _SELECT) -> None:
        sql = f"{select}{where}{extra_sql} LIMIT {CANDIDATES}"
        for row in db.execute(sql, [*params, *extra]):
            rows.setdefault(row[0], row)

    # Best first: exact names, then names starting with the query, then containing it, then
    # containing every term. A pattern with a run of three literal characters is a trigram
    # lookup; shorter ones scan the names (slower, and rare).
    take("s.name GLOB ?", [_glob_literal(whole)])
    take("s.name GLOB ?", [_glob_literal(whole) + "*"])
    take("s.name GLOB ?", [_contains(whole)])
    if len(terms) > 1:
        every, params = _all_of(terms)
        if every:
            take(every, params)
        _path_candidates(db, terms, take)
    elif not rows:
        _path_candidates(db, terms, take)

    cache: dict[int, bytes] = {}
    hits = []
    for entry, name, ftype, kind, size, mtime, cid in rows.values():
        text = readable(name).lower()
        path = entry_path(db, entry, cache=cache)
        if path is None:
            continue
        rank = _rank(text, whole, terms, readable(path).lower())
        if rank is None:
            continue
        hits.append(Hit(entry, name, ftype, kind, size, mtime, cid, path, rank))
    hits.sort(key=lambda h: (h.rank, len(h.name), h.path))
    return hits[:limit]


def _path_candidates(db: sqlite3.Connection, terms: list[str], take) -> None:  # type: ignore[no-untyped-def]
    """Entries under folders whose names hold some terms, whose own names hold the rest."""
    for i, folder_term in enumerate(terms):
        if not _indexable(folder_term):
            continue
        rest = [t for j, t in enumerate(terms) if j != i]
        every, params = _all_of(rest)
        folders = [
            r[0] for r in db.execute(
                "SELECT e.id FROM search s JOIN entries e ON e.id = s.rowid "
                "WHERE s.name GLOB ? AND e.ftype = 'd' LIMIT 200",
                (_contains(folder_term),),
            )
        ]
        under = "e.parent IN (SELECT descendant FROM folders WHERE ancestor = ?)"
        for folder in folders:
            if every:
                take(f"{every} AND {under}", [*params, folder])
            else:
                take(under, [folder], _SELECT_UNDER)


def _rank(name: str, whole: str, terms: list[str], path: str) -> int | None:
    """0 is best; None when the entry does not match every term."""
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
    if all(t in path for t in terms):
        return 6
    return None
