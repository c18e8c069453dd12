"""Folds the log into index.db, batch by batch, each batch with its checkpoint in one transaction.

Because the checkpoint commits with the rows it describes, a crash at any moment leaves the
index exactly at some checkpoint: never ahead of it, never half a batch in. The index is
disposable (``synchronous = NORMAL``): if it is lost, it is rebuilt from the log.
"""

from __future__ import annotations

import os
import sqlite3
from typing import Any, Iterable, Sequence

import blake3
import msgpack

from events.codec import unpack
from events.envelope import Event
from events.errors import CodecError
from events.registry import Catalog, UnknownEvent
from events.store import EventStore
from projections.base import Projection
from projections.errors import AheadOfLog, IndexDamaged

_new = tuple.__new__


def schema_signature(projections: Sequence[Projection]) -> str:
    return ",".join(f"{p.name}:{p.version}" for p in projections)


class ProjectionRunner:
    """One index.db and the projections folded into it. Used by one thread at a time."""

    def __init__(
        self, path: str | os.PathLike[str], projections: Sequence[Projection], catalog: Catalog
    ) -> None:
        self.path = os.fspath(path)
        self.projections = list(projections)
        self.catalog = catalog
        self._routes: dict[str, list[int]] = {}
        self._db: sqlite3.Connection | None = None
        # Events per transaction while catching up: large batches amortise each fold's
        # per-batch work (a rebuild), a transaction still commits every few hundred ms.
        self.batch_size = 20_000

    # -- lifecycle --------------------------------------------------------------------------

    def open(self) -> "ProjectionRunner":
        try:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("PRAGMA busy_timeout = 5000")
            # Folds touch index pages all over (content ids are random keys): a cache that
            # holds the hot part of a million-entry index saves most page reads.
            db.execute("PRAGMA cache_size = -65536")
            self._db = db
            self._ensure_schema()
        except sqlite3.DatabaseError as exc:
            raise IndexDamaged(self.path, str(exc)) from exc
        return self

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("projection runner is not open")
        return self._db

    def _ensure_schema(self) -> None:
        db = self.db
        db.execute("CREATE TABLE IF NOT EXISTS _meta (key TEXT PRIMARY KEY, value)")
        row = db.execute("SELECT value FROM _meta WHERE key = 'schema'").fetchone()
        want = schema_signature(self.projections)
        if row and row[0] == want:
            return
        # New file, or code whose projections changed meaning: start the fold from scratch.
        db.execute("BEGIN")
        for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name != '_meta' "
            "AND name NOT LIKE 'sqlite_%'"
        ).fetchall():
            db.execute(f'DROP TABLE IF EXISTS "{name}"')
        for p in self.projections:
            p.create(db)
        db.execute("INSERT OR REPLACE INTO _meta (key, value) VALUES ('schema', ?)", (want,))
        db.execute("INSERT OR REPLACE INTO _meta (key, value) VALUES ('checkpoint', 0)")
        db.execute("COMMIT")

    @property
    def checkpoint(self) -> int:
        """Position of the last event folded into this index."""
        row = self.db.execute("SELECT value FROM _meta WHERE key = 'checkpoint'").fetchone()
        return int(row[0]) if row else 0

    # -- folding ----------------------------------------------------------------------------

    def _route(self, type_name: str) -> list[int]:
        route = self._routes.get(type_name)
        if route is None:
            route = [
                i
                for i, p in enumerate(self.projections)
                if any(type_name.startswith(prefix) for prefix in p.types)
            ]
            self._routes[type_name] = route
        return route

    def fold_batch(self, batch: Sequence[tuple[int, bytes]]) -> None:
        """Fold ``(pos, data)`` rows (in log order) and advance the checkpoint, atomically.

        Folds see events without their id: no read model keys on it, and computing a blake3
        per event would be a third of a rebuild's time.
        """
        if not batch:
            return
        per: list[list[tuple[Event, Any]]] = [[] for _ in self.projections]
        routes = self._routes
        build = self.catalog.build
        for pos, data in batch:
            try:
                fields = unpack(data)
            except CodecError:
                continue  # more than an event may hold: refused on ingest, never folded
            type_name = fields[3]
            route = routes.get(type_name)
            if route is None:
                route = self._route(type_name)
            if not route:
                continue
            typed = build(type_name, fields[4], fields[5])
            if type(typed) is UnknownEvent:
                continue
            ev = _new(Event, fields + (b"", data, None, pos))
            for i in route:
                per[i].append((ev, typed))
        db = self.db
        db.execute("BEGIN")
        try:
            for projection, events in zip(self.projections, per):
                if events:
                    projection.fold(db, events)
            db.execute("UPDATE _meta SET value = ? WHERE key = 'checkpoint'", (batch[-1][0],))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def catch_up(self, store: EventStore, until: int | None = None) -> int:
        """Fold everything the log has past the checkpoint; returns the new checkpoint."""
        checkpoint = self.checkpoint
        if checkpoint > store.head_pos:
            raise AheadOfLog(checkpoint, store.head_pos)
        for batch in store.read_data(since=checkpoint, until=until, batch=self.batch_size):
            self.fold_batch(batch)
        return self.checkpoint

    # -- digest -----------------------------------------------------------------------------

    def digest(self) -> str:
        """blake3 over a canonical dump of every projection's rows (see DESIGN: digest)."""
        return digest_of(self.db, self.projections)


def index_position(path: str, projections: Sequence[Projection]) -> int | None:
    """The checkpoint of the index at ``path`` if it holds these projections, else None."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            meta = dict(db.execute("SELECT key, value FROM _meta").fetchall())
        finally:
            db.close()
    except sqlite3.DatabaseError:
        return None
    if meta.get("schema") != schema_signature(projections):
        return None
    return int(meta.get("checkpoint", 0))


def digest_of(db: sqlite3.Connection, projections: Iterable[Projection]) -> str:
    hasher = blake3.blake3()
    packer = msgpack.Packer(use_bin_type=True)
    for p in sorted(projections, key=lambda p: p.name):
        hasher.update(packer.pack(p.name))
        for row in p.digest_rows(db):
            hasher.update(packer.pack(list(row)))
    return hasher.hexdigest()
