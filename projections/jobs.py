"""Durable jobs: what each device's jobs are to do, and where each one stands.

A job is its device's (keyed by device and job id), and one device's events reach the fold
in that device's own order, so the last event of a job says its state. A job written before
jobs were queued (its first event job.started) is read the same way, with no parameters.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Iterable, NamedTuple, Sequence

import msgpack

from events.domain.jobs import (
    JobCancelled,
    JobCheckpoint,
    JobCompleted,
    JobFailed,
    JobPaused,
    JobQueued,
    JobResumed,
    JobStarted,
    counted,
)
from projections.base import Folded

QUEUED, RUNNING, PAUSED, COMPLETED, FAILED, CANCELLED = (
    "queued",
    "running",
    "paused",
    "completed",
    "failed",
    "cancelled",
)
# States a job leaves only by someone's hand (paused) or never (the rest).
FINISHED = (COMPLETED, FAILED, CANCELLED)
COLUMNS = "device, job, kind, location, params, state, reason, stats, queued, updated"


class JobRow(NamedTuple):
    device: bytes
    job: bytes
    kind: str | None
    location: bytes | None
    params: dict[str, Any]
    state: str
    # Why it is paused or how it failed.
    reason: str | None
    # Its counts at its last checkpoint, or at its end.
    stats: dict[str, int]
    queued: int  # hlc of its first event
    updated: int  # hlc of its last


class JobsProjection:
    name = "jobs"
    version = 1
    types = ("job.",)

    def create(self, db: sqlite3.Connection) -> None:
        db.execute(
            "CREATE TABLE jobs (device BLOB NOT NULL, job BLOB NOT NULL, kind TEXT, "
            "location BLOB, params BLOB, state TEXT NOT NULL, reason TEXT, stats BLOB, "
            "queued INTEGER NOT NULL, updated INTEGER NOT NULL, PRIMARY KEY (device, job))"
        )
        db.execute("CREATE INDEX jobs_by_state ON jobs (state, queued)")

    def fold(self, db: sqlite3.Connection, events: Folded) -> None:
        for ev, typed in events:
            key = (ev.device, typed.job)
            kind = type(typed)
            if kind is JobQueued or kind is JobStarted:
                params = _pack(typed.params) if kind is JobQueued else None
                db.execute(
                    "INSERT INTO jobs (device, job, kind, location, params, state, queued, "
                    "updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device, job) DO "
                    "UPDATE SET state = excluded.state, reason = NULL, updated = excluded.updated",
                    (*key, typed.kind, typed.location, params,
                     QUEUED if kind is JobQueued else RUNNING, ev.hlc, ev.hlc),
                )  # fmt: skip
                continue
            state, reason, stats = _change(typed)
            db.execute(
                "UPDATE jobs SET state = coalesce(?, state), reason = ?, "
                "stats = coalesce(?, stats), updated = ? WHERE device = ? AND job = ?",
                (state, reason, None if stats is None else _pack(stats), ev.hlc, *key),
            )

    def digest_rows(self, db: sqlite3.Connection) -> Iterable[Sequence[Any]]:
        return db.execute(
            "SELECT device, job, kind, location, params, state, reason, stats FROM jobs "
            "ORDER BY device, job"
        )


def _change(typed: object) -> tuple[str | None, str | None, dict | None]:
    """(new state or None to keep it, reason, stats or None to keep them)."""
    kind = type(typed)
    if kind is JobCheckpoint:
        return None, None, typed.stats  # type: ignore[attr-defined]
    if kind is JobCompleted:
        return COMPLETED, None, typed.stats  # type: ignore[attr-defined]
    if kind is JobFailed:
        return FAILED, typed.error, None  # type: ignore[attr-defined]
    if kind is JobPaused:
        return PAUSED, typed.reason, None  # type: ignore[attr-defined]
    if kind is JobResumed:
        return QUEUED, None, None
    if kind is JobCancelled:
        return CANCELLED, None, None
    raise TypeError(f"not a job event: {typed!r}")


def _pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def _row(values: Sequence[Any]) -> JobRow:
    dev, job, kind, location, params, state, reason, stats, queued, updated = values
    return JobRow(
        dev,
        job,
        kind,
        location,
        msgpack.unpackb(params) if params is not None else {},
        state,
        reason,
        counted(msgpack.unpackb(stats)) if stats is not None else {},
        queued,
        updated,
    )


def jobs_of(
    db: sqlite3.Connection, device: bytes | None = None, states: Sequence[str] | None = None
) -> list[JobRow]:
    """Jobs (of ``device``, in ``states``), oldest first."""
    where, args = [], []
    if device is not None:
        where.append("device = ?")
        args.append(device)
    if states is not None:
        where.append(f"state IN ({','.join('?' * len(states))})")
        args.extend(states)
    sql = f"SELECT {COLUMNS} FROM jobs"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return [_row(r) for r in db.execute(sql + " ORDER BY queued, device, job", args)]


def job_by_prefix(db: sqlite3.Connection, prefix: str) -> list[JobRow]:
    """Jobs whose id (hex) starts with ``prefix``."""
    return [r for r in jobs_of(db) if r.job.hex().startswith(prefix.lower())]
