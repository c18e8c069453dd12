"""Where each agent of a library stands in its log, and which accepted proposals this device
has run: a small file of this device's (``agents.json`` in the library's folder of the data
directory), neither in the log (it is no fact of the library) nor in the index (a rebuild
would lose it, and the agents would be handed every event again).

Written whole to a temporary file and renamed, so a crash leaves the old or the new one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

FILE_NAME = "agents.json"


class Positions:
    def __init__(self, folder: Path) -> None:
        self._path = folder / FILE_NAME
        try:
            raw = json.loads(self._path.read_text())
        except (FileNotFoundError, ValueError):
            raw = {}
        self._positions: dict[str, int] = {
            str(k): int(v) for k, v in (raw.get("positions") or {}).items()
        }
        self._ran: set[str] = {str(p) for p in raw.get("ran") or ()}

    def position(self, agent: str) -> int | None:
        """The log position up to which ``agent`` was handed the events (None: never run
        here: it starts with a sweep)."""
        return self._positions.get(agent)

    def advance(self, agent: str, position: int) -> None:
        self._positions[agent] = position

    def ran(self, proposal: bytes) -> bool:
        return proposal.hex() in self._ran

    def running(self, proposal: bytes) -> None:
        """Mark ``proposal`` run here, before its items run (saved at once): a crash halfway
        leaves it marked, and no item is run twice."""
        self._ran.add(proposal.hex())
        self.save()

    def save(self) -> None:
        tmp = self._path.with_name(self._path.name + ".tmp")
        data = {"positions": self._positions, "ran": sorted(self._ran)}
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(data, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self._path)
