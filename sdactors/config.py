"""node.toml: the node's own settings, versioned.

Version history:
  1. flat keys: ``device_name``.
  2. grouped tables: ``[device] name`` and ``[node] log_format``, room for networking settings.
"""

from __future__ import annotations

import platform
import socket
from dataclasses import dataclass
from typing import Any

from sdactors import versioned_toml
from sdactors.paths import DataDir
from sdactors.private_files import private_dir

NODE_SCHEMA_VERSION = 2


def _v1_to_v2(old: dict[str, Any]) -> dict[str, Any]:
    name = old.pop("device_name", None) or socket.gethostname()
    old.setdefault("device", {})["name"] = name
    old.setdefault("node", {}).setdefault("log_format", "json")
    return old


MIGRATIONS = {1: _v1_to_v2}


@dataclass(frozen=True, slots=True)
class NodeConfig:
    device_name: str
    log_format: str

    @property
    def hostname(self) -> str:
        return socket.gethostname()

    @property
    def os(self) -> str:
        return f"{platform.system()} {platform.release()}".strip()


def load_node_config(data: DataDir) -> NodeConfig:
    """Load node.toml, creating it with defaults on first use and migrating old versions."""
    path = data.node_config
    if not path.exists():
        private_dir(data.root)
        versioned_toml.save(
            path,
            {
                "schema_version": NODE_SCHEMA_VERSION,
                "device": {"name": socket.gethostname()},
                "node": {"log_format": "json"},
            },
        )
    content = versioned_toml.load(path, NODE_SCHEMA_VERSION, MIGRATIONS)
    device = content.get("device", {})
    node = content.get("node", {})
    return NodeConfig(
        device_name=str(device.get("name") or socket.gethostname()),
        log_format=str(node.get("log_format", "json")),
    )
