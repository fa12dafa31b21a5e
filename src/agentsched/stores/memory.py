"""`MemoryStore`: everything in process memory; the test double and the default.

Thread-safe (one lock). Due work is found through a min-heap of the
distinct due instants, each with the ids of the schedules due then (sorted
once before they are taken: claims go by due time, then id, as in the SQL
stores), with lazy deletion: an id counts only while its schedule is still
active and due at that instant. Schedules on one cron line share their
instants, so a claim costs O(1) per schedule (after one sort of an
instant's ids) plus O(log k) per distinct instant, never a scan of all
schedules. Nothing survives the process.
"""

from __future__ import annotations

import builtins
import heapq
import itertools
import threading
from collections.abc import Callable, Sequence
from datetime import datetime

from ..errors import ConflictError, ScheduleNotFound, ValidationError, shorten
from ..model import Activity, Run, RunStatus, RunTrigger, Schedule, Status, replace
from .base import (
    DEFAULT_KEEP_RUNS,
    Claim,
    ClaimPlan,
    Finish,
    Finishing,
    check_keep_runs,
    schedule_exists,
)
from .batches import BatchFold, plan_claims
from .watchers import Watchers

__all__ = ["MemoryStore"]


# Enum members as module constants: reading one off its Enum class costs ~50 ns, and
# the firing path reads a dozen per run.
_ACTIVE = Status.ACTIVE
_RUNNING = RunStatus.RUNNING
_SCHEDULED = RunTrigger.SCHEDULE


_IDLE = Activity()


def _sort_key(schedule: Schedule) -> tuple[str, str]:
    return (schedule.name or "", schedule.id)


def _run_key(run: Run) -> tuple[str, datetime | None, int] | None:
    """The fire a scheduled run stands for (at most one run each); None for a manual run."""
    if run.trigger is not _SCHEDULED:
        return None
    return (run.schedule_id, run.scheduled_for, run.attempt)


class MemoryStore:
    """An in-memory `Store`. Use it in tests, or when losing schedules on exit is fine.

    Keeps at most `keep_runs` finished runs per schedule (None keeps all):
    beyond that the oldest finished ones are dropped as runs finish (never a
    running one), so a long-lived process does not grow without bound.
    """

    def __init__(self, keep_runs: int | None = DEFAULT_KEEP_RUNS) -> None:
        self._keep_runs = check_keep_runs(keep_runs)
        self._lock = threading.RLock()
        self._schedules: dict[str, Schedule] = {}
        self._due_times: list[datetime] = []  # a heap of the instants in `_due`
        self._due: dict[datetime, list[str]] = {}  # ids by due instant, superseded ones too
        self._due_ids = 0  # ids in `_due`
        self._unsorted: set[datetime] = set()  # instants whose ids are not in descending order
        self._runs: dict[str, Run] = {}
        # per schedule, its run ids in insertion order (a dict is an ordered set)
        self._runs_by_schedule: dict[str, dict[str, None]] = {}
        self._finished_count: dict[str, int] = {}
        self._run_keys: set[tuple[str, datetime | None, int]] = set()
        self._unfinished: dict[str, dict[str, Run]] = {}
        # finished runs whose handler has not returned (timed out), per schedule
        self._occupied: dict[str, set[str]] = {}
        self._leases: dict[str, datetime] = {}
        self._off_due: set[str] = set()  # taken out of the due index: their plan raised
        self._watchers = Watchers()

    def _index(self, schedule: Schedule, previous: Schedule | None = None) -> None:
        due = schedule.due_at
        if (
            previous is not None
            and previous.due_at == due
            and previous.status is schedule.status
            and schedule.id not in self._off_due
        ):
            return  # its due entry is still the right one
        self._off_due.discard(schedule.id)
        if schedule.status is _ACTIVE and due is not None:
            self._push_due(due, schedule.id)
        if self._due_ids > 2 * len(self._schedules) + 64:
            # too many superseded ids: rebuild from the schedules
            self._due, self._due_times, self._due_ids, self._unsorted = {}, [], 0, set()
            for current in self._schedules.values():
                due = current.due_at
                if (
                    current.status is _ACTIVE
                    and due is not None
                    and current.id not in self._off_due
                ):
                    self._push_due(due, current.id)

    def _push_due(self, due: datetime, schedule_id: str) -> None:
        ids = self._due.get(due)
        if ids is None:
            self._due[due] = [schedule_id]
            heapq.heappush(self._due_times, due)
        else:
            if ids and schedule_id > ids[-1]:  # emptied by claims, its instant not yet popped
                self._unsorted.add(due)  # sorted again before its next id is taken
            ids.append(schedule_id)
        self._due_ids += 1

    def _pop_due(self, now: datetime) -> tuple[datetime, str] | None:
        """The next (instant, id) due at `now`, taken out of the index (None: none):
        earliest first, and by id at one instant, as the SQL stores order them."""
        times = self._due_times
        while times and times[0] <= now:
            due = times[0]
            ids = self._due[due]
            if ids:
                if due in self._unsorted:
                    ids.sort(reverse=True)  # the smallest id last, where it is taken
                    self._unsorted.discard(due)
                self._due_ids -= 1
                return due, ids.pop()
            heapq.heappop(times)
            del self._due[due]
            self._unsorted.discard(due)
        return None

    def _is_current(self, due: datetime, schedule_id: str) -> Schedule | None:
        """The schedule if it is still active and due at `due` (else its id is stale).

        An id can be listed twice at one instant (a schedule moved away and back);
        once its plan raised, every entry it has is stale until its next write.
        """
        schedule = self._schedules.get(schedule_id)
        if (
            schedule is None
            or schedule.status is not _ACTIVE
            or schedule.due_at != due
            or schedule_id in self._off_due
        ):
            return None
        return schedule

    def add(self, schedule: Schedule) -> None:
        with self._lock:
            if schedule.id in self._schedules:
                raise schedule_exists(schedule.id)
            self._schedules[schedule.id] = schedule
            self._index(schedule)
        self._watchers.notify()

    def get(self, schedule_id: str) -> Schedule | None:
        with self._lock:
            return self._schedules.get(schedule_id)

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
        with self._lock:
            start: tuple[str, str] | None = None
            if after is not None:
                cursor = self._schedules.get(after)
                if cursor is None:
                    raise ValidationError(
                        "after", f"'after' is not a known id (got {shorten(after)})"
                    )
                start = _sort_key(cursor)
            chosen = [
                s
                for s in self._schedules.values()
                if (agent_id is None or s.agent_id == agent_id)
                and (status is None or s.status == status)
                and (owner is None or s.owner == owner)
                and (include_deleted or status is Status.DELETED or s.status is not Status.DELETED)
                and (start is None or _sort_key(s) > start)
            ]
        return sorted(chosen, key=_sort_key)[: max(limit, 0)]

    def update(self, schedule: Schedule, expected_version: int) -> None:
        with self._lock:
            stored = self._schedules.get(schedule.id)
            if stored is None:
                raise ScheduleNotFound(schedule.id)
            if stored.version != expected_version:
                raise ConflictError(
                    f"schedule {shorten(schedule.id)} is at version {stored.version}, "
                    f"not {expected_version}"
                )
            self._schedules[schedule.id] = schedule
            self._index(schedule, stored)
        self._watchers.notify()

    def claim_due(
        self,
        now: datetime,
        plan: ClaimPlan,
        limit: int = 100,
        lease_until: datetime | None = None,
    ) -> builtins.list[Claim]:
        claims: builtins.list[Claim] = []
        with self._lock:
            due: dict[str, tuple[datetime, str]] = {}  # each schedule once per call
            while len(due) < limit:
                entry = self._pop_due(now)
                if entry is None:
                    break
                if entry[1] not in due and self._is_current(*entry) is not None:
                    due[entry[1]] = entry
            planned = plan_claims(
                due.items(),
                lambda schedule_id, _: self._schedules[schedule_id],
                self._activity,
                plan,
                lambda schedule_id, _: self._off_due.add(schedule_id),  # until its next write
            )
            for entry, (_, replacement, runs) in planned:
                if self._insert_runs(runs, lease_until):
                    self._schedules[replacement.id] = replacement
                    claims.append((replacement, runs))
                    del due[entry[1]]
            for schedule_id, entry in due.items():  # passed over: still due
                if schedule_id not in self._off_due:
                    self._push_due(*entry)
            # indexed only now, so that one call claims each schedule at most once
            for replacement, _ in claims:
                self._index(replacement)
        return claims

    def _insert_runs(self, runs: Sequence[Run], lease_until: datetime | None) -> bool:
        """Insert `runs`, or none of them if one's id or fire is taken (False)."""
        stored, run_keys = self._runs, self._run_keys
        keys = list(map(_run_key, runs))
        for run, key in zip(runs, keys, strict=True):
            if run.id in stored or key in run_keys:
                return False
        for run, key in zip(runs, keys, strict=True):
            schedule_id = run.schedule_id
            history = self._runs_by_schedule.get(schedule_id)
            if history is None:
                history = self._runs_by_schedule[schedule_id] = {}
            history[run.id] = None
            if key is not None:
                run_keys.add(key)
            if run.status is _RUNNING:  # `_store_run` of a new running run, inline
                stored[run.id] = run
                unfinished = self._unfinished.get(schedule_id)
                if unfinished is None:
                    unfinished = self._unfinished[schedule_id] = {}
                unfinished[run.id] = run
                if lease_until is not None and run.started_at is not None:
                    self._leases[run.id] = lease_until
            else:
                self._store_run(run, lease_until)
        return True

    def _activity(self, schedule_id: str) -> Activity:
        unfinished = self._unfinished.get(schedule_id)
        occupied = len(self._occupied.get(schedule_id, ()))
        if not unfinished and not occupied:
            return _IDLE
        waiting = sum(1 for r in (unfinished or {}).values() if r.started_at is None)
        return Activity(running=len(unfinished or ()) - waiting + occupied, waiting=waiting)

    def _store_run(
        self, run: Run, lease_until: datetime | None = None, occupied: bool = False
    ) -> None:
        previous = self._runs.get(run.id)
        self._runs[run.id] = run
        if run.status is _RUNNING:
            unfinished = self._unfinished.get(run.schedule_id)
            if unfinished is None:  # not setdefault: its default dict is built on every call
                unfinished = self._unfinished[run.schedule_id] = {}
            unfinished[run.id] = run
            if lease_until is not None and run.started_at is not None:
                self._leases[run.id] = lease_until
            return
        if occupied and lease_until is not None:
            self._leases[run.id] = lease_until
            self._occupied.setdefault(run.schedule_id, set()).add(run.id)
        else:
            self._leases.pop(run.id, None)
        left = self._unfinished.get(run.schedule_id)
        if left is not None:
            left.pop(run.id, None)
            if not left:
                del self._unfinished[run.schedule_id]
        if previous is None or previous.status is _RUNNING:
            self._count_finished(run.schedule_id)

    def _count_finished(self, schedule_id: str) -> None:
        """One more finished run: drop the oldest finished ones beyond `keep_runs`."""
        count = self._finished_count.get(schedule_id, 0) + 1
        if self._keep_runs is not None and count > self._keep_runs:
            ids = self._runs_by_schedule[schedule_id]
            for run_id in ids:
                run = self._runs[run_id]
                if run.status is not _RUNNING and run_id not in self._leases:
                    break
            else:
                return  # every finished run is still occupied: nothing may go yet
            del ids[run_id]
            del self._runs[run_id]
            # next_run_at only ever moves past now, so this fire cannot come due again
            key = _run_key(run)
            if key is not None:
                self._run_keys.discard(key)
            count -= 1
        self._finished_count[schedule_id] = count

    def add_run(self, run: Run, lease_until: datetime | None = None) -> None:
        with self._lock:
            if not self._insert_runs([run], lease_until):
                raise ConflictError(f"run {shorten(run.id)} or its fire time exists already")

    def finish_runs(
        self, finishing: Sequence[Finishing], lease_until: datetime | None = None
    ) -> builtins.list[Finish | None]:
        results: builtins.list[Finish | None] = []
        with self._lock:
            folds = BatchFold(self._schedules)
            for item in finishing:
                run = item.run
                stored = self._runs.get(run.id)
                if stored is None or stored.status is not _RUNNING:
                    results.append(None)  # finished already (a timeout, a sweep), or gone
                    continue
                self._store_run(run, lease_until, item.occupied)
                schedule = folds.fold(item)
                if item.occupied:
                    results.append((schedule, None))
                    continue
                buffered = self._start_buffered(run.schedule_id, run.finished_at, lease_until)
                results.append((schedule, buffered))
            for before, after, _ in folds.changed():
                self._schedules[after.id] = after
                self._index(after, before)
        if folds.moved:  # e.g. a retry made a schedule due sooner
            self._watchers.notify()
        return results

    def _start_buffered(
        self, schedule_id: str, at: datetime | None, lease_until: datetime | None
    ) -> Run | None:
        unfinished = self._unfinished.get(schedule_id)
        if not unfinished:
            return None
        for waiting in unfinished.values():
            if waiting.started_at is None:
                started = replace(waiting, started_at=at)
                self._store_run(started, lease_until)
                return started
        return None

    def release_run(self, run_id: str, at: datetime, lease_until: datetime) -> Finish | None:
        with self._lock:
            run = self._runs.get(run_id)
            occupied = self._occupied.get(run.schedule_id) if run is not None else None
            if run is None or occupied is None or run_id not in occupied:
                return None
            occupied.discard(run_id)
            if not occupied:
                del self._occupied[run.schedule_id]
            self._leases.pop(run_id, None)
            schedule = self._schedules.get(run.schedule_id)
            return schedule, self._start_buffered(run.schedule_id, at, lease_until)

    def renew_leases(self, run_ids: Sequence[str], until: datetime) -> None:
        with self._lock:
            for run_id in run_ids:
                if run_id in self._leases:
                    self._leases[run_id] = until

    def expired_runs(self, now: datetime, limit: int = 100) -> builtins.list[Run]:
        with self._lock:
            late = sorted((until, run_id) for run_id, until in self._leases.items() if until < now)
            return [self._runs[run_id] for _, run_id in late[:limit]]

    def get_run(self, run_id: str) -> Run | None:
        with self._lock:
            return self._runs.get(run_id)

    def runs(self, schedule_id: str, limit: int = 50) -> builtins.list[Run]:
        with self._lock:
            ids = self._runs_by_schedule.get(schedule_id, {})
            return [self._runs[i] for i in itertools.islice(reversed(ids), max(limit, 0))]

    def next_due_at(self) -> datetime | None:
        with self._lock:
            times = self._due_times
            while times:
                due = times[0]
                ids = self._due[due]
                while ids and self._is_current(due, ids[-1]) is None:
                    ids.pop()
                    self._due_ids -= 1
                if ids:
                    return due
                heapq.heappop(times)
                del self._due[due]
            return None

    def watch(self, callback: Callable[[], None]) -> Callable[[], None]:
        return self._watchers.add(callback)

    def close(self) -> None:
        """Nothing to release."""
