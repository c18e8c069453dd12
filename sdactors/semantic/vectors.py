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
import os
import sqlite3
import struct
import threading
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple

import numpy as np

from projections.files.named import every_entry
from projections.runner import read_checkpoint
from sdactors.runtime.logs import get_logger
from sdactors.semantic.model import DIM, embed, entry_text

log = get_logger(__name__)

FILE = "vectors.bin"
MAGIC = b"SDVEC\x00\x00\x01"
# magic, dimensions, rows, index checkpoint, then the arrays: ids (int64), keys (uint64),
# vectors (float32, rows x dimensions).
_HEADER = struct.Struct("<8sIQQ")
HEADER_SIZE = 64
# Texts embedded per call: bounds the memory of one batch.
BATCH = 4096


class Vectors(NamedTuple):
    ids: np.ndarray  # int64, ascending
    keys: np.ndarray  # uint64
    vecs: np.ndarray  # float32, len(ids) x DIM, unit length
    checkpoint: int

    @classmethod
    def empty(cls) -> "Vectors":
        return cls(np.zeros(0, np.int64), np.zeros(0, np.uint64), np.zeros((0, DIM), np.float32), 0)

    def scores(self, query: np.ndarray) -> np.ndarray:
        """Each row's similarity to ``query`` (a unit vector)."""
        return self.vecs @ query


def key_of(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def path_in(root: Path) -> Path:
    """Where a library's vectors are (``root``: the library's folder, beside index.db)."""
    return root / FILE


def load(path: Path) -> Vectors | None:
    """The vectors in ``path``, mapped; None if there are none or the file is not one we
    wrote with this model (it is then rebuilt)."""
    try:
        with open(path, "rb") as f:
            magic, dim, rows, checkpoint = _HEADER.unpack(f.read(_HEADER.size))
        size = os.path.getsize(path)
    except (OSError, struct.error):
        return None
    if magic != MAGIC or dim != DIM or size != HEADER_SIZE + rows * (16 + 4 * DIM):
        log.info("vectors_unreadable", path=str(path))
        return None
    if rows == 0:
        return Vectors.empty()._replace(checkpoint=checkpoint)
    ids = np.memmap(path, np.int64, "r", HEADER_SIZE, (rows,))
    keys = np.memmap(path, np.uint64, "r", HEADER_SIZE + 8 * rows, (rows,))
    vecs = np.memmap(path, np.float32, "r", HEADER_SIZE + 16 * rows, (rows, DIM))
    return Vectors(ids, keys, vecs, checkpoint)


def save(path: Path, vectors: Vectors) -> None:
    """Write ``vectors`` to ``path`` whole (a temporary file renamed over it)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    try:
        with open(temporary, "wb") as f:
            header = _HEADER.pack(MAGIC, DIM, len(vectors.ids), vectors.checkpoint)
            f.write(header.ljust(HEADER_SIZE, b"\x00"))
            f.write(np.ascontiguousarray(vectors.ids, np.int64).tobytes())
            f.write(np.ascontiguousarray(vectors.keys, np.uint64).tobytes())
            f.write(np.ascontiguousarray(vectors.vecs, np.float32).tobytes())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


class Update(NamedTuple):
    vectors: Vectors
    embedded: int
    kept: int
    dropped: int


def updated(old: Vectors | None, texts: Iterable[tuple[int, str]], checkpoint: int) -> Update:
    """The vectors of ``texts`` (entry id, text): those of ``old`` whose id and text are
    unchanged, the others embedded now."""
    pairs = sorted(texts)
    ids = np.fromiter((e for e, _ in pairs), np.int64, len(pairs))
    keys = np.fromiter((key_of(t) for _, t in pairs), np.uint64, len(pairs))
    vecs = np.zeros((len(ids), DIM), np.float32)
    same = np.zeros(len(ids), bool)
    if old is not None and len(old.ids) and len(ids):
        at = np.minimum(np.searchsorted(old.ids, ids), len(old.ids) - 1)
        same = (old.ids[at] == ids) & (old.keys[at] == keys)
        vecs[same] = old.vecs[at[same]]
    todo = np.flatnonzero(~same)
    for start in range(0, len(todo), BATCH):
        rows = todo[start : start + BATCH]
        vecs[rows] = embed([pairs[i][1] for i in rows])
    kept = int(same.sum())
    before = 0 if old is None else len(old.ids)
    return Update(Vectors(ids, keys, vecs, checkpoint), len(todo), kept, before - kept)


def texts_of(db: sqlite3.Connection) -> Iterator[tuple[int, str]]:
    """Every entry of the index and the text its vector means (``model.entry_text``)."""
    for named in every_entry(db):
        # A byte that is not UTF-8 means nothing to the model (and the tokenizer refuses
        # the surrogates ``paths.text`` would make of it).
        folders = [f.decode("utf-8", "replace") for f in named.folders]
        yield named.entry, entry_text(named.name.decode("utf-8", "replace"), folders)


def refresh(root: Path, db: sqlite3.Connection, save_to_disk: bool = True) -> Update | None:
    """Bring the vectors of the library at ``root`` up to its index ``db``: None if they
    were already made at its checkpoint. Saved unless ``save_to_disk`` is false (a reader
    of an index at another moment, ``--at``)."""
    path = path_in(root)
    old = load(path)
    checkpoint = read_checkpoint(db)
    if old is not None and old.checkpoint == checkpoint:
        return None
    update = updated(old, texts_of(db), checkpoint)
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
