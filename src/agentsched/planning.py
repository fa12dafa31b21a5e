"""What firing does to records: pure functions, no I/O, "now" passed in.

`plan_claim` decides, for one due schedule, which runs to write (catch-up,
missed, overlap) and how the schedule moves on; `apply_outcome` folds a
finished run back into its schedule. The stores apply both atomically.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from datetime import datetime

import attrs

from . import states
from ._datetimes import later
from .model import (
    Activity,
    Overlap,
    PendingRetry,
    Run,
    RunStatus,
    RunTrigger,
    Schedule,
    Status,
    jitter_offset,
    replace,
    updater,
)

__all__ = ["Outcome", "apply_outcome", "due_fires", "plan_claim"]


@attrs.define
class Outcome:
    """How a run ended, as the scheduler saw it. Never changed once made (not frozen
    only because a frozen attrs class takes three times as long to build, once per run).
    """

    succeeded: bool
    finished_at: datetime
    response_id: str | None = None
    output: str | None = None
    error: str | None = None
    traceback: str | None = None
    counts: bool = True
    """False for a failure that is not the agent's (its handler never started):
    it is recorded, but not counted toward `failure_count`."""


def due_fires(schedule: Schedule, now: datetime) -> tuple[list[datetime], datetime | None]:
    """Every fire due at `now` from `next_run_at` on, oldest first, and the first fire
    that is not due yet (found on the way; None when unknown or none).

    A fire `t` is due once `t` plus its jitter offset has come; none after
    `end_at` is. (`max_runs` needs no check here: a claim starts at most one
    run, and a schedule that reached it is completed.)
    """
    fires: list[datetime] = []
    t = schedule.next_run_at
    jitter = schedule.jitter
    while t is not None:
        if schedule.end_at is not None and t > schedule.end_at:
            return fires, None
        if (later(t, jitter_offset(schedule.id, t, jitter)) if jitter else t) > now:
            return fires, t
        fires.append(t)
        t = schedule.schedule.next_after(t)
    return fires, None


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
    fires, not_due = due_fires(schedule, now)
    retry = schedule.pending_retry
    if not fires and (retry is None or retry.at > now):
        return None
    return _plan_claim(schedule, activity, now, new_id, fires=fires, not_due=not_due)


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
    *,
    fires: list[datetime],
    not_due: datetime | None,
) -> tuple[Schedule, list[Run]]:
    retry = schedule.pending_retry
    changes: dict[str, object] = {"version": schedule.version + 1, "updated_at": now}
    if retry is not None:
        changes["pending_retry"] = None
    if not fires:
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
    split = bisect_left(fires, now - schedule.catchup_window)  # older ones are missed
    missed, recent = fires[:split], fires[split:]
    runs: list[Run] = []
    if missed:
        runs.append(
            _run(
                schedule,
                new_id,
                RunStatus.MISSED,
                scheduled_for=missed[-1],
                finished_at=now,
                coalesced=len(missed),
            )
        )
    started = 0
    if recent:
        run = _admit(
            schedule, activity, now, new_id, scheduled_for=recent[-1], coalesced=len(recent)
        )
        runs.append(run)
        if run.status is RunStatus.RUNNING:
            started = 1
            if run.started_at is not None:
                changes.update(last_run_at=now, last_run_id=run.id)
    count = schedule.run_count + started
    changes["run_count"] = count
    if schedule.max_runs is None and schedule.end_at is None:
        upcoming = not_due  # what next_fire_for would find, already known
    else:
        upcoming = states.next_fire_for(schedule, fires[-1], run_count=count)
    if upcoming is None:
        changes.update(states.moved_on(schedule, None))
    else:
        changes["next_run_at"] = upcoming  # still active
    return replace(schedule, **changes), runs


def apply_outcome(schedule: Schedule, run: Run, outcome: Outcome) -> Schedule:
    """The schedule after one of its runs ended.

    Success resets `failure_count` and `last_error`, and for a `stateful`
    schedule makes the returned `response_id` the next `previous_response_id`.
    A failed scheduled run with attempts left under the schedule's `retry`
    leaves a pending retry (reactivating a schedule that had completed on this
    fire) and stores `last_error`, without counting: only the last attempt's
    failure counts toward `failure_count`, and `pause_after_failures`
    consecutive counted failures pause an active schedule. A deleted
    schedule, or one the run changes nothing in, is returned as it is.
    """
    if schedule.status is Status.DELETED or (
        # the common case, checked first: a success that the claim already recorded
        outcome.succeeded
        and schedule.last_run_id == run.id
        and schedule.failure_count == 0
        and schedule.last_error is None
        and (run.started_at is None or schedule.last_run_at == run.started_at)
        and not (schedule.stateful and outcome.response_id is not None)
    ):
        return schedule
    now = outcome.finished_at
    changes: dict[str, object] = {"last_run_id": run.id}
    if run.started_at is not None:
        changes["last_run_at"] = run.started_at
    if outcome.succeeded:
        changes.update(failure_count=0, last_error=None)
        if schedule.stateful and outcome.response_id is not None:
            changes["previous_response_id"] = outcome.response_id
    elif _retries(schedule, run, outcome):
        assert schedule.retry is not None and run.scheduled_for is not None
        at = later(now, schedule.retry.delay(run.attempt))
        changes.update(
            last_error=outcome.error,
            pending_retry=PendingRetry(run.attempt + 1, run.scheduled_for, at),
            status=Status.ACTIVE,
        )
    elif outcome.counts:
        changes.update(failure_count=schedule.failure_count + 1, last_error=outcome.error)
    if all(getattr(schedule, name) == value for name, value in changes.items()):
        return schedule  # nothing to record: no new version, no write
    updated = replace(schedule, version=schedule.version + 1, updated_at=now, **changes)
    limit = updated.pause_after_failures
    if limit is not None and updated.failure_count >= limit and updated.status is Status.ACTIVE:
        return states.pause(updated, now)
    return updated


def _retries(schedule: Schedule, run: Run, outcome: Outcome) -> bool:
    """Whether a failed run gets another attempt: a scheduled run of a schedule that is
    still live (not paused), with attempts left, that failed through its agent."""
    retry = schedule.retry
    return (
        retry is not None
        and outcome.counts
        and run.trigger is RunTrigger.SCHEDULE
        and run.scheduled_for is not None
        and run.attempt < retry.attempts
        and schedule.status in (Status.ACTIVE, Status.COMPLETED)
    )
