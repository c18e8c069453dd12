"""``sd log diff``: compare two copies of one library's log, device by device.

Two copies of a library's log (two data directories, an export file and a library, two
exports) hold, for each device, a run of its events numbered 1, 2, ... by seq. Each event's
id is the keyed hash of its bytes and its ``prev`` link, so two copies agree on a device's
events up to a seq exactly when they hold the same id at each seq; a device that signed two
different events at one seq (an equivocation) shows as a seq where the ids differ.

So the comparison reads ids only, in seq ranges of ``CHUNK`` per device: a log in SQLite is
read by its ``ids`` column, never decoded. An export file is a stream in arrival order; it is
read once, keeping per device its ids packed in one bytearray (32 bytes an event), and the
event bytes are not kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import msgpack

from events.envelope import ID_LEN, event_id, library_key
from events.errors import CodecError, ExportFileError
from events.exportfile import ExportReader
from events.keys import DEVICE_ID_LEN, short_device
from events.store import EventStore
from sdactors.library.config import LibraryConfig, find_library
from sdactors.runtime.errors import DifferentLibraries, NoLibrary
from sdactors.runtime.paths import DataDir

# Seqs compared at a time per device: 4096 ids are 128 KiB a side.
CHUNK = 4096
_SQLITE_MAGIC = b"SQLite format 3\x00"


class LogSide(Protocol):
    """One copy of a library's log, as the comparison needs it."""

    label: str
    library: bytes
    events: int

    def heads(self) -> dict[bytes, int]:
        """For each device, the last seq held."""
        ...

    def ids(self, device: bytes, first: int, last: int) -> bytes:
        """The ids of the device's events ``first .. last``, concatenated."""
        ...

    def close(self) -> None: ...


class StoreSide:
    """A log in SQLite (a library of a data directory), read-only."""

    def __init__(self, path: Path, label: str) -> None:
        self.label = label
        self._store = EventStore(path, readonly=True)
        self.library = self._store.library
        self.events = self._store.head_pos

    def heads(self) -> dict[bytes, int]:
        return self._store.vector()

    def ids(self, device: bytes, first: int, last: int) -> bytes:
        return self._store.device_ids(device, first, last)

    def close(self) -> None:
        self._store.close()


# The head of an event's canonical bytes: an array of seven, its first a bin of 32 (the
# device). What follows is the seq, an integer.
_ENVELOPE_HEAD = b"\x97\xc4" + bytes([DEVICE_ID_LEN])
_INT_HEADS = frozenset([*range(0x80), *range(0xCC, 0xD4), *range(0xE0, 0x100)])


def _device_and_seq(data: bytes) -> tuple[bytes, int]:
    """The device and seq of an event's canonical bytes, read off its head: nothing else of
    it is decoded (nor could a hostile file's make this allocate)."""
    start = len(_ENVELOPE_HEAD)
    at = start + DEVICE_ID_LEN
    if not data.startswith(_ENVELOPE_HEAD) or len(data) <= at or data[at] not in _INT_HEADS:
        raise CodecError("event bytes are not a 7-field envelope")
    unpacker = msgpack.Unpacker()
    unpacker.feed(data[at : at + 9])
    try:
        seq = unpacker.unpack()
    except (ValueError, msgpack.OutOfData) as exc:
        raise CodecError(f"event bytes are not msgpack: {exc}") from exc
    return data[start:at], seq


class ExportSide:
    """An export file, read in one pass (its trailer checked) into per-device ids."""

    def __init__(self, path: Path) -> None:
        self.label = str(path)
        self._ids: dict[bytes, bytearray] = {}
        with open(path, "rb") as fh:
            reader = ExportReader(fh, name=str(path))
            self.library = reader.header.library
            key = library_key(self.library)
            count = 0
            for data, _sig in reader.records():
                try:
                    device, seq = _device_and_seq(data)
                except CodecError as exc:
                    raise ExportFileError(f"{path}: record {count + 1}: {exc}") from exc
                held = self._ids.setdefault(device, bytearray())
                if seq != len(held) // ID_LEN + 1:
                    raise ExportFileError(
                        f"{path}: record {count + 1} is {short_device(device)}#{seq}, "
                        f"expected #{len(held) // ID_LEN + 1}: the file is not a log's export"
                    )
                held += event_id(key, data)
                count += 1
        self.events = count

    def heads(self) -> dict[bytes, int]:
        return {dev: len(ids) // ID_LEN for dev, ids in self._ids.items()}

    def ids(self, device: bytes, first: int, last: int) -> bytes:
        held = self._ids.get(device)
        if held is None or last < first:
            return b""
        return bytes(held[(first - 1) * ID_LEN : last * ID_LEN])

    def close(self) -> None:
        self._ids.clear()


def _is_sqlite(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC


def _library_side(config: LibraryConfig, where: str) -> StoreSide:
    return StoreSide(config.paths.events, f"{config.name} ({where})")


def open_side(
    spec: str, data: DataDir, wanted: str | None, other_library: bytes | None = None
) -> LogSide:
    """What ``spec`` names: an export file, a log file (``events.db``), a data directory
    (its library ``wanted``, else its only one, else the one ``other_library`` names), or a
    library of ``data`` by name or id."""
    path = Path(spec).expanduser()
    if path.is_file():
        return StoreSide(path, str(path)) if _is_sqlite(path) else ExportSide(path)
    if path.is_dir():
        inside = DataDir(path)
        try:
            config = find_library(inside, wanted)
        except NoLibrary:
            if wanted is not None or other_library is None:
                raise
            config = find_library(inside, other_library.hex())
        return _library_side(config, str(path))
    return _library_side(find_library(data, spec), "this data directory")


@dataclass(slots=True)
class Run:
    """Seqs ``first .. last`` of one device: ``count`` of them."""

    count: int
    first: int
    last: int

    def as_json(self) -> dict[str, int]:
        return {"count": self.count, "first": self.first, "last": self.last}


def _run(first: int, last: int) -> Run | None:
    return Run(last - first + 1, first, last) if last >= first else None


@dataclass(slots=True)
class DeviceDiff:
    device: bytes
    a_seq: int
    b_seq: int
    only_a: Run | None
    only_b: Run | None
    # Seqs both hold with different ids, the first of them, and the two ids there.
    equivocation: Run | None = None
    a_id: bytes | None = None
    b_id: bytes | None = None

    @property
    def shared(self) -> int:
        return min(self.a_seq, self.b_seq)

    def as_json(self) -> dict[str, Any]:
        equivocation = None
        if self.equivocation is not None:
            assert self.a_id is not None and self.b_id is not None
            equivocation = self.equivocation.as_json() | {
                "a_id": self.a_id.hex(),
                "b_id": self.b_id.hex(),
            }
        return {
            "device": self.device.hex(),
            "a_seq": self.a_seq,
            "b_seq": self.b_seq,
            "shared": self.shared,
            "only_a": self.only_a.as_json() if self.only_a else None,
            "only_b": self.only_b.as_json() if self.only_b else None,
            "equivocation": equivocation,
        }


@dataclass(slots=True)
class LogDiff:
    library: bytes
    a: str
    b: str
    a_events: int
    b_events: int
    devices: list[DeviceDiff] = field(default_factory=list)

    @property
    def shared_agree(self) -> bool:
        return all(d.equivocation is None for d in self.devices)

    @property
    def first_disagreement(self) -> DeviceDiff | None:
        return next((d for d in self.devices if d.equivocation is not None), None)

    @property
    def identical(self) -> bool:
        return self.shared_agree and all(d.a_seq == d.b_seq for d in self.devices)

    def as_json(self) -> dict[str, Any]:
        first = self.first_disagreement
        return {
            "library": self.library.hex(),
            "a": {"source": self.a, "events": self.a_events},
            "b": {"source": self.b, "events": self.b_events},
            "identical": self.identical,
            "shared_agree": self.shared_agree,
            "first_disagreement": (
                {"device": first.device.hex(), "seq": first.equivocation.first}
                if first is not None and first.equivocation is not None
                else None
            ),
            "devices": [d.as_json() for d in self.devices],
        }


def _compare_device(a: LogSide, b: LogSide, device: bytes, a_seq: int, b_seq: int) -> DeviceDiff:
    """Compare the seqs both hold chunk by chunk; equal chunks (the usual case) cost one
    bytes comparison."""
    shared = min(a_seq, b_seq)
    out = DeviceDiff(device, a_seq, b_seq, _run(shared + 1, a_seq), _run(shared + 1, b_seq))
    differ = 0
    last_differ = 0
    for start in range(1, shared + 1, CHUNK):
        end = min(shared, start + CHUNK - 1)
        ids_a, ids_b = a.ids(device, start, end), b.ids(device, start, end)
        if ids_a == ids_b:
            continue
        for i in range(end - start + 1):
            at = slice(i * ID_LEN, (i + 1) * ID_LEN)
            if ids_a[at] != ids_b[at]:
                if out.a_id is None:
                    out.a_id, out.b_id = ids_a[at], ids_b[at]
                    first_differ = start + i
                differ += 1
                last_differ = start + i
    if differ:
        out.equivocation = Run(differ, first_differ, last_differ)
    return out


def diff_logs(a: LogSide, b: LogSide) -> LogDiff:
    """Per device, what each side has that the other lacks and where they disagree.

    Two logs of different libraries are refused: their ids are keyed differently, so every
    event would differ and the answer would say nothing."""
    if a.library != b.library:
        raise DifferentLibraries(a.label, a.library.hex(), b.label, b.library.hex())
    heads_a, heads_b = a.heads(), b.heads()
    result = LogDiff(a.library, a.label, b.label, a.events, b.events)
    for device in sorted(heads_a.keys() | heads_b.keys()):
        result.devices.append(
            _compare_device(a, b, device, heads_a.get(device, 0), heads_b.get(device, 0))
        )
    return result


def open_pair(
    spec_a: str, spec_b: str, data: DataDir, wanted: str | None
) -> tuple[LogSide, LogSide]:
    """Both sides; a data directory with several libraries and no ``wanted`` takes the
    library the other side is of."""
    try:
        a = open_side(spec_a, data, wanted)
    except NoLibrary:
        if wanted is not None:
            raise
        b = open_side(spec_b, data, wanted)
        try:
            return open_side(spec_a, data, wanted, b.library), b
        except BaseException:
            b.close()
            raise
    try:
        return a, open_side(spec_b, data, wanted, a.library)
    except BaseException:
        a.close()
        raise
