"""`SQLiteStore`: one file, the embedded default; safe for several processes.

stdlib `sqlite3` in WAL mode with a busy timeout. Every write is a
`BEGIN IMMEDIATE` transaction, so writers in other threads and processes
wait their turn and a claim (select due, advance `next_run_at`, insert the
runs) is all or nothing. A `UNIQUE (schedule_id, scheduled_for)` index on
scheduled runs makes a double fire impossible even if two claims raced.

Each record is stored as its JSON document (spec and metadata included)
next to indexed columns used for lookups. A row that cannot be decoded
raises a `StoreError` naming it from `get`; `list` and claims log it and
carry on, so the other schedules keep firing. The schema version lives in
`PRAGMA user_version`; newer files are refused, older ones migrated forward.
"""

from __future__ import annotations

import builtins
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

from ..errors import ConflictError, ScheduleNotFound, StoreError, ValidationError, shorten
from ..model import Run, RunStatus, Schedule, Status, replace
from ..planning import Activity
from .base import Claim, ClaimPlan, Finish

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]

log = logging.getLogger("agentsched")

SCHEMA_VERSION = 1
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
}


def _micros(value: datetime | None) -> int | None:
    return None if value is None else (value - _EPOCH) // _MICROSECOND


def _json(record: Schedule | Run) -> str:
    return json.dumps(record.to_dict(), separators=(",", ":"), ensure_ascii=False)


R = TypeVar("R", Schedule, Run)


def _decode(kind: type[R], row_id: str, body: str) -> R:
    """A stored row back into a record; `StoreError` naming the row if it is corrupt."""
    try:
        return kind.from_dict(json.loads(body))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        label = "schedule" if kind is Schedule else "run"
        raise StoreError(f"{label} row {shorten(row_id)} is corrupt: {exc}") from None


class _Decoded:
    """Schedules decoded (or written) recently, keyed by their exact stored text.

    Decoding validates every field, which is most of the cost of reading a
    row; the same text always decodes to the same record, so a hit is safe.
    """

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._items: dict[tuple[str, str], Schedule] = {}
        self._lock = threading.Lock()

    def get(self, schedule_id: str, body: str) -> Schedule:
        key = (schedule_id, body)
        found = self._items.get(key)
        if found is None:
            found = _decode(Schedule, schedule_id, body)
            self.put(found, body)
        return found

    def put(self, schedule: Schedule, body: str) -> None:
        with self._lock:
            if len(self._items) >= self._size:
                self._items.clear()
            self._items[(schedule.id, body)] = schedule


class SQLiteStore:
    """A `Store` in one SQLite file (created if missing; its directory must exist).

    `busy_timeout` is how long a writer waits for another process's
    transaction. `synchronous="NORMAL"` (the default) survives any process
    crash; pass `"FULL"` to also survive power loss at some cost per write.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        busy_timeout: timedelta = timedelta(seconds=30),
        synchronous: str = "NORMAL",
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValidationError(
                "synchronous", f"'synchronous' must be NORMAL or FULL (got {shorten(synchronous)})"
            )
        self.path = Path(path)
        self._timeout = busy_timeout.total_seconds()
        self._synchronous = synchronous
        self._local = threading.local()
        self._decoded = _Decoded()
        self._connections: builtins.list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        directory = self.path.resolve().parent
        if not directory.is_dir():
            raise StoreError(
                f"cannot open {str(self.path)!r}: directory {str(directory)!r} does not exist"
            )
        try:
            self._migrate(self._connection())
        except sqlite3.Error as exc:
            self.close()
            raise StoreError(f"cannot open {str(self.path)!r}: {exc}") from None

    # -- connections and transactions ------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute(f"PRAGMA busy_timeout={int(self._timeout * 1000)}")
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
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
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreError(f"cannot write to {str(self.path)!r}: {exc}") from None
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            raise StoreError(f"cannot commit to {str(self.path)!r}: {exc}") from None

    def _read(self, sql: str, params: Sequence[Any] = ()) -> builtins.list[tuple[Any, ...]]:
        try:
            return self._connection().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read {str(self.path)!r}: {exc}") from None

    def close(self) -> None:
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()

    # -- schedules -------------------------------------------------------------

    def _schedule_row(self, schedule: Schedule) -> tuple[Any, ...]:
        body = _json(schedule)
        self._decoded.put(schedule, body)
        return (
            schedule.owner,
            schedule.agent_id,
            schedule.name or "",
            schedule.status.value,
            _micros(schedule.next_run_at),
            schedule.version,
            body,
            schedule.id,
        )

    def add(self, schedule: Schedule) -> None:
        self.add_many([schedule])

    def add_many(self, schedules: Sequence[Schedule]) -> None:
        """Insert many new schedules in one transaction (all or none)."""
        with self._write() as db:
            try:
                db.executemany(
                    "INSERT INTO schedules (owner, agent_id, sort_name, status, next_run_at, "
                    "version, body, id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [self._schedule_row(s) for s in schedules],
                )
            except sqlite3.IntegrityError:
                raise ConflictError("a schedule with one of these ids exists already") from None

    def get(self, schedule_id: str) -> Schedule | None:
        rows = self._read("SELECT body FROM schedules WHERE id = ?", (schedule_id,))
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
        where: builtins.list[str] = []
        params: builtins.list[Any] = []
        if agent_id is not None:
            where.append("agent_id = ?")
            params.append(agent_id)
        if owner is not None:
            where.append("owner = ?")
            params.append(owner)
        if status is not None:
            where.append("status = ?")
            params.append(status.value)
        elif not include_deleted:
            where.append("status != 'deleted'")
        if after is not None:
            cursor = self._read("SELECT sort_name FROM schedules WHERE id = ?", (after,))
            if not cursor:
                raise ValidationError("after", f"'after' is not a known id (got {shorten(after)})")
            where.append("(sort_name, id) > (?, ?)")
            params.extend([cursor[0][0], after])
        sql = "SELECT id, body FROM schedules"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY sort_name, id LIMIT ?"
        params.append(max(limit, 0))
        return self._decode_all(self._read(sql, params))

    def _decode_all(self, rows: builtins.list[tuple[Any, ...]]) -> builtins.list[Schedule]:
        found = []
        for schedule_id, body in rows:
            try:
                found.append(self._decoded.get(schedule_id, body))
            except StoreError:
                log.exception("skipping a corrupt schedule row")
        return found

    def update(self, schedule: Schedule, expected_version: int) -> None:
        with self._write() as db:
            self._replace(db, schedule, expected_version)

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
            body = _json(schedule)
            self._decoded.put(schedule, body)
            cursor = db.execute(
                "UPDATE schedules SET status = ?, next_run_at = ?, version = ?, body = ? "
                "WHERE id = ? AND version = ?",
                (
                    schedule.status.value,
                    _micros(schedule.next_run_at),
                    schedule.version,
                    body,
                    schedule.id,
                    expected_version,
                ),
            )
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
        claims: builtins.list[Claim] = []
        with self._write() as db:
            rows = db.execute(
                "SELECT id, body FROM schedules WHERE status = 'active' "
                "AND next_run_at IS NOT NULL AND next_run_at <= ? ORDER BY next_run_at LIMIT ?",
                (_micros(now), limit),
            ).fetchall()
            for schedule_id, body in rows:
                try:
                    schedule = self._decoded.get(schedule_id, body)
                except StoreError:
                    log.exception("skipping a corrupt schedule row")
                    continue
                planned = plan(schedule, self._activity(db, schedule_id))
                if planned is None:
                    continue
                replacement, runs = planned
                db.execute("SAVEPOINT claim")
                try:
                    for run in runs:
                        self._insert_run(db, run, lease_until)
                    self._replace(db, replacement, schedule.version, schedule)
                except (sqlite3.IntegrityError, ConflictError):
                    db.execute("ROLLBACK TO claim")
                    db.execute("RELEASE claim")
                    continue
                db.execute("RELEASE claim")
                claims.append((replacement, builtins.list(runs)))
        return claims

    @staticmethod
    def _activity(db: sqlite3.Connection, schedule_id: str) -> Activity:
        running, waiting = db.execute(
            "SELECT COUNT(*), COALESCE(SUM(started_at IS NULL), 0) FROM runs "
            "WHERE schedule_id = ? AND status = 'running'",
            (schedule_id,),
        ).fetchone()
        return Activity(running=running - waiting, waiting=waiting)

    # -- runs ------------------------------------------------------------------

    @staticmethod
    def _insert_run(db: sqlite3.Connection, run: Run, lease_until: datetime | None) -> None:
        leased = run.status is RunStatus.RUNNING and run.started_at is not None
        db.execute(
            "INSERT INTO runs (id, schedule_id, trigger, scheduled_for, status, started_at, "
            "lease_until, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run.id,
                run.schedule_id,
                run.trigger.value,
                _micros(run.scheduled_for),
                run.status.value,
                _micros(run.started_at),
                _micros(lease_until) if leased else None,
                _json(run),
            ),
        )

    @staticmethod
    def _write_run(db: sqlite3.Connection, run: Run, lease_until: datetime | None = None) -> None:
        leased = run.status is RunStatus.RUNNING and run.started_at is not None
        db.execute(
            "UPDATE runs SET status = ?, started_at = ?, body = ?, "
            "lease_until = CASE WHEN ? THEN COALESCE(?, lease_until) ELSE NULL END WHERE id = ?",
            (
                run.status.value,
                _micros(run.started_at),
                _json(run),
                leased,
                _micros(lease_until),
                run.id,
            ),
        )

    def add_run(self, run: Run, lease_until: datetime | None = None) -> None:
        with self._write() as db:
            try:
                self._insert_run(db, run, lease_until)
            except sqlite3.IntegrityError:
                raise ConflictError(
                    f"run {shorten(run.id)} or its fire time exists already"
                ) from None

    def update_run(self, run: Run) -> None:
        with self._write() as db:
            if db.execute("SELECT 1 FROM runs WHERE id = ?", (run.id,)).fetchone() is None:
                raise StoreError(f"run {shorten(run.id)} does not exist")
            self._write_run(db, run)

    def finish_run(
        self,
        run: Run,
        update: Callable[[Schedule], Schedule],
        lease_until: datetime | None = None,
    ) -> Finish | None:
        with self._write() as db:
            row = db.execute("SELECT status FROM runs WHERE id = ?", (run.id,)).fetchone()
            if row is None:
                raise StoreError(f"run {shorten(run.id)} does not exist")
            if row[0] != RunStatus.RUNNING.value:
                return None
            self._write_run(db, run)
            schedule: Schedule | None = None
            found = db.execute(
                "SELECT body FROM schedules WHERE id = ?", (run.schedule_id,)
            ).fetchone()
            if found is not None:
                try:
                    schedule = self._decoded.get(run.schedule_id, found[0])
                except StoreError:
                    log.exception("cannot fold run %s into its corrupt schedule", run.id)
                if schedule is not None:
                    updated = update(schedule)
                    if updated is not schedule:
                        self._replace(db, updated, schedule.version, schedule)
                        schedule = updated
            waiting = db.execute(
                "SELECT id, body FROM runs WHERE schedule_id = ? AND status = 'running' "
                "AND started_at IS NULL ORDER BY seq LIMIT 1",
                (run.schedule_id,),
            ).fetchone()
            if waiting is None:
                return schedule, None
            started = replace(_decode(Run, waiting[0], waiting[1]), started_at=run.finished_at)
            self._write_run(db, started, lease_until)
            return schedule, started

    def get_run(self, run_id: str) -> Run | None:
        rows = self._read("SELECT body FROM runs WHERE id = ?", (run_id,))
        return _decode(Run, run_id, rows[0][0]) if rows else None

    def runs(self, schedule_id: str, limit: int = 50) -> builtins.list[Run]:
        rows = self._read(
            "SELECT id, body FROM runs WHERE schedule_id = ? ORDER BY seq DESC LIMIT ?",
            (schedule_id, max(limit, 0)),
        )
        return [_decode(Run, run_id, body) for run_id, body in rows]

    def renew_leases(self, run_ids: Sequence[str], until: datetime) -> None:
        with self._write() as db:
            db.executemany(
                "UPDATE runs SET lease_until = ? WHERE id = ? AND status = 'running' "
                "AND lease_until IS NOT NULL",
                [(_micros(until), run_id) for run_id in run_ids],
            )

    def expired_runs(self, now: datetime, limit: int = 100) -> builtins.list[Run]:
        rows = self._read(
            "SELECT id, body FROM runs WHERE status = 'running' AND lease_until IS NOT NULL "
            "AND lease_until < ? ORDER BY lease_until LIMIT ?",
            (_micros(now), limit),
        )
        return [_decode(Run, run_id, body) for run_id, body in rows]
