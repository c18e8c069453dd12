"""Folders: where each is, its path (and that path folded for search), and the closure of
its ancestors, as one fold batch reads and changes them.

The caches live only as long as the batch: what they hold is what the tables hold, read
once, or what the batch wrote.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Iterable

from projections.files.names import fold_name, fold_text
from projections.files.schema import chunks, marks


class Tree:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        # Folder -> its location's local id (None: no such folder), as far as looked up.
        self._location: dict[int, int | None] = {}
        # Folder -> it and its ancestors, nearest first, as far as looked up.
        self._chains: dict[int, tuple[int, ...]] = {}
        # Folder -> (absolute path, folded path + "/"), as far as looked up or made.
        self._paths: dict[int, tuple[bytes, str]] = {}
        # A location's root folder (None: it has none), as far as looked up.
        self._roots: dict[int, int | None] = {}

    # -- reading ------------------------------------------------------------------------------

    def locations_of(self, folders: Iterable[int]) -> dict[int, int | None]:
        """The location of each folder (None if it is not a folder), in few queries.

        What it returns is the cache itself: a caller adding folders records them in it.
        """
        cache = self._location
        wanted = [f for f in set(folders) if f not in cache]
        for chunk in chunks(wanted):
            for folder in chunk:
                cache[folder] = None
            for folder, loc in self.db.execute(
                f"SELECT id, location FROM folders WHERE id IN ({marks(chunk)})", chunk
            ):
                cache[folder] = loc
        return cache

    def in_location(self, folder: int, loc: int) -> bool:
        return self.locations_of((folder,))[folder] == loc

    def has_root(self, loc: int) -> bool:
        root = self._roots.get(loc, -1)
        if root == -1:
            row = self.db.execute(
                "SELECT f.id FROM locations l JOIN folders f ON f.id = l.root WHERE l.id = ?",
                (loc,),
            ).fetchone()
            root = self._roots[loc] = row[0] if row else None
        return root is not None and self.in_location(root, loc)

    def chain(self, folder: int) -> tuple[int, ...]:
        """``folder`` and its ancestors, nearest first, as the index holds them now."""
        cached = self._chains.get(folder)
        if cached is not None:
            return cached
        result = tuple(
            a
            for (a,) in self.db.execute(
                "SELECT ancestor FROM closure WHERE descendant = ? ORDER BY depth", (folder,)
            )
        ) or (folder,)
        self._chains[folder] = result
        return result

    def within(self, folder: int, subtree: int) -> bool:
        """Whether ``folder`` is ``subtree`` or lies below it."""
        return folder == subtree or (
            self.db.execute(
                "SELECT 1 FROM closure WHERE ancestor = ? AND descendant = ?", (subtree, folder)
            ).fetchone()
            is not None
        )

    def subtree(self, folder: int) -> list[int]:
        """``folder`` and every folder below it."""
        return [
            d
            for (d,) in self.db.execute(
                "SELECT descendant FROM closure WHERE ancestor = ?", (folder,)
            )
        ]

    def of_location(self, loc: int) -> list[int]:
        return [f for (f,) in self.db.execute("SELECT id FROM folders WHERE location = ?", (loc,))]

    def _location_paths(self, loc: int) -> tuple[bytes, str]:
        """A location's path, and folded for search with a trailing "/"."""
        (path,) = self.db.execute("SELECT path FROM locations WHERE id = ?", (loc,)).fetchone()
        return path, fold_text(path.decode("utf-8", "backslashreplace")).rstrip("/") + "/"

    def _folder_paths(self, folder: int) -> tuple[bytes, str]:
        """A folder's absolute path, and folded for search with a trailing "/"."""
        known = self._paths.get(folder)
        if known is None:
            row = self.db.execute(
                "SELECT path, fpath FROM folders WHERE id = ?", (folder,)
            ).fetchone()
            known = self._paths[folder] = (row[0], row[1])
        return known

    # -- changing -----------------------------------------------------------------------------

    def add(self, loc: int, folders: list[tuple[Any, ...]]) -> None:
        """New folders of one location, ``(id, location, parent, name, size, mtime, inode)``
        each, every parent before its children; a folder without a parent is the root."""
        rows = []
        for folder, _loc, parent, name, *rest in folders:
            path, fpath = (
                self._location_paths(loc) if parent is None else self._folder_paths(parent)
            )
            fname = ""  # a root's name is its location's path: searched as the path
            if parent is not None:
                fname = fold_name(name)
                path, fpath = path + b"/" + name, fpath + fname + "/"
            self._paths[folder] = (path, fpath)
            rows.append((folder, loc, parent, name, *rest, path, fpath, fname))
        self.db.executemany(
            "INSERT INTO folders (id, location, parent, name, size, mtime, inode, path, fpath, "
            "fname) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        closure = []
        for folder, _loc, parent, *_ in folders:
            chain = (folder, *self.chain(parent)) if parent is not None else (folder,)
            self._chains[folder] = chain
            closure.extend((ancestor, folder, depth) for depth, ancestor in enumerate(chain))
            if parent is None:
                self.db.execute("UPDATE locations SET root = ? WHERE id = ?", (folder, loc))
        self.db.executemany(
            "INSERT OR IGNORE INTO closure (ancestor, descendant, depth) VALUES (?, ?, ?)",
            closure,
        )

    def root_seen(self, loc: int, folder: int) -> None:
        """``folder`` is the root the batch gives ``loc`` (written with the batch's folders)."""
        self._roots[loc] = folder

    def set_metadata(self, folder: int, size: int, mtime: int, inode: int) -> None:
        self.db.execute(
            "UPDATE folders SET size = ?, mtime = ?, inode = ? WHERE id = ?",
            (size, mtime, inode, folder),
        )

    def move(self, folder: int, old_parent: int, parent: int, name: bytes) -> list[int]:
        """Move or rename a folder; return its subtree, whose paths changed with it."""
        if parent != old_parent:
            # The closure first: it finds the old ancestors through the old parent.
            self._reparent(folder, parent)
        self.db.execute(
            "UPDATE folders SET parent = ?, name = ? WHERE id = ?", (parent, name, folder)
        )
        return self._repath(folder, parent, name)

    def _reparent(self, folder: int, new_parent: int) -> None:
        old_above = self.chain(folder)[1:]
        self._chains.clear()
        subtree = self.db.execute(
            "SELECT descendant, depth FROM closure WHERE ancestor = ?", (folder,)
        ).fetchall()
        descendants = [d for d, _ in subtree]
        for chunk in chunks(descendants):
            for above in chunks(list(old_above)):
                self.db.execute(
                    f"DELETE FROM closure WHERE descendant IN ({marks(chunk)}) "
                    f"AND ancestor IN ({marks(above)})",
                    [*chunk, *above],
                )
        new_above = self.chain(new_parent)
        self.db.executemany(
            "INSERT OR IGNORE INTO closure (ancestor, descendant, depth) VALUES (?, ?, ?)",
            [
                (ancestor, descendant, up + 1 + depth)
                for up, ancestor in enumerate(new_above)
                for descendant, depth in subtree
            ],
        )
        self._chains.clear()

    def _repath(self, folder: int, parent: int, name: bytes) -> list[int]:
        """The paths of a moved or renamed folder's whole subtree change with it."""
        old_path, old_fpath = self._folder_paths(folder)
        path, fpath = self._folder_paths(parent)
        path, fpath = path + b"/" + name, fpath + fold_name(name) + "/"
        subtree = self.subtree(folder)
        updates = []
        for chunk in chunks(subtree):
            for below, below_path, below_fpath in self.db.execute(
                f"SELECT id, path, fpath FROM folders WHERE id IN ({marks(chunk)})", chunk
            ):
                updates.append(
                    (
                        path + below_path[len(old_path) :],
                        fpath + below_fpath[len(old_fpath) :],
                        below,
                    )
                )
        # Joined in Python: SQLite's || makes text of two blobs, and paths are bytes.
        self.db.executemany("UPDATE folders SET path = ?, fpath = ? WHERE id = ?", updates)
        self.db.execute("UPDATE folders SET fname = ? WHERE id = ?", (fold_name(name), folder))
        self._paths.clear()
        return subtree

    def drop(self, folders: list[int]) -> None:
        """Remove folders from the tree (their listings are the caller's)."""
        for chunk in chunks(sorted(set(folders))):
            self.db.execute(f"DELETE FROM folders WHERE id IN ({marks(chunk)})", chunk)
            self.db.execute(f"DELETE FROM closure WHERE descendant IN ({marks(chunk)})", chunk)
        for folder in folders:
            self._location[folder] = None
            self._paths.pop(folder, None)
        self._chains.clear()

    def location_removed(self, loc: int) -> None:
        self._roots.pop(loc, None)
