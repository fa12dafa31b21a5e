"""`SQLStore`: what the SQL stores do, written once over a small dialect.

`SQLiteStore` and `PostgresStore` keep each record as its JSON text next to
indexed columns, and decide nothing of their own. The flows are here:
claiming due work (select, plan, write all at once or, on a refusal, one by
one), recording outcomes in batches, releasing timed-out runs, sweeping
expired leases, adds and updates under optimistic concurrency, the bound on
run history (`keep_runs`), starting buffered runs, and the isolation of
corrupt rows (a schedule that cannot be read or planned is taken out of the
due list, a corrupt run out of the running set; neither body is rewritten).

Each store implements the dialect, the abstract methods below: SQL text and
its parameters, connections and transactions, bulk writes. A method that
takes `tx` runs inside one of the store's transactions (`_transaction`);
the others read on their own. Rows give ids as the dialect reads them
(`Raw`: SQLite reads them as bytes, so that one row whose id is not UTF-8
cannot fail a whole query) and bodies as text or bytes.
"""

from __future__ import annotations

import abc
import builtins
from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Generic, NamedTuple, TypeVar

from ..._log import log
from ...errors import ConflictError, ScheduleNotFound, StoreError, ValidationError, shorten
from ...model import Activity, Run, RunStatus, Schedule, Status, replace
from ..base import Claim, ClaimPlan, Finish, Finishing, check_keep_runs, id_taken
from ..batches import BatchFold, Planned, plan_claims
from ..watchers import Watchers
from .rows import DecodeCache, decode, to_json

__all__ = ["Body", "Duplicate", "Locked", "SQLStore", "Write"]

Tx = TypeVar("Tx")
Raw = TypeVar("Raw")
S = TypeVar("S", bound="SQLStore[Any, Any]")

Body = bytes | str
"""A stored record's JSON text, as the driver returns it."""

_IDLE = Activity()
_RUNNING = RunStatus.RUNNING


class Duplicate(Exception):
    """A unique key refused a write (a schedule's id, a run's id or its fire). The dialect
    raises it instead of its driver's error, so that the transaction or savepoint around
    it rolls back and the flow can tell a refusal from a failure."""


class Write(NamedTuple):
    """A schedule to write over `expected_version`, counting `finished` more finished
    runs of it. `previous` is the schedule as it was read (claims and outcomes; None for
    an update): a dialect may leave alone the indexes on columns that did not change."""

    schedule: Schedule
    expected_version: int
    finished: int = 0
    previous: Schedule | None = None


class Locked(NamedTuple):
    """A schedule as read for a change to its runs: its stored text, whether it has a
    buffered run, and its count of finished runs."""

    body: Body
    waiting: bool
    finished: int


def _finished(runs: Sequence[Run]) -> int:
    return sum(1 for run in runs if run.status is not _RUNNING)


class SQLStore(abc.ABC, Generic[Tx, Raw]):
    """The `Store` flows over a dialect; subclasses are the stores.

    A subclass sets `_watchers` (in-process callbacks, notified after writes
    that may make work due sooner) and `_s`, `_mark` and `_id_and_body` (the
    schedules table, the driver's placeholder, and the columns that select a
    row's id and body), and implements the abstract methods.
    """

    read_only = False
    """Whether the store was opened read-only: it reads, and sets no corrupt row aside."""

    _watchers: Watchers
    _s: str
    _mark: str
    _id_and_body: str

    def __init__(self, keep_runs: int | None) -> None:
        self._keep_runs = check_keep_runs(keep_runs)
        self._decoded = DecodeCache()

    def __enter__(self: S) -> S:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @abc.abstractmethod
    def close(self) -> None:
        """Release resources. Calls after this may fail."""

    def _encode(self, schedule: Schedule) -> str:
        """A schedule's stored text, which the decode cache then knows."""
        body = to_json(schedule)
        self._decoded.put(schedule, body)
        return body

    # -- schedules -------------------------------------------------------------

    def add(self, schedule: Schedule) -> None:
        self._add([schedule], "add a schedule")

    def add_many(self, schedules: Sequence[Schedule]) -> None:
        """Insert many new schedules in one transaction (all or none)."""
        self._add(schedules, "add schedules")

    def _add(self, schedules: Sequence[Schedule], action: str) -> None:
        try:
            with self._transaction(action) as tx:
                self._insert_schedules(tx, schedules)
                self._notify(tx)
        except Duplicate:
            # Rolled back: the stored ids say which clashed (a schedule is never
            # removed, and the clashing write had committed).
            ids = [schedule.id for schedule in schedules]
            raise id_taken(ids, self._stored_ids(ids)) from None
        self._watchers.notify()

    def get(self, schedule_id: str) -> Schedule | None:
        body = self._schedule_body(schedule_id)
        return None if body is None else self._decoded.get(schedule_id, body)

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
        """The filters and the (name, id) cursor in SQL; rows that cannot be decoded are
        logged and skipped."""
        mark = self._mark
        where: builtins.list[str] = []
        params: builtins.list[Any] = []
        for column, value in (("agent_id", agent_id), ("owner", owner)):
            if value is not None:
                where.append(f"{column} = {mark}")
                params.append(value)
        if status is not None:
            where.append(f"status = {mark}")
            params.append(status.value)
        elif not include_deleted:
            where.append("status <> 'deleted'")
        if after is not None:
            cursor = self._read(f"SELECT sort_name FROM {self._s} WHERE id = {mark}", (after,))
            if not cursor:
                raise ValidationError("after", f"'after' is not a known id (got {shorten(after)})")
            where.append(f"(sort_name, id) > ({mark}, {mark})")
            params.extend([cursor[0][0], after])
        sql = f"SELECT {self._id_and_body} FROM {self._s}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        params.append(max(limit, 0))
        found = []
        for raw_id, body in self._read(sql + f" ORDER BY sort_name, id LIMIT {mark}", params):
            try:
                found.append(self._decoded.get(self._text(raw_id), body))
            except StoreError as exc:
                log.error("skipping a schedule: %s", exc, extra={"schedule_id": self._text(raw_id)})
        return found

    def update(self, schedule: Schedule, expected_version: int) -> None:
        with self._transaction("update a schedule") as tx:
            try:
                self._write_schedules(tx, [Write(schedule, expected_version)])
            except ConflictError:
                stored = self._version_of(tx, schedule.id)
                if stored is None:
                    raise ScheduleNotFound(schedule.id) from None
                raise ConflictError(
                    f"schedule {shorten(schedule.id)} is at version {stored}, "
                    f"not {expected_version}"
                ) from None
            self._notify(tx)
        self._watchers.notify()

    # -- claiming --------------------------------------------------------------

    def claim_due(
        self,
        now: datetime,
        plan: ClaimPlan,
        limit: int = 100,
        lease_until: datetime | None = None,
    ) -> builtins.list[Claim]:
        with self._transaction("claim due schedules") as tx:
            rows = self._select_due(tx, now, max(limit, 0))
            if not rows:
                return []
            ids = [self._text(raw_id) for raw_id, _, _ in rows]
            activity = {
                schedule_id: Activity(running=unfinished - waiting, waiting=waiting)
                for schedule_id, unfinished, waiting in self._activities(tx, ids)
            }
            planned = [
                (made, finished)
                for (_, _, finished), made in plan_claims(
                    zip(ids, rows, strict=True),
                    lambda schedule_id, row: self._decoded.get(schedule_id, row[1]),
                    lambda schedule_id: activity.get(schedule_id, _IDLE),
                    plan,
                    lambda _, row: self._take_off_due(tx, row[0]),
                )
            ]
            if not planned:
                return []
            # The whole batch in a few statements; if anything is refused (a run of that
            # fire exists, a version moved on), the batch is undone and written one by
            # one, each in a savepoint of its own, so that one refusal costs no other.
            try:
                with self._savepoint(tx):
                    self._write_claims(tx, planned, lease_until)
            except (Duplicate, ConflictError):
                planned = [p for p in planned if self._write_claim_alone(tx, p, lease_until)]
        return [(replacement, runs) for (_, replacement, runs), _ in planned]

    def _write_claim_alone(
        self, tx: Tx, claim: tuple[Planned, int], lease_until: datetime | None
    ) -> bool:
        try:
            with self._savepoint(tx):
                self._write_claims(tx, [claim], lease_until)
        except (Duplicate, ConflictError):
            return False
        return True

    def _write_claims(
        self, tx: Tx, planned: Sequence[tuple[Planned, int]], lease_until: datetime | None
    ) -> None:
        """Insert the claims' runs and advance their schedules (each with its count of
        finished runs as read): all, or an exception."""
        runs = [run for (_, _, made), _ in planned for run in made]
        if runs:
            self._insert_runs(tx, runs, lease_until)
        writes = [
            Write(after, before.version, _finished(made), before)
            for (before, after, made), _ in planned
        ]
        self._write_schedules(tx, writes)
        self._trim(
            tx,
            [
                (write.schedule.id, finished + write.finished)
                for write, (_, finished) in zip(writes, planned, strict=True)
                if write.finished
            ],
        )

    # -- runs ------------------------------------------------------------------

    def add_run(self, run: Run, lease_until: datetime | None = None) -> None:
        with self._transaction("record a run") as tx:
            try:
                self._insert_runs(tx, [run], lease_until)
            except Duplicate:
                raise ConflictError(
                    f"run {shorten(run.id)} or its fire time exists already"
                ) from None
            if run.status is not _RUNNING:
                self._count_finished(tx, run.schedule_id)

    def finish_runs(
        self, finishing: Sequence[Finishing], lease_until: datetime | None = None
    ) -> builtins.list[Finish | None]:
        if not finishing:
            return []
        with self._transaction("record finished runs") as tx:
            results, moved = self._finish(tx, finishing, lease_until)
            if moved:  # e.g. a retry made a schedule due sooner
                self._notify(tx)
        if moved:
            self._watchers.notify()
        return results

    def _finish(
        self, tx: Tx, finishing: Sequence[Finishing], lease_until: datetime | None
    ) -> tuple[builtins.list[Finish | None], bool]:
        """Record a batch of outcomes in a few statements whatever its size, and whether a
        due time moved: the schedules locked and read once, the runs still `running`
        written, the outcomes folded in order here, each schedule written once with its
        count of finished runs, and the buffered runs they start."""
        locked = self._schedules_for_update(tx, {item.run.schedule_id for item in finishing})
        waiting = {schedule_id for schedule_id, found in locked.items() if found.waiting}
        if len(finishing) > 1 and waiting:
            # A buffered run may start, even one an outcome of this batch then finishes:
            # each outcome in turn, as a batch of one, sees what those before it did.
            results: builtins.list[Finish | None] = []
            moved = False
            for item in finishing:
                (result,), item_moved = self._finish(tx, [item], lease_until)
                results.append(result)
                moved = moved or item_moved
            return results, moved
        place: dict[str, int] = {}  # each run's first place in the batch: it finishes once
        for index, item in enumerate(finishing):
            place.setdefault(item.run.id, index)
        written = self._write_finished(tx, [finishing[i] for i in place.values()], lease_until)
        live = [index for run_id, index in place.items() if run_id in written]
        into = {finishing[index].run.schedule_id for index in live} & locked.keys()
        folds = BatchFold({sid: self._locked(sid, locked[sid].body) for sid in into})
        after = {index: folds.fold(finishing[index]) for index in live}
        changed = folds.changed()
        if changed:
            self._write_schedules(
                tx, [Write(latest, first.version, count, first) for first, latest, count in changed]
            )
        unchanged = [(sid, count) for sid, count in folds.unchanged() if sid in locked]
        if unchanged:
            self._add_finished(tx, unchanged)
        totals = [(first.id, count) for first, _, count in changed] + unchanged
        self._trim(tx, [(sid, locked[sid].finished + count) for sid, count in totals])
        together: builtins.list[Finish | None] = [None] * len(finishing)
        for index, schedule in after.items():
            run = finishing[index].run
            started = None
            if not finishing[index].occupied and run.schedule_id in waiting:
                started = self._start_oldest(tx, run.schedule_id, run.finished_at, lease_until)
            together[index] = (schedule, started)
        return together, folds.moved

    def _locked(self, schedule_id: str, body: Body) -> Schedule | None:
        """A schedule as `_schedules_for_update` read it; None if it is corrupt (logged: the
        runs finishing into it are recorded all the same)."""
        try:
            return self._decoded.get(schedule_id, body)
        except StoreError as exc:
            log.error("%s", exc, extra={"schedule_id": schedule_id})
            return None

    def release_run(self, run_id: str, at: datetime, lease_until: datetime) -> Finish | None:
        with self._transaction("release a run") as tx:
            schedule_id = self._schedule_of_run(tx, run_id)
            if schedule_id is None:
                return None
            found = self._schedules_for_update(tx, [schedule_id]).get(schedule_id)
            if not self._release(tx, run_id):
                return None  # not occupied: released already
            if found is None:
                return None, None
            schedule = self._locked(schedule_id, found.body)
            if not found.waiting:
                return schedule, None
            return schedule, self._start_oldest(tx, schedule_id, at, lease_until)

    def _start_oldest(
        self, tx: Tx, schedule_id: str, at: datetime | None, lease_until: datetime | None
    ) -> Run | None:
        """The oldest buffered run of the schedule that can be read, started at `at`;
        corrupt ones before it are set aside. The caller holds the schedule's lock, so
        no one else starts it."""
        for raw_id, body in self._waiting_runs(tx, schedule_id):
            try:
                buffered = decode(Run, self._text(raw_id), body)
            except StoreError as exc:
                self._set_run_aside(tx, raw_id, schedule_id, exc)
                continue
            started = replace(buffered, started_at=at)
            self._start_run(tx, started, lease_until)
            return started
        return None

    def _set_run_aside(self, tx: Tx, raw_id: Raw, schedule_id: str, exc: Exception) -> None:
        """Take a corrupt run row out of the running set (its body is left as it is), so
        that no sweep or buffer keeps tripping over it."""
        was = self._fail_run(tx, raw_id)
        if was is None:
            return  # gone meanwhile
        if was == _RUNNING.value:  # a finished one was counted when it finished
            self._count_finished(tx, schedule_id)
        run_id = self._text(raw_id)
        log.error(
            "run %s is corrupt and was marked failed: %s",
            run_id,
            exc,
            extra={"run_id": run_id, "schedule_id": schedule_id},
        )

    def renew_leases(self, run_ids: Sequence[str], until: datetime) -> None:
        if run_ids:
            with self._transaction("renew leases") as tx:
                self._renew(tx, run_ids, until)

    def expired_runs(self, now: datetime, limit: int = 100) -> builtins.list[Run]:
        found: builtins.list[Run] = []
        corrupt: builtins.list[tuple[Raw, str, StoreError]] = []
        for raw_id, body, raw_schedule_id in self._expired(now, max(limit, 0)):
            try:
                found.append(decode(Run, self._text(raw_id), body))
            except StoreError as exc:
                corrupt.append((raw_id, self._text(raw_schedule_id), exc))
        if corrupt and not self.read_only:
            with self._transaction("set corrupt runs aside") as tx:
                # their schedules locked first, then the runs in id order, as every writer
                self._schedules_for_update(tx, {schedule_id for _, schedule_id, _ in corrupt})
                for raw_id, schedule_id, problem in sorted(corrupt, key=lambda c: self._text(c[0])):
                    self._set_run_aside(tx, raw_id, schedule_id, problem)
        return found

    def get_run(self, run_id: str) -> Run | None:
        body = self._run_body(run_id)
        return None if body is None else decode(Run, run_id, body)

    def runs(self, schedule_id: str, limit: int = 50) -> builtins.list[Run]:
        found = []
        for raw_id, body in self._runs_of(schedule_id, max(limit, 0)):
            try:
                found.append(decode(Run, self._text(raw_id), body))
            except StoreError as exc:
                log.error("skipping a run: %s", exc, extra={"run_id": self._text(raw_id)})
        return found

    def _count_finished(self, tx: Tx, schedule_id: str) -> None:
        """One more finished run of the schedule: counted, and its runs trimmed."""
        self._add_finished(tx, [(schedule_id, 1)])
        self._trim(tx, self._finished_counts(tx, [schedule_id]))

    def _trim(self, tx: Tx, totals: Sequence[tuple[str, int]]) -> None:
        """Drop the oldest finished runs of each schedule beyond `keep_runs`, given (its
        id, how many finished runs it has)."""
        keep = self._keep_runs
        over = [] if keep is None else [(sid, n - keep) for sid, n in totals if n > keep]
        if over:
            self._drop_oldest(tx, over)

    # -- the dialect: transactions and reads -------------------------------------

    @abc.abstractmethod
    def _transaction(self, action: str) -> AbstractContextManager[Tx]:
        """One transaction: committed if the block returns, rolled back if it raises. The
        driver's failures become `StoreError`s saying what happened (while trying to
        `action`, a phrase such as "claim due schedules"); other exceptions pass through."""

    @abc.abstractmethod
    def _savepoint(self, tx: Tx) -> AbstractContextManager[None]:
        """A savepoint in `tx`, rolled back to (the exception passed on) if the block raises."""

    @abc.abstractmethod
    def _read(self, sql: str, params: Sequence[Any] = ()) -> builtins.list[tuple[Any, ...]]:
        """The rows of one query, outside any transaction."""

    @abc.abstractmethod
    def _notify(self, tx: Tx) -> None:
        """Tell other processes, once `tx` commits, that work may be due sooner."""

    @abc.abstractmethod
    def _text(self, raw: Raw) -> str:
        """An id as the dialect reads it, as text."""

    # -- the dialect: schedules --------------------------------------------------

    @abc.abstractmethod
    def _insert_schedules(self, tx: Tx, schedules: Sequence[Schedule]) -> None:
        """Insert new schedules; `Duplicate` if an id is taken."""

    @abc.abstractmethod
    def _stored_ids(self, ids: Sequence[str]) -> set[str]:
        """Those of `ids` that name a stored schedule."""

    @abc.abstractmethod
    def _schedule_body(self, schedule_id: str) -> Body | None:
        """A schedule's stored text, or None."""

    @abc.abstractmethod
    def _version_of(self, tx: Tx, schedule_id: str) -> int | None:
        """A schedule's stored version, or None if there is no such schedule."""

    @abc.abstractmethod
    def _write_schedules(self, tx: Tx, writes: Sequence[Write]) -> None:
        """Write each schedule over its expected version, all or a `ConflictError`, adding
        to their counts of finished runs."""

    @abc.abstractmethod
    def _select_due(
        self, tx: Tx, now: datetime, limit: int
    ) -> builtins.list[tuple[Raw, Body, int]]:
        """(id, body, finished runs) of up to `limit` active schedules due at `now`,
        earliest first and, at one instant, by id; locked, where other writers could take
        them meanwhile."""

    @abc.abstractmethod
    def _activities(
        self, tx: Tx, schedule_ids: Sequence[str]
    ) -> builtins.list[tuple[str, int, int]]:
        """(schedule id, unfinished runs, of which buffered) for those of these schedules
        that have any: running ones, buffered ones (no start yet) and finished ones still
        holding their lease (timed out, handler not returned) all occupy a schedule."""

    @abc.abstractmethod
    def _take_off_due(self, tx: Tx, raw_id: Raw) -> None:
        """Stop offering a schedule as due until it is written again; its body stays."""

    @abc.abstractmethod
    def _schedules_for_update(self, tx: Tx, schedule_ids: Collection[str]) -> dict[str, Locked]:
        """These schedules, by id, locked in id order where other writers could change
        them (every writer locks schedules so, before runs)."""

    # -- the dialect: runs -------------------------------------------------------

    @abc.abstractmethod
    def _insert_runs(self, tx: Tx, runs: Sequence[Run], lease_until: datetime | None) -> None:
        """Insert runs, the started running ones leased until `lease_until`; `Duplicate`
        if a run's id, or a scheduled run's fire, is taken."""

    @abc.abstractmethod
    def _write_finished(
        self, tx: Tx, finishing: Sequence[Finishing], lease_until: datetime | None
    ) -> set[str]:
        """Write each run (distinct ids) over its stored row if that is still `running`, an
        occupied one leased until `lease_until`, the others unleased; the ids written."""

    @abc.abstractmethod
    def _waiting_runs(self, tx: Tx, schedule_id: str) -> builtins.list[tuple[Raw, Body]]:
        """(id, body) of a schedule's buffered runs, oldest first."""

    @abc.abstractmethod
    def _start_run(self, tx: Tx, run: Run, lease_until: datetime | None) -> None:
        """Write a buffered run as started, leased until `lease_until`."""

    @abc.abstractmethod
    def _fail_run(self, tx: Tx, raw_id: Raw) -> str | None:
        """Mark a run failed and drop its lease, leaving its body; its status before, or
        None if it is gone."""

    @abc.abstractmethod
    def _add_finished(self, tx: Tx, counts: Sequence[tuple[str, int]]) -> None:
        """Add to the schedules' counts of finished runs, given (id, how many more)."""

    @abc.abstractmethod
    def _finished_counts(
        self, tx: Tx, schedule_ids: Sequence[str]
    ) -> builtins.list[tuple[str, int]]:
        """(id, finished runs) of each of these schedules."""

    @abc.abstractmethod
    def _drop_oldest(self, tx: Tx, excess: Sequence[tuple[str, int]]) -> None:
        """Delete each schedule's (id, n) n oldest finished runs, never one still leased,
        and take them off its count."""

    @abc.abstractmethod
    def _schedule_of_run(self, tx: Tx, run_id: str) -> str | None:
        """The schedule id of a run, or None if there is no such run."""

    @abc.abstractmethod
    def _release(self, tx: Tx, run_id: str) -> bool:
        """Drop the lease of a finished run that still holds one; whether it did."""

    @abc.abstractmethod
    def _renew(self, tx: Tx, run_ids: Sequence[str], until: datetime) -> None:
        """Extend the leases of those of these runs that hold one."""

    @abc.abstractmethod
    def _expired(self, now: datetime, limit: int) -> builtins.list[tuple[Raw, Body, Raw]]:
        """(id, body, schedule id) of up to `limit` runs whose lease ended before `now`,
        oldest lease first."""

    @abc.abstractmethod
    def _run_body(self, run_id: str) -> Body | None:
        """A run's stored text, or None."""

    @abc.abstractmethod
    def _runs_of(self, schedule_id: str, limit: int) -> builtins.list[tuple[Raw, Body]]:
        """(id, body) of a schedule's runs, newest (last inserted) first, at most `limit`."""
