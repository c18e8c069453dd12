"""What the node's networking keeps across restarts (``<data>/network.json``): the port it
listened on, and the peers whose sync the user paused. Node-local: never replicated."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sdactors.private_files import write_private


class NetState:
    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._data: dict[str, Any] = {}
        if path is not None:
            try:
                loaded = json.loads(path.read_text())
            except (OSError, ValueError):
                loaded = {}
            self._data = loaded if isinstance(loaded, dict) else {}

    @property
    def port(self) -> int | None:
        port = self._data.get("port")
        return port if type(port) is int and 0 < port < 65536 else None

    def remember_port(self, bound: list[str]) -> None:
        ports = [a.rpartition(":")[2] for a in bound if not a.startswith("[")]
        if ports and ports[0].isdigit():
            self._data["port"] = int(ports[0])
            self._save()

    def paused(self, library: str) -> set[bytes]:
        found = self._data.get("paused", {}).get(library, [])
        return {bytes.fromhex(d) for d in found if isinstance(d, str) and len(d) == 64}

    def set_paused(self, library: str, devices: set[bytes]) -> None:
        self._data.setdefault("paused", {})[library] = sorted(d.hex() for d in devices)
        self._save()

    def _save(self) -> None:
        if self._path is None:
            return
        write_private(self._path, json.dumps(self._data).encode())
