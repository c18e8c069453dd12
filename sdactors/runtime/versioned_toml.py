"""TOML files with a ``schema_version`` and a chain of migrations.

A file from an older version is migrated step by step on load and written back (atomically),
so each release only ever needs to add one step.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Callable, Mapping

import tomli_w

from sdactors.runtime.errors import ConfigError
from sdactors.runtime.private_files import write_private

Migration = Callable[[dict[str, Any]], dict[str, Any]]


def save(path: Path, content: Mapping[str, Any]) -> None:
    """Write the file whole (owner-only: it is one of the data directory's own)."""
    write_private(path, tomli_w.dumps(dict(content)).encode())


def load(path: Path, current: int, migrations: Mapping[int, Migration]) -> dict[str, Any]:
    """Read ``path``, migrating it to ``current`` (and saving the result) when it is older."""
    try:
        content = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    version = content.get("schema_version")
    if not isinstance(version, int) or version < 1:
        raise ConfigError(f"{path} has no valid schema_version")
    if version > current:
        raise ConfigError(
            f"{path} is schema version {version}, newer than this sdactors understands "
            f"({current}); upgrade sdactors"
        )
    if version == current:
        return content
    while version < current:
        step = migrations.get(version)
        if step is None:
            raise ConfigError(f"{path}: no migration from schema version {version}")
        content = step(dict(content))
        version += 1
        content["schema_version"] = version
    save(path, content)
    return content
