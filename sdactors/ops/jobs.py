"""Jobs: list them, see one, pause, resume (``--confirm`` lets a held rescan delete), cancel.

What the log says of each job (its read model) is joined with what the process running it
knows now (progress, rate, time left), when that process is the one answering: the node.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from events.shapes import Bool, Maybe, Text
from projections.jobs import FINISHED, JobRow, job_by_prefix, jobs_of
from sdactors.ops.base import Op, OpContext, op
from sdactors.ops.results import HEX, MAP, MAYBE_HEX, MAYBE_TEXT, PLAIN, TEXT, many, record
from sdactors.ops.shapes import LIBRARY
from sdactors.runtime.errors import JobNotFound
from sdactors.runtime.paths import text

JOB = Text(4, 32, pattern="[0-9a-fA-F]+")


JOB_SHOWN = record(
    id=HEX,
    kind=TEXT,
    device=HEX,
    location=MAYBE_HEX,
    path=MAYBE_TEXT,
    state=TEXT,
    reason=PLAIN,
    params=MAP,
    checkpoint=PLAIN,
    progress=Maybe(MAP),
)


def _live(lib: Any) -> dict[str, dict[str, Any]]:
    board = getattr(lib, "jobs", None)
    return {} if board is None else {j["id"]: j for j in board.snapshot()}


def _as_json(row: JobRow, live: dict[str, Any] | None, paths: dict[bytes, bytes]) -> dict:
    out = {
        "id": row.job.hex(),
        "kind": row.kind,
        "device": row.device.hex(),
        "location": row.location.hex() if row.location else None,
        "path": text(paths[row.location]) if row.location in paths else None,
        "state": row.state,
        "reason": row.reason,
        "params": {k: [text(p) for p in v] if k == "folders" else v
                   for k, v in row.params.items()},
        "checkpoint": row.stats,
        "progress": None,
    }  # fmt: skip
    if live is not None:
        out["state"] = live["state"]
        out["progress"] = {k: live[k] for k in ("done", "expected", "rate_per_s", "eta_s")}
        out["progress"]["counts"] = live["counts"]
    return out


def _paths(db: Any) -> dict[bytes, bytes]:
    return dict(db.execute("SELECT location, path FROM locations"))


@op("jobs.list")
@dataclass(frozen=True)
class JobsList(Op):
    all: Annotated[bool, Bool()] = False
    library: Annotated[str | None, LIBRARY] = None

    result = many(JOB_SHOWN)

    def run(self, ctx: OpContext) -> Any:
        lib = ctx.read_library(self.library)
        live = _live(lib)
        with lib.index() as db:
            rows = jobs_of(db)
            paths = _paths(db)
        return [
            _as_json(r, live.get(r.job.hex()), paths)
            for r in rows
            if self.all or r.state not in FINISHED or r.job.hex() in live
        ]


def _one(lib: Any, wanted: str) -> JobRow:
    with lib.index() as db:
        found = job_by_prefix(db, wanted)
    if len(found) != 1:
        raise JobNotFound(wanted, len(found))
    return found[0]


@op("jobs.info")
@dataclass(frozen=True)
class JobInfo(Op):
    job: Annotated[str, JOB]
    library: Annotated[str | None, LIBRARY] = None

    result = JOB_SHOWN

    def run(self, ctx: OpContext) -> Any:
        lib = ctx.read_library(self.library)
        row = _one(lib, self.job)
        with lib.index() as db:
            paths = _paths(db)
        return _as_json(row, _live(lib).get(row.job.hex()), paths)


@dataclass(frozen=True)
class _OnJob(Op):
    job: Annotated[str, JOB]

    def target(self, ctx: OpContext) -> tuple[Any, bytes]:
        lib = ctx.write_library(getattr(self, "library", None))
        lib.catch_up()
        return lib, _one(lib, self.job).job

    def validate(self, ctx: OpContext) -> None:
        self.target(ctx)


@op("jobs.pause", writes=True)
@dataclass(frozen=True)
class JobPause(_OnJob):
    library: Annotated[str | None, LIBRARY] = None

    result = MAP

    def run(self, ctx: OpContext) -> Any:
        lib, job = self.target(ctx)
        return lib.pause_job(job)


@op("jobs.resume", writes=True)
@dataclass(frozen=True)
class JobResume(_OnJob):
    confirm: Annotated[bool, Bool()] = False
    library: Annotated[str | None, LIBRARY] = None

    result = MAP

    def run(self, ctx: OpContext) -> Any:
        lib, job = self.target(ctx)
        # A node runs it in the background; a command without a node runs it here, to its end.
        wait = not ctx.serving
        result = lib.resume_job(job, self.confirm, wait, ctx.progress if wait else None)
        return {"id": job.hex(), "state": "completed", "counts": result} if wait else result


@op("jobs.cancel", writes=True)
@dataclass(frozen=True)
class JobCancel(_OnJob):
    library: Annotated[str | None, LIBRARY] = None

    result = MAP

    def run(self, ctx: OpContext) -> Any:
        lib, job = self.target(ctx)
        return lib.cancel_job(job)
