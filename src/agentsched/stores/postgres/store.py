"""`PostgresStore`: one PostgreSQL database shared by schedulers on many hosts.

Needs the `postgres` extra (`pip install "agentsched[postgres]"`: psycopg 3
and psycopg-pool; add `psycopg[binary]` where no system libpq is installed).

Every write is one transaction. A claim selects the due schedules
`FOR UPDATE SKIP LOCKED` (schedulers on other hosts take the others
instead of waiting), reads their unfinished runs, lets the pure planner
decide, inserts the runs under a `UNIQUE (schedule_id, scheduled_for,
attempt)` index on scheduled runs, and advances each schedule, with a
savepoint per schedule so that one refusal does not undo the batch. Every
change to a schedule's runs (claim, finish, release) holds that schedule's
row lock, so overlap decisions and buffered starts are serialised per
schedule across hosts; writers lock schedules (in id order) before runs, so
they never deadlock one another.

Records are stored as their JSON text next to indexed columns, as in
`SQLiteStore`, with the same isolation of corrupt rows: a row that cannot
be decoded is a `StoreError` naming it from `get`/`get_run`, is skipped by
`list`/`runs`, and is taken out of the due index (or the running set) so
that it never stops the others.

A write that may make work due sooner sends `NOTIFY` in its transaction;
`watch` LISTENs on a connection of its own, so schedulers on other hosts
wake at once rather than at their next poll. Failures are `StoreError`s
that say what happened (`_pg_connect`); the pool replaces broken
connections and the scheduler's loop backs off and retries, so a database
restart costs a few failed ticks and no fire.

Fire decisions use each scheduler's own clock, never the database's. On
open the store compares the two and logs a warning when they differ by more
than `skew_warning` (hosts should run NTP).
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs

try:
    from psycopg.errors import UniqueViolation
    from psycopg_pool import ConnectionPool
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"PostgresStore needs psycopg 3 and psycopg-pool ({exc}): install "
        "'agentsched[postgres]' (and 'psycopg[binary]' if the system has no libpq)"
    ) from exc

from ...clock import Clock, SystemClock
from ...errors import ConflictError, ScheduleNotFound, StoreError, shorten
from ...model import Activity, Run, RunStatus, Schedule, Status
from ..base import (
    DEFAULT_KEEP_RUNS,
    Claim,
    ClaimPlan,
    Finish,
    Finishing,
    check_keep_runs,
    id_taken,
    schedule_exists,
)
from ..finishing import fold, start_oldest
from ..rows import DecodeCache, decode, list_schedules, to_json
from .connection import Cursor, Database, compare_clocks
from .listen import Watch
from .schema import SCHEMA_VERSION, check_schema_name, existing_version, migrate

__all__ = ["SCHEMA_VERSION", "PostgresStore"]

log = logging.getLogger("agentsched")

_IDLE = Activity()

_Planned = tuple[Schedule, Schedule, "builtins.list[Run]"]
"""A claim as planned: the schedule as read, its replacement, the runs to insert."""


class _IdTaken(Exception):
    """A new schedule's id clashed inside a transaction, which raising it rolls back."""


@attrs.define
class _Locked:
    """A schedule locked for finishing runs: its stored text (decoded on demand, then
    kept as written), and whether it had a buffered run when locked."""

    body: str
    waiting: bool
    schedule: Schedule | None = None


class PostgresStore:
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
        self._keep_runs = check_keep_runs(keep_runs)
        self._s = f'"{schema}".schedules'
        self._r = f'"{schema}".runs'
        self._channel = f"agentsched.{schema}"
        self._decoded = DecodeCache()
        self._db = Database(dsn_or_pool, timeout, name=f"agentsched-{schema}")
        self._watch = Watch(self._db.connect, self._channel, self._db.timeout)
        self.where = self._db.where
        with self._db.opening() as conn:
            version = existing_version(conn, schema)
            if version is None and not create:
                raise StoreError(f"no agentsched schema {schema!r} in {self.where}")
            if version != SCHEMA_VERSION:
                migrate(conn, schema, self.where)
            self.clock_skew = compare_clocks(conn, clock or SystemClock(), skew_warning, self.where)
        self._db.start(max_connections)

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _notify(self, cur: Cursor) -> None:
        """Tell every listener (other processes included) once this transaction commits."""
        cur.execute("SELECT pg_notify(%s, '')", (self._channel,))

    def watch(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Calls back after writes here and, through LISTEN/NOTIFY, in other processes
        (a listener thread with a connection of its own runs while anyone watches)."""
        return self._watch.add(callback)

    def close(self) -> None:
        """Stop the listener and close the store's own pool (never an app's pool)."""
        self._watch.close()
        self._db.close()

    # -- schedules -------------------------------------------------------------

    def _schedule_row(self, schedule: Schedule) -> tuple[Any, ...]:
        body = to_json(schedule)
        self._decoded.put(schedule, body)
        return (
            schedule.owner,
            schedule.agent_id,
            schedule.name or "",
            schedule.status.value,
            schedule.due_at,
            schedule.version,
            body,
            schedule.id,
        )

    def add(self, schedule: Schedule) -> None:
        with self._db.transaction("add a schedule") as cur:
            try:
                cur.execute(
                    f"INSERT INTO {self._s} (owner, agent_id, sort_name, status, due, version, "
                    "body, id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    self._schedule_row(schedule),
                )
            except UniqueViolation:
                raise schedule_exists(schedule.id) from None
            self._notify(cur)
        self._watch.notify()

    def add_many(self, schedules: Sequence[Schedule]) -> None:
        """Insert many new schedules in one transaction (all or none), by COPY."""
        try:
            with self._db.transaction("add schedules") as cur:
                try:
                    with cur.copy(
                        f"COPY {self._s} (owner, agent_id, sort_name, status, due, version, "
                        "body, id) FROM STDIN"
                    ) as copy:
                        for schedule in schedules:
                            copy.write_row(self._schedule_row(schedule))
                except UniqueViolation:
                    raise _IdTaken from None  # rolls the transaction back
                self._notify(cur)
        except _IdTaken:
            # COPY does not say which row clashed; rolled back, the stored ids do (a
            # schedule is never removed, and a clashing write had committed)
            ids = [schedule.id for schedule in schedules]
            stored = self._db.read(f"SELECT id FROM {self._s} WHERE id = ANY(%s)", (ids,))
            raise id_taken(ids, {row[0] for row in stored}) from None
        self._watch.notify()

    def get(self, schedule_id: str) -> Schedule | None:
        rows = self._db.read(f"SELECT body FROM {self._s} WHERE id = %s", (schedule_id,))
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
            self._db.read,
            self._decoded,
            mark="%s",
            table=self._s,
            columns="id, body",
            text=str,
            agent_id=agent_id,
            status=status,
            owner=owner,
            include_deleted=include_deleted,
            limit=limit,
            after=after,
        )

    def update(self, schedule: Schedule, expected_version: int) -> None:
        with self._db.transaction("update a schedule") as cur:
            self._replace(cur, schedule, expected_version)
            self._notify(cur)
        self._watch.notify()

    def _replace(
        self, cur: Cursor, schedule: Schedule, expected_version: int, finished: int = 0
    ) -> int:
        """Write the schedule over `expected_version`, counting `finished` more finished
        runs; returns its count of finished runs."""
        row = cur.execute(
            f"UPDATE {self._s} SET owner = %s, agent_id = %s, sort_name = %s, status = %s, "
            "due = %s, version = %s, body = %s, finished_runs = finished_runs + %s "
            "WHERE id = %s AND version = %s RETURNING finished_runs",
            (*self._schedule_row(schedule)[:-1], finished, schedule.id, expected_version),
        ).fetchone()
        if row is not None:
            return int(row[0])
        found = cur.execute(
            f"SELECT version FROM {self._s} WHERE id = %s", (schedule.id,)
        ).fetchone()
        if found is None:
            raise ScheduleNotFound(schedule.id)
        raise ConflictError(
            f"schedule {shorten(schedule.id)} is at version {found[0]}, not {expected_version}"
        )

    def next_due_at(self) -> datetime | None:
        rows = self._db.read(
            f"SELECT min(due) AT TIME ZONE 'UTC' FROM {self._s} "
            "WHERE status = 'active' AND due IS NOT NULL"
        )
        found = rows[0][0] if rows else None
        return None if found is None else found.replace(tzinfo=timezone.utc)

    # -- claiming --------------------------------------------------------------

    def claim_due(
        self,
        now: datetime,
        plan: ClaimPlan,
        limit: int = 100,
        lease_until: datetime | None = None,
    ) -> builtins.list[Claim]:
        planned: builtins.list[_Planned] = []
        with self._db.transaction("claim due schedules") as cur:
            rows = cur.execute(
                f"SELECT id, body FROM {self._s} WHERE status = 'active' AND due IS NOT NULL "
                "AND due <= %s ORDER BY due, id LIMIT %s FOR UPDATE SKIP LOCKED",
                (now, max(limit, 0)),
            ).fetchall()
            activity = self._activities(cur, [row[0] for row in rows]) if rows else {}
            for schedule_id, body in rows:
                try:
                    schedule = self._decoded.get(schedule_id, body)
                    decided = plan(schedule, activity.get(schedule_id, _IDLE))
                except Exception as exc:
                    self._quarantine_schedule(cur, schedule_id, exc)
                    continue
                if decided is not None:
                    planned.append((schedule, decided[0], builtins.list(decided[1])))
            if not planned:
                return []
            # The whole batch in a few statements; if one schedule's runs are refused (a
            # run of that fire exists), the batch is undone and written one by one, each
            # in a savepoint of its own, so that the refusal costs only that schedule.
            try:
                with cur.connection.transaction():
                    self._write_claims(cur, planned, lease_until)
            except (UniqueViolation, ConflictError):
                planned = [p for p in planned if self._write_claim_alone(cur, p, lease_until)]
        return [(replacement, runs) for _, replacement, runs in planned]

    def _write_claim_alone(
        self, cur: Cursor, claim: _Planned, lease_until: datetime | None
    ) -> bool:
        try:
            with cur.connection.transaction():
                self._write_claims(cur, [claim], lease_until)
        except (UniqueViolation, ConflictError):
            return False
        return True

    def _write_claims(
        self, cur: Cursor, planned: builtins.list[_Planned], lease_until: datetime | None
    ) -> None:
        """Insert the claims' runs and advance their schedules: all, or an exception."""
        self._insert_runs(cur, [run for _, _, runs in planned for run in runs], lease_until)
        self._replace_all(
            cur,
            [
                (
                    replacement,
                    schedule.version,
                    sum(1 for run in runs if run.status is not RunStatus.RUNNING),
                )
                for schedule, replacement, runs in planned
            ],
        )

    def _replace_all(self, cur: Cursor, writes: builtins.list[tuple[Schedule, int, int]]) -> None:
        """Write each schedule over its expected version, counting that many more finished
        runs, in one statement (then trim their runs): all, or a `ConflictError`."""
        if not writes:
            return
        rows = [
            (*self._schedule_row(schedule), expected, finished)
            for schedule, expected, finished in writes
        ]
        written = cur.execute(
            f"UPDATE {self._s} AS s SET owner = v.owner, agent_id = v.agent_id, "
            "sort_name = v.sort_name, status = v.status, due = v.due, version = v.version, "
            "body = v.body, finished_runs = s.finished_runs + v.finished "
            "FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::timestamptz[], "
            "%b::bigint[], %b::text[], %b::text[], %b::bigint[], %b::bigint[]) "
            "AS v(owner, agent_id, sort_name, status, due, version, body, id, expected, finished) "
            "WHERE s.id = v.id AND s.version = v.expected RETURNING s.id, s.finished_runs",
            [builtins.list(column) for column in zip(*rows, strict=True)],
        ).fetchall()
        if len(written) != len(writes):
            raise ConflictError("a schedule was written by someone else meanwhile")
        self._trim(cur, written)

    def _activities(self, cur: Cursor, schedule_ids: builtins.list[str]) -> dict[str, Activity]:
        # Running runs, buffered ones (no start yet), and finished ones that still hold
        # their lease (timed out, handler not returned): they all occupy the schedule.
        rows = cur.execute(
            f"SELECT schedule_id, count(*), count(*) FILTER (WHERE started_at IS NULL) "
            f"FROM {self._r} WHERE schedule_id = ANY(%s) "
            "AND (status = 'running' OR lease_until IS NOT NULL) GROUP BY schedule_id",
            (schedule_ids,),
        ).fetchall()
        return {
            sid: Activity(running=total - waiting, waiting=waiting) for sid, total, waiting in rows
        }

    def _quarantine_schedule(self, cur: Cursor, schedule_id: str, exc: Exception) -> None:
        """Take a schedule that cannot be claimed out of the due index (its body is left
        as it is; writing the schedule again puts it back), so it cannot hold up others."""
        cur.execute(f"UPDATE {self._s} SET due = NULL WHERE id = %s", (schedule_id,))
        log.error(
            "schedule %s cannot fire and was taken out of the due list: %s",
            schedule_id,
            exc,
            extra={"schedule_id": schedule_id},
        )

    def _lock_schedules(self, cur: Cursor, schedule_ids: Iterable[str]) -> dict[str, _Locked]:
        """Lock these schedules' rows, in id order (every writer locks in this order), and
        read them: their stored text, and whether they have a buffered run."""
        rows = cur.execute(
            f"SELECT id, body, EXISTS (SELECT 1 FROM {self._r} AS r WHERE r.schedule_id = s.id "
            "AND r.status = 'running' AND r.started_at IS NULL) "
            f"FROM {self._s} AS s WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
            (sorted(set(schedule_ids)),),
        ).fetchall()
        return {schedule_id: _Locked(body, waiting) for schedule_id, body, waiting in rows}

    # -- runs ------------------------------------------------------------------

    def _insert_runs(self, cur: Cursor, runs: Sequence[Run], lease_until: datetime | None) -> None:
        if not runs:
            return
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
        cur.execute(
            f"INSERT INTO {self._r} (id, schedule_id, trigger, scheduled_for, attempt, status, "
            "started_at, lease_until, body) SELECT * FROM unnest(%b::text[], %b::text[], "
            "%b::text[], %b::timestamptz[], %b::int[], %b::text[], %b::timestamptz[], "
            "%b::timestamptz[], %b::text[])",
            [builtins.list(column) for column in zip(*rows, strict=True)],
        )

    def _write_run(
        self,
        cur: Cursor,
        run: Run,
        lease_until: datetime | None = None,
        occupied: bool = False,
        only_running: bool = False,
    ) -> bool:
        """Write the run (if `only_running`, only over a run still `running`); whether
        it was written."""
        leased = occupied or (run.status is RunStatus.RUNNING and run.started_at is not None)
        cur.execute(
            f"UPDATE {self._r} SET status = %s, started_at = %s, body = %s, lease_until = "
            "CASE WHEN %s THEN COALESCE(%s::timestamptz, lease_until) END "
            "WHERE id = %s AND (status = 'running' OR NOT %s)",
            (
                run.status.value,
                run.started_at,
                to_json(run),
                leased,
                lease_until,
                run.id,
                only_running,
            ),
        )
        return cur.rowcount == 1

    def _add_finished(self, cur: Cursor, counts: builtins.list[tuple[str, int]]) -> None:
        """Count more finished runs for each (schedule id, count), then trim their runs."""
        if not counts:
            return
        rows = cur.execute(
            f"UPDATE {self._s} AS s SET finished_runs = s.finished_runs + v.count "
            "FROM unnest(%b::text[], %b::bigint[]) AS v(id, count) WHERE s.id = v.id "
            "RETURNING s.id, s.finished_runs",
            ([schedule_id for schedule_id, _ in counts], [count for _, count in counts]),
        ).fetchall()
        self._trim(cur, rows)

    def _trim(self, cur: Cursor, counts: Iterable[tuple[str, int]]) -> None:
        """Drop the oldest finished runs of each schedule beyond `keep_runs` (never a
        running or still leased one), given (its id, how many finished runs it has): in
        one statement for them all, which also takes the dropped ones off their counts."""
        keep = self._keep_runs
        over = [] if keep is None else [(sid, n - keep) for sid, n in counts if n > keep]
        if not over:
            return
        cur.execute(
            f"WITH gone AS (DELETE FROM {self._r} WHERE id IN (SELECT o.id FROM "
            "unnest(%b::text[], %b::bigint[]) AS v(schedule_id, excess) CROSS JOIN LATERAL "
            f"(SELECT r.id FROM {self._r} AS r WHERE r.schedule_id = v.schedule_id "
            "AND r.status <> 'running' AND r.lease_until IS NULL ORDER BY r.seq "
            "LIMIT v.excess) AS o) RETURNING schedule_id) "
            f"UPDATE {self._s} AS s SET finished_runs = s.finished_runs - g.dropped "
            "FROM (SELECT schedule_id, count(*) AS dropped FROM gone GROUP BY schedule_id) "
            "AS g WHERE s.id = g.schedule_id",
            ([sid for sid, _ in over], [excess for _, excess in over]),
        )

    def add_run(self, run: Run, lease_until: datetime | None = None) -> None:
        with self._db.transaction("record a run") as cur:
            try:
                self._insert_runs(cur, [run], lease_until)
            except UniqueViolation:
                raise ConflictError(
                    f"run {shorten(run.id)} or its fire time exists already"
                ) from None
            if run.status is not RunStatus.RUNNING:
                self._add_finished(cur, [(run.schedule_id, 1)])

    def finish_runs(
        self, finishing: Sequence[Finishing], lease_until: datetime | None = None
    ) -> builtins.list[Finish | None]:
        if not finishing:
            return []
        moved: builtins.list[str] = []
        with self._db.transaction("record finished runs") as cur:
            locked = self._lock_schedules(cur, (item.run.schedule_id for item in finishing))
            if len(finishing) > 1:  # lock the runs too in id order, as every writer does
                cur.execute(
                    f"SELECT 1 FROM {self._r} WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
                    (sorted({item.run.id for item in finishing}),),
                )
            if len({item.run.id for item in finishing}) == len(finishing) and not any(
                found.waiting for found in locked.values()
            ):  # the common case: no run twice, no buffered run to start
                results = self._finish_together(cur, finishing, lease_until, locked, moved)
            else:
                results = [
                    self._finish(cur, item, lease_until, locked, moved) for item in finishing
                ]
            if moved:  # e.g. a retry made a schedule due sooner
                self._notify(cur)
        if moved:
            self._watch.notify()
        return results

    def _finish_together(
        self,
        cur: Cursor,
        finishing: Sequence[Finishing],
        lease_until: datetime | None,
        locked: dict[str, _Locked],
        moved: builtins.list[str],
    ) -> builtins.list[Finish | None]:
        """`_finish` for every item, in a few statements whatever their number: the runs
        still `running` are written at once, the outcomes folded into their schedules in
        order here, and each schedule written once. For distinct runs, none of whose
        schedules has a buffered run to start."""
        runs = [item.run for item in finishing]
        written = {
            row[0]
            for row in cur.execute(
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
        }
        results: builtins.list[Finish | None] = []
        first: dict[str, Schedule] = {}  # each schedule as it was locked
        counted: dict[str, int] = {}  # its runs finished here
        for item in finishing:
            run = item.run
            if run.id not in written:
                results.append(None)  # finished already (a timeout, a sweep), or gone
                continue
            found = locked.get(run.schedule_id)
            if found is None:
                results.append((None, None))
                continue
            counted[run.schedule_id] = counted.get(run.schedule_id, 0) + 1
            folded = self._fold_in(run, item.update, found, moved)
            if folded is None:
                results.append((None, None))
                continue
            first.setdefault(run.schedule_id, folded[0])
            results.append((folded[1], None))
        replaced: builtins.list[tuple[Schedule, int, int]] = []
        for schedule_id, schedule in first.items():
            updated = locked[schedule_id].schedule
            if updated is not None and updated is not schedule:
                replaced.append((updated, schedule.version, counted.pop(schedule_id)))
        self._replace_all(cur, replaced)
        self._add_finished(cur, builtins.list(counted.items()))
        return results

    def _finish(
        self,
        cur: Cursor,
        item: Finishing,
        lease_until: datetime | None,
        locked: dict[str, _Locked],
        moved: builtins.list[str],
    ) -> Finish | None:
        run = item.run
        if not self._write_run(cur, run, lease_until, item.occupied, only_running=True):
            return None  # finished already (a timeout, a sweep), or gone
        found = locked.get(run.schedule_id)
        schedule = None if found is None else self._fold(cur, run, item.update, found, moved)
        if item.occupied or found is None or not found.waiting:
            return schedule, None
        return schedule, self._start_buffered(cur, run.schedule_id, run.finished_at, lease_until)

    def _fold(
        self,
        cur: Cursor,
        run: Run,
        update: Callable[[Schedule], Schedule],
        found: _Locked,
        moved: builtins.list[str],
    ) -> Schedule | None:
        """Write `update(schedule)` for the run's schedule, counting the run as finished;
        a corrupt schedule is left alone (the run is recorded all the same)."""
        folded = self._fold_in(run, update, found, moved)
        if folded is None or folded[1] is folded[0]:
            self._add_finished(cur, [(run.schedule_id, 1)])
        else:
            schedule, updated = folded
            finished = self._replace(cur, updated, schedule.version, 1)
            self._trim(cur, [(run.schedule_id, finished)])
        return None if folded is None else folded[1]

    def _fold_in(
        self,
        run: Run,
        update: Callable[[Schedule], Schedule],
        found: _Locked,
        moved: builtins.list[str],
    ) -> tuple[Schedule, Schedule] | None:
        """The run's locked schedule before and after `update(schedule)`, in memory (kept
        in `found` for a later run of it in the batch), noting in `moved` if its due time
        changed; None if the schedule's row is corrupt (logged)."""
        try:
            schedule = found.schedule or self._decoded.get(run.schedule_id, found.body)
        except StoreError as exc:
            log.error("%s", exc, extra={"schedule_id": run.schedule_id, "run_id": run.id})
            return None
        updated = fold(schedule, run, update)
        if updated.due_at != schedule.due_at:
            moved.append(updated.id)
        found.schedule = updated
        return schedule, updated

    def _start_buffered(
        self, cur: Cursor, schedule_id: str, at: datetime | None, lease_until: datetime | None
    ) -> Run | None:
        """Mark the oldest buffered run of the schedule started at `at` (the caller holds
        the schedule's lock, so no one else starts it)."""
        waiting = cur.execute(
            f"SELECT id, body FROM {self._r} WHERE schedule_id = %s AND status = 'running' "
            "AND started_at IS NULL ORDER BY seq",
            (schedule_id,),
        ).fetchall()
        started = start_oldest(
            waiting,
            at,
            str,
            lambda run_id, exc: self._quarantine_run(cur, run_id, schedule_id, exc),
        )
        if started is not None:
            self._write_run(cur, started, lease_until)
        return started

    def _quarantine_run(self, cur: Cursor, run_id: str, schedule_id: str, exc: Exception) -> None:
        """Take a corrupt run row out of the running set (its body is left as it is), so
        that no sweep or buffer keeps tripping over it."""
        row = cur.execute(
            f"SELECT status FROM {self._r} WHERE id = %s FOR UPDATE", (run_id,)
        ).fetchone()
        if row is None:
            return  # gone meanwhile
        cur.execute(
            f"UPDATE {self._r} SET status = 'failed', lease_until = NULL WHERE id = %s", (run_id,)
        )
        if row[0] == RunStatus.RUNNING.value:  # a finished one was counted when it finished
            self._add_finished(cur, [(schedule_id, 1)])
        log.error(
            "run %s is corrupt and was marked failed: %s",
            run_id,
            exc,
            extra={"run_id": run_id, "schedule_id": schedule_id},
        )

    def release_run(self, run_id: str, at: datetime, lease_until: datetime) -> Finish | None:
        with self._db.transaction("release a run") as cur:
            row = cur.execute(
                f"SELECT schedule_id FROM {self._r} WHERE id = %s", (run_id,)
            ).fetchone()
            if row is None:
                return None
            schedule_id = row[0]
            found = self._lock_schedules(cur, [schedule_id]).get(schedule_id)
            cur.execute(
                f"UPDATE {self._r} SET lease_until = NULL WHERE id = %s "
                "AND status <> 'running' AND lease_until IS NOT NULL",
                (run_id,),
            )
            if cur.rowcount != 1:
                return None
            schedule: Schedule | None = None
            if found is not None:
                try:
                    schedule = self._decoded.get(schedule_id, found.body)
                except StoreError as exc:
                    log.error("%s", exc, extra={"schedule_id": schedule_id, "run_id": run_id})
            if found is None or not found.waiting:
                return schedule, None
            return schedule, self._start_buffered(cur, schedule_id, at, lease_until)

    def renew_leases(self, run_ids: Sequence[str], until: datetime) -> None:
        if not run_ids:
            return
        with self._db.transaction("renew leases") as cur:
            # The rows locked in id order first, as a batch of outcomes locks them (an
            # UPDATE alone locks them in the order its plan finds them: a deadlock).
            cur.execute(
                f"UPDATE {self._r} AS r SET lease_until = %s FROM (SELECT id FROM {self._r} "
                "WHERE id = ANY(%s) AND lease_until IS NOT NULL ORDER BY id FOR UPDATE) AS l "
                "WHERE r.id = l.id",
                (until, sorted(run_ids)),
            )

    def expired_runs(self, now: datetime, limit: int = 100) -> builtins.list[Run]:
        rows = self._db.read(
            f"SELECT id, body, schedule_id FROM {self._r} "
            "WHERE lease_until IS NOT NULL AND lease_until < %s ORDER BY lease_until LIMIT %s",
            (now, max(limit, 0)),
        )
        found: builtins.list[Run] = []
        corrupt: builtins.list[tuple[str, str, StoreError]] = []
        for run_id, body, schedule_id in rows:
            try:
                found.append(decode(Run, run_id, body))
            except StoreError as exc:
                corrupt.append((run_id, schedule_id, exc))
        if corrupt:
            with self._db.transaction("set corrupt runs aside") as cur:
                self._lock_schedules(cur, [schedule_id for _, schedule_id, _ in corrupt])
                # runs in id order too, as every writer locks them
                for run_id, schedule_id, problem in sorted(corrupt, key=lambda c: c[0]):
                    self._quarantine_run(cur, run_id, schedule_id, problem)
        return found

    def get_run(self, run_id: str) -> Run | None:
        rows = self._db.read(f"SELECT body FROM {self._r} WHERE id = %s", (run_id,))
        return decode(Run, run_id, rows[0][0]) if rows else None

    def runs(self, schedule_id: str, limit: int = 50) -> builtins.list[Run]:
        rows = self._db.read(
            f"SELECT id, body FROM {self._r} WHERE schedule_id = %s ORDER BY seq DESC LIMIT %s",
            (schedule_id, max(limit, 0)),
        )
        found = []
        for run_id, body in rows:
            try:
                found.append(decode(Run, run_id, body))
            except StoreError as exc:
                log.error("skipping a run: %s", exc, extra={"run_id": run_id})
        return found
