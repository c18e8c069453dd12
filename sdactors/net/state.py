"""What the node's networking keeps across restarts (``<data>/network.json``): the ports it
listened on (IPv4 and IPv6), and the peers whose sync the user paused. Node-local: never
replicated."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sdactors.runtime.private_files import write_private


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
        return _port(self._data.get("port"))

    @property
    def port6(self) -> int | None:
        """The IPv6 port: a peer that reached this node over IPv6 keeps sending there."""
        return _port(self._data.get("port6"))

    def remember_ports(self, bound: list[str]) -> None:
        """The IPv4 and IPv6 ports of iroh's bound sockets (``1.2.3.4:5``, ``[::1]:6``)."""
        for key, v6 in (("port", False), ("port6", True)):
            ports = [a.rpartition(":")[2] for a in bound if a.startswith("[") == v6]
            if ports and ports[0].isdigit():
                self._data[key] = int(ports[0])
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


def _port(value: Any) -> int | None:
    return value if type(value) is int and 0 < value < 65536 else None
