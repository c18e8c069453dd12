"""Trees on disk for the indexer tests, and what the disk says about them.

Everything here is written independently of the product: the content id is computed from
its specification (Spacedrive V2's sampled blake3), the expected view of a folder comes
from ``os.lstat``, and the index's view comes from the real ``sd`` command.
"""

from __future__ import annotations

import os
import random
import stat
import struct
import subprocess
import zlib
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import blake3

KIB = 1024

TYPES = {
    stat.S_IFREG: "file",
    stat.S_IFDIR: "dir",
    stat.S_IFLNK: "symlink",
    stat.S_IFIFO: "fifo",
    stat.S_IFSOCK: "socket",
    stat.S_IFCHR: "char-device",
    stat.S_IFBLK: "block-device",
}


# -- content identity, from the specification --------------------------------------------------


def spacedrive_cid(data: bytes) -> str | None:
    """The whole content id (64 hex chars) as Spacedrive V2 computes it; None when empty."""
    size = len(data)
    if size == 0:
        return None
    h = blake3.blake3()
    h.update(struct.pack("<Q", size))
    if size <= 100 * KIB:
        h.update(data)
    else:
        h.update(data[0 : 8 * KIB])
        step = (size - 16 * KIB) // 4
        for i in range(4):
            start = 8 * KIB + i * step
            h.update(data[start : start + 10 * KIB])
        h.update(data[size - 8 * KIB :])
    return h.hexdigest()


def cid_of_file(path: bytes | str) -> str | None:
    with open(path, "rb") as fh:
        return spacedrive_cid(fh.read())


def shown(cid: str | None) -> str | None:
    return cid[:16] if cid else None


# -- real file headers ----------------------------------------------------------------------------


def png_bytes(width: int = 4, height: int = 3, seed: int = 0) -> bytes:
    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    rnd = random.Random(seed)
    raw = b"".join(
        b"\x00" + bytes(rnd.randrange(256) for _ in range(width * 3)) for _ in range(height)
    )
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def jpeg_bytes(seed: int = 0) -> bytes:
    rnd = random.Random(seed)
    app0 = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    return b"\xff\xd8" + app0 + bytes(rnd.randrange(256) for _ in range(600)) + b"\xff\xd9"


def gif_bytes() -> bytes:
    return (
        b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00"
        b"\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
    )


def pdf_bytes() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    )


def random_bytes(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


def write(root: Path, rel: str, data: bytes | str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


# -- what the disk says ----------------------------------------------------------------------------


class DiskEntry(NamedTuple):
    path: str  # as sd's results give it: os.fsdecode'd bytes
    name: str
    type: str
    size: int
    content_id: str | None  # 16 hex chars, as sd shows it
    inode: int
    mtime_ns: int
    dev: int  # with the inode, what makes it one file whatever path it is seen through


def readable(raw: bytes) -> str:
    """A path as sd's results give it: a byte that is not UTF-8 as a lone surrogate."""
    return os.fsdecode(raw)


def disk_entries(root: Path | str | bytes, with_cids: bool = True) -> dict[str, DiskEntry]:
    """Every entry under ``root`` (root included) as lstat sees it, keyed by shown path.

    Nothing is followed. Folders that cannot be listed are recorded but not entered.
    """
    top = os.fsencode(root)
    out: dict[str, DiskEntry] = {}

    def add(path: bytes, st: os.stat_result) -> str:
        kind = TYPES.get(stat.S_IFMT(st.st_mode), "file")
        cid = None
        if kind == "file" and with_cids and st.st_size:
            cid = shown(cid_of_file(path))
        shown_path = readable(path)
        out[shown_path] = DiskEntry(
            shown_path,
            readable(os.path.basename(path)),
            kind,
            st.st_size,
            cid,
            st.st_ino,
            st.st_mtime_ns,
            st.st_dev,
        )
        return kind

    add(top, os.lstat(top))
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            names = os.listdir(folder)
        except PermissionError:
            continue
        for name in names:
            path = os.path.join(folder, name)
            if add(path, os.lstat(path)) == "dir":
                stack.append(path)
    return out


def disk_stats(entries: dict[str, DiskEntry]) -> dict[str, int]:
    files = [e for e in entries.values() if e.type == "file"]
    return {
        "files": len(files),
        "dirs": sum(1 for e in entries.values() if e.type == "dir"),
        "bytes": sum(e.size for e in files),
        "other": sum(1 for e in entries.values() if e.type not in ("file", "dir")),
    }


def disk_duplicates(entries: dict[str, DiskEntry]) -> list[dict[str, Any]]:
    """What ``sd duplicates`` should say, as comparable dicts (order: waste, then cid).

    Paths of one file (same device and inode: hard links, bind mounts) are one file: each
    file is named by its first path, the others listed as the same file."""
    groups: dict[str, dict[tuple[int, int], list[str]]] = {}
    sizes: dict[str, int] = {}
    for e in entries.values():
        if e.type == "file" and e.content_id:
            files = groups.setdefault(e.content_id, {})
            files.setdefault((e.dev, e.inode), []).append(e.path)
            sizes[e.content_id] = e.size
    out = [
        {
            "content_id": cid,
            "size": sizes[cid],
            "count": len(files),
            "waste": sizes[cid] * (len(files) - 1),
            "paths": sorted(min(paths) for paths in files.values()),
            "same_file": {
                min(paths): sorted(paths)[1:] for paths in files.values() if len(paths) > 1
            },
        }
        for cid, files in groups.items()
        if len(files) > 1
    ]
    return sorted(out, key=lambda g: (-g["waste"], g["content_id"]))


# -- what the index says (through sd) ------------------------------------------------------------


def sd_ls(sd: Any, folder: str) -> list[dict[str, Any]]:
    return sd.json("ls", folder)


def index_entries(sd: Any, root: str, workers: int = 2) -> dict[str, dict[str, Any]]:
    """Every entry under the location ``root`` as ``sd ls`` shows it, walking folder by folder.

    Each path appears once; a second appearance fails the walk (an entry indexed twice).
    """
    out: dict[str, dict[str, Any]] = {}
    with ThreadPoolExecutor(workers) as pool:
        pending = {pool.submit(sd_ls, sd, os.fsdecode(unshow(root))): root}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                folder = pending.pop(future)
                items = future.result()
                names = [i["name"] for i in items]
                assert len(names) == len(set(names)), f"{folder} lists a name twice: {names}"
                for item in items:
                    assert item["path"] not in out, f"{item['path']} is in the index twice"
                    assert item["path"] == folder.rstrip("/") + "/" + item["name"], item
                    out[item["path"]] = item
                    if item["type"] == "dir":
                        path = item["path"]
                        pending[pool.submit(sd_ls, sd, os.fsdecode(unshow(path)))] = path
    return out


def unshow(shown_path: str) -> bytes:
    """Back from sd's results (a byte that is not UTF-8 as a lone surrogate) to raw bytes."""
    return os.fsencode(shown_path)


def comparable_disk(entries: dict[str, DiskEntry], root: str) -> set[tuple]:
    return {(e.path, e.type, e.size, e.content_id) for p, e in entries.items() if p != root}


def comparable_index(items: dict[str, dict[str, Any]]) -> set[tuple]:
    return {(i["path"], i["type"], i["size"], i["content_id"]) for i in items.values()}


def _seconds(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def assert_index_matches_disk(
    sd: Any, root: str, entries: dict[str, DiskEntry], mtimes: bool = True
) -> dict[str, dict[str, Any]]:
    """Walk the index with ``sd ls`` and compare every entry with the disk; returns the items.

    Path, type, size and content id must agree for every entry (root excepted: ``sd ls``
    lists children), and so must the modification time unless ``mtimes`` is false.
    """
    items = index_entries(sd, root)
    on_disk = comparable_disk(entries, root)
    indexed = comparable_index(items)
    missing = sorted(on_disk - indexed)[:10]
    extra = sorted(indexed - on_disk)[:10]
    assert not missing and not extra, (
        f"on disk, not indexed: {missing}\nindexed, not on disk: {extra}"
    )
    for path, item in items.items():
        assert item["content_id"] is None or len(item["content_id"]) == 16, item
        if mtimes:
            assert abs(_seconds(item["modified"]) - entries[path].mtime_ns / 1e9) < 2e-6, item
    return items


# -- big trees ----------------------------------------------------------------------------------------


def make_many(
    root: Path,
    files: int,
    fanout: tuple[int, ...] = (8, 8),
    seed: int = 1,
    duplicate_every: int = 50,
) -> int:
    """``files`` small files spread evenly over nested folders (``fanout`` per level).

    Content differs per file except every ``duplicate_every``-th, which repeats an earlier
    file's content (so the index has duplicates). Returns the number of folders made.
    """
    rnd = random.Random(seed)
    leaves = [root]
    made = 0
    for level, width in enumerate(fanout):
        nxt = []
        for parent in leaves:
            for i in range(width):
                d = parent / f"d{level}_{i:02d}"
                d.mkdir(parents=True, exist_ok=True)
                made += 1
                nxt.append(d)
        leaves = nxt
    exts = (".txt", ".py", ".json", ".md", ".log", ".csv", ".bin")
    for n in range(files):
        folder = leaves[n % len(leaves)]
        ext = exts[n % len(exts)]
        if duplicate_every and n % duplicate_every == duplicate_every - 1:
            body = f"duplicate body {n % 7}\n".encode()
        else:
            body = f"file {n} {rnd.random()}\n".encode() * (1 + n % 5)
        fd = os.open(folder / f"f{n:06d}{ext}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, body)
        finally:
            os.close(fd)
    return made


def count_events(log_stats: dict[str, Any], prefix: str) -> int:
    return sum(n for t, n in log_stats["by_type"].items() if t.startswith(prefix))


def entry_event_counts(log_stats: dict[str, Any]) -> dict[str, int]:
    return {t: n for t, n in log_stats["by_type"].items() if t.startswith("entries.")}


def indexed_events(data_dir: Path) -> int:
    """entries.indexed events committed so far, read straight from the log's file: a poll
    through `sd` takes a process start, longer than a fast index of the whole tree."""
    import sqlite3

    for events in data_dir.glob("libraries/*.sdlibrary/events.db"):
        try:
            db = sqlite3.connect(f"file:{events}?mode=ro", uri=True, timeout=5)
            try:
                row = db.execute(
                    "SELECT events FROM type_counts WHERE type = 'entries.indexed'"
                ).fetchone()
            finally:
                db.close()
        except sqlite3.Error:
            return 0
        return row[0] if row else 0
    return 0


class TreeCache:
    """Big trees made once per session (per worker) and copied for each test that asks.

    ``copy`` hard-links the files by default: cheap, and safe for a test that adds, removes or
    renames entries, but not for one that writes into a file (it would change the cached
    tree): such a test asks for ``links=False``, a real copy."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self._made: dict[tuple, Path] = {}

    def copy(
        self,
        dest: Path,
        files: int,
        fanout: tuple[int, ...] = (8, 8),
        seed: int = 1,
        duplicate_every: int = 50,
        links: bool = True,
    ) -> Path:
        """``make_many(dest, files, fanout, seed, duplicate_every)``, from the cache."""
        key = (files, fanout, seed, duplicate_every)
        made = self._made.get(key)
        if made is None:
            made = self.base / "-".join(map(str, (files, *fanout, seed, duplicate_every)))
            make_many(made, files, fanout, seed, duplicate_every)
            self._made[key] = made
        dest.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cp", "-al" if links else "-a", str(made), str(dest)], check=True)
        return dest
