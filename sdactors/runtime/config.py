"""node.toml: the node's own settings, versioned.

Version history:
  1. flat keys: ``device_name``.
  2. grouped tables: ``[device] name`` and ``[node] log_format``, room for networking settings.
  3. ``[network]``: ``bind`` (the address iroh listens on), ``relays`` and ``discovery`` (both
     off: a node works on a LAN, or with no internet at all, without asking anyone).

Optional tables, their defaults when absent (no new version: an older node ignores them):
``[thumbnails] cache_mb``; ``[agents.llm]`` (a language-model provider for ``sd agent ask``:
``url``, ``model``, ``api_key_env``, ``timeout``, ``rounds``; absent: no provider); ``[http]
bind`` and ``port`` (the node's HTTP API and Explorer).
"""

from __future__ import annotations

import os
import platform
import socket
from dataclasses import dataclass
from typing import Any

from sdactors.runtime import versioned_toml
from sdactors.runtime.errors import ConfigError
from sdactors.runtime.paths import DataDir
from sdactors.runtime.private_files import private_dir

NODE_SCHEMA_VERSION = 3

# Every interface, a port the system picks: a home server reachable on its LAN.
DEFAULT_BIND = "0.0.0.0:0"


def _v1_to_v2(old: dict[str, Any]) -> dict[str, Any]:
    name = old.pop("device_name", None) or socket.gethostname()
    old.setdefault("device", {})["name"] = name
    old.setdefault("node", {}).setdefault("log_format", "json")
    return old


def _v2_to_v3(old: dict[str, Any]) -> dict[str, Any]:
    old.setdefault("network", {}).update(_network_defaults() | old.get("network", {}))
    return old


def _network_defaults() -> dict[str, Any]:
    return {"bind": DEFAULT_BIND, "relays": False, "discovery": False}


MIGRATIONS = {1: _v1_to_v2, 2: _v2_to_v3}


@dataclass(frozen=True, slots=True)
class NetworkConfig:
    """Where the node's iroh endpoint listens, and whether it may use n0's relays (to reach
    devices behind NAT) and discovery (to find a device by its id alone)."""

    bind: str = DEFAULT_BIND
    relays: bool = False
    discovery: bool = False


# A quarter of a GiB: some ten thousand grid thumbnails.
DEFAULT_CACHE_MB = 256


@dataclass(frozen=True, slots=True)
class ThumbnailConfig:
    """The cache of thumbnails fetched from other devices: at most ``cache_mb`` MiB, the
    least recently used out first (``sdactors/net/thumbs/cache.py``)."""

    cache_mb: int = DEFAULT_CACHE_MB


# A local model on a small machine takes tens of seconds per answer; a request takes a few.
DEFAULT_LLM_TIMEOUT = 120.0
DEFAULT_LLM_ROUNDS = 8


@dataclass(frozen=True, slots=True)
class LlmConfig:
    """A language-model provider speaking the OpenAI-compatible chat API (a local Ollama or
    llama.cpp server): where (``url``, up to ``/v1``), which ``model``, and the environment
    variable holding its key, if it needs one (a key never sits in a file sdactors writes
    or reads). ``timeout``: seconds for a whole request in words; ``rounds``: how many
    answers with tool calls the model may give before it must be done."""

    url: str
    model: str
    api_key_env: str | None = None
    timeout: float = DEFAULT_LLM_TIMEOUT
    rounds: int = DEFAULT_LLM_ROUNDS


# Loopback only, unless the user says otherwise (and has set a password or made a key).
DEFAULT_HTTP_BIND = "127.0.0.1"
# A fixed port, so a bookmark of the Explorer works after a restart (0: one the system picks).
DEFAULT_HTTP_PORT = 8787


@dataclass(frozen=True, slots=True)
class HttpConfig:
    """Where the node's HTTP API and Explorer listen (``sdactors/node/http/``); ``enabled``
    false: the node serves no HTTP at all."""

    bind: str = DEFAULT_HTTP_BIND
    port: int = DEFAULT_HTTP_PORT
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class NodeConfig:
    device_name: str
    log_format: str
    network: NetworkConfig = NetworkConfig()
    thumbnails: ThumbnailConfig = ThumbnailConfig()
    # None: no language-model provider configured.
    llm: LlmConfig | None = None
    http: HttpConfig = HttpConfig()

    @property
    def hostname(self) -> str:
        return socket.gethostname()

    @property
    def os(self) -> str:
        return f"{platform.system()} {platform.release()}".strip()


def init_node_config(data: DataDir, device_name: str, network: NetworkConfig) -> None:
    """Write a new data directory's node.toml (before first use): what a user does by hand
    to name the device and choose where its node listens; benchmarks and tests do it too."""
    private_dir(data.root)
    versioned_toml.save(
        data.node_config,
        {
            "schema_version": NODE_SCHEMA_VERSION,
            "device": {"name": device_name},
            "node": {"log_format": "json"},
            "network": {
                "bind": network.bind,
                "relays": network.relays,
                "discovery": network.discovery,
            },
        },
    )


# Overrides ``[network] bind`` for one run (a container, a test harness keeping every node on
# loopback) without editing node.toml.
BIND_ENV = "SD_NETWORK_BIND"
# Overrides ``[http] port`` for one run: the tests' nodes take a port the system picks (0).
HTTP_PORT_ENV = "SD_HTTP_PORT"


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
                "network": _network_defaults(),
            },
        )
    content = versioned_toml.load(path, NODE_SCHEMA_VERSION, MIGRATIONS)
    device = content.get("device", {})
    node = content.get("node", {})
    network = content.get("network", {})
    return NodeConfig(
        device_name=str(device.get("name") or socket.gethostname()),
        log_format=str(node.get("log_format", "json")),
        network=NetworkConfig(
            bind=os.environ.get(BIND_ENV) or str(network.get("bind", DEFAULT_BIND)),
            relays=bool(network.get("relays", False)),
            discovery=bool(network.get("discovery", False)),
        ),
        thumbnails=_thumbnails(path, content.get("thumbnails", {})),
        llm=_llm(path, content.get("agents", {})),
        http=_http(path, content.get("http", {})),
    )


def _http(path: os.PathLike[str], table: Any) -> HttpConfig:
    table = table if isinstance(table, dict) else {}
    bind = table.get("bind", DEFAULT_HTTP_BIND)
    port: Any = os.environ.get(HTTP_PORT_ENV) or table.get("port", DEFAULT_HTTP_PORT)
    if isinstance(port, str) and port.isdigit():
        port = int(port)
    enabled = table.get("enabled", True)
    if not isinstance(bind, str) or not bind:
        raise ConfigError(f"{path}: [http] bind must be an address (it is {bind!r})")
    if type(port) is not int or not 0 <= port <= 65535:
        raise ConfigError(f"{path}: [http] port must be a port number, 0..65535 (it is {port!r})")
    if type(enabled) is not bool:
        raise ConfigError(f"{path}: [http] enabled must be true or false (it is {enabled!r})")
    return HttpConfig(bind, port, enabled)


def _thumbnails(path: os.PathLike[str], table: Any) -> ThumbnailConfig:
    cache_mb = table.get("cache_mb", DEFAULT_CACHE_MB) if isinstance(table, dict) else None
    if type(cache_mb) is not int or cache_mb < 1:
        raise ConfigError(
            f"{path}: [thumbnails] cache_mb must be a whole number of MiB, at least 1 "
            f"(it is {cache_mb!r})"
        )
    return ThumbnailConfig(cache_mb)


def _llm(path: os.PathLike[str], agents: Any) -> LlmConfig | None:
    table = agents.get("llm") if isinstance(agents, dict) else None
    if table is None:
        return None

    def bad(key: str, what: str) -> ConfigError:
        return ConfigError(f"{path}: [agents.llm] {key} must be {what} (it is {table.get(key)!r})")

    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [agents.llm] must be a table (url, model)")
    url, model = table.get("url"), table.get("model")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise bad("url", "an http:// or https:// address such as http://127.0.0.1:11434/v1")
    if not isinstance(model, str) or not model:
        raise bad("model", "the name of a model the provider serves")
    key_env = table.get("api_key_env")
    if key_env is not None and (not isinstance(key_env, str) or not key_env):
        raise bad("api_key_env", "the name of an environment variable")
    timeout = table.get("timeout", DEFAULT_LLM_TIMEOUT)
    if type(timeout) not in (int, float) or not 0 < timeout <= 3600:
        raise bad("timeout", "a number of seconds, at most 3600")
    rounds = table.get("rounds", DEFAULT_LLM_ROUNDS)
    if type(rounds) is not int or not 1 <= rounds <= 50:
        raise bad("rounds", "a whole number from 1 to 50")
    return LlmConfig(url.rstrip("/"), model, key_env, float(timeout), rounds)
