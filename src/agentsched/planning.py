"""What firing does to records: pure functions, no I/O, "now" passed in.

`plan_claim` decides, for one due schedule, which runs to write (catch-up,
missed, overlap) and how the schedule moves on; `apply_outcome` folds a
finished run back into its schedule. The stores apply both atomically.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import attrs

from . import states
from .model import Activity, Overlap, Run, RunStatus, RunTrigger, Schedule, Status, replace

__all__ = ["Outcome", "apply_outcome", "due_fires", "plan_claim"]


@attrs.frozen
class Outcome:
    """How a run ended, as the scheduler saw it."""

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
    """Every fire time from `next_run_at` up to and including `now`, oldest first,
    and the spec's first fire after `now` (found on the way).

    Honours `max_runs` (counting the fires listed) and `end_at` for the list.
    """
    fires: list[datetime] = []
    t = schedule.next_run_at
    remaining = None if schedule.max_runs is None else schedule.max_runs - schedule.run_count
    while t is not None and t <= now and (remaining is None or len(fires) < remaining):
        if schedule.end_at is not None and t > schedule.end_at:
            break
        fires.append(t)
        t = schedule.schedule.next_after(t)
    return fires, (t if t is not None and t > now else None)


_RUN_TEMPLATE = Run(
    id="run_template",
    schedule_id="sched_template",
    agent_id="agent",
    status=RunStatus.RUNNING,
    trigger=RunTrigger.SCHEDULE,
)


def _run(schedule: Schedule, new_id: Callable[[], str], status: RunStatus, **fields: object) -> Run:
    # every value comes from the validated schedule, the clock or our own counts
    return replace(
        _RUN_TEMPLATE,
        id=new_id(),
        schedule_id=schedule.id,
        agent_id=schedule.agent_id,
        owner=schedule.owner,
        status=status,
        **fields,
    )


def plan_claim(
    schedule: Schedule, activity: Activity, now: datetime, new_id: Callable[[], str]
) -> tuple[Schedule, list[Run]] | None:
    """The claim of a due active schedule: its replacement and the runs to insert.

    - Fires older than `catchup_window` become one `missed` run standing for
      all of them (`coalesced`), dated at the latest of them.
    - Fires within the window become one run for the latest of them.
    - That run follows `overlap` when runs are unfinished: SKIP records it
      `skipped`; BUFFER_ONE writes it `running` but not started (or skips it
      when one already waits); ALLOW_ALL starts it.
    - The schedule moves to its first fire after `now`, or completes.
    Returns None when nothing is due.
    """
    fires, after_now = due_fires(schedule, now)
    if not fires:
        return None
    missed = [f for f in fires if now - f > schedule.catchup_window]
    recent = fires[len(missed) :]
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
        fields: dict[str, object] = {"scheduled_for": recent[-1], "coalesced": len(recent)}
        busy = activity.running + activity.waiting > 0
        if not busy or schedule.overlap is Overlap.ALLOW_ALL:
            runs.append(_run(schedule, new_id, RunStatus.RUNNING, started_at=now, **fields))
            started = 1
        elif schedule.overlap is Overlap.BUFFER_ONE and activity.waiting == 0:
            runs.append(_run(schedule, new_id, RunStatus.RUNNING, **fields))
            started = 1
        else:
            runs.append(_run(schedule, new_id, RunStatus.SKIPPED, finished_at=now, **fields))
    count = schedule.run_count + started
    changes: dict[str, object] = {
        "run_count": count,
        "version": schedule.version + 1,
        "updated_at": now,
    }
    if started and runs[-1].started_at is not None:
        changes.update(last_run_at=now, last_run_id=runs[-1].id)
    if after_now is not None and schedule.max_runs is None and schedule.end_at is None:
        upcoming: datetime | None = after_now  # what next_fire_for would find, already known
    else:
        upcoming = states.next_fire_for(schedule, now, run_count=count)
    changes.update(states.moved_on(schedule, upcoming))
    return replace(schedule, **changes), runs


def apply_outcome(schedule: Schedule, run: Run, outcome: Outcome) -> Schedule:
    """The schedule after one of its runs ended.

    Success resets `failure_count` and `last_error`, and for a `stateful`
    schedule makes the returned `response_id` the next `previous_response_id`.
    Failure counts up and stores `last_error`; `pause_after_failures`
    consecutive failures pause an active schedule. A deleted schedule, or
    one the run changes nothing in, is returned as it is.
    """
    if schedule.status is Status.DELETED:
        return schedule
    now = outcome.finished_at
    changes: dict[str, object] = {"last_run_id": run.id}
    if run.started_at is not None:
        changes["last_run_at"] = run.started_at
    if outcome.succeeded:
        changes.update(failure_count=0, last_error=None)
        if schedule.stateful and outcome.response_id is not None:
            changes["previous_response_id"] = outcome.response_id
    elif outcome.counts:
        changes.update(failure_count=schedule.failure_count + 1, last_error=outcome.error)
    if all(getattr(schedule, name) == value for name, value in changes.items()):
        return schedule  # nothing to record: no new version, no write
    updated = replace(schedule, version=schedule.version + 1, updated_at=now, **changes)
    limit = updated.pause_after_failures
    if limit is not None and updated.failure_count >= limit and updated.status is Status.ACTIVE:
        return states.pause(updated, now)
    return updated
