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
import contextlib
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from .._checks import check_text
from .._instants import require_instant
from ..clock import Clock, SystemClock
from ..errors import AgentschedError, ConflictError, ScheduleNotFound, ValidationError, shorten
from ..firing.core import FiringCore, Launcher
from ..firing.events import Deliver, Event, EventHub
from ..firing.handlers import Handler, RunWrapper, wrap_handler
from ..ids import new_id
from ..model import MAX_ID, Overlap, Retry, Run, Schedule, Status, check_schedule_id, to_status
from ..model.specs import SPEC_TYPES, Spec, spec_from_dict
from ..rules import states
from ..stores.base import Store
from ..stores.memory import MemoryStore
from ..stores.urls import store_from_url

__all__ = ["SchedulerBase"]

_MAX_PAGE = 1000
_MAX_UPCOMING = 1000
_WRITE_ATTEMPTS = 10

H = TypeVar("H", bound=Handler)
_MAX_RUNS_PAGE = 1000


def _check_key(field: str, value: str | None) -> None:
    """A lookup value (id, owner, filter) must be text a store can hold, or None."""
    if value is not None:
        check_text(field, value, 0, MAX_ID)


def _record(now: datetime, **fields: Any) -> Schedule:
    """A new schedule as `create` makes it: validated, its spec bound to it, pointed at
    its first fire (completed if it has none)."""
    check_schedule_id(fields["id"])  # before it seeds anything (an H cron's hash key)
    spec = fields["schedule"]
    if isinstance(spec, Mapping):
        spec = spec_from_dict(spec)
    if isinstance(spec, SPEC_TYPES):
        spec = states.bind_spec(spec, fields["id"], now)
    record = Schedule(**{**fields, "schedule": spec}, created_at=now, updated_at=now)
    return states.activate(record, now)


def _apply(changes: Mapping[str, Any], schedule: Schedule, now: datetime) -> Schedule:
    return states.update(schedule, now, changes)


def _declared_changes(
    current: Schedule, desired: Schedule, given: object, now: datetime
) -> dict[str, Any]:
    """The fields of a declaration that differ from the stored schedule; the spec as
    given is bound like the stored one (same phase, same hash key) before comparing."""
    changes = {
        name: getattr(desired, name)
        for name in states.UPDATABLE_FIELDS - {"schedule", "previous_response_id"}
        if getattr(desired, name) != getattr(current, name)
    }
    if isinstance(given, SPEC_TYPES):
        spec = states.bind_spec(given, current.id, now, keep_phase_of=current.schedule)
        if spec != current.schedule:
            changes["schedule"] = spec
    return changes


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
        handlers: Mapping[str, Handler] | None,
        launch: Launcher,
        wake: Callable[[], None],
        deliver: Deliver,
    ) -> None:
        self.store: Store = store if store is not None else MemoryStore()
        self.handler = handler
        self._around: builtins.list[RunWrapper] = []
        self.handlers: dict[str, Handler] = {}
        for agent_id, routed in (handlers or {}).items():
            self.agent(agent_id)(routed)
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.events = EventHub(deliver)
        self.engine = FiringCore(self.store, launch, lease, wake, self.events)

    # -- handlers and events -------------------------------------------------

    def agent(self, agent_id: str) -> Callable[[H], H]:
        """Route the runs of `agent_id` to the decorated function (sync or async):

            @sched.agent("reporter")
            def report(ctx: RunContext) -> str: ...

        `handler=` stays the fallback for agents with no route of their own.
        """
        check_text("agent_id", agent_id, 1, MAX_ID)

        def register(handler: H) -> H:
            if not callable(handler):
                raise ValidationError(
                    "handlers", f"the handler of {agent_id!r} is not callable ({shorten(handler)})"
                )
            self.handlers[agent_id] = handler
            return handler

        return register

    def handler_for(self, schedule: Schedule) -> Handler | None:
        """The handler that runs `schedule`'s agent: its route, else the fallback, inside
        the contexts of `around_runs` if any."""
        handler = self.handlers.get(schedule.agent_id, self.handler)
        if handler is None or not self._around:
            return handler
        return wrap_handler(handler, tuple(self._around))

    def around_runs(self, factory: RunWrapper) -> Callable[[], None]:
        """Enter `factory(ctx)` (a context manager) around every handler call, in the
        handler's own thread or task (for tracing: its span is current inside the
        handler). Returns a function that removes it."""
        self._around.append(factory)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._around.remove(factory)

        return remove

    def require_handler(self) -> None:
        """Firing needs something to call: refuse early, with a clear error."""
        if self.handler is None and not self.handlers:
            raise AgentschedError(
                "this scheduler has no handler; pass handler= or handlers= to fire runs"
            )

    def subscribe(
        self, callback: Callable[[Event], Any], kinds: Iterable[str] | None = None
    ) -> Callable[[], None]:
        """Call `callback(event)` after each write of the given `kinds` (all if None);
        returns a function that unsubscribes. A callback that raises is logged and
        never affects firing. Kinds: see `agentsched.events.EVENT_KINDS`."""
        return self.events.subscribe(callback, kinds)

    # -- reading -------------------------------------------------------------

    def get(
        self, schedule_id: str, owner: str | None = None, include_deleted: bool = False
    ) -> Schedule:
        """The schedule, or `ScheduleNotFound` (deleted ones only with `include_deleted`)."""
        check_text("id", schedule_id, 0, MAX_ID)
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
        wanted = None if status is None else to_status(status)
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
        schedule: Spec | Mapping[str, Any],
        input: str,
        id: str | None = None,
        name: str | None = None,
        owner: str | None = None,
        metadata: Mapping[str, str] | None = None,
        conversation: str | None = None,
        previous_response_id: str | None = None,
        stateful: bool = False,
        overlap: Overlap | str = Overlap.SKIP,
        catchup_window: timedelta = timedelta(hours=1),
        max_runs: int | None = None,
        end_at: datetime | None = None,
        pause_after_failures: int | None = None,
        timeout: timedelta | None = None,
        retry: Retry | None = None,
        jitter: timedelta | None = None,
    ) -> Schedule:
        """Validate and store a new active schedule (completed at once if it never fires).

        `schedule` is a spec or its `to_dict()` shape (`{"type": "cron", ...}`).
        `id` is yours to choose (1-128 characters of `A-Za-z0-9_.:-`; a
        `ConflictError` if taken, even by a deleted schedule), or generated.
        """
        now = self.clock.now()
        record = _record(
            now,
            id=new_id("sched") if id is None else id,
            agent_id=agent_id,
            schedule=schedule,
            input=input,
            name=name,
            owner=owner,
            metadata=metadata,
            conversation=conversation,
            previous_response_id=previous_response_id,
            stateful=stateful,
            overlap=overlap,
            catchup_window=catchup_window,
            max_runs=max_runs,
            end_at=end_at,
            pause_after_failures=pause_after_failures,
            timeout=timeout,
            retry=retry,
            jitter=jitter,
        )
        self.store.add(record)
        self.events.emit("schedule.created", now, record)
        return record

    def ensure(
        self,
        *,
        id: str,
        agent_id: str,
        schedule: Spec | Mapping[str, Any],
        input: str,
        name: str | None = None,
        owner: str | None = None,
        metadata: Mapping[str, str] | None = None,
        conversation: str | None = None,
        previous_response_id: str | None = None,
        stateful: bool = False,
        overlap: Overlap | str = Overlap.SKIP,
        catchup_window: timedelta = timedelta(hours=1),
        max_runs: int | None = None,
        end_at: datetime | None = None,
        pause_after_failures: int | None = None,
        timeout: timedelta | None = None,
        retry: Retry | None = None,
        jitter: timedelta | None = None,
    ) -> Schedule:
        """Declare a schedule at start-up: create it if `id` is new, else update the
        fields that differ from this declaration, keeping its history, counters and
        status; unchanged, it is returned as it is (no write).

        The declaration is whole: a field left out means its default.
        `previous_response_id` is used only when creating (later runs own it). An
        `Interval` without `start_at` keeps the phase of the stored one, and a
        `Cron` with `H` its hash key. Safe when several processes declare at once:
        one creates, the others find it. A deleted or another owner's schedule
        with this id is a `ConflictError`.
        """
        now = self.clock.now()
        given = spec_from_dict(schedule) if isinstance(schedule, Mapping) else schedule
        desired = _record(
            now,
            id=id,
            agent_id=agent_id,
            schedule=given,
            input=input,
            name=name,
            owner=owner,
            metadata=metadata,
            conversation=conversation,
            previous_response_id=previous_response_id,
            stateful=stateful,
            overlap=overlap,
            catchup_window=catchup_window,
            max_runs=max_runs,
            end_at=end_at,
            pause_after_failures=pause_after_failures,
            timeout=timeout,
            retry=retry,
            jitter=jitter,
        )
        for _ in range(_WRITE_ATTEMPTS):
            current = self.store.get(id)
            if current is None:
                try:
                    self.store.add(desired)
                except ConflictError:
                    continue  # another process created it first: compare with theirs
                self.events.emit("schedule.created", now, desired)
                return desired
            if current.status is Status.DELETED or current.owner != desired.owner:
                state = "deleted" if current.status is Status.DELETED else "another owner's"
                raise ConflictError(f"schedule id {shorten(id)} is taken ({state} schedule)")
            changes = _declared_changes(current, desired, given, now)
            if not changes:
                return current
            try:
                return self._write(id, owner, partial(_apply, changes), "updated")
            except ConflictError:
                continue
        raise ConflictError(
            f"schedule {shorten(id)} kept changing; gave up after {_WRITE_ATTEMPTS} tries"
        )

    def update(self, /, schedule_id: str, owner: str | None = None, **changes: Any) -> Schedule:
        """PATCH-like update; recomputes `next_run_at` when the timing changes."""

        def apply(schedule: Schedule, now: datetime) -> Schedule:
            bound = dict(changes)
            if "schedule" in bound and isinstance(bound["schedule"], SPEC_TYPES):
                bound["schedule"] = states.bind_spec(bound["schedule"], schedule.id, now)
            return states.update(schedule, now, bound)

        return self._write(schedule_id, owner, apply, "updated")

    def pause(self, schedule_id: str, owner: str | None = None) -> Schedule:
        """Stop firing until `resume`; a no-op if already paused."""
        return self._write(schedule_id, owner, states.pause, "paused")

    def resume(self, schedule_id: str, owner: str | None = None) -> Schedule:
        """Fire again from the next time after now; the paused period is not back-filled."""
        return self._write(schedule_id, owner, states.resume, "resumed")

    def delete(self, schedule_id: str, owner: str | None = None) -> Schedule:
        """Soft delete: hidden from `get`/`list` unless asked for, never fires again."""
        return self._write(schedule_id, owner, states.delete, "deleted")

    def _write(
        self,
        schedule_id: str,
        owner: str | None,
        change: Callable[[Schedule, datetime], Schedule],
        done: str,
    ) -> Schedule:
        """Apply a state-machine `change` with optimistic concurrency, re-applying it to
        the fresh record when another write got in first; then emit `schedule.<done>`."""
        for _ in range(_WRITE_ATTEMPTS):
            current = self.get(schedule_id, owner=owner)
            now = self.clock.now()
            updated = change(current, now)
            if updated is current:
                return current
            try:
                self.store.update(updated, expected_version=current.version)
            except ConflictError:
                continue
            self.events.emit(f"schedule.{done}", now, updated)
            if updated.status is Status.COMPLETED and current.status is not Status.COMPLETED:
                self.events.emit("schedule.completed", now, updated)
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

        `now` must be an aware datetime in years 1970-9999 (`ValidationError` naming
        `now` otherwise); it is taken in UTC.

        Also renews the leases of runs in flight here (when a third of a
        lease has gone since they were last renewed), fails those whose
        timeout has passed, and fails runs whose lease expired elsewhere
        (their scheduler died; their handler is not run again). With
        `InlineExecutor` it returns after the handlers finished and their
        outcomes were stored, and the runs returned are in their final state.
        """
        at = self.clock.now() if now is None else require_instant(now, "now")
        self.require_handler()
        return self.engine.tick(at)
