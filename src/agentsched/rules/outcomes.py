"""What a finished run does to its schedule: pure functions, no I/O, "now" passed in.

`apply_outcome` folds an `Outcome` (how the run ended, as the scheduler saw
it) into the schedule: counters, the last error, a pending retry, response
chaining, and auto-pause after consecutive failures. A store applies it in
the transaction that records the run.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from .._instants import later
from ..model import PendingRetry, Run, RunTrigger, Schedule, Status, replace
from . import states

__all__ = ["Outcome", "apply_outcome"]


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
