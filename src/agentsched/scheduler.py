"""`Scheduler`: the facade an app talks to — create, read, change schedules.

Every call is scoped by `owner` when one is given: another owner's schedule
is `ScheduleNotFound`, exactly like one that never existed. Writes go through
the pure state machine and the store's optimistic concurrency; a write that
races with another (say, the firing loop advancing `next_run_at`) is
re-applied to the fresh record.
"""

from __future__ import annotations

import builtins
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import attrs

from . import states
from .clock import Clock, SystemClock
from .errors import ConflictError, ScheduleNotFound, ValidationError, shorten
from .model import Overlap, Schedule, Status
from .specs import SPEC_TYPES, Spec
from .stores.base import Store
from .stores.memory import MemoryStore

__all__ = ["Scheduler", "new_id"]

_MAX_PAGE = 1000
_MAX_UPCOMING = 1000
_WRITE_ATTEMPTS = 10


def new_id(prefix: str) -> str:
    """A unique, URL-safe id such as `sched_3q2X...`."""
    return f"{prefix}_{secrets.token_urlsafe(15)}"


def _check_limit(field: str, value: object, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise ValidationError(
            field, f"{field!r} must be a whole number 1-{high} (got {shorten(value)})"
        )
    return value


class Scheduler:
    """Keeps schedules in a store and (from `start()` or `tick()`) fires them.

    `store` defaults to a `MemoryStore`, `clock` to the system clock. The
    handler and executor are used by the firing loop.
    """

    def __init__(
        self,
        store: Store | None = None,
        handler: Callable[..., Any] | None = None,
        executor: Any = None,
        clock: Clock | None = None,
    ) -> None:
        self.store: Store = store if store is not None else MemoryStore()
        self.handler = handler
        self.executor = executor
        self.clock: Clock = clock if clock is not None else SystemClock()

    # -- reading -------------------------------------------------------------

    def get(
        self, schedule_id: str, owner: str | None = None, include_deleted: bool = False
    ) -> Schedule:
        """The schedule, or `ScheduleNotFound` (deleted ones only with `include_deleted`)."""
        if not isinstance(schedule_id, str):
            raise ScheduleNotFound(str(schedule_id))
        schedule = self.store.get(schedule_id)
        if (
            schedule is None
            or (owner is not None and schedule.owner != owner)
            or (schedule.status is Status.DELETED and not include_deleted)
        ):
            raise ScheduleNotFound(schedule_id)
        return schedule

    def list(
        self,
        agent_id: str | None = None,
        *,
        status: Status | str | None = None,
        owner: str | None = None,
        limit: int = 100,
        after: str | None = None,
        include_deleted: bool = False,
    ) -> builtins.list[Schedule]:
        """Schedules sorted by name then id; `after` is the last id of the previous page."""
        _check_limit("limit", limit, _MAX_PAGE)
        wanted: Status | None = None
        if status is not None:
            try:
                wanted = Status(status)
            except ValueError:
                raise ValidationError(
                    "status",
                    f"'status' must be one of {', '.join(s.value for s in Status)} "
                    f"(got {shorten(status)})",
                ) from None
        if after is not None:
            self.get(after, owner=owner, include_deleted=True)  # the cursor must be visible
        return self.store.list(
            agent_id=agent_id,
            status=wanted,
            owner=owner,
            include_deleted=include_deleted,
            limit=limit,
            after=after,
        )

    def upcoming(
        self, schedule_id: str, n: int = 5, owner: str | None = None
    ) -> builtins.list[datetime]:
        """The next `n` fire times: from `next_run_at` if active; from now if paused."""
        _check_limit("n", n, _MAX_UPCOMING)
        schedule = self.get(schedule_id, owner=owner)
        if schedule.status is Status.COMPLETED:
            return []
        remaining = n
        if schedule.max_runs is not None:
            remaining = min(n, schedule.max_runs - schedule.run_count)
        times: builtins.list[datetime] = []
        t = schedule.next_run_at if schedule.status is Status.ACTIVE else None
        if t is None:
            t = states.next_fire_for(schedule, self.clock.now())
        while t is not None and len(times) < remaining:
            times.append(t)
            t = schedule.schedule.next_after(t)
            if t is not None and schedule.end_at is not None and t > schedule.end_at:
                t = None
        return times

    # -- writing -------------------------------------------------------------

    def create(
        self,
        *,
        agent_id: str,
        schedule: Spec,
        input: str,
        name: str | None = None,
        owner: str | None = None,
        metadata: dict[str, str] | None = None,
        conversation: str | None = None,
        previous_response_id: str | None = None,
        stateful: bool = False,
        overlap: Overlap | str = Overlap.SKIP,
        catchup_window: timedelta = timedelta(hours=1),
        max_runs: int | None = None,
        end_at: datetime | None = None,
        pause_after_failures: int | None = None,
        timeout: timedelta | None = None,
    ) -> Schedule:
        """Validate and store a new active schedule (completed at once if it never fires)."""
        now = self.clock.now()
        schedule_id = new_id("sched")
        record = Schedule(
            id=schedule_id,
            agent_id=agent_id,
            owner=owner,
            name=name,
            schedule=states.bind_spec(schedule, schedule_id, now)
            if isinstance(schedule, SPEC_TYPES)
            else schedule,
            input=input,
            conversation=conversation,
            previous_response_id=previous_response_id,
            metadata=metadata,
            stateful=stateful,
            overlap=overlap,
            catchup_window=catchup_window,
            max_runs=max_runs,
            end_at=end_at,
            pause_after_failures=pause_after_failures,
            timeout=timeout,
            created_at=now,
            updated_at=now,
        )
        upcoming = states.next_fire_for(record, now)
        status = Status.ACTIVE if upcoming is not None else Status.COMPLETED
        record = attrs.evolve(record, next_run_at=upcoming, status=status)
        self.store.add(record)
        return record

    def update(self, schedule_id: str, owner: str | None = None, **changes: Any) -> Schedule:
        """PATCH-like update; recomputes `next_run_at` when the timing changes."""

        def apply(schedule: Schedule, now: datetime) -> Schedule:
            bound = dict(changes)
            if "schedule" in bound and isinstance(bound["schedule"], SPEC_TYPES):
                bound["schedule"] = states.bind_spec(bound["schedule"], schedule.id, now)
            return states.update(schedule, now, bound)

        return self._write(schedule_id, owner, apply)

    def pause(self, schedule_id: str, owner: str | None = None) -> Schedule:
        """Stop firing until `resume`; a no-op if already paused."""
        return self._write(schedule_id, owner, states.pause)

    def resume(self, schedule_id: str, owner: str | None = None) -> Schedule:
        """Fire again from the next time after now; the paused period is not back-filled."""
        return self._write(schedule_id, owner, states.resume)

    def delete(self, schedule_id: str, owner: str | None = None) -> Schedule:
        """Soft delete: hidden from `get`/`list` unless asked for, never fires again."""
        return self._write(schedule_id, owner, states.delete)

    def _write(
        self, schedule_id: str, owner: str | None, change: Callable[[Schedule, datetime], Schedule]
    ) -> Schedule:
        for _ in range(_WRITE_ATTEMPTS):
            current = self.get(schedule_id, owner=owner)
            updated = change(current, self.clock.now())
            if updated is current:
                return current
            try:
                self.store.update(updated, expected_version=current.version)
            except ConflictError:
                continue
            return updated
        raise ConflictError(
            f"schedule {shorten(schedule_id)} kept changing; gave up after {_WRITE_ATTEMPTS} tries"
        )
