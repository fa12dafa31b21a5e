"""`SchedulerBase`: what `Scheduler` and `AsyncScheduler` share, written once.

Argument checks, CRUD through the pure state machine and the store's
optimistic concurrency, reads, and the firing engine. It does store I/O but
never waits on its own: `Scheduler` calls it directly, `AsyncScheduler`
from a worker thread, so that the two can never drift apart.

Every call is scoped by `owner` when one is given: another owner's schedule
is `ScheduleNotFound`, exactly like one that never existed. A write that
races with another (say, the firing loop advancing `next_run_at`) is
re-applied to the fresh record.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from . import states
from ._validate import check_text
from .clock import Clock, SystemClock
from .engine import Engine, Launcher
from .errors import AgentschedError, ConflictError, ScheduleNotFound, ValidationError, shorten
from .handlers import Handler
from .ids import new_id
from .model import MAX_ID, Overlap, Run, Schedule, Status
from .specs import SPEC_TYPES, Spec
from .stores.base import Store
from .stores.memory import MemoryStore
from .stores.urls import store_from_url

__all__ = ["SchedulerBase"]

_MAX_PAGE = 1000
_MAX_UPCOMING = 1000
_WRITE_ATTEMPTS = 10
_MAX_RUNS_PAGE = 1000


def _check_key(field: str, value: str | None) -> None:
    """A lookup value (id, owner, filter) must be text a store can hold, or None."""
    if value is not None:
        check_text(field, value, 0, MAX_ID)


def _check_limit(field: str, value: object, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise ValidationError(
            field, f"{field!r} must be a whole number 1-{high} (got {shorten(value)})"
        )
    return value


class SchedulerBase:
    """Schedules in a store, and the engine that fires them (see `Scheduler`)."""

    def __init__(
        self,
        store: Store | None,
        handler: Handler | None,
        clock: Clock | None,
        lease: timedelta,
        *,
        launch: Launcher,
        wake: Callable[[], None],
    ) -> None:
        self.store: Store = store if store is not None else MemoryStore()
        self.handler = handler
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.engine = Engine(self.store, launch, lease, wake)

    # -- reading -------------------------------------------------------------

    def get(
        self, schedule_id: str, owner: str | None = None, include_deleted: bool = False
    ) -> Schedule:
        """The schedule, or `ScheduleNotFound` (deleted ones only with `include_deleted`)."""
        if not isinstance(schedule_id, str):
            raise ScheduleNotFound(str(schedule_id))
        _check_key("id", schedule_id)
        _check_key("owner", owner)
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
        """Schedules sorted by name then id; `after` is the last id of the previous page.

        An `after` that is not a schedule this caller can see is a
        `ValidationError` naming `after`, as in every store.
        """
        _check_limit("limit", limit, _MAX_PAGE)
        _check_key("agent_id", agent_id)
        _check_key("owner", owner)
        _check_key("after", after)
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
            cursor = self.store.get(after)
            if cursor is None or (owner is not None and cursor.owner != owner):
                raise ValidationError("after", f"'after' is not a known id (got {shorten(after)})")
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
            t = states.next_fire_for(schedule, t, run_count=schedule.run_count + len(times))
        return times

    def runs(
        self, schedule_id: str, limit: int = 50, owner: str | None = None
    ) -> builtins.list[Run]:
        """The schedule's runs, newest first (deleted schedules included)."""
        _check_limit("limit", limit, _MAX_RUNS_PAGE)
        self.get(schedule_id, owner=owner, include_deleted=True)
        return self.store.runs(schedule_id, limit=limit)

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
        record = states.activate(record, now)
        self.store.add(record)
        return record

    def update(self, /, schedule_id: str, owner: str | None = None, **changes: Any) -> Schedule:
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

    @classmethod
    def from_url(cls, url: str, **options: Any) -> Any:
        """A scheduler over the store a URL names.

        `sqlite:///relative/path.db`, `sqlite:////absolute/path.db`,
        `memory://`, or `postgresql://...` (needs the `postgres` extra).
        Other keyword arguments go to the scheduler.
        """
        return cls(store=store_from_url(url), **options)

    # -- firing --------------------------------------------------------------

    def require_handler(self) -> None:
        """Firing needs something to call: refuse early, with a clear error."""
        if self.handler is None:
            raise AgentschedError("this scheduler has no handler; pass handler= to fire runs")

    def handler_for(self, schedule: Schedule) -> Handler | None:
        """The handler that runs `schedule`'s agent."""
        return self.handler

    def trigger(self, schedule_id: str, owner: str | None = None) -> Run:
        """Run a schedule's agent now, outside its spec; it does not count toward `max_runs`.

        Returns the run as started (`running`), or as finished when the
        executor is an `InlineExecutor`.
        """
        self.require_handler()
        schedule = self.get(schedule_id, owner=owner)
        return self.engine.trigger(schedule, self.clock.now())

    def tick(self, now: datetime | None = None) -> builtins.list[Run]:
        """Fire everything due at `now` (default: the clock's now); returns the runs written.

        Also renews the leases of runs in flight here, fails those whose
        timeout has passed, and fails runs whose lease expired elsewhere
        (their scheduler died; their handler is not run again). With
        `InlineExecutor` it returns after the handlers finished and their
        outcomes were stored, and the runs returned are in their final state.
        """
        self.require_handler()
        return self.engine.tick(now if now is not None else self.clock.now())


def same_doc(source: Callable[..., Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a shell's method the docstring of the base method it mirrors."""

    def copy(target: Callable[..., Any]) -> Callable[..., Any]:
        target.__doc__ = source.__doc__
        return target

    return copy
