"""The portable export format: a self-verifying stream of one library's events.

Layout: a magic line, then msgpack values: a header map, one ``[data, sig]`` array per event
in the exporter's arrival order (which keeps every device's order), and a trailer map with the
count and a blake3 over every record. Each event proves itself (its id is the hash of its
bytes, its chain links and seals are checked on ingest); the trailer catches a file cut short
or with records dropped from its end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Iterable, Iterator

import blake3
import msgpack

from events.codec import BoundedUnpacker
from events.envelope import LIBRARY_ID_LEN
from events.errors import CodecError, ExportFileError

MAGIC_PREFIX = b"SDACTORS-LOG\x00"
# Format 3: the events are those of log format 3 (ids keyed by their library, which the
# header names; membership with roles). Exports of older formats are not read.
FORMAT = 3
MAGIC = MAGIC_PREFIX + bytes([FORMAT]) + b"\n"


@dataclass(frozen=True, slots=True)
class ExportHeader:
    library: bytes
    name: str
    events: int


def _record_hash(hasher: "blake3.blake3", data: bytes, sig: bytes | None) -> None:
    hasher.update(len(data).to_bytes(4, "little"))
    hasher.update(data)
    hasher.update(sig or b"")


def write_export(
    out: BinaryIO, header: ExportHeader, records: Iterable[tuple[bytes, bytes | None]]
) -> int:
    """Write a whole export; returns the number of events written."""
    packer = msgpack.Packer(use_bin_type=True)
    out.write(MAGIC)
    out.write(
        packer.pack(
            {
                "format": FORMAT,
                "library": header.library,
                "name": header.name,
                "events": header.events,
            }
        )
    )
    hasher = blake3.blake3()
    count = 0
    for data, sig in records:
        out.write(packer.pack([data, sig]))
        _record_hash(hasher, data, sig)
        count += 1
    out.write(packer.pack({"end": True, "count": count, "hash": hasher.digest()}))
    return count


class ExportReader:
    """Reads an export: ``header`` at once, ``records()`` lazily, the trailer checked at the end."""

    def __init__(self, stream: BinaryIO, name: str = "export file") -> None:
        self._name = name
        magic = stream.read(len(MAGIC))
        if magic != MAGIC:
            if magic.startswith(MAGIC_PREFIX) and magic.endswith(b"\n"):
                raise ExportFileError(
                    f"{name} is an export of format {magic[len(MAGIC_PREFIX)]}; this version "
                    f"reads format {FORMAT} only (events are bound to their library, membership has roles)"
                )
            raise ExportFileError(f"{name} is not an sdactors log export")
        # A record is [data, sig], the header and trailer maps of a few keys: every item a
        # few values, however a file says otherwise.
        self._unpacker = BoundedUnpacker(stream, most=64, width=16, buffer=256 << 20)
        head = self._next("header")
        if not isinstance(head, dict) or head.get("format") != FORMAT:
            raise ExportFileError(f"{name} has an unknown export format")
        try:
            header = ExportHeader(bytes(head["library"]), str(head["name"]), int(head["events"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ExportFileError(f"{name} has a malformed header") from exc
        if len(header.library) != LIBRARY_ID_LEN:
            raise ExportFileError(f"{name} has a malformed header (its library id)")
        self.header = header

    def _next(self, what: str) -> object:
        try:
            return next(self._unpacker)
        except StopIteration:
            raise ExportFileError(f"{self._name} is truncated: it ends before its {what}") from None
        except CodecError as exc:
            raise ExportFileError(f"{self._name} is damaged: {exc}") from exc

    def records(self) -> Iterator[tuple[bytes, bytes | None]]:
        hasher = blake3.blake3()
        count = 0
        while True:
            item = self._next("trailer")
            if isinstance(item, dict):
                if item.get("count") != count or item.get("hash") != hasher.digest():
                    raise ExportFileError(
                        f"{self._name} does not match its trailer: records were changed, "
                        "added or removed"
                    )
                return
            if (
                not isinstance(item, tuple)
                or len(item) != 2
                or not isinstance(item[0], bytes)
                or not (item[1] is None or isinstance(item[1], bytes))
            ):
                raise ExportFileError(f"{self._name} has a malformed record after {count} events")
            data, sig = item
            _record_hash(hasher, data, sig)
            count += 1
            yield data, sig
