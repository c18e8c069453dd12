"""Jobs: long work (an index of a location) recorded so it can be seen and resumed.

The state a job resumes from is not here: it is the entries its committed batches already
put in the index. These events say what ran, for how long, and how it ended. Jobs are
device-owned: only the device that started a job writes its events.
"""

from dataclasses import dataclass
from typing import Annotated, Any, Mapping

from events.domain.catalog import CATALOG
from events.shapes import INT64_MAX, Id, MapOf, Num, Plain, Text

TOKEN = r"[a-z][a-z0-9_-]*"
# A count no stat can hold (the bytes of a job that met files of 2**63 - 1 bytes each) is
# recorded as two stats within range: NAME, the count modulo 2**62, and NAME-hi, how many
# times 2**62 it holds. Readers put them back together (:func:`counted`).
_HIGH = "-hi"
_SHIFT = 62


def recorded(counts: Mapping[str, int | float]) -> dict[str, int | float]:
    """A job's counts as its events carry them: every number within a stat's range."""
    out: dict[str, int | float] = {}
    for name, value in counts.items():
        if type(value) is int and value > INT64_MAX:
            out[name] = value & ((1 << _SHIFT) - 1)
            out[name + _HIGH] = value >> _SHIFT
        else:
            out[name] = value
    return out


def counted(stats: Mapping[str, Any]) -> dict[str, Any]:
    """A job's counts from what its events carry: each split count whole again."""
    out = dict(stats)
    for name in [key for key in out if key.endswith(_HIGH)]:
        high, low = out[name], out.get(name[: -len(_HIGH)], 0)
        if type(high) is int and type(low) is int:
            del out[name]
            out[name[: -len(_HIGH)]] = (high << _SHIFT) + low
    return out


@CATALOG.event("job.started")
@dataclass(frozen=True, slots=True)
class JobStarted:
    job: Annotated[bytes, Id()]
    kind: Annotated[str, Text(1, 32, pattern=TOKEN)]
    location: Annotated[bytes, Id()]


@CATALOG.event("job.completed")
@dataclass(frozen=True, slots=True)
class JobCompleted:
    job: Annotated[bytes, Id()]
    # Counts by name: created, modified, moved, deleted, errors, files, dirs, bytes, seconds...
    stats: Annotated[dict, MapOf(Text(1, 32, pattern=TOKEN), Num(0, INT64_MAX))]


@CATALOG.event("job.failed")
@dataclass(frozen=True, slots=True)
class JobFailed:
    job: Annotated[bytes, Id()]
    error: Annotated[str, Text(0, 1000)]


# The life of a durable job, before and around job.started: queued with what it is to do,
# paused (by the user, or held: a rescan that would delete most of its location), resumed
# (by the user, or by a node starting again after a crash), cancelled. A checkpoint marks a
# batch boundary the job has committed, with its counts so far: where ``sd jobs info`` says
# it had come to. Progress between checkpoints is status, never an event.


@CATALOG.event("job.queued")
@dataclass(frozen=True, slots=True)
class JobQueued:
    job: Annotated[bytes, Id()]
    kind: Annotated[str, Text(1, 32, pattern=TOKEN)]
    location: Annotated[bytes, Id()]
    # What the job is to do, as its kind reads it (folders of a rescan, paths of a copy...).
    params: Annotated[dict, Plain()]


@CATALOG.event("job.paused")
@dataclass(frozen=True, slots=True)
class JobPaused:
    job: Annotated[bytes, Id()]
    reason: Annotated[str, Text(0, 1000)]


@CATALOG.event("job.resumed")
@dataclass(frozen=True, slots=True)
class JobResumed:
    job: Annotated[bytes, Id()]
    # Why: "user", "confirmed" (held deletions allowed), "restart" (the node came back).
    why: Annotated[str, Text(1, 32, pattern=TOKEN)]


@CATALOG.event("job.cancelled")
@dataclass(frozen=True, slots=True)
class JobCancelled:
    job: Annotated[bytes, Id()]


@CATALOG.event("job.checkpoint")
@dataclass(frozen=True, slots=True)
class JobCheckpoint:
    job: Annotated[bytes, Id()]
    stats: Annotated[dict, MapOf(Text(1, 32, pattern=TOKEN), Num(0, INT64_MAX))]
