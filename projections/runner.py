"""Folds the log into index.db, batch by batch, each batch with its checkpoint in one transaction.

Because the checkpoint commits with the rows it describes, a crash at any moment leaves the
index exactly at some checkpoint: never ahead of it, never half a batch in. The index is
disposable (``synchronous = NORMAL``): if it is lost, it is rebuilt from the log.

Membership gates everything else (``projections.membership``): it is folded first in each
batch, from every membership event held, and says which device's events up to which seq the
other read models fold. When it grows (a device's pairing arrived after its events), the
events it held back are folded then, which any order of a device's own events allows; when
it shrinks past events already folded (a revocation cut them), the index cannot unfold them
and :class:`RefoldNeeded` is raised: whoever holds the index folds it again from the log,
knowing every cut before it starts (:meth:`ProjectionRunner.refold`).
"""

from __future__ import annotations

import os
import sqlite3
from typing import Any, Callable, Iterable, Sequence

import blake3
import msgpack

from events.codec import unpack
from events.domain.device import MEMBERSHIP_TYPES
from events.envelope import Event
from events.errors import CodecError
from events.registry import Catalog, UnknownEvent
from events.sqlite_faults import disk_full
from events.store import EventStore
from projections.base import Projection
from projections.errors import AheadOfLog, IndexDamaged, RefoldNeeded
from projections.membership import MembershipProjection

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
        # Per type: the read models that fold it but the gate, whether the gate does, and
        # how its events are built (``Catalog.builder``).
        self._routes: dict[str, tuple[list[int], bool, Callable[[int, Any], Any]]] = {}
        self._db: sqlite3.Connection | None = None
        gates = [i for i, p in enumerate(self.projections) if getattr(p, "gate", False)]
        self._gate = gates[0] if gates else None
        # Per device, the last seq the read models fold (see the module's text); None: all.
        self._allowed: dict[bytes, int] | None = None
        # Events per transaction while catching up: large batches amortise each fold's
        # per-batch work (a rebuild), a transaction still commits every few hundred ms.
        self.batch_size = 20_000
        # Folding inside a transaction its caller holds (``within``): batches are
        # savepoints, and nothing is committed here.
        self._nested = False

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
            self._allowed = self._read_allowed()
        except sqlite3.DatabaseError as exc:
            if disk_full(exc):
                raise  # nothing wrong with the file: there is no room to write it
            raise IndexDamaged(self.path, str(exc)) from exc
        return self

    @classmethod
    def within(
        cls, db: sqlite3.Connection, projections: Sequence[Projection], catalog: Catalog
    ) -> "ProjectionRunner":
        """A runner folding into ``db``, an index of these projections, inside the
        transaction the caller has begun: what it folds is seen on ``db`` and goes away with
        the caller's rollback (a look at the past on top of a snapshot that stays as it is)."""
        runner = cls(":within:", projections, catalog)
        runner._db = db
        runner._nested = True
        runner._allowed = runner._read_allowed()
        return runner

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
        self._reset()

    def _reset(self) -> None:
        """Empty every read model: the fold starts from the beginning of the log."""
        db = self.db
        db.execute("BEGIN")
        try:
            for (name,) in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name != '_meta' "
                "AND name NOT LIKE 'sqlite_%'"
            ).fetchall():
                db.execute(f'DROP TABLE IF EXISTS "{name}"')
            for p in self.projections:
                p.create(db)
            want = schema_signature(self.projections)
            db.execute("INSERT OR REPLACE INTO _meta (key, value) VALUES ('schema', ?)", (want,))
            db.execute("INSERT OR REPLACE INTO _meta (key, value) VALUES ('checkpoint', 0)")
            db.execute("COMMIT")
        except BaseException:
            _rollback(db)
            raise
        self._allowed = None

    def _read_allowed(self) -> dict[bytes, int] | None:
        if self._gate is None:
            return None
        return MembershipProjection.allowed(self.db)

    @property
    def checkpoint(self) -> int:
        """Position of the last event folded into this index."""
        return read_checkpoint(self.db)

    # -- folding ----------------------------------------------------------------------------

    def _route(self, type_name: str) -> tuple[list[int], bool, Callable[[int, Any], Any]]:
        route = self._routes.get(type_name)
        if route is None:
            folding = [
                i
                for i, p in enumerate(self.projections)
                if any(type_name.startswith(prefix) for prefix in p.types)
            ]
            gate = self._gate
            others = [i for i in folding if i != gate]
            route = (others, gate in folding, self.catalog.builder(type_name))
            self._routes[type_name] = route
        return route

    def fold_batch(
        self, batch: Sequence[tuple[int, bytes]], store: EventStore | None = None
    ) -> None:
        """Fold ``(pos, data)`` rows (in log order) and advance the checkpoint, atomically.

        Folds see events without their id: no read model keys on it, and computing a blake3
        per event would be a third of a rebuild's time. ``store``: the log the rows come from,
        where membership finds the events it held back (see the module's text); without it
        the projections are folded ungated (tests of one projection).
        """
        if not batch:
            return
        gate = self._gate
        per, gated = self._sort(batch, self._allowed if store is not None else None, gate)
        db = self.db
        db.execute("SAVEPOINT fold" if self._nested else "BEGIN")
        try:
            if gated:
                assert gate is not None
                self.projections[gate].fold(db, gated)
            if gated and store is not None:
                before = self._allowed
                late = self._admit(store)
                if late or self._allowed != before:
                    # Membership changed: the batch is sorted again by what it allows now.
                    per, _ = self._sort([*late, *batch], self._allowed, gate)
            for projection, events in zip(self.projections, per):
                if events:
                    projection.fold(db, events)
            db.execute("UPDATE _meta SET value = ? WHERE key = 'checkpoint'", (batch[-1][0],))
            db.execute("RELEASE fold" if self._nested else "COMMIT")
        except BaseException:
            _rollback(db)
            try:
                self._allowed = self._read_allowed()
            except sqlite3.Error:
                pass  # the reason the batch failed: whoever handles it reopens the index
            raise

    def _sort(
        self,
        rows: Iterable[tuple[int, bytes]],
        allowed: dict[bytes, int] | None,
        gate: int | None,
    ) -> tuple[list[list[tuple[Event, Any]]], list[tuple[Event, Any]]]:
        """Each row, decoded, to the read models that fold it: what ``allowed`` lets through
        (None: everything) to all but the gate; every membership event to the gate (its
        second answer), allowed or not. A row nobody may fold is never built into a typed
        event: that is most of a fold's decoding."""
        per: list[list[tuple[Event, Any]]] = [[] for _ in self.projections]
        gated: list[tuple[Event, Any]] = []
        routes = self._routes
        get = allowed.get if allowed is not None else None
        for pos, data in rows:
            try:
                fields = unpack(data)
            except CodecError:
                continue  # more than an event may hold: refused on ingest, never folded
            type_name = fields[3]
            route = routes.get(type_name)
            if route is None:
                route = self._route(type_name)
            others, gating, build = route
            admitted = get is None or fields[1] <= get(fields[0], 0)
            if not ((admitted and others) or gating):
                continue
            typed = build(fields[4], fields[5])
            if type(typed) is UnknownEvent:
                continue
            item = (_new(Event, fields + (b"", data, None, pos)), typed)
            if gating:
                gated.append(item)
            if admitted:
                for i in others:
                    per[i].append(item)
        return per, gated

    def _admit(self, store: EventStore) -> list[tuple[int, bytes]]:
        """Take in the membership just folded: the rows it now lets in that earlier batches
        held back (to be folded first), or :class:`RefoldNeeded` if it cuts events already
        folded."""
        before = self._allowed
        after = self._read_allowed()
        checkpoint = self.checkpoint
        late: list[tuple[int, bytes]] = []
        if after is None:
            if before is not None:  # a library's creation, once held, stays
                raise RuntimeError("membership lost the library's creator")
            return []
        if before is None:
            # Every event was folded so far: now only members' count.
            before = store.vector()
        for device in before.keys() | after.keys():
            was, now = before.get(device, 0), after.get(device, 0)
            if now < was:
                first = store.first_pos_after(device, now)
                if first is not None and first <= checkpoint:
                    raise RefoldNeeded(device, now)
            elif now > was:
                late.extend(store.device_data(device, was + 1, now, until=checkpoint))
        self._allowed = after
        late.sort()
        return late

    def catch_up(
        self,
        store: EventStore,
        until: int | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> int:
        """Fold everything the log has past the checkpoint; returns the new checkpoint.

        :class:`RefoldNeeded` if a revocation cuts events already folded; on a fold from the
        beginning, it is dealt with here (:meth:`refold`). ``on_batch`` is called with the
        checkpoint after each committed batch: how far a long fold has come, and where it may
        stop (by raising) with whole batches kept.
        """
        checkpoint = self.checkpoint
        if checkpoint > store.head_pos:
            raise AheadOfLog(checkpoint, store.head_pos)
        if checkpoint == 0 and self._gate is not None and store.count_of("device.revoked"):
            return self.refold(store, until, on_batch)  # a cut may come after what it cuts
        try:
            return self._fold_from(store, checkpoint, until, on_batch)
        except RefoldNeeded:
            if checkpoint != 0:
                raise
            return self.refold(store, until, on_batch)

    def _fold_from(
        self,
        store: EventStore,
        since: int,
        until: int | None,
        on_batch: Callable[[int], None] | None,
    ) -> int:
        for batch in store.read_data(since=since, until=until, batch=self.batch_size):
            self.fold_batch(batch, store)
            if on_batch is not None:
                on_batch(batch[-1][0])
        return self.checkpoint

    def refold(
        self,
        store: EventStore,
        until: int | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> int:
        """Fold the log again from its beginning into this (emptied) index, knowing from the
        start every membership event up to ``until``, so no cut can come too late."""
        self._reset()
        gate = self._gate
        if gate is not None:
            _per, acts = self._sort(_membership_rows(store, until), {}, gate)
            db = self.db
            db.execute("BEGIN")
            try:
                self.projections[gate].fold(db, acts)
                db.execute("COMMIT")
            except BaseException:
                _rollback(db)
                raise
            self._allowed = self._read_allowed()
        return self._fold_from(store, 0, until, on_batch)

    # -- digest -----------------------------------------------------------------------------

    def digest(self) -> str:
        """blake3 over a canonical dump of every projection's rows (see DESIGN: digest)."""
        return digest_of(self.db, self.projections)


# A membership event's type, as msgpack encodes it inside an event (a short str).
_MEMBERSHIP_MARKS = tuple(msgpack.packb(t) for t in MEMBERSHIP_TYPES)


def _membership_rows(store: EventStore, until: int | None) -> Iterable[tuple[int, bytes]]:
    """The log's membership events (and perhaps a few others: the caller decodes and routes
    them), found by their encoded type among an event's first bytes: the envelope's type
    comes before its body, so a large batch of entries is never decoded here."""
    marks = _MEMBERSHIP_MARKS
    for batch in store.read_data(since=0, until=until):
        for pos, data in batch:
            head = data[:128]
            if any(mark in head for mark in marks):
                yield pos, data


def _rollback(db: sqlite3.Connection) -> None:
    """Roll back what is left of a failed transaction. SQLite ends some itself (on a full
    disk, a failed COMMIT is already rolled back): a second ROLLBACK would then fail and hide
    the error that matters."""
    if db.in_transaction:
        db.execute("ROLLBACK")


def read_checkpoint(db: sqlite3.Connection) -> int:
    """Position of the last event folded into the index ``db`` (0: none)."""
    row = db.execute("SELECT value FROM _meta WHERE key = 'checkpoint'").fetchone()
    return int(row[0]) if row and row[0] else 0


def index_position(path: str, projections: Sequence[Projection] | None = None) -> int | None:
    """The checkpoint of the index at ``path``; None if there is none to read, or (given
    ``projections``) if it does not hold these."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            if projections is not None:
                row = db.execute("SELECT value FROM _meta WHERE key = 'schema'").fetchone()
                if row is None or row[0] != schema_signature(projections):
                    return None
            return read_checkpoint(db)
        finally:
            db.close()
    except sqlite3.DatabaseError:
        return None


def digest_of(db: sqlite3.Connection, projections: Iterable[Projection]) -> str:
    hasher = blake3.blake3()
    packer = msgpack.Packer(use_bin_type=True)
    for p in sorted(projections, key=lambda p: p.name):
        hasher.update(packer.pack(p.name))
        for row in p.digest_rows(db):
            hasher.update(packer.pack(list(row)))
    return hasher.hexdigest()
