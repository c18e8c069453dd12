"""A library's media settings: the ``[media]`` table of its library.toml, this device's own.

- ``gps`` (default false): whether the media job records where a photo or video was taken.
  A location is personal data, and media data goes into the log, to every device of the
  library, for good: it is off until the library's owner turns it on
  (``sd library set --media-gps on``). Turning it off again stops recording it; what was
  recorded stays in the log.
- ``workers`` (default: one per core), ``timeout_s`` (per file), ``memory_mib`` (what a
  worker may add to its loaded decoders): the limits of the media workers
  (``sdactors/media/workers.py``).

Read when a media job starts, so a change applies from the next job on.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from typing import Any

from sdactors.media.workers import MEMORY, TIMEOUT_S
from sdactors.runtime import versioned_toml
from sdactors.runtime.errors import ConfigError
from sdactors.runtime.paths import LibraryPaths

TABLE = "media"


@dataclass(frozen=True, slots=True)
class MediaSettings:
    gps: bool = False
    workers: int | None = None
    timeout_s: float = TIMEOUT_S
    memory: int = MEMORY


def media_settings(paths: LibraryPaths) -> MediaSettings:
    """The library's media settings: the defaults, less what library.toml says (a value
    of the wrong type is ignored, as a missing one is)."""
    table = _table(_load(paths))

    def positive(key: str) -> float | None:
        value = table.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return value
        return None

    workers, timeout, memory = positive("workers"), positive("timeout_s"), positive("memory_mib")
    return MediaSettings(
        gps=table.get("gps") is True,
        workers=int(workers) if workers is not None else None,
        timeout_s=float(timeout) if timeout is not None else TIMEOUT_S,
        memory=int(memory * (1 << 20)) if memory is not None else MEMORY,
    )


def set_media_gps(paths: LibraryPaths, on: bool) -> None:
    """Turn the recording of GPS positions on or off in library.toml (the rest kept)."""
    try:
        content = tomllib.loads(paths.config.read_text())
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {paths.config}: {exc}") from None
    table = dict(_table(content))
    table["gps"] = on
    content[TABLE] = table
    versioned_toml.save(paths.config, content)


def _load(paths: LibraryPaths) -> dict[str, Any]:
    try:
        return tomllib.loads(paths.config.read_text())
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {}


def _table(content: dict[str, Any]) -> dict[str, Any]:
    table = content.get(TABLE, {})
    return table if isinstance(table, dict) else {}
