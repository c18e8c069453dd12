"""Building blocks for tests that make events without a node: writers, drafts, wire form."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import msgpack

from events.clock import HybridClock
from events.domain import CATALOG
from events.domain.device import DevicePaired
from events.domain.library import LibraryCreated, creator_library_id
from events.domain.tags import TagCreated, TagDeleted, TagRecolored, TagRenamed
from events.envelope import ZERO_ID, Event, decode, event_id, library_key
from events.exportfile import ExportHeader, ExportReader, write_export
from events.keys import DeviceKey
from events.store import EventStore
from events.writer import Draft, LogWriter

Wire = list[tuple[bytes, bytes | None]]

# The library of events made by tests without a node: every event id is keyed by it. Its id
# is derived from its creator's key, as every library's is, so CREATOR can write its
# ``library.created`` (see ``founding``).
CREATOR = DeviceKey(b"\x42" * 32)
NONCE = b"\x24" * 16
LIBRARY = creator_library_id(CREATOR.public, NONCE)
LIBRARY_KEY = library_key(LIBRARY)


def founding(members: Iterable[DeviceKey] = (), name: str = "Home") -> list[Draft]:
    """CREATOR's drafts that create LIBRARY and pair ``members`` (so their events count)."""
    return [
        CATALOG.body(LibraryCreated(LIBRARY, name, NONCE)),
        *(CATALOG.body(DevicePaired(k.public, f"member-{i}")) for i, k in enumerate(members)),
    ]


def writer(
    key: DeviceKey | None = None,
    wall: Callable[[], int] | None = None,
    library: bytes = LIBRARY,
) -> LogWriter:
    """A fresh device's writer; ``wall`` replaces the wall clock when given."""
    clock = HybridClock(wall=wall) if wall is not None else HybridClock()
    return LogWriter(key or DeviceKey.generate(), clock, library_key(library))


def new_store(path: str | os.PathLike[str], library: bytes = LIBRARY) -> EventStore:
    """A new, writable log of ``library``."""
    return EventStore(path, library=library)


def decoded(data: bytes, library: bytes = LIBRARY) -> Event:
    """The event ``data`` is, its id computed as ``library`` computes it."""
    return decode(data, event_id(library_key(library), data))


def tag_drafts(count: int, prefix: str = "tag") -> list[Draft]:
    """``count`` tag creations with distinct ids and names."""
    return [CATALOG.body(TagCreated(os.urandom(16), f"{prefix}-{i}", None)) for i in range(count)]


def create(tag: bytes, name: str, color: str | None = None) -> Draft:
    return CATALOG.body(TagCreated(tag, name, color))


def rename(tag: bytes, name: str) -> Draft:
    return CATALOG.body(TagRenamed(tag, name))


def recolor(tag: bytes, color: str | None) -> Draft:
    return CATALOG.body(TagRecolored(tag, color))


def delete(tag: bytes) -> Draft:
    return CATALOG.body(TagDeleted(tag))


def wire(events: Iterable[Event]) -> Wire:
    """The only form foreign events cross into a store in: ``(data, sig)``."""
    return [(ev.data, ev.sig) for ev in events]


def raw_event(
    key: DeviceKey,
    seq: int,
    hlc: int,
    type_name: str,
    v: int,
    body_raw: bytes,
    prev: bytes,
    library: bytes = LIBRARY,
) -> tuple[bytes, bytes]:
    """Envelope bytes built by hand around an already-encoded body, signed; ``(data, id)``.

    Lets a test put bytes a canonical encoder would never write (a float32, an over-long int,
    unsorted map keys) into a valid event, to prove that the log keeps bytes, not values.
    """
    pack = msgpack.Packer(use_bin_type=True).pack
    data = (
        b"\x97"
        + pack(key.public)
        + pack(seq)
        + pack(hlc)
        + pack(type_name)
        + pack(v)
        + body_raw
        + pack(prev)
    )
    return data, event_id(library_key(library), data)


def chain_raw(
    key: DeviceKey,
    items: Sequence[tuple[str, int, bytes]],
    hlc0: int = 1 << 40,
    seq0: int = 1,
    prev: bytes = ZERO_ID,
    seal_every: int = 1,
    library: bytes = LIBRARY,
) -> Wire:
    """A valid hand-built chain of ``(type, v, body_raw)``, sealed every ``seal_every`` events
    and always at the end."""
    out: Wire = []
    for i, (type_name, v, body_raw) in enumerate(items):
        data, eid = raw_event(key, seq0 + i, hlc0 + i, type_name, v, body_raw, prev, library)
        last = i == len(items) - 1 or (i + 1) % seal_every == 0
        out.append((data, key.sign(eid) if last else None))
        prev = eid
    return out


def read_export(path: Path) -> tuple[ExportHeader, Wire]:
    with open(path, "rb") as fh:
        reader = ExportReader(fh, str(path))
        return reader.header, list(reader.records())


def write_export_file(path: Path, header: ExportHeader, records: Wire) -> None:
    """Write an export whose trailer matches ``records``: only event checks can catch a forgery."""
    with open(path, "wb") as fh:
        write_export(fh, header, records)


def library_dirs(data_dir: Path) -> list[Path]:
    libs = data_dir / "libraries"
    return sorted(libs.glob("*.sdlibrary")) if libs.is_dir() else []


def run_all(sd: Any, *commands: Sequence[str], check: bool = True) -> list[Any]:
    """Run independent ``sd`` commands at once (each is mostly interpreter start-up), in order
    of ``commands``. Only for commands that do not write, or write to different libraries."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=len(commands) or 1) as pool:
        futures = [pool.submit(sd.run, *args, check=check) for args in commands]
        return [f.result() for f in futures]


def run_each(*jobs: tuple[Any, Sequence[str]], check: bool = True) -> list[Any]:
    """Like :func:`run_all`, for commands of several ``Sd`` (data directories) at once."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=len(jobs) or 1) as pool:
        futures = [pool.submit(sd.run, *args, check=check) for sd, args in jobs]
        return [f.result() for f in futures]


def pair_offline(data_dir: Path, device: bytes, name: str, library: str | None = None) -> None:
    """Record, as the library's admin in ``data_dir``, that ``device`` is paired: what a real
    pairing writes, for tests whose second device is a writer in the test, not a node."""
    from sdactors.node.node import Node

    with Node(data_dir) as node:
        lib = node.write_library(library)
        lib.append_typed(DevicePaired(device, name))
        lib.catch_up()


def device_of(data_dir: Path) -> bytes:
    """The device id of the data directory (its key is made on first use)."""
    from sdactors.runtime.identity import load_device_key
    from sdactors.runtime.paths import DataDir

    return load_device_key(DataDir(data_dir)).public


def next_events(
    data_dir: Path, library_dir: Path, library: bytes, drafts: list[Draft]
) -> list[Event]:
    """The next events of ``data_dir``'s device in the library at ``library_dir`` (its node
    stopped), signed with its own key and keyed for ``library``: what a device that
    bypasses its own checks (or a restore) would bring in."""
    key = DeviceKey((data_dir / "device.key").read_bytes())
    store = EventStore(library_dir / "events.db", readonly=True)
    try:
        seq, prev = store.head(key.public)
    finally:
        store.close()
    return LogWriter(key, HybridClock(), library_key(library), seq, prev).build(drafts)
