"""Libraries: create (and, under a node, serve at once), list, describe."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from events.shapes import Text
from projections.devices import device_names
from projections.runner import read_checkpoint
from sdactors.ops.base import Op, OpContext, op
from sdactors.ops.results import COUNT, HEX, MAYBE_TEXT, PLAIN, TEXT, many, record
from sdactors.ops.shapes import LIBRARY


@op("library.create", writes=True)
@dataclass(frozen=True)
class LibraryCreate(Op):
    name: Annotated[str, Text(1, 256)]

    result = record(id=HEX, name=TEXT, path=TEXT)

    def audit_library(self, ctx: OpContext) -> str | None:
        return None  # recorded in the library it creates, once it exists

    def created_library(self, result: Any) -> str | None:
        return result["id"]

    def run(self, ctx: OpContext) -> Any:
        config = ctx.create_library(self.name).config
        ctx.serve_new(config)
        return {"id": config.id, "name": config.name, "path": str(config.paths.root)}


@op("library.list")
@dataclass(frozen=True)
class LibraryList(Op):
    result = many(record(id=HEX, name=TEXT, created=PLAIN))

    def run(self, ctx: OpContext) -> Any:
        return [{"id": lib.id, "name": lib.name, "created": lib.created} for lib in ctx.libraries()]


@op("library.info")
@dataclass(frozen=True)
class LibraryInfo(Op):
    library: Annotated[str | None, LIBRARY] = None

    result = record(
        id=HEX,
        name=TEXT,
        created=PLAIN,
        path=TEXT,
        events=COUNT,
        bytes=COUNT,
        head=COUNT,
        checkpoint=COUNT,
        devices=many(record(device=HEX, name=MAYBE_TEXT, seq=COUNT)),
    )

    def run(self, ctx: OpContext) -> Any:
        lib = ctx.read_library(self.library)
        store = lib.log()
        try:
            stats = store.stats()
            head = store.head_pos
            devices = store.vector()
        finally:
            store.close()
        with lib.index() as db:
            checkpoint = read_checkpoint(db)
            named = device_names(db)
        config = lib.config
        return {
            "id": config.id,
            "name": config.name,
            "created": config.created,
            "path": str(config.paths.root),
            "events": stats.events,
            "bytes": stats.bytes,
            "head": head,
            "checkpoint": checkpoint,
            "devices": [
                {"device": dev.hex(), "name": named.get(dev), "seq": seq}
                for dev, seq in sorted(devices.items())
            ],
        }
