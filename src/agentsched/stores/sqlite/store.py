"""`SQLiteStore`: one file, the embedded default; safe for several processes.

stdlib `sqlite3` in WAL mode with a busy timeout. Every write is a
`BEGIN IMMEDIATE` transaction, so writers in other threads and processes
wait their turn and a claim (select due, advance `next_run_at`, insert the
runs) is all or nothing. A `UNIQUE (schedule_id, scheduled_for, attempt)`
index on scheduled runs makes a double fire impossible even if two claims
raced.

Each record is stored as its JSON document (spec and metadata included)
next to indexed columns used for lookups. Rows are isolated from each other:
a row that cannot be decoded (bad JSON, bytes that are not UTF-8, a record
whose id is not its row's) raises a `StoreError` naming it from `get` and
`get_run`, is logged and skipped by `list` and `runs`, and is taken out of
the due index (claims) or the running set (leases) so that it can never
stop other schedules from firing; its stored body is never rewritten.

Every SQLite failure surfaces as a `StoreError` that says what happened
(disk full, read-only, locked, not a database). A file or directory that
cannot be written is opened read-only: reads work, writes raise. The schema
version lives in `PRAGMA user_version`; newer files are refused, older ones
migrated forward.
"""

from __future__ import annotations

import builtins
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..._log import log
from ...errors import ConflictError, ScheduleNotFound, StoreError, ValidationError, shorten
from ...model import Activity, Run, RunStatus, Schedule, Status
from ..base import Claim, ClaimPlan, Finish, Finishing, check_keep_runs, schedule_exists
from ..finishing import fold, start_oldest
from ..rows import DecodeCache, decode, list_schedules, to_json
from ..watchers import Watchers
from .checkpoint import BACKSTOP_PAGES, Checkpointer

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]


SCHEMA_VERSION = 2
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE schedules (
        id          TEXT PRIMARY KEY,
        owner       TEXT,
        agent_id    TEXT NOT NULL,
        sort_name   TEXT NOT NULL,
        status      TEXT NOT NULL,
        next_run_at INTEGER,
        version     INTEGER NOT NULL,
        body        TEXT NOT NULL
    );
    CREATE INDEX schedules_due ON schedules (next_run_at)
        WHERE status = 'active' AND next_run_at IS NOT NULL;
    CREATE INDEX schedules_sorted ON schedules (sort_name, id);
    CREATE INDEX schedules_agent ON schedules (agent_id, sort_name, id);
    CREATE INDEX schedules_owner ON schedules (owner, sort_name, id);
    CREATE TABLE runs (
        seq           INTEGER PRIMARY KEY AUTOINCREMENT,
        id            TEXT NOT NULL UNIQUE,
        schedule_id   TEXT NOT NULL,
        trigger       TEXT NOT NULL,
        scheduled_for INTEGER,
        status        TEXT NOT NULL,
        started_at    INTEGER,
        lease_until   INTEGER,
        body          TEXT NOT NULL
    );
    CREATE UNIQUE INDEX runs_one_per_fire ON runs (schedule_id, scheduled_for)
        WHERE trigger = 'schedule';
    CREATE INDEX runs_by_schedule ON runs (schedule_id, seq);
    CREATE INDEX runs_unfinished ON runs (schedule_id) WHERE status = 'running';
    CREATE INDEX runs_leases ON runs (lease_until) WHERE status = 'running';
    """,
    # 2: run history is bounded per schedule (a count of finished runs kept per
    # schedule makes the bound cheap); a fire may have several attempts; a run
    # that timed out keeps its lease (its slot) until its handler returns.
    2: """
    ALTER TABLE schedules ADD COLUMN finished_runs INTEGER NOT NULL DEFAULT 0;
    UPDATE schedules SET finished_runs = (
        SELECT COUNT(*) FROM runs
        WHERE runs.schedule_id = schedules.id AND runs.status != 'running'
    );
    ALTER TABLE runs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
    DROP INDEX runs_one_per_fire;
    CREATE UNIQUE INDEX runs_one_per_fire ON runs (schedule_id, scheduled_for, attempt)
        WHERE trigger = 'schedule';
    DROP INDEX runs_unfinished;
    CREATE INDEX runs_unfinished ON runs (schedule_id)
        WHERE status = 'running' OR lease_until IS NOT NULL;
    DROP INDEX runs_leases;
    CREATE INDEX runs_leases ON runs (lease_until) WHERE lease_until IS NOT NULL;
    """,
}

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


def _explain(exc: sqlite3.Error) -> str:
    text = str(exc)
    lowered = text.lower()
    for needle, meaning in _EXPLANATIONS:
        if needle in lowered:
            return f"{meaning} ({text})"
    return text


def _micros(value: datetime | None) -> int | None:
    return None if value is None else (value - _EPOCH) // _MICROSECOND


def _by_id(raw_id: bytes) -> str:
    """A WHERE clause for a row by the id read as bytes: the primary key when the id
    is text, a scan (rare: a row corrupt in its very id) when it is not."""
    try:
        text = raw_id.decode()
    except UnicodeDecodeError:
        return f"CAST(id AS BLOB) = X'{raw_id.hex()}'"
    return "id = '" + text.replace("'", "''") + "'"


def _text(value: bytes | str) -> str:
    """A key column read as bytes (so one bad row cannot fail a whole query), as text."""
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


# Bodies and ids are selected as BLOBs: SQLite would fail the whole query on one
# row whose text is not UTF-8; as bytes, that row alone fails to decode.
_SCHEDULE_COLUMNS = "CAST(id AS BLOB), CAST(body AS BLOB)"
_INSERT_RUN = (
    "INSERT INTO runs (id, schedule_id, trigger, scheduled_for, attempt, status, "
    "started_at, lease_until, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPDATE_DUE = (
    "UPDATE schedules SET status = ?, next_run_at = ?, version = ?, body = ? "
    "WHERE id = ? AND version = ?"
)
_FINISH_RUN = "UPDATE runs SET status = ?, started_at = ?, body = ?, lease_until = ? WHERE id = ?"
_IDLE = Activity()


def _finished_row(run: Run, lease_until: datetime | None, occupied: bool) -> tuple[Any, ...]:
    """`_FINISH_RUN`'s parameters: a finished run keeps a lease only while `occupied`."""
    return (
        run.status._value_,
        _micros(run.started_at),
        to_json(run),
        _micros(lease_until) if occupied else None,
        run.id,
    )


def _draining(queue: builtins.list[tuple[bytes, bytes]]) -> Iterator[tuple[bytes, bytes]]:
    """The rows of a queue, each taken off it as it is read."""
    while queue:
        yield queue.pop(0)


class _Folds:
    """The schedules of a batch of finishing runs, as each outcome leaves them."""

    def __init__(self, loaded: dict[str, tuple[Schedule | None, int]]) -> None:
        self._first = {sid: schedule for sid, (schedule, _) in loaded.items()}
        self._latest = dict(self._first)
        self.finished = {sid: (count, 0) for sid, (_, count) in loaded.items()}
        self.after: dict[int, Schedule | None] = {}  # by id() of each Finishing

    def fold(self, item: Finishing) -> None:
        run = item.run
        schedule = self._latest.get(run.schedule_id)
        if schedule is not None:
            self._latest[run.schedule_id] = fold(schedule, run, item.update)
        self.after[id(item)] = self._latest.get(run.schedule_id)
        if run.schedule_id in self.finished:
            before, added = self.finished[run.schedule_id]
            self.finished[run.schedule_id] = (before, added + 1)

    def changed(self) -> builtins.list[tuple[Schedule, Schedule]]:
        """(as read, as it ends) for each schedule the batch changed."""
        return [
            (first, latest)
            for sid, first in self._first.items()
            if first is not None
            and (latest := self._latest[sid]) is not first
            and latest is not None
        ]


def _run_row(run: Run, lease_until: datetime | None) -> tuple[Any, ...]:
    leased = run.status is RunStatus.RUNNING and run.started_at is not None
    return (
        run.id,
        run.schedule_id,
        run.trigger._value_,
        _micros(run.scheduled_for),
        run.attempt,
        run.status._value_,
        _micros(run.started_at),
        _micros(lease_until) if leased else None,
        to_json(run),
    )


_RUN_COLUMNS = "CAST(id AS BLOB), CAST(body AS BLOB)"


class SQLiteStore:
    """A `Store` in one SQLite file (its directory must exist).

    `busy_timeout` is how long a writer waits for another process's
    transaction. `synchronous="NORMAL"` (the default) survives any process
    crash; pass `"FULL"` to also survive power loss at some cost per write.
    `keep_runs` bounds the finished runs kept per schedule (None keeps all).
    With `create=False` a missing file is a `StoreError` instead of a new
    database. A file that cannot be written (or whose directory cannot) is
    opened read-only: reads work and every write raises `StoreError`;
    `read_only=True` opens any file so (and never creates one).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        busy_timeout: timedelta = timedelta(seconds=30),
        synchronous: str = "NORMAL",
        keep_runs: int | None = 1000,
        create: bool = True,
        *,
        read_only: bool = False,
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValidationError(
                "synchronous", f"'synchronous' must be NORMAL or FULL (got {shorten(synchronous)})"
            )
        self.path = Path(path)
        if "\x00" in str(self.path):
            raise StoreError(f"cannot open {str(self.path)!r}: a path cannot hold a NUL character")
        self._keep_runs = check_keep_runs(keep_runs)
        self._timeout = busy_timeout.total_seconds()
        self._synchronous = synchronous
        self._local = threading.local()
        self._decoded = DecodeCache()
        self._connections: builtins.list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        # Threads of this process take turns at writing here, waking as soon as the
        # writer before them is done; SQLite's own busy handler, left to arbitrate
        # between processes, sleeps a millisecond or more before each retry.
        self._write_turn = threading.RLock()
        self._checkpointer = Checkpointer(self._connect, repr(str(self.path)))
        self._watchers = Watchers()
        try:
            self._unwritable = self._check_path(create and not read_only)
            self.read_only = read_only or self._unwritable
        except OSError as exc:  # a name too long, a path through a file, ...
            raise StoreError(f"cannot open {str(self.path)!r}: {exc.strerror or exc}") from None
        try:
            self._open()
        except sqlite3.Error as exc:
            self.close()
            raise StoreError(f"cannot open {str(self.path)!r}: {_explain(exc)}") from None
        except StoreError:
            self.close()
            raise

    def _check_path(self, create: bool) -> bool:
        """Refuse a path that cannot work, with a message saying why; whether the file
        must be opened read-only (it, or its directory, cannot be written)."""
        directory = self.path.resolve().parent
        if not directory.is_dir():
            raise StoreError(
                f"cannot open {str(self.path)!r}: directory {str(directory)!r} does not exist"
            )
        exists = self.path.exists()
        if not create and not exists:
            raise StoreError(f"no database at {str(self.path)!r}")
        writable_directory = os.access(directory, os.W_OK)
        if exists:
            return not (os.access(self.path, os.W_OK) and writable_directory)
        if not writable_directory:
            raise StoreError(
                f"cannot create {str(self.path)!r}: directory {str(directory)!r} is read-only"
            )
        return False

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- connections and transactions ------------------------------------------

    def _open(self) -> None:
        """Check (read-only) or create and migrate (writable) the schema.

        Several processes may open a brand-new file at once: switching it to
        WAL and migrating each wait for the others, within the busy timeout.
        """
        if self.read_only:
            version = self._connection().execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA_VERSION:
                raise StoreError(
                    f"cannot open {str(self.path)!r} read-only: it has schema version "
                    f"{version} and this agentsched needs {SCHEMA_VERSION} (open it once "
                    "where it can be written, to migrate it)"
                )
            return
        self._migrate()

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        try:
            conn = self._connect()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {str(self.path)!r}: {_explain(exc)}") from None
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
        conn.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")  # see _checkpoint.py
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

    def _migrate(self) -> None:
        with self._write() as db:
            current = db.execute("PRAGMA user_version").fetchone()[0]
            if current > SCHEMA_VERSION:
                raise StoreError(
                    f"{str(self.path)!r} has schema version {current}; this agentsched "
                    f"knows up to {SCHEMA_VERSION} (upgrade agentsched)"
                )
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[version].split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version={version}")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One `BEGIN IMMEDIATE` transaction: committed if the block returns, rolled back
        (if SQLite has not done so already) if it raises. SQLite failures become
        `StoreError`s that say what happened; other exceptions pass through."""
        if self.read_only:
            why = "the file or its directory is not writable" if self._unwritable else "as asked"
            raise StoreError(f"cannot write to {str(self.path)!r}: it was opened read-only ({why})")
        conn = self._connection()
        with self._write_turn:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot write to {str(self.path)!r}: {_explain(exc)}") from None
            try:
                yield conn
                conn.execute("COMMIT")
                self._checkpointer.written()
            except BaseException as exc:
                self._rollback(conn)
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(
                        f"cannot write to {str(self.path)!r}: {_explain(exc)}; nothing was written"
                    ) from None
                raise

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        # After some errors (a full disk, an I/O error) SQLite has already rolled back;
        # a second ROLLBACK would raise over the real error.
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                log.exception("rollback failed")

    def _read(self, sql: str, params: Sequence[Any] = ()) -> builtins.list[tuple[Any, ...]]:
        try:
            return self._connection().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read {str(self.path)!r}: {_explain(exc)}") from None

    def watch(self, callback: Callable[[], None]) -> Callable[[], None]:
        """In-process only: SQLite cannot tell this process about other processes' writes
        (their schedulers' loops find them by polling, at least once a minute)."""
        return self._watchers.add(callback)

    def close(self) -> None:
        checkpointer = self._checkpointer
        self._checkpointer = Checkpointer(self._connect, repr(str(self.path)))
        checkpointer.close()
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()

    # -- schedules -------------------------------------------------------------

    def _due_row(self, schedule: Schedule, expected_version: int) -> tuple[Any, ...]:
        """The parameters of `_UPDATE_DUE` for a schedule whose name, agent and owner
        did not change (the firing path); its text goes in the decode cache."""
        body = to_json(schedule)
        self._decoded.put(schedule, body.encode())
        return (
            schedule.status._value_,
            _micros(schedule.due_at),
            schedule.version,
            body,
            schedule.id,
            expected_version,
        )

    def _schedule_row(self, schedule: Schedule) -> tuple[Any, ...]:
        body = to_json(schedule)
        self._decoded.put(schedule, body.encode())
        return (
            schedule.owner,
            schedule.agent_id,
            schedule.name or "",
            schedule.status._value_,
            _micros(schedule.due_at),
            schedule.version,
            body,
            schedule.id,
        )

    def add(self, schedule: Schedule) -> None:
        self.add_many([schedule])

    def add_many(self, schedules: Sequence[Schedule]) -> None:
        """Insert many new schedules in one transaction (all or none)."""
        with self._write() as db:
            before = db.total_changes
            try:
                db.executemany(
                    "INSERT INTO schedules (owner, agent_id, sort_name, status, next_run_at, "
                    "version, body, id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [self._schedule_row(s) for s in schedules],
                )
            except sqlite3.IntegrityError:
                # the id is the one constraint a valid schedule can break; the rows before
                # the one that broke it went in, one change each
                clash = schedules[db.total_changes - before]
                raise schedule_exists(clash.id) from None
        self._watchers.notify()

    def get(self, schedule_id: str) -> Schedule | None:
        rows = self._read("SELECT CAST(body AS BLOB) FROM schedules WHERE id = ?", (schedule_id,))
        return self._decoded.get(schedule_id, rows[0][0]) if rows else None

    def list(
        self,
        *,
        agent_id: str | None = None,
        status: Status | None = None,
        owner: str | None = None,
        include_deleted: bool = False,
        limit: int = 100,
        after: str | None = None,
    ) -> builtins.list[Schedule]:
        return list_schedules(
            self._read,
            self._decoded,
            mark="?",
            table="schedules",
            columns=_SCHEDULE_COLUMNS,
            text=_text,
            agent_id=agent_id,
            status=status,
            owner=owner,
            include_deleted=include_deleted,
            limit=limit,
            after=after,
        )

    def update(self, schedule: Schedule, expected_version: int) -> None:
        with self._write() as db:
            self._replace(db, schedule, expected_version)
        self._watchers.notify()

    def _replace(
        self,
        db: sqlite3.Connection,
        schedule: Schedule,
        expected_version: int,
        previous: Schedule | None = None,
    ) -> None:
        if (
            previous is not None
            and previous.owner == schedule.owner
            and previous.agent_id == schedule.agent_id
            and previous.name == schedule.name
        ):
            # The firing path: only status, timing and the document change, so
            # leave the sorted and filtered indexes alone.
            cursor = db.execute(_UPDATE_DUE, self._due_row(schedule, expected_version))
        else:
            cursor = db.execute(
                "UPDATE schedules SET owner = ?, agent_id = ?, sort_name = ?, status = ?, "
                "next_run_at = ?, version = ?, body = ? WHERE id = ? AND version = ?",
                (*self._schedule_row(schedule), expected_version),
            )
        if cursor.rowcount == 1:
            return
        row = db.execute("SELECT version FROM schedules WHERE id = ?", (schedule.id,)).fetchone()
        if row is None:
            raise ScheduleNotFound(schedule.id)
        raise ConflictError(
            f"schedule {shorten(schedule.id)} is at version {row[0]}, not {expected_version}"
        )

    def next_due_at(self) -> datetime | None:
        rows = self._read(
            "SELECT MIN(next_run_at) FROM schedules "
            "WHERE status = 'active' AND next_run_at IS NOT NULL"
        )
        micros = rows[0][0] if rows else None
        return None if micros is None else _EPOCH + timedelta(microseconds=micros)

    # -- claiming --------------------------------------------------------------

    def claim_due(
        self,
        now: datetime,
        plan: ClaimPlan,
        limit: int = 100,
        lease_until: datetime | None = None,
    ) -> builtins.list[Claim]:
        with self._write() as db:
            rows = db.execute(
                f"SELECT {_SCHEDULE_COLUMNS} FROM schedules WHERE status = 'active' "
                "AND next_run_at IS NOT NULL AND next_run_at <= ? ORDER BY next_run_at LIMIT ?",
                (_micros(now), limit),
            ).fetchall()
            activity = self._activities(db, [_text(raw_id) for raw_id, _ in rows])
            planned: builtins.list[tuple[Schedule, Schedule, builtins.list[Run]]] = []
            for raw_id, body in rows:
                schedule_id = _text(raw_id)
                try:
                    schedule = self._decoded.get(schedule_id, body)
                    plan_made = plan(schedule, activity.get(schedule_id, _IDLE))
                except Exception as exc:
                    self._quarantine_schedule(db, raw_id, exc)
                    continue
                if plan_made is not None:
                    planned.append((schedule, plan_made[0], builtins.list(plan_made[1])))
            # Written together; if anything is refused (a duplicate fire, a version that
            # moved on), schedule by schedule instead, so that one refusal costs no other.
            db.execute("SAVEPOINT claims")
            try:
                self._write_claims(db, planned, lease_until)
            except (sqlite3.IntegrityError, ConflictError):
                db.execute("ROLLBACK TO claims")
                claims = self._write_claims_one_by_one(db, planned, lease_until)
            else:
                claims = [(replacement, runs) for _, replacement, runs in planned]
            db.execute("RELEASE claims")
        return claims

    def _write_claims(
        self,
        db: sqlite3.Connection,
        planned: Sequence[tuple[Schedule, Schedule, builtins.list[Run]]],
        lease_until: datetime | None,
    ) -> None:
        db.executemany(
            _INSERT_RUN, [_run_row(run, lease_until) for _, _, runs in planned for run in runs]
        )
        updated = db.executemany(
            _UPDATE_DUE,
            [self._due_row(replacement, schedule.version) for schedule, replacement, _ in planned],
        ).rowcount
        if updated != len(planned):
            raise ConflictError("a claimed schedule changed meanwhile")
        for schedule, _, runs in planned:
            self._count_finished(db, schedule.id, runs)

    def _write_claims_one_by_one(
        self,
        db: sqlite3.Connection,
        planned: Sequence[tuple[Schedule, Schedule, builtins.list[Run]]],
        lease_until: datetime | None,
    ) -> builtins.list[Claim]:
        claims: builtins.list[Claim] = []
        for schedule, replacement, runs in planned:
            db.execute("SAVEPOINT claim")
            try:
                self._write_claims(db, [(schedule, replacement, runs)], lease_until)
            except (sqlite3.IntegrityError, ConflictError):
                db.execute("ROLLBACK TO claim")
            else:
                claims.append((replacement, runs))
            db.execute("RELEASE claim")
        return claims

    @staticmethod
    def _activities(db: sqlite3.Connection, schedule_ids: Sequence[str]) -> dict[str, Activity]:
        """The unfinished runs of each schedule: running ones, buffered ones (no start
        yet) and finished ones still holding their lease (timed out, handler not
        returned): they all occupy their schedule."""
        if not schedule_ids:
            return {}
        marks = ",".join("?" * len(schedule_ids))
        rows = db.execute(
            "SELECT schedule_id, COUNT(*), COALESCE(SUM(started_at IS NULL), 0) FROM runs "
            f"WHERE schedule_id IN ({marks}) AND (status = 'running' OR lease_until IS NOT NULL) "
            "GROUP BY schedule_id",
            schedule_ids,
        ).fetchall()
        return {
            schedule_id: Activity(running=unfinished - waiting, waiting=waiting)
            for schedule_id, unfinished, waiting in rows
        }

    @staticmethod
    def _quarantine_schedule(db: sqlite3.Connection, raw_id: bytes, exc: Exception) -> None:
        """Take a schedule that cannot be claimed out of the due index (its body is left
        as it is; writing the schedule again puts it back), so it cannot hold up others."""
        db.execute("UPDATE schedules SET next_run_at = NULL WHERE " + _by_id(raw_id))
        log.error(
            "schedule %s cannot fire and was taken out of the due list: %s",
            _text(raw_id),
            exc,
            extra={"schedule_id": _text(raw_id)},
        )

    # -- runs ------------------------------------------------------------------

    @staticmethod
    def _insert_run(db: sqlite3.Connection, run: Run, lease_until: datetime | None) -> None:
        db.execute(_INSERT_RUN, _run_row(run, lease_until))

    @staticmethod
    def _write_run(
        db: sqlite3.Connection,
        run: Run,
        lease_until: datetime | None = None,
        occupied: bool = False,
    ) -> None:
        leased = occupied or (run.status is RunStatus.RUNNING and run.started_at is not None)
        db.execute(
            "UPDATE runs SET status = ?, started_at = ?, body = ?, "
            "lease_until = CASE WHEN ? THEN COALESCE(?, lease_until) ELSE NULL END WHERE id = ?",
            (
                run.status._value_,
                _micros(run.started_at),
                to_json(run),
                leased,
                _micros(lease_until),
                run.id,
            ),
        )

    def _count_finished(
        self, db: sqlite3.Connection, schedule_id: str, runs: Sequence[Run]
    ) -> None:
        """Count runs that were written finished, and drop the oldest beyond `keep_runs`."""
        finished = sum(1 for run in runs if run.status is not RunStatus.RUNNING)
        if finished:
            self._add_finished(db, schedule_id, finished)

    def _add_finished(self, db: sqlite3.Connection, schedule_id: str, count: int) -> None:
        db.execute(
            "UPDATE schedules SET finished_runs = finished_runs + ? WHERE id = ?",
            (count, schedule_id),
        )
        row = db.execute(
            "SELECT finished_runs FROM schedules WHERE id = ?", (schedule_id,)
        ).fetchone()
        if row is None or self._keep_runs is None or row[0] <= self._keep_runs:
            return
        self._prune(db, schedule_id, row[0] - self._keep_runs)

    @staticmethod
    def _prune(db: sqlite3.Connection, schedule_id: str, excess: int) -> None:
        """Drop a schedule's `excess` oldest finished runs (never one still leased)."""
        deleted = db.execute(
            "DELETE FROM runs WHERE seq IN (SELECT seq FROM runs WHERE schedule_id = ? "
            "AND status != 'running' AND lease_until IS NULL ORDER BY seq LIMIT ?)",
            (schedule_id, excess),
        ).rowcount
        db.execute(
            "UPDATE schedules SET finished_runs = finished_runs - ? WHERE id = ?",
            (deleted, schedule_id),
        )

    def add_run(self, run: Run, lease_until: datetime | None = None) -> None:
        with self._write() as db:
            try:
                self._insert_run(db, run, lease_until)
            except sqlite3.IntegrityError:
                raise ConflictError(
                    f"run {shorten(run.id)} or its fire time exists already"
                ) from None
            self._count_finished(db, run.schedule_id, [run])

    def finish_runs(
        self, finishing: Sequence[Finishing], lease_until: datetime | None = None
    ) -> builtins.list[Finish | None]:
        if not finishing:
            return []
        with self._write() as db:
            results, moved = self._finish_all(db, finishing, lease_until)
        if moved:  # e.g. a retry made a schedule due sooner
            self._watchers.notify()
        return results

    def _finish_all(
        self, db: sqlite3.Connection, finishing: Sequence[Finishing], lease_until: datetime | None
    ) -> tuple[builtins.list[Finish | None], bool]:
        """Record a batch of outcomes in a few statements, whatever its size: which runs are
        still running, their new rows, their schedules read once and written once, the
        finished-run counts, and the buffered runs they start."""
        marks = ",".join("?" * len(finishing))
        running = {
            row[0]
            for row in db.execute(
                f"SELECT id FROM runs WHERE id IN ({marks}) AND status = 'running'",
                [item.run.id for item in finishing],
            )
        }
        live = []
        for item in finishing:
            if item.run.id in running:
                running.discard(item.run.id)  # a run twice in one batch finishes once
                live.append(item)
        db.executemany(_FINISH_RUN, [_finished_row(i.run, lease_until, i.occupied) for i in live])
        schedules = _Folds(self._load_for_fold(db, {i.run.schedule_id for i in live}))
        for item in live:
            schedules.fold(item)
        moved = self._write_folds(db, schedules)
        self._count_finished_many(db, schedules.finished)
        starts = self._start_buffered_many(db, [i for i in live if not i.occupied], lease_until)
        results: builtins.list[Finish | None] = []
        by_id = {id(item): item for item in live}
        for item in finishing:
            if id(item) not in by_id:
                results.append(None)
                continue
            started = starts.get(id(item))
            results.append((schedules.after[id(item)], started))
        return results, moved

    def _load_for_fold(
        self, db: sqlite3.Connection, schedule_ids: set[str]
    ) -> dict[str, tuple[Schedule | None, int]]:
        """The schedules runs finish into, with their finished-run counts; a corrupt one is
        None (logged): its runs are recorded all the same."""
        if not schedule_ids:
            return {}
        ordered = sorted(schedule_ids)
        marks = ",".join("?" * len(ordered))
        found: dict[str, tuple[Schedule | None, int]] = {}
        for schedule_id, body, finished in db.execute(
            f"SELECT id, CAST(body AS BLOB), finished_runs FROM schedules WHERE id IN ({marks})",
            ordered,
        ):
            try:
                found[schedule_id] = (self._decoded.get(schedule_id, body), finished)
            except StoreError as exc:
                log.error("%s", exc, extra={"schedule_id": schedule_id})
                found[schedule_id] = (None, finished)
        return found

    def _write_folds(self, db: sqlite3.Connection, folds: _Folds) -> bool:
        """Write each schedule a batch changed, once; True if a due time moved."""
        rows = [self._due_row(latest, first.version) for first, latest in folds.changed()]
        if db.executemany(_UPDATE_DUE, rows).rowcount != len(rows):
            raise ConflictError("a schedule changed while its runs were being recorded")
        return any(first.due_at != latest.due_at for first, latest in folds.changed())

    def _count_finished_many(
        self, db: sqlite3.Connection, finished: dict[str, tuple[int, int]]
    ) -> None:
        """Set the finished-run counts of schedules (`id: (count before, added)`), and drop
        the oldest finished runs beyond `keep_runs`."""
        db.executemany(
            "UPDATE schedules SET finished_runs = ? WHERE id = ?",
            [(before + added, schedule_id) for schedule_id, (before, added) in finished.items()],
        )
        if self._keep_runs is None:
            return
        for schedule_id, (before, added) in finished.items():
            if before + added > self._keep_runs:
                self._prune(db, schedule_id, before + added - self._keep_runs)

    def _start_buffered_many(
        self, db: sqlite3.Connection, items: Sequence[Finishing], lease_until: datetime | None
    ) -> dict[int, Run]:
        """For each item (by `id()`), the oldest buffered run of its schedule, started when
        the item's run finished; at most one per item, in order."""
        if not items:
            return {}
        schedule_ids = sorted({i.run.schedule_id for i in items})
        marks = ",".join("?" * len(schedule_ids))
        waiting: dict[str, builtins.list[tuple[bytes, bytes]]] = {}
        for raw_id, body, schedule_id in db.execute(
            f"SELECT {_RUN_COLUMNS}, schedule_id FROM runs WHERE schedule_id IN ({marks}) "
            "AND status = 'running' AND started_at IS NULL ORDER BY seq",
            schedule_ids,
        ):
            waiting.setdefault(schedule_id, []).append((raw_id, body))
        started: dict[int, Run] = {}
        for item in items:
            schedule_id = item.run.schedule_id
            queue = waiting.get(schedule_id, [])

            def set_aside(raw_id: bytes, exc: StoreError, schedule_id: str = schedule_id) -> None:
                self._quarantine_run(db, raw_id, schedule_id, exc)

            run = start_oldest(_draining(queue), item.run.finished_at, _text, set_aside)
            if run is not None:
                self._write_run(db, run, lease_until)
                started[id(item)] = run
        return started

    def release_run(self, run_id: str, at: datetime, lease_until: datetime) -> Finish | None:
        with self._write() as db:
            row = db.execute(
                "SELECT schedule_id FROM runs WHERE id = ? AND status != 'running' "
                "AND lease_until IS NOT NULL",
                (run_id,),
            ).fetchone()
            if row is None:
                return None
            db.execute("UPDATE runs SET lease_until = NULL WHERE id = ?", (run_id,))
            schedule_id = row[0]
            found = db.execute(
                "SELECT CAST(body AS BLOB) FROM schedules WHERE id = ?", (schedule_id,)
            ).fetchone()
            schedule: Schedule | None = None
            if found is not None:
                try:
                    schedule = self._decoded.get(schedule_id, found[0])
                except StoreError as exc:
                    log.error("%s", exc, extra={"schedule_id": schedule_id, "run_id": run_id})
            return schedule, self._start_buffered(db, schedule_id, at, lease_until)

    def _start_buffered(
        self,
        db: sqlite3.Connection,
        schedule_id: str,
        at: datetime | None,
        lease_until: datetime | None,
    ) -> Run | None:
        """Mark the oldest buffered run of the schedule started at `at`."""
        waiting = db.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE schedule_id = ? AND status = 'running' "
            "AND started_at IS NULL ORDER BY seq",
            (schedule_id,),
        ).fetchall()
        started = start_oldest(
            waiting,
            at,
            _text,
            lambda raw_id, exc: self._quarantine_run(db, raw_id, schedule_id, exc),
        )
        if started is not None:
            self._write_run(db, started, lease_until)
        return started

    def _quarantine_run(
        self, db: sqlite3.Connection, raw_id: bytes, schedule_id: str, exc: Exception
    ) -> None:
        """Take a corrupt run row out of the running set (its body is left as it is), so
        that no sweep or buffer keeps tripping over it."""
        db.execute("UPDATE runs SET status = 'failed', lease_until = NULL WHERE " + _by_id(raw_id))
        self._add_finished(db, schedule_id, 1)
        log.error(
            "run %s is corrupt and was marked failed: %s",
            _text(raw_id),
            exc,
            extra={"run_id": _text(raw_id), "schedule_id": schedule_id},
        )

    def get_run(self, run_id: str) -> Run | None:
        rows = self._read("SELECT CAST(body AS BLOB) FROM runs WHERE id = ?", (run_id,))
        return decode(Run, run_id, rows[0][0]) if rows else None

    def runs(self, schedule_id: str, limit: int = 50) -> builtins.list[Run]:
        rows = self._read(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE schedule_id = ? ORDER BY seq DESC LIMIT ?",
            (schedule_id, max(limit, 0)),
        )
        found = []
        for raw_id, body in rows:
            try:
                found.append(decode(Run, _text(raw_id), body))
            except StoreError as exc:
                log.error("skipping a run: %s", exc, extra={"run_id": _text(raw_id)})
        return found

    def renew_leases(self, run_ids: Sequence[str], until: datetime) -> None:
        with self._write() as db:
            db.executemany(
                "UPDATE runs SET lease_until = ? WHERE id = ? AND lease_until IS NOT NULL",
                [(_micros(until), run_id) for run_id in run_ids],
            )

    def expired_runs(self, now: datetime, limit: int = 100) -> builtins.list[Run]:
        rows = self._read(
            f"SELECT {_RUN_COLUMNS}, CAST(schedule_id AS BLOB) FROM runs "
            "WHERE lease_until IS NOT NULL AND lease_until < ? ORDER BY lease_until LIMIT ?",
            (_micros(now), limit),
        )
        found: builtins.list[Run] = []
        corrupt: builtins.list[tuple[bytes, str, StoreError]] = []
        for raw_id, body, schedule_id in rows:
            try:
                found.append(decode(Run, _text(raw_id), body))
            except StoreError as exc:
                corrupt.append((raw_id, _text(schedule_id), exc))
        if corrupt and not self.read_only:
            with self._write() as db:
                for raw_id, schedule_id, problem in corrupt:
                    self._quarantine_run(db, raw_id, schedule_id, problem)
        return found
