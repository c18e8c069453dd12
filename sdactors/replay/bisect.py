"""``sd log bisect``: the first position at which a condition over the read models holds.

The condition is a read-only SQL query; it holds when it returns a row. It is assumed
monotone along the log (false up to some event, true from it on), as ``git bisect`` assumes
of a bug: each probe folds the read models to a position (from the nearest snapshot, see
``snapshots``) and runs the query there, halving the range each time. The answer is checked
at its two sides (false just before, true at it) whatever the probes saw.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from events.store import EventStore
from sdactors.replay.snapshots import SnapshotCache
from sdactors.runtime.errors import BadQuery, ConditionHoldsAtStart, ConditionNeverHolds
from sdactors.runtime.interrupts import raise_if_signalled
from sdactors.runtime.logs import get_logger

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class BisectResult:
    position: int
    probes: int


def checked_query(sql: str) -> str:
    """The query, if it is a single SELECT (or WITH ... SELECT); BadQuery otherwise.

    SQLite says whether the text is one complete statement; the connection it runs on is
    read-only and ``query_only`` besides, so a WITH that hides a write fails there too.
    """
    text = sql.strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    if not text:
        raise BadQuery("it is empty")
    first = text.split(None, 1)[0].upper()
    if first not in ("SELECT", "WITH"):
        raise BadQuery(f"only a single SELECT (or WITH ... SELECT) is allowed, not {first}")
    if sqlite3.complete_statement(text + ";") and ";" in text:
        # A ';' inside a string literal is fine; a second statement is not: let SQLite judge.
        db = sqlite3.connect(":memory:")
        try:
            db.execute(f"EXPLAIN {text}")
        except sqlite3.ProgrammingError:
            raise BadQuery("only a single statement is allowed") from None
        except sqlite3.Error:
            pass  # unknown tables here: the real check is against a snapshot
        finally:
            db.close()
    return text


def holds(db: sqlite3.Connection, sql: str) -> bool:
    """Whether ``sql`` returns a row over the read models ``db`` holds."""
    try:
        return db.execute(sql).fetchone() is not None
    except sqlite3.Error as exc:
        raise_if_signalled()  # Ctrl-C or SIGTERM abandoned it: not a bad query
        raise BadQuery(" ".join(str(exc).split())) from None


def bisect(cache: SnapshotCache, store: EventStore, sql: str) -> BisectResult:
    """The first position whose folded state makes ``sql`` return a row."""
    sql = checked_query(sql)
    probes = 0

    def probe(position: int) -> bool:
        nonlocal probes
        probes += 1
        with cache.state(position, store) as db:
            answer = holds(db, sql)
        log.debug("bisect_probe", position=position, holds=answer)
        return answer

    head = store.head_pos
    if probe(0):
        raise ConditionHoldsAtStart()
    if not probe(head):
        raise ConditionNeverHolds(head)
    low, high = 0, head  # false at low, true at high
    while high - low > 1:
        mid = (low + high) // 2
        if probe(mid):
            high = mid
        else:
            low = mid
    if not probe(high) or probe(high - 1):
        # Only a condition that is not monotone gets here: say so rather than guess.
        raise BadQuery(
            f"the condition is not monotone along the log near position {high} "
            "(it must be false up to some event and true from it on)"
        )
    return BisectResult(high, probes)
