"""The SQLite event store: append, ingest, read, version vectors, verification.

Events are stored in *segments* (``events.segments``): one row per contiguous run of one
device's events. What a foreign event must be to be stored is ``events.ingest``'s to decide;
what a stored one must still be, ``events.verify``'s; both by one chain rule
(``events.chain``), which an append of this device's own events is checked by too.

Positions (``pos``) are local arrival order, contiguous, and what projections checkpoint on;
a segment's ``pos`` is that of its first event. Replication speaks ``(device, seq)``, which
the index on ``(dev, seq)`` resolves to a segment. Event ids are checked, never looked up,
so they are not indexed.

Every event id is keyed by the library (``events.envelope.library_key``): the store keeps its
library's id in ``meta`` and computes every id it checks with it, so an event of another
library never verifies here.

One ``EventStore`` object belongs to one thread at a time. Writers serialise through the
Journal; readers open their own ``EventStore(readonly=True)``.
"""

from __future__ import annotations

import os
import sqlite3
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

from events.chain import link_problem
from events.envelope import ID_LEN, LIBRARY_ID_LEN, ZERO_ID, Event, decode, library_key
from events.errors import CorruptStore, OldLogFormat, StoreError, WrongLibrary
from events.ingest import WRITE_EVERY, Ingestion, IngestReport
from events.keys import short_device
from events.segments import COLUMNS, frame, runs, unframe
from events.verify import Problem, device_problems

# 3: membership has roles (admins pair, revoke and grant roles; a revocation cuts at a seq)
# and a library's id proves its creator. 2: event ids keyed by the library. Older formats are
# not read: there is nothing to migrate yet.
FORMAT = 3

SCHEMA = """
CREATE TABLE IF NOT EXISTS devices (
    idx INTEGER PRIMARY KEY,
    key BLOB NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS segments (
    pos  INTEGER PRIMARY KEY,  -- local position of the first event
    n    INTEGER NOT NULL,     -- number of events
    dev  INTEGER NOT NULL,
    seq  INTEGER NOT NULL,     -- seq of the first event
    ids  BLOB NOT NULL,        -- the n event ids, 32 bytes each
    data BLOB NOT NULL,        -- msgpack array of the n events' canonical bytes
    sig  BLOB                  -- seal: signature of the last event's id
);
CREATE UNIQUE INDEX IF NOT EXISTS segments_by_device ON segments (dev, seq);
CREATE TABLE IF NOT EXISTS type_counts (
    type   TEXT PRIMARY KEY,
    events INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value
);
"""


@dataclass(frozen=True, slots=True)
class StoreStats:
    events: int
    by_type: dict[str, int]
    devices: int
    bytes: int


def type_matches(type_name: str, prefix: str | None) -> bool:
    """The one rule for "type prefix" filters, shared by the store, the bus and the CLI."""
    return not prefix or type_name.startswith(prefix)


def _connect(path: str, readonly: bool) -> sqlite3.Connection:
    if readonly:
        if not os.path.exists(path):
            raise StoreError(f"no event store at {path}")
        conn = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
        )
    else:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 5000")
    return conn


def read_head(path: str) -> int:
    """Position of the newest event of the log at ``path`` (0 if empty), without opening a
    store: two queries, for callers that only need to know how far the log goes.

    A log of another format is refused here too: a read served from an index must not hide
    that the log behind it cannot be used.
    """
    db = _connect(path, readonly=True)
    try:
        found = db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        row = db.execute("SELECT pos + n - 1 FROM segments ORDER BY pos DESC LIMIT 1").fetchone()
    except sqlite3.DatabaseError:
        return -1
    finally:
        db.close()
    if found is None or found[0] != FORMAT:
        raise OldLogFormat(path, found[0] if found else None, FORMAT)
    return row[0] if row else 0


class EventStore:
    """The log of one library. See the module docstring for the threading rule."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        library: bytes | None = None,
        readonly: bool = False,
    ) -> None:
        """Open (or, writable and given ``library``, create) the log at ``path``.

        ``library`` is the 16-byte id of the library the log belongs to: required to create a
        log, and checked against the log's own when given.
        """
        self.path = os.fspath(path)
        self.readonly = readonly
        try:
            self._db = _connect(self.path, readonly)
            if not readonly:
                # An acknowledged event must survive a power cut: fsync the WAL on commit.
                self._db.execute("PRAGMA synchronous = FULL")
                self._create(library)
            self._check_identity(library)
            self._load()
        except sqlite3.DatabaseError as exc:
            raise CorruptStore(self.path, str(exc)) from exc
        except BaseException:
            self._db.close() if hasattr(self, "_db") else None
            raise

    def _create(self, library: bytes | None) -> None:
        """WAL mode and the schema, once. Switching the journal mode needs the file to
        itself, so a second connection (the Projector's) must not try it again."""
        if self._db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            self._db.execute("PRAGMA journal_mode = WAL")
        if self._has_schema():
            return
        if library is None:
            raise StoreError(f"no event log at {self.path} (a new log needs its library's id)")
        if type(library) is not bytes or len(library) != LIBRARY_ID_LEN:
            raise StoreError(f"a library id is {LIBRARY_ID_LEN} bytes")
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            self._db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('format', ?), ('library', ?)",
                (FORMAT, library),
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def _has_schema(self) -> bool:
        return (
            self._db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
            ).fetchone()
            is not None
        )

    def _check_identity(self, library: bytes | None) -> None:
        """Refuse a log of another format, or of another library than the one expected."""
        if not self._has_schema():
            raise StoreError(f"no event log at {self.path}")
        meta = dict(
            self._db.execute("SELECT key, value FROM meta WHERE key IN ('format', 'library')")
        )
        if meta.get("format") != FORMAT:
            raise OldLogFormat(self.path, meta.get("format"), FORMAT)
        held = meta.get("library")
        if type(held) is not bytes or len(held) != LIBRARY_ID_LEN:
            raise CorruptStore(self.path, "it does not say which library it belongs to")
        if library is not None and held != library:
            raise WrongLibrary(self.path, held, library)
        self.library: bytes = held
        self.library_key: bytes = library_key(held)

    # -- state kept in memory -------------------------------------------------------------

    def _load(self) -> None:
        """Read the devices and heads in one snapshot: read one by one, a writer's commit
        in between could give a head of a device the devices table did not show yet."""
        own = not self._db.in_transaction
        if own:
            self._db.execute("BEGIN")
        try:
            self._read_state()
        finally:
            if own:
                self._db.execute("COMMIT")

    def _read_state(self) -> None:
        self._idx: dict[bytes, int] = {}
        self._keys: dict[int, bytes] = {}
        for idx, key in self._db.execute("SELECT idx, key FROM devices"):
            self._idx[key] = idx
            self._keys[idx] = key
        self._heads: dict[bytes, tuple[int, bytes]] = {}
        for idx, seq, n, ids in self._db.execute(
            "SELECT s.dev, s.seq, s.n, s.ids FROM segments s JOIN "
            "(SELECT dev, max(seq) AS seq FROM segments GROUP BY dev) h "
            "ON s.dev = h.dev AND s.seq = h.seq"
        ):
            self._heads[self._keys[idx]] = (seq + n - 1, ids[-ID_LEN:])
        row = self._db.execute(
            "SELECT pos + n - 1 FROM segments ORDER BY pos DESC LIMIT 1"
        ).fetchone()
        self._head_pos = row[0] if row else 0
        row = self._db.execute("SELECT value FROM meta WHERE key = 'hlc'").fetchone()
        self._hlc_high = row[0] if row else 0

    def checkpoint_elsewhere(self) -> None:
        """Stop this connection's commits from checkpointing the WAL (see events.checkpoint)."""
        self._db.execute("PRAGMA wal_autocheckpoint = 0")

    def refresh(self) -> None:
        """Re-read what another connection may have written (readers call this)."""
        self._load()

    def close(self) -> None:
        self._db.close()

    @property
    def head_pos(self) -> int:
        """Position of the newest event; 0 for an empty log."""
        return self._head_pos

    @property
    def hlc_high(self) -> int:
        """The greatest hlc stored here, any device's: a restarted clock observes it (as far
        as ``events.clock.MAX_AHEAD_MS`` allows)."""
        return self._hlc_high

    def head(self, device: bytes) -> tuple[int, bytes]:
        """``(seq, id)`` of ``device``'s last event here, ``(0, ZERO_ID)`` if none."""
        return self._heads.get(device, (0, ZERO_ID))

    def vector(self) -> dict[bytes, int]:
        """The version vector: for each device, the last seq held."""
        return {dev: seq for dev, (seq, _) in self._heads.items()}

    def last_hlcs(self) -> dict[bytes, int]:
        """For each device, the hlc of its last event held: where its clock stood.

        Unlike ``hlc_high`` (any device's), this device's own entry is what its next event
        must exceed, and another's shows whether that device's clock runs ahead."""
        found = {}
        for idx, blob in self._db.execute(
            "SELECT s.dev, s.data FROM segments s JOIN "
            "(SELECT dev, max(seq) AS seq FROM segments GROUP BY dev) h "
            "ON s.dev = h.dev AND s.seq = h.seq"
        ):
            found[self._keys[idx]] = decode(unframe(blob)[-1], ZERO_ID).hlc
        return found

    def meta(self, key: str) -> object:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: object) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- writing ----------------------------------------------------------------------------

    def _device_idx(self, key: bytes) -> int:
        idx = self._idx.get(key)
        if idx is None:
            idx = self._db.execute("INSERT INTO devices (key) VALUES (?)", (key,)).lastrowid
            assert idx is not None
            self._idx[key] = idx
            self._keys[idx] = key
        return idx

    def _begin(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        self._tx_pos = self._head_pos
        self._tx_hlc = self._hlc_high
        self._tx_types: Counter[str] = Counter()

    def _insert(self, events: Sequence[Event]) -> int:
        """Write verified, chained events after the head; return the first one's position.

        The events take the positions ``first, first + 1, ...`` in order. The caller holds the
        transaction.
        """
        first_pos = pos = self._tx_pos + 1
        rows = []
        for run in runs(events):
            head = run[0]
            rows.append(
                (
                    pos,
                    len(run),
                    self._device_idx(head.device),
                    head.seq,
                    b"".join([ev[7] for ev in run]),
                    frame(run),
                    run[-1].sig,
                )
            )
            pos += len(run)
            hlc = max([ev[2] for ev in run])
            if hlc > self._tx_hlc:
                self._tx_hlc = hlc
        self._tx_types.update([ev[3] for ev in events])
        self._db.executemany(f"INSERT INTO segments ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        self._tx_pos = pos - 1
        return first_pos

    def _commit(self, heads: dict[bytes, tuple[int, bytes]]) -> None:
        if self._tx_hlc != self._hlc_high:
            self.set_meta("hlc", self._tx_hlc)
        self._db.executemany(
            "INSERT INTO type_counts (type, events) VALUES (?, ?) "
            "ON CONFLICT (type) DO UPDATE SET events = events + excluded.events",
            list(self._tx_types.items()),
        )
        self._db.execute("COMMIT")
        self._head_pos = self._tx_pos
        self._hlc_high = self._tx_hlc
        self._heads.update(heads)

    def _rollback(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")
        # Device rows inserted in the failed transaction are gone: forget their indexes.
        self._load()

    def append(self, events: Sequence[Event]) -> int:
        """Store this device's freshly built events in one durable transaction.

        Returns the position of the first; the rest follow it one by one.

        The writer built them, so they are trusted; only their place in the chain is checked,
        which catches two writers on one log (a bug, never a user error).
        """
        if not events:
            return self._head_pos + 1
        first, last = events[0], events[-1]
        # The writer chains its own events; checking the ends catches two writers on one log.
        problem = link_problem(first, *self.head(first.device))
        if problem is None and (
            last.seq != first.seq + len(events) - 1 or last.device != first.device
        ):
            problem = "its events are not one run of one device"
        if problem is not None:
            raise StoreError(f"append out of chain for {short_device(first.device)}: {problem}")
        if last.sig is None:
            raise StoreError("append of events that end without a seal")
        heads = {first.device: (last.seq, last.id)}
        self._begin()
        try:
            first = self._insert(events)
            self._commit(heads)
        except BaseException:
            self._rollback()
            raise
        return first

    def ingest(
        self, wire: Iterable[tuple[bytes, bytes | None]], *, whole: bool = False
    ) -> IngestReport:
        """Verify and store foreign events, given as ``(data, sig)``, in one transaction or none
        (``events.ingest`` says what is accepted).

        On any refusal nothing is written; events after the last seal of their device are
        returned in ``held_back`` for the caller to resend with the rest of their run, unless
        ``whole`` is set (an import: all or nothing), which refuses them instead.

        If ``wire`` raises, nothing is written either; the exception propagates unless a
        refusal was already found, which is then reported as the more precise cause.
        """
        run = Ingestion(self.library, self.library_key, self.head, self._held_id)
        self._begin()
        try:
            try:
                for data, sig in wire:
                    run.feed(data, sig)
                    if len(run.sealed) >= WRITE_EVERY:
                        run.written(self._insert(run.sealed))
            except Exception:
                run.flush()  # what was read before the failure is decided, as it came
                if not run.report.refused:
                    raise
            run.finish(whole)
            if run.report.refused:
                self._rollback()
                return run.report
            if run.sealed:
                run.written(self._insert(run.sealed))
            self._commit(run.heads)
        except BaseException:
            self._rollback()
            raise
        return run.report

    def _held_id(self, device: bytes, seq: int) -> bytes | None:
        """Id of the event held at ``(device, seq)``, if any."""
        idx = self._idx.get(device)
        if idx is None:
            return None
        row = self._db.execute(
            "SELECT seq, n, ids FROM segments WHERE dev = ? AND seq <= ? ORDER BY seq DESC LIMIT 1",
            (idx, seq),
        ).fetchone()
        if row is None or seq >= row[0] + row[1]:
            return None
        at = (seq - row[0]) * ID_LEN
        return row[2][at : at + ID_LEN]

    # -- reading ----------------------------------------------------------------------------

    def device_ids(self, device: bytes, first: int, last: int) -> bytes:
        """The ids of ``device``'s events ``first .. last`` (seqs), concatenated, 32 bytes
        each; shorter where the log holds fewer. Only the ids column is read: comparing two
        copies of a log needs no event decoded."""
        idx = self._idx.get(device)
        if idx is None or last < first:
            return b""
        start = self._db.execute(
            "SELECT coalesce(max(seq), 1) FROM segments WHERE dev = ? AND seq <= ?",
            (idx, first),
        ).fetchone()[0]
        out = bytearray()
        for seq, ids in self._db.execute(
            "SELECT seq, ids FROM segments WHERE dev = ? AND seq >= ? AND seq <= ? ORDER BY seq",
            (idx, start, last),
        ):
            lo = max(first, seq) - seq
            hi = min(last, seq + len(ids) // ID_LEN - 1) - seq + 1
            out += ids[lo * ID_LEN : hi * ID_LEN]
        return bytes(out)

    def first_pos_after(self, device: bytes, seq: int) -> int | None:
        """The position of ``device``'s event ``seq + 1``, or of its first later one held;
        None if the log holds none after ``seq``."""
        idx = self._idx.get(device)
        if idx is None:
            return None
        row = self._db.execute(
            "SELECT pos, seq FROM segments WHERE dev = ? AND seq + n - 1 > ? ORDER BY seq LIMIT 1",
            (idx, seq),
        ).fetchone()
        if row is None:
            return None
        return row[0] + max(0, seq + 1 - row[1])

    def device_data(
        self, device: bytes, first: int, last: int, until: int | None = None
    ) -> list[tuple[int, bytes]]:
        """``(pos, data)`` of ``device``'s events ``first .. last`` (seqs) held at positions
        up to ``until``, in their order."""
        idx = self._idx.get(device)
        if idx is None or last < first:
            return []
        start = self._db.execute(
            "SELECT coalesce(max(seq), 1) FROM segments WHERE dev = ? AND seq <= ?",
            (idx, first),
        ).fetchone()[0]
        out = []
        for pos, _n, _dev, seq, _ids, blob, _sig in self._segments(
            "seq > ? AND dev = ? AND seq <= ?", [start - 1, idx, last], order="seq"
        ):
            for i, data in enumerate(unframe(blob)):
                if first <= seq + i <= last and (until is None or pos + i <= until):
                    out.append((pos + i, data))
        return out

    def _segments(self, where: str, params: Sequence[object], order: str = "pos"):
        """Segment rows in batches, so a long read never holds the whole log.

        ``where`` must start with ``<order> > ?``: that first parameter is the cursor.
        """
        sql = f"SELECT {COLUMNS} FROM segments WHERE {where} ORDER BY {order} LIMIT 64"
        key = 0 if order == "pos" else 3
        cursor_params = list(params)
        while True:
            rows = self._db.execute(sql, cursor_params).fetchall()
            yield from rows
            if len(rows) < 64:
                return
            cursor_params[0] = rows[-1][key]

    def _segment_before(self, since: int) -> int:
        """A cursor just before the segment holding position ``since + 1``: a reader after
        ``since`` starts there, not ``SEGMENT_MAX`` positions back (those segments may be a
        few large batches of entries, each read and unpacked for nothing)."""
        if since <= 0:
            return 0
        row = self._db.execute(
            "SELECT max(pos) FROM segments WHERE pos <= ?", (since + 1,)
        ).fetchone()
        return row[0] - 1 if row[0] else 0

    def read(
        self,
        since: int = 0,
        *,
        until: int | None = None,
        type_prefix: str | None = None,
        device: bytes | None = None,
        limit: int | None = None,
    ) -> Iterator[Event]:
        """Events with ``since < pos <= until`` in arrival order, streamed."""
        where = "pos > ?"
        params: list[object] = [self._segment_before(since)]
        if device is not None:
            idx = self._idx.get(device)
            if idx is None:
                return
            where += " AND dev = ?"
            params.append(idx)
        left = limit if limit is not None else -1
        for pos, _n, _dev, _seq, ids, blob, sig in self._segments(where, params):
            if until is not None and pos > until:
                return
            items = unframe(blob)
            last = len(items) - 1
            for i, data in enumerate(items):
                p = pos + i
                if p <= since:
                    continue
                if until is not None and p > until:
                    return
                ev = decode(data, ids[i * ID_LEN : (i + 1) * ID_LEN], sig if i == last else None, p)
                if not type_matches(ev.type, type_prefix):
                    continue
                yield ev
                left -= 1
                if left == 0:
                    return

    def read_data(
        self,
        since: int = 0,
        until: int | None = None,
        batch: int = 4096,
        max_bytes: int = 8 << 20,
    ) -> Iterator[list[tuple[int, bytes]]]:
        """Batches of ``(pos, data)`` in arrival order: the fast path for folding.

        A batch ends at ``batch`` events or ``max_bytes`` of them, whichever comes first:
        a thousand small tag events and a thousand batches of a thousand entries each are
        not the same amount of work, nor of memory.
        """
        rows: list[tuple[int, bytes]] = []
        size = 0
        # Segments that start past ``until`` are never read: a short fold on top of a
        # snapshot reads a few segments of a large log, not the next 64.
        where, params = "pos > ?", [self._segment_before(since)]
        if until is not None:
            where, params = "pos > ? AND pos <= ?", [params[0], until]
        for pos, _n, _dev, _seq, _ids, blob, _sig in self._segments(where, params):
            if until is not None and pos > until:
                break
            items = unframe(blob)
            if pos > since and (until is None or pos + len(items) - 1 <= until):
                rows.extend(zip(range(pos, pos + len(items)), items))
            else:
                rows.extend(
                    (pos + i, data)
                    for i, data in enumerate(items)
                    if since < pos + i and (until is None or pos + i <= until)
                )
            size += len(blob)
            if len(rows) >= batch or size >= max_bytes:
                yield rows
                rows = []
                size = 0
        if rows:
            yield rows

    def missing(self, vector: dict[bytes, int]) -> Iterator[Event]:
        """The events a peer with ``vector`` lacks, each device's in its own order, decoded."""
        for _device, pos, _seq, skip, ids, items, sig in self._missing_segments(vector):
            last = len(items) - 1
            for i, data in enumerate(items):
                at = (i + skip) * ID_LEN
                yield decode(data, ids[at : at + ID_LEN], sig if i == last else None, pos + i)

    def missing_wire(
        self, vector: dict[bytes, int], upto: dict[bytes, int] | None = None
    ) -> Iterator[tuple[bytes, int, tuple[bytes, ...], bytes | None]]:
        """What a peer with ``vector`` lacks, as stored: ``(device, first seq, data of each
        event, seal of the last or None)`` per segment, nothing decoded. ``upto``: per
        device, the last seq that may be sent (a device not in it: none); None: all.

        Replication ships bytes, and the receiver decodes and checks them itself; decoding
        here would only cost time. A segment ends at a seal or at ``SEGMENT_MAX`` events, so
        a receiver that gets whole segments gets runs it can ingest.
        """
        for device, _pos, seq, _skip, _ids, items, sig in self._missing_segments(vector, upto):
            yield device, seq, items, sig

    def _missing_segments(
        self, vector: dict[bytes, int], upto: dict[bytes, int] | None = None
    ) -> Iterator[tuple]:
        """``(device, pos and seq of the first lacking event, its index in the segment, the
        segment's ids, the lacking events' data, seal)`` for each segment holding events
        ``vector`` lacks (and ``upto`` lets go: a segment cut short loses its seal)."""
        for device, (seq, _) in sorted(self._heads.items()):
            have = vector.get(device, 0)
            cap = seq if upto is None else min(seq, upto.get(device, 0))
            if have >= cap:
                continue
            idx = self._idx[device]
            start = self._db.execute(
                "SELECT coalesce(max(seq), 1) FROM segments WHERE dev = ? AND seq <= ?",
                (idx, have + 1),
            ).fetchone()[0]
            for pos, _n, _dev, first, ids, blob, sig in self._segments(
                "seq > ? AND dev = ? AND seq <= ?", [start - 1, idx, cap], order="seq"
            ):
                items = unframe(blob)
                skip = max(0, have + 1 - first)
                keep = min(len(items), cap - first + 1)
                if keep < len(items):
                    sig = None
                yield device, pos + skip, first + skip, skip, ids, items[skip:keep], sig

    def count_of(self, type_name: str) -> int:
        """How many events of ``type_name`` the log holds."""
        row = self._db.execute(
            "SELECT events FROM type_counts WHERE type = ?", (type_name,)
        ).fetchone()
        return row[0] if row else 0

    def heads_at(self, position: int) -> dict[bytes, bytes]:
        """Each device's last event at or before ``position``, by id: which events the log
        held up to there, all of them (a device's events chain through ``prev``)."""
        found = {}
        for dev, pos, n, ids in self._db.execute(
            "SELECT s.dev, s.pos, s.n, s.ids FROM segments s JOIN "
            "(SELECT dev, max(pos) AS pos FROM segments WHERE pos <= ? GROUP BY dev) h "
            "ON s.dev = h.dev AND s.pos = h.pos",
            (position,),
        ):
            last = min(n, position - pos + 1) - 1
            found[self._keys[dev]] = ids[last * ID_LEN : (last + 1) * ID_LEN]
        return found

    def bytes_between(self, since: int, until: int) -> int:
        """About how many bytes of events lie in ``since < pos <= until`` (whole segments,
        by where they start): what folding that stretch again costs."""
        row = self._db.execute(
            "SELECT coalesce(sum(length(data)), 0) FROM segments WHERE pos > ? AND pos <= ?",
            (since, until),
        ).fetchone()
        return int(row[0])

    def stats(self) -> StoreStats:
        by_type = dict(self._db.execute("SELECT type, events FROM type_counts ORDER BY type"))
        size = self._db.execute(
            "SELECT coalesce(sum(length(ids) + length(data) + coalesce(length(sig), 0)), 0) "
            "FROM segments"
        ).fetchone()[0]
        return StoreStats(sum(by_type.values()), by_type, len(self._heads), size)

    # -- verification -----------------------------------------------------------------------

    def verify(self) -> list[Problem]:
        """Check every id, chain link, sequence and signature (``events.verify``); name each
        broken event."""
        try:
            problems: list[Problem] = []
            status = self._db.execute("PRAGMA quick_check").fetchone()[0]
            if status != "ok":
                problems.append(Problem(None, None, None, f"SQLite quick_check: {status}"))
            for idx, key in sorted(self._keys.items()):
                segments = self._segments("seq > ? AND dev = ?", [0, idx], order="seq")
                problems.extend(device_problems(self.library_key, key, segments))
            return problems
        except sqlite3.DatabaseError as exc:
            return [Problem(None, None, None, f"the database file is damaged: {exc}")]
