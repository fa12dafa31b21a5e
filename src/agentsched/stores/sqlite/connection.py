"""`Database`: the SQLite store's file, its connections, and what their failures mean.

stdlib `sqlite3`, one connection per thread, in WAL mode with a busy
timeout. Every write is a `BEGIN IMMEDIATE` transaction, so writers in
other threads and processes wait their turn and each write is all or
nothing. Every SQLite failure becomes a `StoreError` that says what
happened (disk full, read-only, locked, not a database). A path that cannot
work is refused at once, saying why; a file or directory that cannot be
written is opened read-only: reads work, writes raise.
"""

from __future__ import annotations

import builtins
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..._log import log
from ...errors import StoreError
from .checkpoint import BACKSTOP_PAGES, Checkpointer

__all__ = ["Database", "explain"]

# What SQLite's messages mean for the person reading ours.
_EXPLANATIONS = (
    ("disk is full", "the disk is full"),
    ("readonly", "the file or its directory is read-only"),
    ("read-only", "the file or its directory is read-only"),
    ("locked", "the database is locked by another connection"),
    ("busy", "the database is locked by another connection"),
    ("not a database", "the file is not a SQLite database"),
    ("malformed", "the database file is damaged"),
    ("unable to open", "the file cannot be opened (check the path and its permissions)"),
    ("disk i/o error", "the disk reported an I/O error"),
)


def explain(exc: sqlite3.Error) -> str:
    """A SQLite failure in words, with SQLite's own message after them."""
    text = str(exc)
    lowered = text.lower()
    for needle, meaning in _EXPLANATIONS:
        if needle in lowered:
            return f"{meaning} ({text})"
    return text


class Database:
    """Connections to one SQLite file (its directory must exist), and transactions that
    explain failures.

    `read_only` opens any file so (and never creates one); a file that
    cannot be written, or whose directory cannot, is opened so as well. With
    `create=False` a missing file is a `StoreError`.
    """

    def __init__(
        self, path: Path, timeout: float, synchronous: str, *, create: bool, read_only: bool
    ) -> None:
        self.path = path
        self.where = repr(str(path))
        self._timeout = timeout
        self._synchronous = synchronous
        self._local = threading.local()
        self._connections: builtins.list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        # Threads of this process take turns at writing here, waking as soon as the
        # writer before them is done; SQLite's own busy handler, left to arbitrate
        # between processes, sleeps a millisecond or more before each retry.
        self._write_turn = threading.RLock()
        self.checkpointer = Checkpointer(self._connect, self.where)
        try:
            self._unwritable = self._check_path(create and not read_only)
        except OSError as exc:  # a name too long, a path through a file, ...
            raise StoreError(f"cannot open {self.where}: {exc.strerror or exc}") from None
        self.read_only = read_only or self._unwritable

    def _check_path(self, create: bool) -> bool:
        """Refuse a path that cannot work, with a message saying why; whether the file
        must be opened read-only (it, or its directory, cannot be written)."""
        directory = self.path.resolve().parent
        if not directory.is_dir():
            raise StoreError(
                f"cannot open {self.where}: directory {str(directory)!r} does not exist"
            )
        exists = self.path.exists()
        if not create and not exists:
            raise StoreError(f"no database at {self.where}")
        writable_directory = os.access(directory, os.W_OK)
        if exists:
            return not (os.access(self.path, os.W_OK) and writable_directory)
        if not writable_directory:
            raise StoreError(
                f"cannot create {self.where}: directory {str(directory)!r} is read-only"
            )
        return False

    def connection(self) -> sqlite3.Connection:
        """The calling thread's connection, opened on first use."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        try:
            conn = self._connect()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {self.where}: {explain(exc)}") from None
        self._local.conn = conn
        with self._connections_lock:
            self._connections.append(conn)
        return conn

    def _connect(self) -> sqlite3.Connection:
        if self.read_only:
            return self._connect_read_only()
        conn = sqlite3.connect(
            self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout={int(self._timeout * 1000)}")
        self._retry_while_locked(lambda: conn.execute("PRAGMA journal_mode=WAL").fetchall())
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        conn.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")  # see checkpoint.py
        return conn

    def _connect_read_only(self) -> sqlite3.Connection:
        """A read-only connection. It reads through the WAL when SQLite can open its
        -wal/-shm files; where it cannot (a read-only directory and no such files, so
        nobody can be writing), it reads the file as immutable."""
        base = f"file:{quote(str(self.path.resolve()))}?mode=ro"
        for uri in (base, base + "&immutable=1"):
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            try:
                conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
            except sqlite3.OperationalError:
                conn.close()
                if uri != base:
                    raise
                continue
            return conn
        raise AssertionError("unreachable")

    def _retry_while_locked(self, action: Callable[[], object]) -> None:
        """Run `action`, retrying while another connection holds a lock SQLite will not
        wait for (switching a new file to WAL), up to the busy timeout."""
        deadline = time.monotonic() + self._timeout
        pause = 0.001
        while True:
            try:
                action()
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc).lower() or time.monotonic() >= deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One `BEGIN IMMEDIATE` transaction: committed if the block returns, rolled back
        (if SQLite has not done so already) if it raises. SQLite failures become
        `StoreError`s that say what happened; other exceptions pass through."""
        if self.read_only:
            why = "the file or its directory is not writable" if self._unwritable else "as asked"
            raise StoreError(f"cannot write to {self.where}: it was opened read-only ({why})")
        conn = self.connection()
        with self._write_turn:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot write to {self.where}: {explain(exc)}") from None
            try:
                yield conn
                conn.execute("COMMIT")
                self.checkpointer.written()
            except BaseException as exc:
                _rollback(conn)
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(
                        f"cannot write to {self.where}: {explain(exc)}; nothing was written"
                    ) from None
                raise

    def read(self, sql: str, params: Sequence[Any] = ()) -> builtins.list[tuple[Any, ...]]:
        """The rows of one query."""
        try:
            return self.connection().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read {self.where}: {explain(exc)}") from None

    def close(self) -> None:
        """Close every connection and stop the checkpointer; the next use opens them again."""
        checkpointer = self.checkpointer
        self.checkpointer = Checkpointer(self._connect, self.where)
        checkpointer.close()
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()


def _rollback(conn: sqlite3.Connection) -> None:
    # After some errors (a full disk, an I/O error) SQLite has already rolled back;
    # a second ROLLBACK would raise over the real error.
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            log.exception("rollback failed")
