"""The `Store` protocol: the only thing the scheduler knows about storage.

Its docstrings are the contract every store must honour; the conformance
suite in `agentsched.testing` checks them. Stores hold records as given:
validation and state transitions happen above, in pure code.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

import attrs

from ..errors import ConflictError, shorten
from ..model import MAX_SCHEDULE_ID, Activity, Run, Schedule, Status, check_count

__all__ = [
    "DEFAULT_KEEP_RUNS",
    "Claim",
    "ClaimPlan",
    "Finish",
    "Finishing",
    "Store",
    "check_keep_runs",
    "id_taken",
    "schedule_exists",
]

DEFAULT_KEEP_RUNS = 1000


def check_keep_runs(value: object) -> int | None:
    """A store's `keep_runs`: a whole number from 1 to 2**63 - 1, or None to keep every run."""
    return None if value is None else check_count("keep_runs", value, 1)


def id_taken(ids: Sequence[str], stored: Collection[str]) -> ConflictError:
    """The `ConflictError` of adding schedules with `ids` when one of them clashed: naming
    the first that is repeated among them or in `stored` (those of them the store holds)."""
    seen: set[str] = set()
    for schedule_id in ids:
        if schedule_id in seen or schedule_id in stored:
            return schedule_exists(schedule_id)
        seen.add(schedule_id)
    return ConflictError("a schedule with one of these ids exists already")


def schedule_exists(schedule_id: str) -> ConflictError:
    """The `ConflictError` of adding a schedule whose id is taken (even by a deleted one)."""
    return ConflictError(
        f"a schedule with id {shorten(schedule_id, MAX_SCHEDULE_ID + 2)} exists already"
    )


Claim = tuple[Schedule, list[Run]]
"""A claimed schedule, as written back, and the runs inserted with it."""

ClaimPlan = Callable[[Schedule, Activity], "tuple[Schedule, Sequence[Run]] | None"]
"""Given a due schedule and its unfinished runs, its replacement (version + 1)
and the runs to insert, or None to leave it untouched. Pure: it may be
called again after a retry."""

Finish = tuple["Schedule | None", "Run | None"]
"""After finishing a run: its schedule as written, and a buffered run that was
started as a result (the caller must execute it), if any."""


@attrs.define
class Finishing:
    """One run to record as finished (`Store.finish_runs`): the run as it ended, how
    its schedule takes it (pure; may be called again on a retry), and whether its
    handler still occupies the schedule (it timed out and has not returned).

    Never changed once made (not frozen: built once per run, and a frozen attrs
    class takes much longer to build)."""

    run: Run
    update: Callable[[Schedule], Schedule]
    occupied: bool = False


@runtime_checkable
class Store(Protocol):
    """Persistent schedules and runs, safe for concurrent use.

    Optimistic concurrency: every schedule write names the version it was
    based on and fails with `ConflictError` if the stored one moved on. All
    datetimes go in and come out timezone-aware (UTC).

    Run history is bounded: a store keeps at most `keep_runs` finished runs
    per schedule (its running ones aside), dropping the oldest as runs
    finish. Rows are isolated: one that cannot be decoded is a `StoreError`
    naming it from `get`/`get_run`, and is skipped (and logged) by `list`,
    `runs`, `claim_due` and `expired_runs`, so that it never stops the
    others. Every failure of the underlying storage is a `StoreError` that
    says what happened; a failed write leaves nothing half-written.
    """

    def add(self, schedule: Schedule) -> None:
        """Insert a new schedule. `ConflictError` if its id exists (even deleted)."""
        ...

    def get(self, schedule_id: str) -> Schedule | None:
        """The schedule with that id, deleted ones included, or None."""
        ...

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
        """Schedules matching every given filter, sorted by (name, id).

        A missing name sorts as the empty string. `after` is the id of the
        last schedule of the previous page (the cursor): results start
        strictly after its (name, id). Deleted schedules are left out unless
        `include_deleted` or `status=Status.DELETED`. At most `limit` rows.
        """
        ...

    def update(self, schedule: Schedule, expected_version: int) -> None:
        """Replace the stored schedule of the same id.

        `ConflictError` if the stored version is not `expected_version`;
        `ScheduleNotFound` if there is no such schedule.
        """
        ...

    def claim_due(
        self,
        now: datetime,
        plan: ClaimPlan,
        limit: int = 100,
        lease_until: datetime | None = None,
    ) -> builtins.list[Claim]:
        """Atomically take the work due at `now`.

        Considers the first `limit` active schedules with `due_at <= now`
        (earliest first, each at most once per call), calls `plan` on each
        with the schedule's `Activity`
        (its runs still `running`: started, and buffered with no
        `started_at`), and in one atomic step per store
        writes the replacement schedule and inserts its runs. Two schedulers
        calling this at once on one store never both claim the same schedule
        version, so no scheduled run with the same (schedule, scheduled_for,
        attempt) is created twice; a plan with such a duplicate run is
        refused (the schedule is left as it is). Started runs (`running` with
        a `started_at`) get `lease_until`. If the schedule cannot be decoded
        or `plan` raises for it, the store logs it, stops offering it as due
        until it is written again (its record is left as it is) and carries
        on with the others. Returns what was written.
        """
        ...

    def add_run(self, run: Run, lease_until: datetime | None = None) -> None:
        """Insert a run (leased until `lease_until` if it is running and started).
        `ConflictError` if its id, or for a scheduled run its (schedule_id,
        scheduled_for, attempt), exists."""
        ...

    def finish_runs(
        self, finishing: Sequence[Finishing], lease_until: datetime | None = None
    ) -> builtins.list[Finish | None]:
        """Atomically (one transaction for all) record how runs ended, and fold each into
        its schedule; one result per item, in order.

        For each item: if the stored run is no longer `running` (a timeout or a
        lease sweep finished it first) or is gone, changes nothing and gives
        None. Otherwise writes `run`, replaces its schedule with
        `update(schedule)` (unless that returns the same object, or raises:
        then the schedule is left as it is and the error logged), and if the
        schedule has a buffered run (`running` with no `started_at`), marks
        the oldest one started at `run.finished_at`, leased until
        `lease_until`, and gives it back for the caller to execute.

        `occupied=True` records a run whose handler has not returned (it
        timed out): the run is finished, but it keeps a lease (until
        `lease_until`, renewed like a running one) and still counts as
        running for overlap decisions, and no buffered run starts, until
        `release_run`.
        """
        ...

    def release_run(self, run_id: str, at: datetime, lease_until: datetime) -> Finish | None:
        """The handler of a run finished as `occupied` has returned: drop its lease and
        start the oldest buffered run of its schedule at `at` (leased until
        `lease_until`). None if the run is not occupied (released already)."""
        ...

    def renew_leases(self, run_ids: Sequence[str], until: datetime) -> None:
        """Extend the leases of these runs (the caller is still running their handlers);
        runs that are neither running nor occupied are left alone."""
        ...

    def expired_runs(self, now: datetime, limit: int = 100) -> builtins.list[Run]:
        """Leased runs whose lease ended before `now`, oldest lease first.

        Their scheduler died or stalled. A `running` one is finished as failed
        by the caller (`finish_runs`, which also starts a run buffered behind
        it), and its handler is never run again; a finished one was occupied
        (timed out) and is released (`release_run`).
        """
        ...

    def get_run(self, run_id: str) -> Run | None:
        """The run with that id, or None."""
        ...

    def runs(self, schedule_id: str, limit: int = 50) -> builtins.list[Run]:
        """A schedule's runs, newest (last inserted) first, at most `limit`."""
        ...

    def next_due_at(self) -> datetime | None:
        """The earliest `due_at` of any active schedule, or None."""
        ...

    def watch(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` (from any thread) after a write that may make work due sooner
        (a new or changed schedule, a finished run), made through this store or, where
        the store can tell (PostgreSQL's NOTIFY), by another process. Returns a function
        that stops the calls. A hint only: a scheduler also polls."""
        ...

    def close(self) -> None:
        """Release resources. Calls after this may fail."""
        ...
