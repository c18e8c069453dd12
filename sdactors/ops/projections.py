"""Commands on the read models: rebuild the index (or fold the log into a file of one's
own, up to a position), the digests, and the tables with their rows."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from events.shapes import Bool, Bytes, Int, MapOf, Maybe, Text
from sdactors.ops.base import Op, OpContext, op
from sdactors.ops.results import BOOL, COUNT, TEXT, Either, many, record
from sdactors.ops.shapes import LIBRARY

FOLDED = record(digest=TEXT, events=COUNT, path=TEXT)


@op("projections.rebuild")
@dataclass(frozen=True)
class RebuildIndex(Op):
    """Fold the whole log into a new index and swap it in (``Library.rebuild_index``), run
    by whoever holds the library: the node when one runs, else this process.

    ``damaged`` is what a reader of index.db found wrong with it (a CLI reading the file
    while a node holds the library): reads are refused until the swap. Without ``wait`` the
    answer is the rebuild's progress, at once.
    """

    library: Annotated[str | None, LIBRARY] = None
    wait: Annotated[bool, Bool()] = True
    damaged: Annotated[str | None, Maybe(Text(1, 1000))] = None

    # Done, or (without ``wait``) how far the rebuild is.
    result = Either((FOLDED, record(state=TEXT, percent=COUNT)))

    def run(self, ctx: OpContext) -> Any:
        lib = ctx.write_library(self.library)
        if self.damaged is not None:
            reason = f"a read found it damaged: {self.damaged}"
        else:
            reason = "asked for with 'sd projections rebuild'"
        result = lib.rebuild_index(reason, damaged=self.damaged is not None, wait=self.wait)
        if result is None:
            rebuild = lib.health.status()["index"]["rebuild"]
            return {"state": "rebuilding", "percent": rebuild["percent"] if rebuild else 0}
        return {"digest": result.digest, "events": result.events, "path": result.path}


@op("projections.fold")
@dataclass(frozen=True)
class FoldInto(Op):
    """Fold the log (up to ``until``, a position: time travel) into a new index at
    ``into``, a file of the user's; the library's own index is not touched."""

    into: Annotated[bytes, Bytes(min=1, max=4096)]
    until: Annotated[int | None, Maybe(Int(0, 1 << 62))] = None
    force: Annotated[bool, Bool()] = False
    library: Annotated[str | None, LIBRARY] = None

    result = FOLDED

    def run(self, ctx: OpContext) -> Any:
        from events.domain import CATALOG
        from events.store import EventStore
        from projections.catalog import library_projections
        from projections.rebuild import fold_into
        from sdactors.runtime.output_file import new_output

        config = ctx.find(self.library)
        into = Path(os.fsdecode(self.into))
        with new_output(into, ctx.data, self.force) as tmp:
            store = EventStore(config.paths.events, readonly=True)
            try:
                folded = fold_into(
                    str(tmp), store, library_projections(), CATALOG, until=self.until
                )
            finally:
                store.close()
        return {"digest": folded.digest, "events": folded.events, "path": str(into)}


@op("projections.digest")
@dataclass(frozen=True)
class Digests(Op):
    """The digest of every read model together, and of each: equal on devices holding the
    same events."""

    library: Annotated[str | None, LIBRARY] = None

    result = record(digest=TEXT, read_models=MapOf(TEXT, TEXT, max=1 << 10))

    def run(self, ctx: OpContext) -> Any:
        from projections.catalog import library_projections
        from projections.runner import digest_of

        lib = ctx.read_library(self.library)
        value = lib.digest()
        with lib.index() as db:
            each = {p.name: digest_of(db, [p]) for p in library_projections()}
        return {"digest": value, "read_models": each}


@op("projections.tables")
@dataclass(frozen=True)
class Tables(Op):
    """The read models' tables and how many rows each holds (for inspection)."""

    library: Annotated[str | None, LIBRARY] = None

    result = many(record(table=TEXT, rows=COUNT, fts=BOOL))

    def run(self, ctx: OpContext) -> Any:
        import sqlite3

        import sqlite_utils

        from sdactors.runtime.interrupts import watch

        config = ctx.read_library(self.library).config
        conn = watch(sqlite3.connect(f"file:{config.paths.index}?mode=ro", uri=True))
        try:
            db = sqlite_utils.Database(conn)
            fts = db.table_names(fts5=True)
            shadow = tuple(f"{name}_" for name in fts)
            return [
                {"table": t.name, "rows": t.count, "fts": t.name in fts}
                for t in db.tables
                if not t.name.startswith(shadow)
            ]
        finally:
            conn.close()
