"""The name pages search reads: every entry's name, folded, in pages of names of one length.

Search must return every match up to its limit, best first, and ties go to the shorter name
(``projections/files/search.py``). So names are kept in *pages* grouped by length: a page's
id is ``length << 32 | n``, and reading pages in id order reads names from the shortest up.
A search stops at the first length by which it has enough matches, whatever the corpus holds.

Each page is one row of ``pages``: its text (``"\\n" + names joined by "\\n" + "\\n"``, every
line exactly ``length`` characters, so the line holding a match is found by division) and
its refs: the folders its lines are in (local ids, and their folded paths, so a match's path
is known without a query) and, per line, its folder and its entry's eid. Two FTS5 indexes
read the text through ``pages``: trigrams (any substring of three characters or more) and
words (unicode61: the words a name is made of, for "a word of the name starts with").

A fold writes the names of new entries into new pages, grouped by length (never into an
existing page: a small fold would otherwise rewrite half-full pages again and again); a
name that leaves (deleted, renamed, its location removed) is taken out of its page, which is
written again, or dropped when empty. Pages are derived and local: no digest includes them.

Folding a name for search: invalid UTF-8 shown as ``\\xNN``, Unicode case folding, and NFC,
so NFC and NFD spellings and letter cases are one; a line break inside a name becomes a space.
"""

from __future__ import annotations

import sqlite3
import unicodedata
from typing import Any, Iterable

import msgpack

from projections.files.schema import EID_MASK, paths_of

# Lines per page: small enough that rewriting a page for one removal is cheap, large enough
# that a rebuild's pages amortise FTS5's cost per row.
PAGE_MAX = 256
LENGTH_SHIFT = 32
# Longest folded name (a 1,024-byte name of invalid UTF-8 shown as \xNN is 4,096 characters).
MAX_LENGTH = 4096
# The unicode61 options that split words where :func:`is_word_char` says.
WORD_CATEGORIES = "L* N* Co M*"

SCHEMA = (
    "CREATE TABLE pages (doc INTEGER PRIMARY KEY, text TEXT NOT NULL, refs BLOB NOT NULL)",
    "CREATE VIRTUAL TABLE names_tri USING fts5(text, content = 'pages', content_rowid = 'doc', "
    "tokenize = 'trigram case_sensitive 1', detail = 'none')",
    "CREATE VIRTUAL TABLE names_word USING fts5(text, content = 'pages', "
    f"content_rowid = 'doc', tokenize = \"unicode61 remove_diacritics 0 categories "
    f"'{WORD_CATEGORIES}'\", detail = 'none')",
)
_INDEXES = ("names_tri", "names_word")


def fold_text(text: str) -> str:
    """Text as search compares it: case folded, NFC."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", text).casefold())


def fold_name(name: bytes) -> str:
    """A name as a page line holds it (a line break in it becomes a space)."""
    # Most names are ASCII, where case folding is lower() and NFC changes nothing: a third
    # of the cost of the general path, on every entry of a first index.
    folded = (
        name.decode("ascii").lower()
        if name.isascii()
        else fold_text(name.decode("utf-8", "backslashreplace"))
    )
    return folded.replace("\n", " ")[:MAX_LENGTH] if "\n" in folded else folded[:MAX_LENGTH]


def is_word_char(char: str) -> bool:
    """Letters, digits, marks and private-use characters make words; the rest separates them
    (as the ``names_word`` index splits them)."""
    return unicodedata.category(char)[0] in "LNM" or unicodedata.category(char) == "Co"


def page_length(doc: int) -> int:
    return doc >> LENGTH_SHIFT


def first_page(length: int) -> int:
    return length << LENGTH_SHIFT


class Page:
    """One page as read back: its lines (without the text's framing) and whose they are.

    The refs are read and unpacked on first use: a search reads many pages for few lines.
    """

    __slots__ = ("doc", "text", "_refs", "_db", "_unpacked")

    def __init__(
        self, doc: int, text: str, refs: bytes | None, db: sqlite3.Connection | None = None
    ) -> None:
        self.doc = doc
        self.text = text
        self._refs = refs
        self._db = db
        self._unpacked: list[list[Any]] | None = None

    def _ref(self, which: int) -> list[Any]:
        if self._unpacked is None:
            refs = self._refs
            if refs is None:
                assert self._db is not None
                (refs,) = self._db.execute(
                    "SELECT refs FROM pages WHERE doc = ?", (self.doc,)
                ).fetchone()
            self._unpacked = msgpack.unpackb(refs)
        return self._unpacked[which]

    @property
    def folders(self) -> list[int]:
        return self._ref(0)

    @property
    def eids(self) -> list[int]:
        return self._ref(3)

    @property
    def length(self) -> int:
        return page_length(self.doc)

    def line(self, i: int) -> str:
        stride = self.length + 1
        return self.text[1 + i * stride : 1 + i * stride + self.length]

    def folder(self, i: int) -> int:
        return self._ref(0)[self._ref(2)[i]]

    def fpath(self, i: int) -> str:
        return self._ref(1)[self._ref(2)[i]]


def _text(lines: Iterable[str]) -> str:
    return "\n" + "\n".join(lines) + "\n"


def _refs(lines: list[tuple[str, int, int]], fpaths: dict[int, str]) -> bytes:
    """Pack (name, folder, entry) lines' refs: each folder once, with its folded path. An
    entry is named by its local id (device bits and eid); a page keeps its eid."""
    order: dict[int, int] = {}
    for _, folder, _ in lines:
        order.setdefault(folder, len(order))
    folders = list(order)
    return msgpack.packb(
        [
            folders,
            [fpaths.get(f, "") for f in folders],
            [order[folder] for _, folder, _ in lines],
            [entry & EID_MASK for _, _, entry in lines],
        ],
        use_bin_type=True,
    )


class PageBook:
    """The pages one fold batch changes: names added, taken out or moved to another folder,
    and folders whose path changed. Nothing is written until :meth:`flush`."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        # entry (local id) -> [folded name, folder, child record] of names not yet in a page
        self._new: dict[int, list[Any]] = {}
        # page -> entries whose lines leave it
        self._gone: dict[int, set[int]] = {}
        # page -> {entry: new folder} for lines that stay, in another folder
        self._moved: dict[int, dict[int, int]] = {}
        # pages whose folders' paths changed
        self._repath: set[int] = set()

    def add(self, entry: int, folder: int, name: bytes, child: list[Any]) -> None:
        self._new[entry] = [fold_name(name), folder, child]

    def remove(self, entry: int, page: int | None) -> None:
        if self._new.pop(entry, None) is None and page is not None:
            self._gone.setdefault(page, set()).add(entry)

    def move(self, entry: int, page: int | None, folder: int) -> None:
        pending = self._new.get(entry)
        if pending is not None:
            pending[1] = folder
        elif page is not None:
            self._moved.setdefault(page, {})[entry] = folder

    def repath(self, pages: Iterable[int]) -> None:
        self._repath.update(p for p in pages if p is not None)

    def flush(self, child_page: int) -> None:
        """Write every change; new lines' pages are set in their child records, at position
        ``child_page``, before the caller writes the listings."""
        changed = set(self._gone) | set(self._moved) | self._repath
        rows: list[tuple[int, str | None, bytes | None, str | None]] = []  # doc, old, new, refs
        loaded = []
        for doc in sorted(changed):
            row = self.db.execute("SELECT text, refs FROM pages WHERE doc = ?", (doc,)).fetchone()
            if row is not None:
                loaded.append(Page(doc, row[0], row[1]))
        fpaths: dict[int, str] = paths_of(
            self.db,
            {f for p in loaded for f in p.folders}
            | {f for moved in self._moved.values() for f in moved.values()}
            | {pending[1] for pending in self._new.values()},
            folded=True,
        )
        for page in loaded:
            gone = self._gone.get(page.doc, set())
            moved = self._moved.get(page.doc, {})
            lines = []
            for i, eid in enumerate(page.eids):
                folder = page.folder(i)
                entry = (folder & ~EID_MASK) | eid  # a page may hold several devices' lines
                if entry not in gone:
                    lines.append((page.line(i), moved.get(entry, folder), entry))
            if not lines:
                rows.append((page.doc, page.text, None, None))
            elif len(lines) == len(page.eids):
                # Same names: only the refs change; the indexes stay as they are.
                self.db.execute(
                    "UPDATE pages SET refs = ? WHERE doc = ?", (_refs(lines, fpaths), page.doc)
                )
            else:
                new_text = _text(name for name, _, _ in lines)
                rows.append((page.doc, page.text, new_text, _refs(lines, fpaths)))
        rows.extend(self._new_pages(fpaths, child_page))
        self._write(rows)
        self._new.clear()
        self._gone.clear()
        self._moved.clear()
        self._repath.clear()

    def _new_pages(
        self, fpaths: dict[int, str], child_page: int
    ) -> list[tuple[int, None, str, bytes]]:
        # Lines in path order: a page read by a search then mostly meets its best first. Each
        # line is built as its own sort key (folder's path, name, then arrival, which keeps a
        # stable sort's order): no key function called per line.
        by_length: dict[int, list[tuple[str, str, int, int, int, list[Any]]]] = {}
        get_path = fpaths.get
        for at, (entry, (name, folder, child)) in enumerate(self._new.items()):
            line = (get_path(folder, ""), name, at, folder, entry, child)
            group = by_length.get(len(name))
            if group is None:
                by_length[len(name)] = [line]
            else:
                group.append(line)
        out = []
        for length, lines in sorted(by_length.items()):
            lines.sort()
            row = self.db.execute(
                "SELECT max(doc) FROM pages WHERE doc >= ? AND doc < ?",
                (first_page(length), first_page(length + 1)),
            ).fetchone()
            doc = row[0] + 1 if row[0] is not None else first_page(length)
            for start in range(0, len(lines), PAGE_MAX):
                chunk = lines[start : start + PAGE_MAX]
                for line in chunk:
                    line[5][child_page] = doc
                out.append(
                    (
                        doc,
                        None,
                        _text([line[1] for line in chunk]),
                        _refs([(line[1], line[3], line[4]) for line in chunk], fpaths),
                    )
                )
                doc += 1
        return out

    def _write(self, rows: list[tuple[int, str | None, str | None, bytes | None]]) -> None:
        """Apply (doc, old text, new text, refs) in page order: FTS5 keeps its pending
        changes in memory only while rowids arrive in increasing order."""
        db = self.db
        rows.sort(key=lambda row: row[0])
        for index in _INDEXES:
            removed = [("delete", doc, old) for doc, old, _, _ in rows if old is not None]
            if removed:
                db.executemany(
                    f"INSERT INTO {index} ({index}, rowid, text) VALUES (?, ?, ?)", removed
                )
        gone = [(doc,) for doc, _, new, _ in rows if new is None]
        if gone:
            db.executemany("DELETE FROM pages WHERE doc = ?", gone)
        kept = [(doc, new, refs) for doc, _, new, refs in rows if new is not None]
        if kept:
            db.executemany("INSERT OR REPLACE INTO pages (doc, text, refs) VALUES (?, ?, ?)", kept)
            for index in _INDEXES:
                db.executemany(
                    f"INSERT INTO {index} (rowid, text) VALUES (?, ?)",
                    [(doc, text) for doc, text, _ in kept],
                )
