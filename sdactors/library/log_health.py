"""Whether a library's log may be written to.

Two states make writing dangerous, and both are refused until the user restores the log:

- **the log lost events** its index had folded (events.db deleted, emptied, or replaced by an
  older copy). Folding that log would empty the index, and this device would start its chain
  again at an old seq: its next events would equivocate with the ones peers already hold.
- **the log is damaged**, as ``sd log verify`` found it. Appending to a chain that does not
  verify spreads the damage to every export.

``sd log restore FILE`` replaces the log with a verified export (the old one is kept beside
it) and clears both.

A restore itself may roll this device's chain back: an export older than the log it replaces
lacks this device's latest events, which its peers may hold. The restore refuses that unless
forced; forced, it leaves the library **restored** (a ``restored`` file in its folder): the
Journal appends nothing of this device until a sync session shows a peer holds none of its
events beyond its head (the peer sends them back first), or the user accepts the loss.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from typing import Mapping, Sequence

from events.store import read_head
from events.verify import Problem
from projections.devices import peers
from projections.runner import index_position
from sdactors.library.config import LibraryConfig
from sdactors.runtime.errors import LogDamaged, LogLost
from sdactors.runtime.private_files import write_private


def folded_position(index_path: str) -> int:
    """How far the index at ``index_path`` has folded the log (0 if there is no index).

    Read from its meta table whatever projections it holds: an index of an older version
    still says how much of the log it has seen.
    """
    if not os.path.exists(index_path):
        return 0
    # A damaged index is rebuilt; it proves nothing about the log.
    return index_position(index_path) or 0


def check_log_present(config: LibraryConfig) -> None:
    """Refuse a log that holds fewer events than its index has folded."""
    paths = config.paths
    folded = folded_position(str(paths.index))
    if not folded:
        return
    events = str(paths.events)
    held = read_head(events) if os.path.exists(events) and os.path.getsize(events) else 0
    if held < folded:
        raise LogLost(config.name, held, folded)


def record_damage(config: LibraryConfig, problems: Sequence[Problem]) -> None:
    """Remember what ``sd log verify`` found, so writes are refused until it is dealt with."""
    found = {"found": time.time(), "problems": len(problems), "first": str(problems[0])}
    write_private(config.paths.damaged, json.dumps(found).encode())


def paired_in_index(index_path: str, me: bytes) -> dict[bytes, tuple[str, ...]]:
    """The devices paired (and not revoked) in the index at ``index_path``, with where they
    listen: who may hold this device's events, even if the log that said so is gone."""
    if not os.path.exists(index_path):
        return {}
    try:
        db = sqlite3.connect(f"file:{index_path}?mode=ro", uri=True)
        try:
            known = peers(db)
        finally:
            db.close()
    except sqlite3.DatabaseError:
        return {}  # no devices table (an index of long ago), or damaged: nothing known
    return {p.device: p.addresses for p in known if p.paired and not p.revoked and p.device != me}


def record_restore(
    config: LibraryConfig, own_head: int, peers: Mapping[bytes, Sequence[str]]
) -> None:
    """Mark the library restored with this device's chain at ``own_head``. ``peers`` are the
    devices that were paired before (the restored log may predate their pairing): until
    the mark goes, they may sync this library and are dialed (see the module)."""
    path = config.paths.restored
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    body = {
        "restored": time.time(),
        "own_head": own_head,
        "peers": {device.hex(): list(addresses) for device, addresses in peers.items()},
    }
    tmp.write_text(json.dumps(body))
    os.replace(tmp, path)


def restored_peers(config: LibraryConfig) -> dict[bytes, tuple[str, ...]] | None:
    """The peers a restored library waits for its own events from; None if not restored."""
    try:
        body = json.loads(config.paths.restored.read_text())
        return {bytes.fromhex(d): tuple(map(str, a)) for d, a in body.get("peers", {}).items()}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, AttributeError, TypeError):
        return {}  # a mark that cannot be read still holds the writes


def clear_damage(config: LibraryConfig) -> None:
    config.paths.damaged.unlink(missing_ok=True)


def check_not_damaged(config: LibraryConfig) -> None:
    path = config.paths.damaged
    try:
        found = json.loads(path.read_text())
    except FileNotFoundError:
        return
    except (OSError, ValueError):
        found = {}
    raise LogDamaged(config.name, int(found.get("problems", 0)), str(found.get("first", "")))
