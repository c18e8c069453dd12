"""Search: every entry whose name or path matches, best first, up to the limit.

The query is literal text as a user types it. It is folded as names are (case folding, NFC;
``projections/files/names.py``) and split on whitespace into terms; a term holding ``/`` is a path
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
later page holds longer names. A rare phrase (its trigrams on few pages) has those pages read
once for all four. Path matches come from the folders whose path holds a term.

Filters narrow what is accepted, never what is read: a match a filter keeps is found
whatever the limit, as without it. A filter on another table (media data, tags, favourites)
gives its set of entries (``Filters.entries``, intersected with any other: ``Filters.only``):
then the query may be empty (every entry of the set matches, listed by path), and a small
set, or any set without a query, is ranked entry by entry (each found through the places,
``projections/files/places.py``, then in its folder's listing); a large one with a query
keeps the matches the pages give. ``order`` sorts by something else than the rank
(``by_taken``: the date a picture was taken): every match is then read before the first
``limit`` are kept, so none is dropped for ranking low.
"""

from __future__ import annotations

import heapq
import itertools
import os
import re
import sqlite3
from dataclasses import dataclass, replace
from operator import itemgetter
from typing import Any, Callable, Iterable, Iterator, NamedTuple

from projections.files.listings import (
    C_CID,
    C_EID,
    C_FTYPE,
    C_KIND,
    C_MTIME,
    C_NAME,
    C_SIZE,
    records,
)
from projections.files.media import dated
from projections.files.names import (
    MAX_LENGTH,
    PAGE_MAX,
    Page,
    first_page,
    fold_name,
    fold_text,
    is_word_char,
)
from projections.files.places import folders_of
from projections.files.query import folder_children, folder_records
from projections.files.schema import EID_MASK, chunks, marks, paths_of

EXACT, PREFIX, WORD, IN_NAME, IN_PATH = range(5)
# Path matches whose folders hold at most this many entries are read from their listings;
# more, and the name pages are read in length order instead (those holding what the
# folders' path lacks, when that can be looked up), to stop early.
DIRECT_PATH_FEW = 2_000
# A phrase this long is looked up by its trigrams even for "a word starts with it".
LONG_PHRASE = 6
# About how many entries a folder found by its name stands for (itself and all below it),
# to choose which term's folders to read.
SUBTREE = 50
DIRECT_PATH_ENTRIES = 20_000
# Pages read whole for a word start of one or two characters before the words index is
# asked instead (when they held none).
SCAN_FIRST = 100
# Pages read by one statement when their ids are known.
PAGES_AT_ONCE = 32
# At most this many pages holding a phrase's trigrams are read at once for all its ranks.
FEW_PAGES = 64
# A filter's set of entries (``Filters.entries``) is ranked entry by entry up to this size,
# and past it while there are at most sqrt(AMONG_RATIO * limit * entries in the index) of
# them; a larger one, given a query, checks the matches the name pages give instead (the
# same answer). Each entry ranked costs about the same (its folder's listing read), where
# the pages read grow with how few of their matches the set holds. Measured at 100k
# entries: 50 entries ranked in 1-3 ms where the pages took 70-600 ms; 2,000 in 50-90 ms,
# the pages 2-65 ms; 7,000 in 110-210 ms, the pages 6-64 ms.
AMONG_MOST = 1_000
AMONG_RATIO = 1


class Hit(NamedTuple):
    name: bytes
    ftype: str
    kind: str | None
    size: int
    mtime_ns: int
    cid: bytes | None
    path: bytes
    rank: int
    # The local id of its folder (where it is: which location, whether that is offline).
    folder: int
    # Its own local id: ``(folder & ~EID_MASK) | eid`` (what other tables key entries by).
    entry: int


@dataclass(frozen=True, slots=True)
class Filters:
    """What a match must also be; every filter given must hold."""

    kind: str | None = None
    ext: str | None = None
    under: int | None = None  # a folder's local id
    # Only these entries (local ids): what a filter on other tables found (media data,
    # tags). Given, they are the candidates: each is ranked, none is left unread.
    entries: frozenset[int] | None = None
    # Modified at or after / before these times (ns since the epoch).
    modified_after: int | None = None
    modified_before: int | None = None

    def only(self, entries: frozenset[int]) -> "Filters":
        """These filters, and only ``entries`` too (a set intersects the one already held)."""
        held = self.entries
        return replace(self, entries=entries if held is None else held & entries)


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
    def __init__(
        self,
        db: sqlite3.Connection,
        query: Query,
        filters: Filters,
        limit: int,
        order: Callable[[int], Any] | None = None,
        reverse: bool = False,
        names_only: bool = False,
    ):
        self.db = db
        self.names_only = names_only
        self.query = query
        self.filters = filters
        self.limit = limit
        # Given, what the hits are sorted by (of an entry's local id; then by path) instead
        # of the rank: every match is then read, whatever the limit.
        self.order = order
        self.reverse = reverse
        self.found: dict[int, _Found] = {}  # local entry id -> what it ranks
        # How many were found at each rank, and at each rank by name length.
        self._ranked = [0] * (IN_PATH + 1)
        self._lengths: list[dict[int, int]] = [{} for _ in range(IN_PATH + 1)]
        self._children: dict[int, dict[int, tuple[Any, ...]]] = {}
        self._under: dict[int, bool] = {}
        self._ext = filters.ext.lower().lstrip(".") if filters.ext else None
        self._root_paths: dict[int, str] | None = None

    # -- what is accepted -------------------------------------------------------------------

    def child(self, folder: int, eid: int) -> tuple[Any, ...] | None:
        """A child as its listing stores it (fields at the ``C_*`` positions)."""
        return self._listing(folder).get(eid)

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
        if self.filters.entries is not None and entry not in self.filters.entries:
            return
        if self._ext is not None and extension(name) != self._ext:
            return
        if self.filters.under is not None and not self._is_under(folder):
            return
        filters = self.filters
        if filters.kind is not None or filters.modified_after or filters.modified_before:
            child = self.child(folder, eid)
            if child is None or (filters.kind is not None and child[C_KIND] != filters.kind):
                return
            if filters.modified_after is not None and child[C_MTIME] < filters.modified_after:
                return
            if filters.modified_before is not None and child[C_MTIME] >= filters.modified_before:
                return
        # Without a query every entry ranks alike, and the list goes by path.
        length = len(name) if self.query.terms else 0
        self.found[entry] = _Found(rank, length, folder_path + name, folder, eid)
        self._ranked[rank] += 1
        lengths = self._lengths[rank]
        lengths[len(name)] = lengths.get(len(name), 0) + 1

    def enough(self, worst: int, length: int | None = None) -> bool:
        """Whether ``limit`` results surely rank before anything not found yet at ``worst``
        (with ``length``: before any name of that rank longer than ``length``)."""
        if self.order is not None:
            return False
        count = sum(self._ranked[:worst])
        if length is None:
            count += self._ranked[worst]
        else:
            count += sum(n for at, n in self._lengths[worst].items() if at <= length)
        return count >= self.limit

    # -- reading name pages -----------------------------------------------------------------

    def pages(
        self, patterns: list[str], shortest: int, longest: int | None = None
    ) -> Iterator[Page]:
        """Name pages whose text matches every GLOB pattern, shortest names first (their
        refs read only for the pages a match is found in)."""
        bounds = "rowid >= ?" + (" AND rowid < ?" if longest is not None else "")
        params: list[Any] = [first_page(shortest)]
        if longest is not None:
            params.append(first_page(longest + 1))
        indexed = [p for p in patterns if _indexable(_unglob(p))]
        pairs = [p for p in patterns if len(_unglob(p)) == 2]
        if indexed:
            where = " AND ".join(["text GLOB ?"] * len(indexed))
            rows = self.db.execute(
                f"SELECT rowid, text FROM names_tri WHERE {where} AND {bounds} ORDER BY rowid",
                [*indexed, *params],
            )
        elif pairs:
            # Two characters are in a page's text only followed by a third (every line
            # ends with a line break): the trigrams that start with them find it. (A GLOB
            # of them read every page: 100-160 ms at 1M entries for "\nu" or "09".)
            grams = self._trigrams_starting(_unglob(pairs[0]))
            if not grams:
                return
            where = " AND ".join(["p.text GLOB ?"] * len(patterns))
            rows = self.db.execute(
                "SELECT p.doc, p.text FROM names_tri t JOIN pages p ON p.doc = t.rowid "
                f"WHERE names_tri MATCH ? AND {bounds.replace('rowid', 't.rowid')} AND {where} "
                "ORDER BY t.rowid",
                [" OR ".join(map(_fts_token, grams)), *params, *patterns],
            )
        else:
            where = " AND ".join(["text GLOB ?"] * len(patterns)) or "1"
            rows = self.db.execute(
                f"SELECT doc, text FROM pages WHERE {where} "
                f"AND {bounds.replace('rowid', 'doc')} ORDER BY doc",
                [*patterns, *params],
            )
        for doc, text in rows:
            yield Page(doc, text, None, self.db)

    def _trigrams_starting(self, pair: str) -> list[str]:
        """The trigrams of the name pages that start with the two characters ``pair``, from
        the trigram index's own list of its terms."""
        self.db.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.names_tri_terms "
            "USING fts5vocab(main, names_tri, row)"
        )
        return [
            term
            for (term,) in self.db.execute(
                "SELECT term FROM temp.names_tri_terms WHERE term >= ? AND term <= ?",
                (pair, pair + "\U0010ffff"),
            )
        ]

    def length_pages(self, length: int, holding: str) -> Iterator[Page]:
        """The name pages of one length holding ``holding``: few enough to scan."""
        rows = self.db.execute(
            "SELECT doc, text FROM pages WHERE doc >= ? AND doc < ? AND instr(text, ?) > 0 "
            "ORDER BY doc",
            (first_page(length), first_page(length + 1), holding),
        )
        for doc, text in rows:
            yield Page(doc, text, None, self.db)

    def word_pages(self, words: str, holding: str, start: int) -> Iterator[Page]:
        """Name pages from page ``start`` on matching the words query ``words`` and holding
        ``holding``, shortest names first. A phrase with a separator is also looked up by
        its trigrams, and only the pages both indexes give are read: common words are in
        every page, a phrase that spans them in far fewer, and the whole words of a phrase
        rule out pages its trigrams are in everywhere ("dget" for "dget-")."""
        docs = self._docs("names_word", words, start)
        if _indexable(holding) and not all(map(is_word_char, holding)):
            docs &= self._docs("names_tri", _trigram_query(holding), start)
        return self._pages_of(sorted(docs), holding)

    def _docs(self, index: str, match: str, start: int) -> set[int]:
        """The pages from ``start`` on an FTS index matches (the index alone is read)."""
        return {
            doc
            for (doc,) in self.db.execute(
                f"SELECT rowid FROM {index} WHERE {index} MATCH ? AND rowid >= ?", (match, start)
            )
        }

    def _pages_of(self, docs: list[int], holding: str) -> Iterator[Page]:
        """Those of the pages ``docs`` (in order) that hold ``holding``, read a few at a
        time: a read that has enough early leaves the rest unread."""
        for at in range(0, len(docs), PAGES_AT_ONCE):
            chunk = docs[at : at + PAGES_AT_ONCE]
            for doc, text in self.db.execute(
                f"SELECT doc, text FROM pages WHERE doc IN ({marks(chunk)}) "
                "AND instr(text, ?) > 0 ORDER BY doc",
                [*chunk, holding],
            ):
                yield Page(doc, text, None, self.db)

    def word_start_pages(self, phrase: str, words: str) -> Iterator[Page]:
        """Pages where a word may start with a phrase of one or two characters, shortest
        names first. The words index would expand it to every word it begins (11,000
        numbers for "2": 35-50 ms at 1M entries), so the first pages are read whole; only
        if they hold no such word (a rare start: there the index is cheap) does the words
        query ``words`` find the rest (whole: "l" for "l.", where "l"* would be every word
        starting with l)."""
        before = self._ranked[WORD]
        last = first_page(len(phrase)) - 1
        read = 0
        for doc, text in self.db.execute(
            "SELECT doc, CASE WHEN instr(text, ?) > 0 THEN text END FROM pages "
            "WHERE doc >= ? ORDER BY doc",
            (phrase, first_page(len(phrase))),
        ):
            if read == SCAN_FIRST and self._ranked[WORD] == before:
                break
            last, read = doc, read + 1
            if text is not None:
                yield Page(doc, text, None, self.db)
        else:
            return
        yield from self.word_pages(words, phrase, last + 1)

    def read(self, pages: Iterable[Page], needle: str, worst: int, stop: int | None = None) -> bool:
        """Rank every line of ``pages`` holding ``needle``, keeping those that rank at
        ``worst`` or better; stop after the first length by which ``limit`` results rank at
        ``stop`` (``worst`` unless given) or better. True when every page was read."""
        query = self.query
        stop = worst if stop is None else stop
        # Up to "in the name", every term is in the name: lines are found by the term the
        # page holds least often, and checked for the others before anything else.
        terms = query.terms if worst <= IN_NAME and len(query.terms) > 1 else ()
        needles = list(terms) if terms and not needle.startswith("\n") else [needle]
        boundary = None
        for page in pages:
            if boundary is not None and page.length > boundary:
                return False
            for i in _lines_holding(page, needles):
                name = page.line(i)
                if all(t in name for t in terms):
                    folder_path = page.fpath(i)
                    rank = rank_of(name, folder_path, query)
                    if rank is not None and rank <= worst:
                        self.accept(rank, name, folder_path, page.folder(i), page.eids[i])
            if boundary is None and self.enough(stop, page.length):
                boundary = page.length
        return True

    # -- the ranks --------------------------------------------------------------------------

    def run(self) -> list[Hit]:
        query = self.query
        entries = self.filters.entries
        if entries is not None and (not query.terms or self._ranks_each(len(entries))):
            return self._among(entries)
        if not query.terms:
            return []
        if not query.has_fragment:
            self._names()
        if not self.enough(IN_NAME) and not self.names_only:
            self._paths()
        return self._hits()

    def offer(self, name: str, folder_path: str, folder: int, eid: int) -> None:
        """Rank an entry (any, without a query) and accept it if it matches."""
        rank = rank_of(name, folder_path, self.query) if self.query.terms else EXACT
        if rank is not None:
            self.accept(rank, name, folder_path, folder, eid)

    def _ranks_each(self, count: int) -> bool:
        """Whether ranking each of ``count`` entries costs less than reading name pages."""
        if count <= AMONG_MOST:
            return True
        (indexed,) = self.db.execute("SELECT coalesce(sum(count), 0) FROM totals").fetchone()
        return count * count <= AMONG_RATIO * self.limit * indexed

    def _among(self, entries: frozenset[int]) -> list[Hit]:
        """The given entries are the candidates: each is found where it is (the places
        give its folder, its folder's listing its name) and ranked, so a filter's every
        match is seen, whatever the limit (a sort on something else than the rank,
        ``--sort taken``, needs them all). Listed by path, folders are read in path order
        until none left can hold a path before the ``limit`` found: every path in a folder
        comes after the folder's own."""
        where = folders_of(self.db, entries)
        folder_paths = paths_of(self.db, set(where.values()), folded=True)
        by_folder: dict[int, list[int]] = {}
        for entry, folder in where.items():
            if folder in folder_paths:
                by_folder.setdefault(folder, []).append(entry & EID_MASK)
        folders = sorted(by_folder, key=folder_paths.__getitem__)
        in_path_order = not self.query.terms and self.order is None
        for at in range(0, len(folders), PAGES_AT_ONCE):
            group = folders[at : at + PAGES_AT_ONCE]
            if in_path_order and self._listed_before(folder_paths[group[0]]):
                break
            self._load_listings(group)
            for folder in group:
                folder_path = folder_paths[folder]
                for eid in by_folder[folder]:
                    child = self.child(folder, eid)
                    if child is not None:
                        self.offer(fold_name(child[C_NAME]), folder_path, folder, eid)
        return self._hits()

    def _listed_before(self, path: str) -> bool:
        """Whether ``limit`` of the entries found have a (folded) path before ``path``."""
        if len(self.found) < self.limit:
            return False
        return heapq.nsmallest(self.limit, (f.full for f in self.found.values()))[-1] < path

    def _names(self) -> None:
        """Ranks 0 to 3, each read from what finds it fastest, until enough."""
        query = self.query
        phrase = query.phrase
        few = self._few_pages(phrase) if _indexable(phrase) else None
        if few is not None:
            # Every name holding the phrase is on these pages: ranks 0 to 3 in one read,
            # where each rank's own read would look its trigrams up again.
            complete = self.read(self._pages_of(few, phrase), phrase, IN_NAME, EXACT)
        else:
            complete = self._by_rank(phrase)
        if complete and len(query.terms) == 1:
            return
        if not self.enough(WORD):
            longest = max(query.terms, key=len)
            patterns = [f"*{_glob_literal(t)}*" for t in query.terms]
            self.read(self.pages(patterns, len(longest)), longest, IN_NAME)

    def _few_pages(self, phrase: str) -> list[int] | None:
        """The pages holding every trigram of ``phrase``, when there are at most FEW_PAGES."""
        docs = [
            doc
            for (doc,) in self.db.execute(
                "SELECT rowid FROM names_tri WHERE names_tri MATCH ? AND rowid >= ? "
                "ORDER BY rowid LIMIT ?",
                (_trigram_query(phrase), first_page(len(phrase)), FEW_PAGES + 1),
            )
        ]
        return docs if len(docs) <= FEW_PAGES else None

    def _by_rank(self, phrase: str) -> bool:
        """Ranks 0 to 2 (and 3 for names holding the phrase, when it is read on the way), a
        read each, until enough; True when every name holding the phrase was ranked."""
        literal = _glob_literal(phrase)
        if len(phrase) <= MAX_LENGTH:
            exact = (
                self.pages([f"*\n{literal}\n*"], len(phrase), len(phrase))
                if len(phrase) >= LONG_PHRASE
                else self.length_pages(len(phrase), f"\n{phrase}\n")
            )
            self.read(exact, f"\n{phrase}\n", EXACT)
        # Before each rank: are the better ranks (all found by now) enough on their own?
        if not self.enough(EXACT):
            self.read(self.pages([f"*\n{literal}*"], len(phrase)), f"\n{phrase}", PREFIX)
        if not self.enough(PREFIX) and is_word_char(phrase[0]):
            words = _word_query(phrase)
            if words is None:
                # Read to the end, every name holding the phrase was ranked.
                return self.read(self.pages([f"*{literal}*"], len(phrase)), phrase, IN_NAME, WORD)
            if len(phrase) <= 2:
                self.read(self.word_start_pages(phrase, words), phrase, WORD)
            else:
                # The words index finds where a word of the name starts with the phrase.
                self.read(self.word_pages(words, phrase, first_page(len(phrase))), phrase, WORD)
        return False

    def _paths(self) -> None:
        """Entries with a term only in their folders' path.

        Such an entry's folder path holds every plain term that is not in its name, so the
        folders named with one term (and all below them, and every folder of a location
        whose own path holds it) hold them, with (given other terms) the names holding it.
        A fragment is inside a folder path (its second part starts a folder's name), or
        runs from its end into the name (its last folder part ends one). Candidates are
        read in groups by what their path lacks, which must then be in the name: a group
        holding few entries from its listings, a larger one from the name pages, shortest
        names first, until enough. Folders are found by their names, a far smaller scan
        than their paths.
        """
        query = self.query
        fragments = [t for t in query.terms if "/" in t]
        if fragments:
            fragment = max(fragments, key=len)
            parts = fragment.split("/")
            # Inside: the folder named starting with its second part holds its first two.
            through = fragment[: len(parts[0]) + 1 + len(parts[1])]
            named = self._named_folders(parts[1], prefix=True) if parts[1] else None
            if named is not None:
                named = [
                    f for f, p in paths_of(self.db, named, folded=True).items() if through in p
                ]
            inside = self._subtrees(named, fragment)
            self._read_groups((f, p) for f, p in inside.items() if fragment in p)
            if parts[-1]:
                head = fragment[: -len(parts[-1])]
                ending = self._named_folders(parts[-2]) if parts[-2] else None
                candidates = (
                    paths_of(self.db, ending, folded=True)
                    if ending is not None
                    else self._every_folder()
                )
                candidates.update(self._roots())
                self._read_groups(
                    ((f, p) for f, p in candidates.items() if p.endswith(head)),
                    skip=fragment,
                    start=parts[-1],
                )
            return
        several = len(set(query.terms)) > 1
        sources = self._folders_naming(sorted(set(query.terms)))
        term = min(
            sources, key=lambda t: len(sources[t]) * SUBTREE + (self._named(t) if several else 0)
        )
        self._read_groups(self._subtrees(sources[term], term).items())
        if several:
            self.read(self.pages([f"*{_glob_literal(term)}*"], len(term)), term, IN_PATH)

    def _named_folders(self, text: str, prefix: bool = False) -> list[int]:
        """Folders whose own (folded) name holds ``text`` (or starts with it)."""
        if prefix:
            return [
                f
                for (f,) in self.db.execute(
                    "SELECT id FROM folders WHERE fname >= ? AND fname < ?",
                    (text, text + "\U0010ffff"),
                )
            ]
        return [
            f
            for (f,) in self.db.execute("SELECT id FROM folders WHERE instr(fname, ?) > 0", (text,))
        ]

    def _folders_naming(self, terms: list[str]) -> dict[str, list[int]]:
        """For each term, the folders whose own (folded) name holds it: one pass over the
        folders' names for them all (a pass each cost 2-3 ms at 1M entries)."""
        holds = [f"instr(fname, ?{i + 1}) > 0" for i in range(len(terms))]
        found: dict[str, list[int]] = {t: [] for t in terms}
        for folder, *held in self.db.execute(
            f"SELECT id, {', '.join(holds)} FROM folders WHERE {' OR '.join(holds)}", terms
        ):
            for term, has in zip(terms, held):
                if has:
                    found[term].append(folder)
        return found

    def _subtrees(self, folders: list[int] | None, text: str) -> dict[int, str]:
        """Every folder at or below ``folders`` (every folder, given None), and every folder
        of a location whose own path holds ``text``, with their folded paths."""
        if folders is None:
            return self._every_folder()
        below: dict[int, str] = {}
        for chunk in chunks(folders):
            below.update(
                self.db.execute(
                    "SELECT f.id, f.fpath FROM closure c JOIN folders f ON f.id = c.descendant "
                    f"WHERE c.ancestor IN ({marks(chunk)})",
                    chunk,
                )
            )
        for root, root_path in self._roots().items():
            if text in root_path:
                below.update(
                    self.db.execute(
                        "SELECT f.id, f.fpath FROM closure c JOIN folders f ON f.id = c.descendant "
                        "WHERE c.ancestor = ?",
                        (root,),
                    )
                )
        return below

    def _roots(self) -> dict[int, str]:
        """Every location's root folder. A root's folded name is empty (its location's path
        is searched as its path), so the index on names finds them: ``parent IS NULL``
        alone read every folder (27-70 ms of a path search at 1M entries)."""
        if self._root_paths is None:
            self._root_paths = dict(
                self.db.execute("SELECT id, fpath FROM folders WHERE fname = '' AND parent IS NULL")
            )
        return self._root_paths

    def _every_folder(self) -> dict[int, str]:
        return dict(self.db.execute("SELECT id, fpath FROM folders"))

    def _pages_holding(self, text: str) -> int:
        """How many name pages hold every trigram of ``text`` (an index-only count)."""
        return self.db.execute(
            "SELECT count(*) FROM names_tri WHERE names_tri MATCH ?", (_trigram_query(text),)
        ).fetchone()[0]

    def _named(self, term: str) -> int:
        """About how many names hold ``term``: from the rarest of its trigrams (every name
        of every page, for a term too short to have one)."""
        if not _indexable(term):
            return self.db.execute("SELECT count(*) FROM pages").fetchone()[0] * PAGE_MAX
        return self._pages_holding(term) * PAGE_MAX // 2

    def _read_groups(
        self, folders: Iterable[tuple[int, str]], skip: str | None = None, start: str | None = None
    ) -> None:
        """Read folders in groups by the terms their path lacks (but ``skip``, the fragment
        their names must start the rest of, with ``start``)."""
        groups: dict[tuple[str, ...], dict[int, str]] = {}
        for folder, folder_path in folders:
            lacking = tuple(t for t in self.query.terms if t != skip and t not in folder_path)
            groups.setdefault(lacking, {})[folder] = folder_path
        for lacking, group in groups.items():
            self._read_group(group, list(lacking), start)

    def _read_group(self, folders: dict[int, str], lacking: list[str], start: str | None) -> None:
        """The path matches among these folders' entries, whose names hold the ``lacking``
        terms (and start with ``start``, when given)."""
        if not folders:
            return
        wanted = [t for t in lacking if "/" not in t]
        needles = [t for t in wanted if t] + ([f"\n{start}"] if start else [])
        needs = [f"*{_glob_literal(t)}*" for t in wanted if _indexable(t)]
        if start and _indexable(start):
            needs.append(f"*\n{_glob_literal(start)}*")
        held = self._held(folders)
        if held <= DIRECT_PATH_FEW or (held <= DIRECT_PATH_ENTRIES and not needs):
            self._read_listings(folders)
        else:
            self._read_folders_pages(folders, needs, needles)

    def _read_listings(self, folders: dict[int, str]) -> None:
        for folder, folder_path in folders.items():
            for eid, child in list(self._listing(folder).items()):
                name = fold_name(child[C_NAME])
                if rank_of(name, folder_path, self.query) == IN_PATH:
                    self.accept(IN_PATH, name, folder_path, folder, eid)

    def _read_folders_pages(
        self, folders: dict[int, str], needs: list[str], needles: list[str]
    ) -> None:
        """Lines of these folders in the name pages matching ``needs`` (those holding
        ``needles``, when given), shortest names first."""
        boundary = None
        for page in self.pages(needs, 0):
            if boundary is not None and page.length > boundary:
                return
            for i in _lines_holding(page, needles):
                folder = page.folder(i)
                folder_path = folders.get(folder)
                if folder_path is not None:
                    name = page.line(i)
                    if rank_of(name, folder_path, self.query) == IN_PATH:
                        self.accept(IN_PATH, name, folder_path, folder, page.eids[i])
            if boundary is None and self.enough(IN_PATH, page.length):
                boundary = page.length

    def _held(self, folders: dict[int, str]) -> int:
        """How many entries the folders hold between them."""
        held = 0
        for chunk in chunks(list(folders)):
            held += self.db.execute(
                f"SELECT coalesce(sum(n), 0) FROM listings WHERE folder IN ({marks(chunk)})", chunk
            ).fetchone()[0]
        return held

    def _listing(self, folder: int) -> dict[int, tuple[Any, ...]]:
        """A folder's children by eid (read once per search), as stored."""
        children = self._children.get(folder)
        if children is None:
            children = self._children[folder] = {
                c[C_EID]: c for c in folder_records(self.db, folder)
            }
        return children

    def _load_listings(self, folders: Iterable[int]) -> None:
        """The listings of these folders, read by one statement for them all (a statement
        each cost 1-3 ms of a search's 50 hits at 1M entries)."""
        wanted = sorted({f for f in folders if f not in self._children})
        for chunk in chunks(wanted):
            for folder in chunk:
                self._children[folder] = {}
            for folder, blob in self.db.execute(
                f"SELECT folder, children FROM listings WHERE folder IN ({marks(chunk)})", chunk
            ):
                self._children[folder].update((c[C_EID], c) for c in records(blob))

    def _key(self, found: _Found) -> tuple[Any, ...]:
        if self.order is None:
            return found[:3]
        return (self.order((found.folder & ~EID_MASK) | found.eid), found.full)

    def _hits(self) -> list[Hit]:
        """The best ``limit`` found (the first, in ``order``), with what the listings hold of
        each. Ties on the folded path are broken by the raw one, so the order is the same on
        every device."""
        reverse = self.reverse
        keyed = sorted(
            ((self._key(f), f) for f in self.found.values()), key=itemgetter(0), reverse=reverse
        )
        end = self.limit
        while 0 < end < len(keyed) and keyed[end][0] == keyed[end - 1][0]:
            end += 1  # ties with the last: the raw paths decide below
        del keyed[end:]
        paths = paths_of(self.db, (f.folder for _, f in keyed))
        self._load_listings(f.folder for _, f in keyed)
        out = []
        for key, f in keyed:
            child = self.child(f.folder, f.eid)
            where = paths.get(f.folder)
            if child is None or where is None:
                continue
            out.append(
                (
                    key,
                    Hit(
                        child[C_NAME],
                        child[C_FTYPE],
                        child[C_KIND],
                        child[C_SIZE],
                        child[C_MTIME],
                        child[C_CID],
                        os.path.join(where, child[C_NAME]),
                        f.rank,
                        f.folder,
                        (f.folder & ~EID_MASK) | f.eid,
                    ),
                )
            )
        out.sort(key=lambda pair: (pair[0], pair[1].path), reverse=reverse)
        return [hit for _, hit in out[: self.limit]]


def _word_query(phrase: str) -> str | None:
    """The words-index query for names in which a word starts with ``phrase`` (a phrase
    starting with a word character), or None when its trigrams do better.

    Where a word starts with the phrase, the phrase's words are the name's words there: the
    first and the middle ones whole, the last whole or begun (when the phrase ends inside
    it). A whole word is a cheap exact lookup; a begun one of one or two characters would
    expand to every word that starts with them, so it is left to the check on the text,
    unless it is all there is.
    """
    runs = ["".join(run) for word, run in itertools.groupby(phrase, is_word_char) if word]
    if len(runs) == 1 and is_word_char(phrase[-1]):
        if len(phrase) >= LONG_PHRASE:
            # One long word: its trigrams find it as fast, and the names holding it
            # mid-word with it.
            return None
        return _fts_token(phrase) + "*"
    parts = [_fts_token(run) for run in runs[:-1]]
    last = runs[-1]
    if not is_word_char(phrase[-1]):
        parts.append(_fts_token(last))
    elif len(last) >= 3:
        parts.append(_fts_token(last) + "*")
    return " AND ".join(parts)


def _trigram_query(text: str) -> str:
    """The trigram-index query for pages holding ``text`` (of three characters or more):
    every trigram of it."""
    return " AND ".join(
        _fts_token(g) for g in sorted({text[i : i + 3] for i in range(len(text) - 2)})
    )


def _unglob(pattern: str) -> str:
    """The literal text of a ``*text*`` pattern made by :func:`_glob_literal`."""
    return re.sub(r"\[(.)\]", r"\1", pattern.strip("*"))


def _fts_token(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _lines_holding(page: Page, needles: list[str]) -> Iterator[int]:
    """The lines of a page holding the needle it holds least often (a needle starting with
    a line break holds a line's start); with no needle, every line."""
    if not needles:
        yield from range(len(page.eids))
        return
    text, stride = page.text, page.length + 1
    needle = min(needles, key=text.count) if len(needles) > 1 else needles[0]
    # Where a match at ``at`` puts its line, and where the next line's search starts.
    start = 0 if needle.startswith("\n") else 1
    at = text.find(needle)
    while at >= 0:
        i = (at - start) // stride
        yield i
        at = text.find(needle, (i + 1) * stride + start)


def search(
    db: sqlite3.Connection,
    query: str,
    filters: Filters = Filters(),
    limit: int = 50,
    order: Callable[[int], Any] | None = None,
    reverse: bool = False,
    names_only: bool = False,
) -> list[Hit]:
    """The matches, best first; with ``order``, the first in that order (see ``_Search``);
    ``names_only``: those whose name holds the query (ranks 0 to 3), none found by its path
    alone (candidates for another ranking, by meaning: a term in every path, a location's
    name, would have the folders read one by one)."""
    return _Search(db, Query.parse(query), filters, limit, order, reverse, names_only).run()


def by_taken(
    db: sqlite3.Connection,
    query: str,
    filters: Filters = Filters(),
    limit: int = 50,
    newest_first: bool = False,
) -> list[Hit]:
    """The matches in the order their pictures were taken (then by path), oldest first;
    those without a date after them, in the search's own order.

    The dated entries are the candidates of one search, each ranked before any is left out,
    so a match is never dropped for ranking low by name: the limit applies to the dates.
    """
    taken = dated(db)
    among = taken.keys() if filters.entries is None else taken.keys() & filters.entries
    hits = search(
        db,
        query,
        replace(filters, entries=frozenset(among)),
        limit,
        taken.__getitem__,
        newest_first,
    )
    room = limit - len(hits)
    if room and filters.entries is not None:
        hits += search(db, query, replace(filters, entries=filters.entries - taken.keys()), room)
    elif room:
        # At most len(hits) of the best matches are dated: these many hold ``room`` others.
        more = search(db, query, filters, room + len(hits))
        hits += [h for h in more if h.entry not in taken][:room]
    return hits


def every_name(db: sqlite3.Connection) -> list[tuple[str, str, int, int]]:
    """``(folded name, folded folder path, folder, eid)`` of every entry: what a scan ranks."""
    out = []
    for folder, folder_path in db.execute("SELECT id, fpath FROM folders"):
        for child in folder_children(db, folder):
            out.append((fold_name(child.name), folder_path, folder, child.eid))
    return out


def search_by_scan(
    db: sqlite3.Connection,
    query: str,
    filters: Filters = Filters(),
    limit: int = 50,
    names: list[tuple[str, str, int, int]] | None = None,
    order: Callable[[int], Any] | None = None,
    reverse: bool = False,
) -> list[Hit]:
    """The same answer as :func:`search`, by ranking every entry of the index: the
    definition that tests and benchmarks hold the fast way to. ``names`` (from
    :func:`every_name`) saves reading the index again for each query."""
    parsed = Query.parse(query)
    scan = _Search(db, parsed, filters, limit, order, reverse)
    if parsed.terms or filters.entries is not None:
        first = parsed.terms[0] if parsed.terms else ""
        for name, folder_path, folder, eid in names if names is not None else every_name(db):
            if first in folder_path + name:
                scan.offer(name, folder_path, folder, eid)
    return scan._hits()
