"""`PostgresStore`: one PostgreSQL database shared by schedulers on many hosts.

Needs the `postgres` extra (`pip install "agentsched[postgres]"`: psycopg 3
and psycopg-pool; add `psycopg[binary]` where no system libpq is installed).

The PostgreSQL dialect of the shared core (`stores/sql/core.py`): its SQL,
over the connections of `connection.py` and the tables of `schema.py`.
Every write is one transaction. A claim selects the due schedules
`FOR UPDATE SKIP LOCKED` (schedulers on other hosts take the others
instead of waiting), and inserts the runs under a `UNIQUE (schedule_id,
scheduled_for, attempt)` index on scheduled runs. Every change to a
schedule's runs (claim, finish, release) holds that schedule's row lock,
so overlap decisions and buffered starts are serialised per schedule
across hosts; writers lock schedules (in id order) before runs, so they
never deadlock one another. Batches are written by `unnest` of binary
arrays (one statement whatever their size), new schedules by `COPY`.

A write that may make work due sooner sends `NOTIFY` in its transaction;
`watch` LISTENs on a connection of its own, so schedulers on other hosts
wake at once rather than at their next poll. Failures are `StoreError`s
that say what happened (`connection.py`); the pool replaces broken
connections and the scheduler's loop backs off and retries, so a database
restart costs a few failed ticks and no fire.

Fire decisions use each scheduler's own clock, never the database's. On
open the store compares the two and logs a warning when they differ by more
than `skew_warning` (hosts should run NTP).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

try:
    from psycopg.errors import UniqueViolation
    from psycopg_pool import ConnectionPool
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"PostgresStore needs psycopg 3 and psycopg-pool ({exc}): install "
        "'agentsched[postgres]' (and 'psycopg[binary]' if the system has no libpq)"
    ) from exc

from ...clock import Clock, SystemClock
from ...errors import ConflictError, StoreError
from ...model import Run, RunStatus, Schedule
from ..base import DEFAULT_KEEP_RUNS, Finishing
from ..sql.core import Body, Duplicate, Locked, SQLStore, Write
from ..sql.rows import to_json
from .connection import Cursor, Database, compare_clocks
from .listen import Watch
from .schema import SCHEMA_VERSION, check_schema_name, existing_version, migrate

__all__ = ["SCHEMA_VERSION", "PostgresStore"]

_SCHEDULE_COLUMNS = "owner, agent_id, sort_name, status, due, version, body, id"


class PostgresStore(SQLStore[Cursor, str]):
    """A `Store` in a PostgreSQL database, shared by any number of processes and hosts.

    `dsn_or_pool` is a connection string (`postgresql://user@host/db` or
    `key=value` pairs), or a `psycopg_pool.ConnectionPool` that the app owns
    (the store never closes it). Tables live in `schema` (created and
    migrated on open; with `create=False` a missing schema is a `StoreError`
    instead). `keep_runs` bounds the finished runs kept per schedule (None
    keeps all). With a DSN the store keeps its own pool of up to
    `max_connections` connections; a call waits up to `timeout` for one.
    `skew_warning` is how far `clock` (the local clock) may differ from the
    database server's before a warning is logged at open; the difference is
    kept in `clock_skew` (positive when the server is ahead).
    """

    _mark = "%s"
    _id_and_body = "id, body"
    _watchers: Watch

    def __init__(
        self,
        dsn_or_pool: str | ConnectionPool[Any],
        schema: str = "agentsched",
        keep_runs: int | None = DEFAULT_KEEP_RUNS,
        *,
        create: bool = True,
        timeout: timedelta = timedelta(seconds=10),
        max_connections: int = 10,
        skew_warning: timedelta = timedelta(seconds=2),
        clock: Clock | None = None,
    ) -> None:
        self.schema = check_schema_name(schema)
        super().__init__(keep_runs)
        self._s = f'"{schema}".schedules'
        self._r = f'"{schema}".runs'
        self._channel = f"agentsched.{schema}"
        self._db = Database(dsn_or_pool, timeout, name=f"agentsched-{schema}")
        self._watchers = Watch(self._db.connect, self._channel, self._db.timeout)
        self.where = self._db.where
        with self._db.opening() as conn:
            version = existing_version(conn, schema)
            if version is None and not create:
                raise StoreError(f"no agentsched schema {schema!r} in {self.where}")
            if version != SCHEMA_VERSION:
                migrate(conn, schema, self.where)
            self.clock_skew = compare_clocks(conn, clock or SystemClock(), skew_warning, self.where)
        self._db.start(max_connections)

    def watch(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Calls back after writes here and, through LISTEN/NOTIFY, in other processes
        (a listener thread with a connection of its own runs while anyone watches)."""
        return self._watchers.add(callback)

    def close(self) -> None:
        """Stop the listener and close the store's own pool (never an app's pool)."""
        self._watchers.close()
        self._db.close()

    def next_due_at(self) -> datetime | None:
        rows = self._db.read(
            f"SELECT min(due) AT TIME ZONE 'UTC' FROM {self._s} "
            "WHERE status = 'active' AND due IS NOT NULL"
        )
        found = rows[0][0] if rows else None
        return None if found is None else found.replace(tzinfo=timezone.utc)

    # -- transactions and reads ------------------------------------------------

    def _transaction(self, action: str) -> AbstractContextManager[Cursor]:
        return self._db.transaction(action)

    @contextmanager
    def _savepoint(self, tx: Cursor) -> Iterator[None]:
        with tx.connection.transaction():
            yield

    def _read(self, sql: str, params: Sequence[Any] = ()) -> builtins.list[tuple[Any, ...]]:
        return self._db.read(sql, params)

    def _notify(self, tx: Cursor) -> None:
        """Tell every listener (other processes included) once this transaction commits."""
        tx.execute("SELECT pg_notify(%s, '')", (self._channel,))

    def _text(self, raw: str) -> str:
        return raw

    # -- schedules -------------------------------------------------------------

    def _schedule_row(self, schedule: Schedule) -> tuple[Any, ...]:
        return (
            schedule.owner,
            schedule.agent_id,
            schedule.name or "",
            schedule.status.value,
            schedule.due_at,
            schedule.version,
            self._encode(schedule),
            schedule.id,
        )

    def _insert_schedules(self, tx: Cursor, schedules: Sequence[Schedule]) -> None:
        """One by INSERT, several by COPY."""
        try:
            if len(schedules) == 1:
                tx.execute(
                    f"INSERT INTO {self._s} ({_SCHEDULE_COLUMNS}) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    self._schedule_row(schedules[0]),
                )
                return
            with tx.copy(f"COPY {self._s} ({_SCHEDULE_COLUMNS}) FROM STDIN") as copy:
                for schedule in schedules:
                    copy.write_row(self._schedule_row(schedule))
        except UniqueViolation:
            raise Duplicate from None

    def _stored_ids(self, ids: Sequence[str]) -> set[str]:
        rows = self._db.read(f"SELECT id FROM {self._s} WHERE id = ANY(%s)", (list(ids),))
        return {row[0] for row in rows}

    def _schedule_body(self, schedule_id: str) -> Body | None:
        rows = self._db.read(f"SELECT body FROM {self._s} WHERE id = %s", (schedule_id,))
        return rows[0][0] if rows else None

    def _version_of(self, tx: Cursor, schedule_id: str) -> int | None:
        row = tx.execute(f"SELECT version FROM {self._s} WHERE id = %s", (schedule_id,)).fetchone()
        return None if row is None else int(row[0])

    def _write_schedules(self, tx: Cursor, writes: Sequence[Write]) -> None:
        rows = [
            (*self._schedule_row(write.schedule), write.expected_version, write.finished)
            for write in writes
        ]
        tx.execute(
            f"UPDATE {self._s} AS s SET owner = v.owner, agent_id = v.agent_id, "
            "sort_name = v.sort_name, status = v.status, due = v.due, version = v.version, "
            "body = v.body, finished_runs = s.finished_runs + v.finished "
            "FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::timestamptz[], "
            "%b::bigint[], %b::text[], %b::text[], %b::bigint[], %b::bigint[]) "
            "AS v(owner, agent_id, sort_name, status, due, version, body, id, expected, finished) "
            "WHERE s.id = v.id AND s.version = v.expected",
            [builtins.list(column) for column in zip(*rows, strict=True)],
        )
        if tx.rowcount != len(writes):
            raise ConflictError("a schedule was written by someone else meanwhile")

    def _select_due(
        self, tx: Cursor, now: datetime, limit: int
    ) -> builtins.list[tuple[str, Body, int]]:
        return tx.execute(
            f"SELECT id, body, finished_runs FROM {self._s} WHERE status = 'active' "
            "AND due IS NOT NULL AND due <= %s ORDER BY due, id LIMIT %s FOR UPDATE SKIP LOCKED",
            (now, limit),
        ).fetchall()

    def _activities(
        self, tx: Cursor, schedule_ids: Sequence[str]
    ) -> builtins.list[tuple[str, int, int]]:
        return tx.execute(
            f"SELECT schedule_id, count(*), count(*) FILTER (WHERE started_at IS NULL) "
            f"FROM {self._r} WHERE schedule_id = ANY(%s) "
            "AND (status = 'running' OR lease_until IS NOT NULL) GROUP BY schedule_id",
            (list(schedule_ids),),
        ).fetchall()

    def _take_off_due(self, tx: Cursor, raw_id: str) -> None:
        tx.execute(f"UPDATE {self._s} SET due = NULL WHERE id = %s", (raw_id,))

    def _schedules_for_update(self, tx: Cursor, schedule_ids: Collection[str]) -> dict[str, Locked]:
        rows = tx.execute(
            f"SELECT id, body, EXISTS (SELECT 1 FROM {self._r} AS r WHERE r.schedule_id = s.id "
            "AND r.status = 'running' AND r.started_at IS NULL), finished_runs "
            f"FROM {self._s} AS s WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
            (sorted(set(schedule_ids)),),
        ).fetchall()
        return {row[0]: Locked(row[1], row[2], row[3]) for row in rows}

    # -- runs ------------------------------------------------------------------

    def _insert_runs(self, tx: Cursor, runs: Sequence[Run], lease_until: datetime | None) -> None:
        rows = [
            (
                run.id,
                run.schedule_id,
                run.trigger.value,
                run.scheduled_for,
                run.attempt,
                run.status.value,
                run.started_at,
                lease_until if run.status is RunStatus.RUNNING and run.started_at else None,
                to_json(run),
            )
            for run in runs
        ]
        try:
            tx.execute(
                f"INSERT INTO {self._r} (id, schedule_id, trigger, scheduled_for, attempt, "
                "status, started_at, lease_until, body) SELECT * FROM unnest(%b::text[], "
                "%b::text[], %b::text[], %b::timestamptz[], %b::int[], %b::text[], "
                "%b::timestamptz[], %b::timestamptz[], %b::text[])",
                [builtins.list(column) for column in zip(*rows, strict=True)],
            )
        except UniqueViolation:
            raise Duplicate from None

    def _write_finished(
        self, tx: Cursor, finishing: Sequence[Finishing], lease_until: datetime | None
    ) -> set[str]:
        if len(finishing) > 1:  # lock the runs in id order first, as every writer does
            tx.execute(
                f"SELECT 1 FROM {self._r} WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
                (sorted(item.run.id for item in finishing),),
            )
        runs = [item.run for item in finishing]
        rows = tx.execute(
            f"UPDATE {self._r} AS r SET status = v.status, started_at = v.started_at, "
            "body = v.body, lease_until = CASE WHEN v.leased "
            "THEN COALESCE(%b::timestamptz, r.lease_until) END "
            "FROM unnest(%b::text[], %b::text[], %b::timestamptz[], %b::text[], %b::bool[]) "
            "AS v(id, status, started_at, body, leased) "
            "WHERE r.id = v.id AND r.status = 'running' RETURNING r.id",
            (
                lease_until,
                [run.id for run in runs],
                [run.status.value for run in runs],
                [run.started_at for run in runs],
                [to_json(run) for run in runs],
                [item.occupied for item in finishing],
            ),
        ).fetchall()
        return {row[0] for row in rows}

    def _waiting_runs(self, tx: Cursor, schedule_id: str) -> builtins.list[tuple[str, Body]]:
        return tx.execute(
            f"SELECT id, body FROM {self._r} WHERE schedule_id = %s AND status = 'running' "
            "AND started_at IS NULL ORDER BY seq",
            (schedule_id,),
        ).fetchall()

    def _start_run(self, tx: Cursor, run: Run, lease_until: datetime | None) -> None:
        tx.execute(
            f"UPDATE {self._r} SET status = %s, started_at = %s, body = %s, lease_until = %s "
            "WHERE id = %s",
            (run.status.value, run.started_at, to_json(run), lease_until, run.id),
        )

    def _fail_run(self, tx: Cursor, raw_id: str) -> str | None:
        row = tx.execute(
            f"SELECT status FROM {self._r} WHERE id = %s FOR UPDATE", (raw_id,)
        ).fetchone()
        if row is None:
            return None
        tx.execute(
            f"UPDATE {self._r} SET status = 'failed', lease_until = NULL WHERE id = %s", (raw_id,)
        )
        return str(row[0])

    def _add_finished(self, tx: Cursor, counts: Sequence[tuple[str, int]]) -> None:
        tx.execute(
            f"UPDATE {self._s} AS s SET finished_runs = s.finished_runs + v.count "
            "FROM unnest(%b::text[], %b::bigint[]) AS v(id, count) WHERE s.id = v.id",
            ([schedule_id for schedule_id, _ in counts], [count for _, count in counts]),
        )

    def _finished_counts(
        self, tx: Cursor, schedule_ids: Sequence[str]
    ) -> builtins.list[tuple[str, int]]:
        return tx.execute(
            f"SELECT id, finished_runs FROM {self._s} WHERE id = ANY(%s)", (list(schedule_ids),)
        ).fetchall()

    def _drop_oldest(self, tx: Cursor, excess: Sequence[tuple[str, int]]) -> None:
        """In one statement for them all, which also takes the dropped ones off their counts."""
        tx.execute(
            f"WITH gone AS (DELETE FROM {self._r} WHERE id IN (SELECT o.id FROM "
            "unnest(%b::text[], %b::bigint[]) AS v(schedule_id, excess) CROSS JOIN LATERAL "
            f"(SELECT r.id FROM {self._r} AS r WHERE r.schedule_id = v.schedule_id "
            "AND r.status <> 'running' AND r.lease_until IS NULL ORDER BY r.seq "
            "LIMIT v.excess) AS o) RETURNING schedule_id) "
            f"UPDATE {self._s} AS s SET finished_runs = s.finished_runs - g.dropped "
            "FROM (SELECT schedule_id, count(*) AS dropped FROM gone GROUP BY schedule_id) "
            "AS g WHERE s.id = g.schedule_id",
            ([sid for sid, _ in excess], [count for _, count in excess]),
        )

    def _schedule_of_run(self, tx: Cursor, run_id: str) -> str | None:
        row = tx.execute(f"SELECT schedule_id FROM {self._r} WHERE id = %s", (run_id,)).fetchone()
        return None if row is None else str(row[0])

    def _release(self, tx: Cursor, run_id: str) -> bool:
        tx.execute(
            f"UPDATE {self._r} SET lease_until = NULL WHERE id = %s "
            "AND status <> 'running' AND lease_until IS NOT NULL",
            (run_id,),
        )
        return tx.rowcount == 1

    def _renew(self, tx: Cursor, run_ids: Sequence[str], until: datetime) -> None:
        # The rows locked in id order first, as a batch of outcomes locks them (an
        # UPDATE alone locks them in the order its plan finds them: a deadlock).
        tx.execute(
            f"UPDATE {self._r} AS r SET lease_until = %s FROM (SELECT id FROM {self._r} "
            "WHERE id = ANY(%s) AND lease_until IS NOT NULL ORDER BY id FOR UPDATE) AS l "
            "WHERE r.id = l.id",
            (until, sorted(run_ids)),
        )

    def _expired(self, now: datetime, limit: int) -> builtins.list[tuple[str, Body, str]]:
        return self._db.read(
            f"SELECT id, body, schedule_id FROM {self._r} "
            "WHERE lease_until IS NOT NULL AND lease_until < %s ORDER BY lease_until LIMIT %s",
            (now, limit),
        )

    def _run_body(self, run_id: str) -> Body | None:
        rows = self._db.read(f"SELECT body FROM {self._r} WHERE id = %s", (run_id,))
        return rows[0][0] if rows else None

    def _runs_of(self, schedule_id: str, limit: int) -> builtins.list[tuple[str, Body]]:
        return self._db.read(
            f"SELECT id, body FROM {self._r} WHERE schedule_id = %s ORDER BY seq DESC LIMIT %s",
            (schedule_id, limit),
        )
