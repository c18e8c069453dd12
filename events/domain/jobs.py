"""Jobs: long work (an index of a location) recorded so it can be seen and resumed.

The state a job resumes from is not here: it is the entries its committed batches already
put in the index. These events say what ran, for how long, and how it ended. Jobs are
device-owned: only the device that started a job writes its events.
"""

from dataclasses import dataclass
from typing import Annotated

from events.domain.catalog import CATALOG
from events.shapes import INT64_MAX, Id, MapOf, Num, Text

TOKEN = r"[a-z][a-z0-9_-]*"


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
