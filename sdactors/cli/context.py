"""What every command shares: the data directory, the output mode, and opened libraries."""

from __future__ import annotations

from pathlib import Path

from sdactors.cli.output import Output
from sdactors.errors import LibraryLocked
from sdactors.libraries import LibraryConfig, find_library
from sdactors.library import Library, LibraryReader
from sdactors.node import Node
from sdactors.paths import DataDir


class CliContext:
    def __init__(self, data_dir: Path, as_json: bool) -> None:
        self.data = DataDir(data_dir)
        self.out = Output(as_json)
        self._node: Node | None = None

    @property
    def node(self) -> Node:
        if self._node is None:
            self._node = Node(self.data.root)
        return self._node

    def find(self, wanted: str | None) -> LibraryConfig:
        return find_library(self.data, wanted)

    def write_library(self, wanted: str | None) -> Library:
        """Open a library for writing: this process takes its lock and runs its actors."""
        return self.node.open_library(self.find(wanted).id)

    def read_library(self, wanted: str | None) -> Library | LibraryReader:
        """Open for reading: caught up if we can take the lock, as-is if a node holds it."""
        config = self.find(wanted)
        try:
            lib = self.node.open_library(config.id)
        except LibraryLocked:
            return LibraryReader(config)
        lib.catch_up()
        return lib

    def close(self) -> None:
        if self._node is not None:
            self._node.close()
            self._node = None
