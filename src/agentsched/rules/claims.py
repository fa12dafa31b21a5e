"""What a claim does to a due schedule: pure functions, no I/O, "now" passed in.

`plan_claim` decides, for one due schedule, which runs to write (catch-up,
missed, overlap) and how the schedule moves on; a store applies the plan
atomically with the claim (`outcomes` folds a finished run back in).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import NamedTuple

from .._instants import later
from ..model import (
    Activity,
    Overlap,
    Run,
    RunStatus,
    RunTrigger,
    Schedule,
    Status,
    jitter_offset,
    replace,
    updater,
)
from ..model.specs import Spec
from . import states

__all__ = ["CATCHUP_WALK_LIMIT", "DueFires", "due_fires", "plan_claim"]

_INSTANT = timedelta(microseconds=1)


CATCHUP_WALK_LIMIT = 1000
"""Fires counted one by one, per catch-up region, for a spec that cannot count them."""


class DueFires(NamedTuple):
    """What is due at a claim: fires older than `catchup_window` (`missed`, the last
    of them `last_missed`), fires within it (`recent`, `last_recent`), and the first
    fire not due yet (None when there is none, or when `end_at` ends the schedule)."""

    missed: int
    last_missed: datetime | None
    recent: int
    last_recent: datetime | None
    not_due: datetime | None

    @property
    def last(self) -> datetime | None:
        """The last due fire."""
        return self.last_recent or self.last_missed


def due_fires(schedule: Schedule, now: datetime) -> DueFires:
    """The fires due at `now` from `next_run_at` on, on either side of `catchup_window`,
    and the first fire that is not due yet.

    A fire `t` is due once `t` plus its jitter offset has come; none after
    `end_at` is. (`max_runs` needs no check here: a claim starts at most one
    run, and a schedule that reached it is completed.) The cost does not grow
    with the downtime: every fire up to `now - jitter` (and `end_at`) is due
    whatever its offset, and those are counted (`_fires_in`), on either side of
    `now - catchup_window`; only the fires of the last `jitter` are looked at one
    by one, up to the first that is not due.
    """
    t = schedule.next_run_at
    if t is None:
        return DueFires(0, None, 0, None, None)
    spec = schedule.schedule
    jitter = schedule.jitter
    end_at = schedule.end_at
    split = now - schedule.catchup_window  # fires before it are missed
    sure = now - jitter if jitter else now  # fires up to it are due, whatever their offset
    if end_at is not None and end_at < sure:
        sure = end_at
    missed = recent = 0
    last_missed = last_recent = None
    if t <= sure:  # t and the fires up to `sure` are due: counted, not stepped through
        count, last = _fires_in(spec, t, min(sure, split - _INSTANT) if t < split else sure)
        last_due = last or t
        if t < split:
            missed, last_missed = count + 1, last_due
            if sure >= split:
                recent, last_recent = _fires_in(spec, last_due, sure)
                last_due = last_recent or last_due
        else:
            recent, last_recent = count + 1, last_due
        t = spec.next_after(last_due)
    while t is not None:  # the fires of the last `jitter`, one by one
        if end_at is not None and t > end_at:
            return DueFires(missed, last_missed, recent, last_recent, None)
        if (later(t, jitter_offset(schedule.id, t, jitter)) if jitter else t) > now:
            return DueFires(missed, last_missed, recent, last_recent, t)
        if t < split:
            missed, last_missed = missed + 1, t
        else:
            recent, last_recent = recent + 1, t
        t = spec.next_after(t)
    return DueFires(missed, last_missed, recent, last_recent, None)


def _fires_in(spec: Spec, after: datetime, until: datetime) -> tuple[int, datetime | None]:
    """How many fires come after `after` up to `until` included, and the last of them.

    Counted by the spec where it can (`count_fires`: Interval, Once, Cron, and
    RRULEs of fixed periods without day filters), exactly. Otherwise stepped
    through, at most `CATCHUP_WALK_LIMIT` fires: past that, the count is a lower
    bound and the last fire is found by bisection.
    """
    if until <= after:
        return 0, None
    counted = spec.count_fires(after, until)
    if counted is not None:
        return counted
    count, last = 0, None
    t = spec.next_after(after)
    while t is not None and t <= until:
        count, last = count + 1, t
        if count == CATCHUP_WALK_LIMIT:
            final = _last_fire(spec, t, until)
            return count + (final > t), final
        t = spec.next_after(t)
    return count, last


def _last_fire(spec: Spec, fire: datetime, until: datetime) -> datetime:
    """The last fire up to `until`, from a fire before it, by bisection on instants:
    about 40 `next_after` calls however many fires lie between."""
    low, high = fire, until  # `low` is a fire; no fire lies in (high, until]
    while True:
        following = spec.next_after(low)
        if following is None or following > high:
            return low
        middle = low + (high - low) / 2
        found = spec.next_after(middle)
        if found is not None and found <= high:
            low = found
        else:
            high = middle


_RUN_TEMPLATE = Run(
    id="run_template",
    schedule_id="sched_template",
    agent_id="agent",
    status=RunStatus.RUNNING,
    trigger=RunTrigger.SCHEDULE,
)


def _run(schedule: Schedule, new_id: Callable[[], str], status: RunStatus, **fields: object) -> Run:
    # every value comes from the validated schedule, the clock or our own counts
    fields["id"] = new_id()
    fields["schedule_id"] = schedule.id
    fields["agent_id"] = schedule.agent_id
    fields["owner"] = schedule.owner
    fields["status"] = status
    return replace(_RUN_TEMPLATE, **fields)


def _admit(
    schedule: Schedule,
    activity: Activity,
    now: datetime,
    new_id: Callable[[], str],
    **fields: object,
) -> Run:
    """The run for a fire (or a retry), following `overlap` when runs are unfinished:
    SKIP records it `skipped`; BUFFER_ONE writes it `running` but not started (or skips
    it when one already waits); ALLOW_ALL starts it."""
    if not (activity.running or activity.waiting) or schedule.overlap is Overlap.ALLOW_ALL:
        fields["started_at"] = now
        return _run(schedule, new_id, RunStatus.RUNNING, **fields)
    if schedule.overlap is Overlap.BUFFER_ONE and activity.waiting == 0:
        return _run(schedule, new_id, RunStatus.RUNNING, **fields)
    fields["finished_at"] = now
    return _run(schedule, new_id, RunStatus.SKIPPED, **fields)


def plan_claim(
    schedule: Schedule, activity: Activity, now: datetime, new_id: Callable[[], str]
) -> tuple[Schedule, list[Run]] | None:
    """The claim of a due active schedule: its replacement and the runs to insert.

    - Fires older than `catchup_window` become one `missed` run standing for
      all of them (`coalesced`), dated at the latest of them.
    - Fires within the window become one run for the latest of them, admitted
      by the overlap policy (`_admit`).
    - The schedule moves to its first fire not yet due, or completes.
    - With no fire due, a pending retry whose time has come becomes its next
      attempt (same `scheduled_for`, `attempt` + 1), admitted the same way.
      A fire that comes due first supersedes a pending retry, whose fire's
      failure then counts as final.
    Returns None when nothing is due.
    """
    fire = schedule.next_run_at
    if (
        fire is not None
        and fire <= now
        and not schedule.jitter
        and schedule.pending_retry is None
        and schedule.max_runs is None
        and schedule.end_at is None
        and not (activity.running or activity.waiting)
        and now - fire <= schedule.catchup_window
    ):
        upcoming = schedule.schedule.next_after(fire)
        if upcoming is None or upcoming > now:
            return _claim_one_fire(schedule, fire, upcoming, now, new_id())
    due = due_fires(schedule, now)
    retry = schedule.pending_retry
    if due.last is None and (retry is None or retry.at > now):
        return None
    return _plan_claim(schedule, activity, now, new_id, due)


_start_run = updater(Run, "id", "schedule_id", "agent_id", "owner", "scheduled_for", "started_at")
_move_on = updater(
    Schedule, "version", "updated_at", "last_run_at", "last_run_id", "run_count", "next_run_at"
)
_complete = updater(
    Schedule,
    "version",
    "updated_at",
    "last_run_at",
    "last_run_id",
    "run_count",
    "next_run_at",
    "status",
)


def _claim_one_fire(
    schedule: Schedule, fire: datetime, upcoming: datetime | None, now: datetime, run_id: str
) -> tuple[Schedule, list[Run]]:
    """`plan_claim`'s most common case, spelled out: one fire within the window, no
    retry pending, nothing running, no jitter, `max_runs` or `end_at` to look at."""
    run = _start_run(
        _RUN_TEMPLATE, run_id, schedule.id, schedule.agent_id, schedule.owner, fire, now
    )
    version, count = schedule.version + 1, schedule.run_count + 1
    if upcoming is None:
        replacement = _complete(schedule, version, now, now, run_id, count, None, Status.COMPLETED)
    else:
        replacement = _move_on(schedule, version, now, now, run_id, count, upcoming)
    return replacement, [run]


def _plan_claim(
    schedule: Schedule,
    activity: Activity,
    now: datetime,
    new_id: Callable[[], str],
    due: DueFires,
) -> tuple[Schedule, list[Run]]:
    retry = schedule.pending_retry
    changes: dict[str, object] = {"version": schedule.version + 1, "updated_at": now}
    if retry is not None:
        changes["pending_retry"] = None
    last_due = due.last
    if last_due is None:
        assert retry is not None
        run = _admit(
            schedule,
            activity,
            now,
            new_id,
            scheduled_for=retry.scheduled_for,
            attempt=retry.attempt,
        )
        if run.status is RunStatus.SKIPPED:  # the retry cannot run: the failure stands
            changes["failure_count"] = schedule.failure_count + 1
        elif run.started_at is not None:
            changes.update(last_run_at=now, last_run_id=run.id)
        if schedule.next_run_at is None:  # the retry of a last fire: completed once it ran
            changes.update(states.moved_on(schedule, None))
        return replace(schedule, **changes), [run]
    if retry is not None:
        changes["failure_count"] = schedule.failure_count + 1
    runs: list[Run] = []
    if due.missed:
        runs.append(
            _run(
                schedule,
                new_id,
                RunStatus.MISSED,
                scheduled_for=due.last_missed,
                finished_at=now,
                coalesced=due.missed,
            )
        )
    started = 0
    if due.recent:
        run = _admit(
            schedule,
            activity,
            now,
            new_id,
            scheduled_for=due.last_recent,
            coalesced=due.recent,
        )
        runs.append(run)
        if run.status is RunStatus.RUNNING:
            started = 1
            if run.started_at is not None:
                changes.update(last_run_at=now, last_run_id=run.id)
    count = schedule.run_count + started
    changes["run_count"] = count
    if schedule.max_runs is None and schedule.end_at is None:
        upcoming = due.not_due  # what next_fire_for would find, already known
    else:
        upcoming = states.next_fire_for(schedule, last_due, run_count=count)
    if upcoming is None:
        changes.update(states.moved_on(schedule, None))
    else:
        changes["next_run_at"] = upcoming  # still active
    return replace(schedule, **changes), runs
