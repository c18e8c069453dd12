"""library.toml and the set of libraries in a data directory.

Version history of library.toml:
  1. ``id``, ``name``, ``created_ms`` (milliseconds since the epoch).
  2. ``created`` as an RFC 3339 UTC timestamp people can read; ``created_ms`` dropped.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sdactors.runtime import versioned_toml
from sdactors.runtime.errors import ConfigError, LibraryExists, NoLibrary
from sdactors.runtime.paths import DataDir, LibraryPaths
from sdactors.runtime.private_files import PRIVATE_DIR, private_dir

LIBRARY_SCHEMA_VERSION = 2


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _v1_to_v2(old: dict[str, Any]) -> dict[str, Any]:
    old["created"] = _iso(int(old.pop("created_ms", 0)))
    return old


MIGRATIONS = {1: _v1_to_v2}


@dataclass(frozen=True, slots=True)
class LibraryConfig:
    id: str
    name: str
    created: str
    paths: LibraryPaths

    @property
    def id_bytes(self) -> bytes:
        return bytes.fromhex(self.id)


def _read(paths: LibraryPaths) -> LibraryConfig:
    content = versioned_toml.load(paths.config, LIBRARY_SCHEMA_VERSION, MIGRATIONS)
    try:
        return LibraryConfig(
            str(content["id"]), str(content["name"]), str(content["created"]), paths
        )
    except KeyError as exc:
        raise ConfigError(f"{paths.config} lacks {exc.args[0]!r}") from None


def list_libraries(data: DataDir) -> list[LibraryConfig]:
    if not data.libraries.is_dir():
        return []
    found = []
    for child in sorted(data.libraries.iterdir()):
        if child.suffix == ".sdlibrary" and (child / "library.toml").exists():
            found.append(_read(LibraryPaths(child, data.root)))
    return sorted(found, key=lambda lib: (lib.name, lib.id))


def find_library(data: DataDir, wanted: str | None) -> LibraryConfig:
    """The library named or identified by ``wanted``; with ``None``, the only one there is."""
    libraries = list_libraries(data)
    if wanted is None:
        if len(libraries) == 1:
            return libraries[0]
        raise NoLibrary(None, [lib.name for lib in libraries])
    for lib in libraries:
        if wanted in (lib.id, lib.name):
            return lib
    prefixed = [lib for lib in libraries if len(wanted) >= 6 and lib.id.startswith(wanted)]
    if len(prefixed) == 1:
        return prefixed[0]
    raise NoLibrary(wanted, [lib.name for lib in libraries])


def create_library_files(data: DataDir, name: str, library_id: str | None = None) -> LibraryConfig:
    """Create the folder and library.toml of a new library (its log is started by the caller)."""
    name = name.strip()
    if not name:
        raise ConfigError("a library needs a name")
    for lib in list_libraries(data):
        if lib.name == name:
            raise LibraryExists(name)
        if library_id is not None and lib.id == library_id:
            raise LibraryExists(lib.name)
    library_id = library_id or uuid.uuid4().hex
    paths = data.library(library_id)
    private_dir(data.libraries)
    paths.root.mkdir(mode=PRIVATE_DIR)
    paths.thumbs.mkdir(mode=PRIVATE_DIR)
    versioned_toml.save(
        paths.config,
        {
            "schema_version": LIBRARY_SCHEMA_VERSION,
            "id": library_id,
            "name": name,
            "created": _iso(int(datetime.now(timezone.utc).timestamp() * 1000)),
        },
    )
    return _read(paths)


def remove_library_files(lib: LibraryConfig) -> None:
    """Undo a creation that failed half-way, so nothing half-made is left behind."""
    shutil.rmtree(lib.paths.root, ignore_errors=True)
