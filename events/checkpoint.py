"""WAL checkpoints off the commit path.

SQLite normally checkpoints inside the commit that pushes the WAL past 1,000 pages: that
commit, and every append acknowledged with it, waits for pages to be copied and the database
file to be fsynced. The log's writer turns that off and this thread checkpoints instead, on
its own connection, in PASSIVE mode (which never blocks a writer). Durability is unchanged:
an event is durable once its WAL frame is synced, before any checkpoint.
"""

from __future__ import annotations

import sqlite3
import threading

# A passive checkpoint of what a quarter second of commits wrote is cheap.
INTERVAL_S = 0.25


class WalCheckpointer:
    def __init__(self, path: str, interval_s: float = INTERVAL_S) -> None:
        self._path = path
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)

    def start(self) -> "WalCheckpointer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA busy_timeout = 1000")
            while not self._stop.wait(self._interval):
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error:
                    continue  # busy, locked, or a file its owner is about to replace
        finally:
            # A last full pass so a closed log is one file again.
            try:
                db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error:
                pass
            db.close()
