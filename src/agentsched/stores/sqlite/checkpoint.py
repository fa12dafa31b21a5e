"""WAL checkpoints for SQLiteStore, in a thread of their own.

SQLite checkpoints its write-ahead log from whichever connection commits
past the threshold, inside that commit: the scheduler's loop, about to start
a handler, would wait several milliseconds (a checkpoint syncs the database
file). Here a daemon thread does them instead, at most a few times a second
while writes go on; the writers keep SQLite's own checkpoint only as a far
backstop (`BACKSTOP_PAGES`), should this thread fall behind.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable

from ..._log import log

__all__ = ["BACKSTOP_PAGES", "Checkpointer"]

BACKSTOP_PAGES = 20_000  # ~80 MB of log with 4 KiB pages
_PAUSE = 0.25  # seconds between two checkpoints at most
_IDLE = 5.0  # seconds without writes after which the thread ends (the next write restarts it)


class Checkpointer:
    """Runs `PRAGMA wal_checkpoint(PASSIVE)` on its own connection after writes.

    `written()` is cheap and never blocks; the thread starts on first use,
    ends after `_IDLE` seconds without writes (so an idle or forgotten store
    holds no thread or connection) and starts again on the next write, or
    after a fork, where it does not survive. `close()` stops it.
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection], label: str) -> None:
        self._connect = connect
        self._label = label
        self._due = threading.Event()
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.checkpoints = 0  # completed, for tests and diagnostics

    def written(self) -> None:
        """A transaction was committed: checkpoint soon."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            self._start()
        self._due.set()

    def _start(self) -> None:
        with self._lock:
            if self._stopped.is_set() or (self._thread is not None and self._thread.is_alive()):
                return
            self._thread = threading.Thread(
                target=self._run, name="agentsched-sqlite-checkpoint", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                if not self._due.wait(_IDLE) or self._stopped.is_set():
                    return
                self._due.clear()
                try:
                    conn = conn or self._connect()
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                except sqlite3.Error as exc:
                    log.warning("could not checkpoint the log of %s: %s", self._label, exc)
                if self._stopped.wait(_PAUSE):
                    return
        finally:
            if conn is not None:
                conn.close()

    def close(self) -> None:
        """Stop the thread (after the checkpoint it may be doing) and close its connection."""
        with self._lock:
            self._stopped.set()
            thread = self._thread
        self._due.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join()
