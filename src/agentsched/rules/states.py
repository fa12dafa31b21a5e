"""The schedule state machine: pure functions, no I/O, "now" passed in.

Statuses: active, paused, completed, deleted (docs/concepts.md, "States").

| from \\ event | pause  | resume                 | exhausted | delete  | update (new spec)       |
|--------------|--------|------------------------|-----------|---------|-------------------------|
| active       | paused | no-op                  | completed | deleted | next recomputed         |
| paused       | no-op  | active, next from now  | -         | deleted | stays paused            |
| completed    | error  | error                  | -         | deleted | active if it fires again|
| deleted      | not found in every case                                                      |

Every real transition bumps `version` and `updated_at`; a no-op returns the
record unchanged. A paused schedule has no `next_run_at`: resuming computes
it from now, so the paused period is never back-filled.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from ..errors import InvalidTransition, ScheduleNotFound, ValidationError, shorten
from ..model import Schedule, Status, replace
from ..model.fields import UPDATABLE
from ..model.specs import Cron, Interval, Spec

__all__ = [
    "UPDATABLE",
    "UPDATABLE_FIELDS",
    "activate",
    "bind_spec",
    "delete",
    "moved_on",
    "next_fire_for",
    "pause",
    "resume",
    "update",
]

UPDATABLE_FIELDS = frozenset(UPDATABLE)  # the table's (model/fields.py)
_TIMING_FIELDS = frozenset({"schedule", "max_runs", "end_at"})


def bind_spec(
    spec: Spec, schedule_id: str, now: datetime, keep_phase_of: Spec | None = None
) -> Spec:
    """Fill in what a spec leaves to its schedule: `H`'s hash key (the schedule id), an
    interval's phase (now, or that of the interval it replaces, `keep_phase_of`)."""
    if isinstance(spec, Cron) and spec.hash_key is None:
        return Cron(spec.expression, spec.timezone, hash_key=schedule_id)
    if isinstance(spec, Interval) and spec.start_at is None:
        if isinstance(keep_phase_of, Interval) and keep_phase_of.start_at is not None:
            return Interval(spec.every, start_at=keep_phase_of.start_at)
        return Interval(spec.every, start_at=now)
    return spec


def next_fire_for(
    schedule: Schedule, after: datetime, run_count: int | None = None
) -> datetime | None:
    """The schedule's next fire strictly after `after`, honouring `max_runs` and `end_at`:
    the one rule for when a schedule is exhausted.

    `run_count` overrides the schedule's own (a claim that is about to count a run).
    """
    count = schedule.run_count if run_count is None else run_count
    if schedule.max_runs is not None and count >= schedule.max_runs:
        return None
    found = schedule.schedule.next_after(after)
    if found is None or (schedule.end_at is not None and found > schedule.end_at):
        return None
    return found


def moved_on(schedule: Schedule, upcoming: datetime | None) -> dict[str, Any]:
    """The changes that point a schedule at its next fire: active with `next_run_at`
    if there is one, else completed (exhausted: no next fire, `max_runs` or `end_at`)."""
    if upcoming is None:
        return {"status": Status.COMPLETED, "next_run_at": None}
    return {"status": Status.ACTIVE, "next_run_at": upcoming}


def activate(schedule: Schedule, now: datetime) -> Schedule:
    """A new schedule, pointed at its first fire after `now` (completed if it has none)."""
    return replace(schedule, **moved_on(schedule, next_fire_for(schedule, now)))


def _bump(record: Schedule, now: datetime, **changes: Any) -> Schedule:
    """A transition with trusted values (no user input): no re-validation needed."""
    return replace(record, version=record.version + 1, updated_at=now, **changes)


def _not_deleted(schedule: Schedule) -> None:
    if schedule.status is Status.DELETED:
        raise ScheduleNotFound(schedule.id)


def pause(schedule: Schedule, now: datetime) -> Schedule:
    """active -> paused; paused is a no-op; completed is an `InvalidTransition`."""
    _not_deleted(schedule)
    if schedule.status is Status.PAUSED:
        return schedule
    if schedule.status is Status.COMPLETED:
        raise InvalidTransition(f"schedule {schedule.id} is completed and cannot be paused")
    return _bump(
        schedule, now, status=Status.PAUSED, paused_at=now, next_run_at=None, pending_retry=None
    )


def resume(schedule: Schedule, now: datetime) -> Schedule:
    """paused -> active with the next fire after now (completed if none); active is a no-op."""
    _not_deleted(schedule)
    if schedule.status is Status.ACTIVE:
        return schedule
    if schedule.status is Status.COMPLETED:
        raise InvalidTransition(f"schedule {schedule.id} is completed and cannot be resumed")
    return _bump(schedule, now, paused_at=None, **moved_on(schedule, next_fire_for(schedule, now)))


def delete(schedule: Schedule, now: datetime) -> Schedule:
    """Soft delete from any live status; the record stays with `deleted_at`."""
    _not_deleted(schedule)
    return _bump(
        schedule,
        now,
        status=Status.DELETED,
        deleted_at=now,
        next_run_at=None,
        paused_at=None,
        pending_retry=None,
    )


def update(schedule: Schedule, now: datetime, changes: Mapping[str, Any]) -> Schedule:
    """Apply PATCH-like `changes`; recompute the next fire when timing fields change.

    A spec passed here must already be bound (`bind_spec`). An active schedule
    with no next fire becomes completed; a completed one whose new timing
    fires again becomes active; a paused one stays paused. Raises
    `ValidationError` for a field that cannot be updated or a bad value.
    """
    _not_deleted(schedule)
    for key in changes:
        if key not in UPDATABLE_FIELDS:
            allowed = ", ".join(sorted(UPDATABLE_FIELDS))
            raise ValidationError(key, f"{shorten(key)} cannot be updated (updatable: {allowed})")
    if all(getattr(schedule, key) == value for key, value in changes.items()):
        return schedule
    # user-supplied values: validated by attrs.evolve
    updated = attrs.evolve(schedule, version=schedule.version + 1, updated_at=now, **changes)
    if _TIMING_FIELDS.isdisjoint(changes) or updated.status is Status.PAUSED:
        return updated
    return replace(updated, **moved_on(updated, next_fire_for(updated, now)))
