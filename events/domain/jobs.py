"""Jobs: long work (an index of a location) recorded so it can be seen and resumed.

The state a job resumes from is not here: it is the entries its committed batches already
put in the index. These events say what ran, for how long, and how it ended.
"""

from dataclasses import dataclass

from events.domain.catalog import CATALOG


@CATALOG.event("job.started")
@dataclass(frozen=True, slots=True)
class JobStarted:
    job: bytes
    kind: str
    location: bytes


@CATALOG.event("job.completed")
@dataclass(frozen=True, slots=True)
class JobCompleted:
    job: bytes
    # Counts by name: created, modified, moved, deleted, errors, files, dirs, bytes...
    stats: dict


@CATALOG.event("job.failed")
@dataclass(frozen=True, slots=True)
class JobFailed:
    job: bytes
    error: str
