"""The vectors of an index's entries, kept in one file beside it (``vectors.bin``).

Local and disposable like the index itself, and outside it: floating-point results may
differ between processors, so nothing here may reach a digest or the log. A row is an entry's
local id, the key of the text it was computed from (a hash: a renamed or moved entry has
another), and its vector. The file also says which index checkpoint it was made at, so a
reader knows whether it may be behind.

Updating is a comparison: every entry's text is keyed again, rows whose id and key are
unchanged are kept, the others embedded, the gone dropped; a lost or unreadable file is a
comparison with nothing. The file is written whole to a temporary name and renamed, so a
reader sees the old file or the new, never half of one; readers map it (``np.memmap``):
pages are shared between processes and read once.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import sqlite3
import struct
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple

import numpy as np

from projections.files.named import every_entry
from projections.runner import read_checkpoint
from sdactors.runtime.logs import get_logger
from sdactors.semantic.model import DIM, embed, entry_text

log = get_logger(__name__)

FILE = "vectors.bin"
MAGIC = b"SDVEC\x00\x00\x04"
# magic, dimensions, rows, index checkpoint, then the arrays: ids (int64), keys (uint64),
# kinds (uint16), modification times (int64), the first HEAD components of every vector
# (float32, rows x HEAD), then the rest (rows x DIM - HEAD).
_HEADER = struct.Struct("<8sIQQ")
HEADER_SIZE = 64
# Texts embedded per call: bounds the memory of one batch.
BATCH = 4096
# A search scans the vectors' first HEAD components (Matryoshka: a coarser vector of its
# own), and scores the best SHORTLIST (at least) of them on all DIM: half the memory read and
# resident at 1M entries, the same best 10 as an exact scan (recall@10 in
# tools/bench_semantic.py).
HEAD = 64
SHORTLIST = 2_000


# Bytes per row in the file.
ROW = 8 + 8 + 2 + 8 + 4 * DIM


def kind_code(kind: str | None) -> int:
    """A kind as a number a row can hold (0: none). Two kinds may share one: it narrows
    what a search reads, the search's own filter decides."""
    if kind is None:
        return 0
    return 1 + int.from_bytes(hashlib.blake2b(kind.encode(), digest_size=2).digest()) % 65535


class Vectors(NamedTuple):
    ids: np.ndarray  # int64, ascending
    keys: np.ndarray  # uint64
    kinds: np.ndarray  # uint16 (``kind_code``)
    mtimes: np.ndarray  # int64, ns
    head: np.ndarray  # float32, len(ids) x HEAD
    tail: np.ndarray  # float32, len(ids) x (DIM - HEAD); with head, unit length
    checkpoint: int

    @classmethod
    def of(
        cls,
        ids: np.ndarray,
        keys: np.ndarray,
        vecs: np.ndarray,
        checkpoint: int,
        kinds: np.ndarray | None = None,
        mtimes: np.ndarray | None = None,
    ) -> "Vectors":
        kinds = np.zeros(len(ids), np.uint16) if kinds is None else kinds
        mtimes = np.zeros(len(ids), np.int64) if mtimes is None else mtimes
        return cls(ids, keys, kinds, mtimes, vecs[:, :HEAD], vecs[:, HEAD:], checkpoint)

    @classmethod
    def empty(cls) -> "Vectors":
        return cls.of(
            np.zeros(0, np.int64), np.zeros(0, np.uint64), np.zeros((0, DIM), np.float32), 0
        )

    def rows(self, at: np.ndarray) -> np.ndarray:
        """The whole vectors of these rows."""
        return np.hstack((self.head[at], self.tail[at]))

    def nearest(
        self, query: np.ndarray, count: int, among: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ids of the ``count`` rows nearest ``query`` (a unit vector), nearest first,
        and their similarity; ``among``: only these rows (a boolean mask)."""
        at = None if among is None else np.flatnonzero(among)
        short = max(SHORTLIST, 4 * count)
        rows = len(self.ids) if at is None else len(at)
        if rows > short:
            coarse = self.head @ query[:HEAD] if at is None else self.head[at] @ query[:HEAD]
            best = np.argpartition(coarse, rows - short)[rows - short :]
            at = best if at is None else at[best]
        elif at is None:
            at = np.arange(rows)
        scores = self.rows(at) @ query
        best = np.argsort(-scores, kind="stable")[:count]
        return self.ids[at[best]], scores[best]


# The arrays of the file, in order: type, and components per row.
_LAYOUT = (
    (np.int64, 1),
    (np.uint64, 1),
    (np.uint16, 1),
    (np.int64, 1),
    (np.float32, HEAD),
    (np.float32, DIM - HEAD),
)
# Which of them is the vectors' first components.
HEAD_ARRAY = 4


def key_of(place: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(place, digest_size=8).digest(), "little")


def path_in(root: Path) -> Path:
    """Where a library's vectors are (``root``: the library's folder, beside index.db)."""
    return root / FILE


_mapped_lock = threading.Lock()
# The file last read at each path, by its identity (inode, mtime, size): a node's searches
# share one copy of the first components and one mapping of the rest.
_mapped: dict[Path, tuple[tuple[int, int, int], Vectors]] = {}


def load(path: Path) -> Vectors | None:
    """The vectors in ``path`` (their first components read, the rest mapped); None if there
    are none or the file is not one we wrote with this model (it is then rebuilt)."""
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            identity = (st.st_ino, st.st_mtime_ns, st.st_size)
            with _mapped_lock:
                known = _mapped.get(path)
            if known is not None and known[0] == identity:
                return known[1]
            magic, dim, rows, checkpoint = _HEADER.unpack(f.read(_HEADER.size))
            if magic != MAGIC or dim != DIM or st.st_size != HEADER_SIZE + rows * ROW:
                log.info("vectors_unreadable", path=str(path))
                return None
            if rows == 0:
                return Vectors.empty()._replace(checkpoint=checkpoint)
            mapped = mmap.mmap(f.fileno(), st.st_size, mmap.MAP_SHARED, mmap.PROT_READ)
            arrays = []
            at = HEADER_SIZE
            for i, (kind, width) in enumerate(_LAYOUT):
                count = rows * width
                if i == HEAD_ARRAY:
                    # What every query scans whole, read into the process's own memory:
                    # numpy gives a large array huge pages, where the file's are small
                    # ones, and the scan ran 5 times slower from the file (1M entries:
                    # 53 ms against 11). The rest stays mapped: a query reads a few
                    # thousand rows of it.
                    array = np.empty(count, kind)
                    f.seek(at)
                    if f.readinto(memoryview(array).cast("B")) != array.nbytes:
                        return None
                else:
                    array = np.frombuffer(mapped, kind, count, at)
                arrays.append(array if width == 1 else array.reshape(rows, width))
                at += count * np.dtype(kind).itemsize
    except (OSError, struct.error, ValueError):
        return None
    vectors = Vectors(*arrays, checkpoint)
    with _mapped_lock:
        _mapped[path] = (identity, vectors)
    return vectors


def save(path: Path, vectors: Vectors) -> None:
    """Write ``vectors`` to ``path`` whole (a temporary file renamed over it)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    try:
        with open(temporary, "wb") as f:
            header = _HEADER.pack(MAGIC, DIM, len(vectors.ids), vectors.checkpoint)
            f.write(header.ljust(HEADER_SIZE, b"\x00"))
            for array, (kind, _) in zip(vectors[:-1], _LAYOUT):
                f.write(np.ascontiguousarray(array, kind).tobytes())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


class Update(NamedTuple):
    vectors: Vectors
    embedded: int
    kept: int
    dropped: int


class Row(NamedTuple):
    entry: int
    # Its folders below its location and its name, "/" between: what its vector means
    # (``text_of``), and its key (a hash, cheap: only the changed are made text).
    place: bytes
    kind: str | None
    mtime_ns: int


def text_of(place: bytes) -> str:
    """The text an entry's vector is the meaning of (``model.entry_text``). A byte that is
    not UTF-8 means nothing to the model (and the tokenizer refuses the surrogates
    ``paths.text`` would make of it)."""
    *folders, name = place.decode("utf-8", "replace").split("/")
    return entry_text(name, [f for f in folders if f])


def updated(old: Vectors | None, rows: Iterable[Row], checkpoint: int) -> Update:
    """The vectors of ``rows``: those of ``old`` whose id and place are unchanged, the
    others embedded now (kinds and times as the rows say)."""
    pairs = sorted(rows)
    ids = np.fromiter((r.entry for r in pairs), np.int64, len(pairs))
    keys = np.fromiter((key_of(r.place) for r in pairs), np.uint64, len(pairs))
    kinds = np.fromiter((kind_code(r.kind) for r in pairs), np.uint16, len(pairs))
    mtimes = np.fromiter((r.mtime_ns for r in pairs), np.int64, len(pairs))
    vecs = np.zeros((len(ids), DIM), np.float32)
    same = np.zeros(len(ids), bool)
    if old is not None and len(old.ids) and len(ids):
        at = np.minimum(np.searchsorted(old.ids, ids), len(old.ids) - 1)
        same = (old.ids[at] == ids) & (old.keys[at] == keys)
        vecs[same] = old.rows(at[same])
    todo = np.flatnonzero(~same)
    for start in range(0, len(todo), BATCH):
        batch = todo[start : start + BATCH]
        vecs[batch] = embed([text_of(pairs[i].place) for i in batch])
    kept = int(same.sum())
    before = 0 if old is None else len(old.ids)
    vectors = Vectors.of(ids, keys, vecs, checkpoint, kinds, mtimes)
    return Update(vectors, len(todo), kept, before - kept)


def rows_of(db: sqlite3.Connection) -> Iterator[Row]:
    """Every entry of the index: where it is, its kind and modification time."""
    return (Row(*named) for named in every_entry(db))


def refresh(root: Path, db: sqlite3.Connection, save_to_disk: bool = True) -> Update | None:
    """Bring the vectors of the library at ``root`` up to its index ``db``: None if they
    were already made at its checkpoint. Saved unless ``save_to_disk`` is false (a reader
    of an index at another moment, ``--at``)."""
    path = path_in(root)
    old = load(path)
    checkpoint = read_checkpoint(db)
    if old is not None and old.checkpoint == checkpoint:
        return None
    update = updated(old, rows_of(db), checkpoint)
    if save_to_disk:
        save(path, update.vectors)
    log.info(
        "vectors_refreshed",
        embedded=update.embedded,
        kept=update.kept,
        dropped=update.dropped,
        checkpoint=checkpoint,
    )
    return update


def refresh_apart(root: str, index: str, answer: Connection) -> None:
    """:func:`refresh` in a process of its own (the vectors job's: the model's load and the
    embedding hold the interpreter's lock, which the node's other threads need), at the
    lowest CPU priority; its counts, or its error, sent on ``answer``."""
    os.nice(19)
    try:
        db = sqlite3.connect(f"file:{index}?mode=ro", uri=True)
        try:
            update = refresh(Path(root), db)
        finally:
            db.close()
        counts = {"embedded": 0, "kept": 0, "dropped": 0}
        if update is not None:
            counts = {"embedded": update.embedded, "kept": update.kept, "dropped": update.dropped}
        answer.send(counts)
    except Exception as e:  # noqa: BLE001 - told to the job, which says it in one line
        answer.send({"error": f"{type(e).__name__}: {e}"})
    finally:
        answer.close()
