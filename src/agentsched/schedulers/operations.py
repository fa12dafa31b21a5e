"""The schedule and firing calls of both shells, written once as blocking code.

`Operations` holds them: store I/O through the pure state machine, never a
wait of their own. `Scheduler` inherits them; `AsyncScheduler` runs each in a
worker thread (`async_scheduler.off_loop`), so that the two can never drift
apart. Each takes its `self` as a `SchedulerBase`, which an `AsyncScheduler`
is too, so that mypy checks they use nothing a shell adds.

Every call is scoped by `owner` when one is given: another owner's schedule
is `ScheduleNotFound`, exactly like one that never existed. A write that
races with another (say, the firing loop advancing `next_run_at`) is
re-applied to the fresh record.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import partial
from inspect import Parameter, Signature
from typing import TYPE_CHECKING, Any, TypeVar

from .._checks import check_text
from .._instants import require_instant
from ..errors import ConflictError, ScheduleNotFound, ValidationError, shorten
from ..ids import new_id
from ..model import MAX_ID, Run, Schedule, Status, check_schedule_id, to_status
from ..model.fields import (
    BY_NAME,
    CREATED,
    REQUIRED,
    DeclaredSchedule,
    NewSchedule,
    ScheduleChanges,
    arguments,
)
from ..model.specs import SPEC_TYPES, spec_from_dict
from ..rules import states
from .base import SchedulerBase

if TYPE_CHECKING:  # typing.Unpack from 3.11 on; type checkers only: no run-time dependency
    from typing_extensions import Unpack

__all__ = ["Operations"]

_MAX_PAGE = 1000
_MAX_UPCOMING = 1000
_MAX_RUNS_PAGE = 1000
_WRITE_ATTEMPTS = 10
_DECLARED = ("id", *REQUIRED)  # what `ensure` requires

F = TypeVar("F", bound=Callable[..., Any])


def _check_key(field: str, value: str | None) -> None:
    """A lookup value (id, owner, filter) must be text a store can hold, or None."""
    if value is not None:
        check_text(field, value, 0, MAX_ID)


def _keywords(required: Sequence[str]) -> Callable[[F], F]:
    """Give a `**fields` method taking the keywords of `create` the signature they make
    (`self`, then the `required` fields, then the others with their defaults), which
    `help()`, IDEs and `inspect.signature` show."""
    first = [BY_NAME[name] for name in required]
    rest = [field for field in CREATED if field not in first]
    parameters = [Parameter("self", Parameter.POSITIONAL_ONLY)]
    parameters += [
        Parameter(field.name, Parameter.KEYWORD_ONLY, annotation=field.annotation(required=True))
        for field in first
    ]
    parameters += [
        Parameter(
            field.name, Parameter.KEYWORD_ONLY, default=field.default, annotation=field.annotation()
        )
        for field in rest
    ]
    signature = Signature(parameters, return_annotation=Schedule)

    def sign(method: F) -> F:
        setattr(method, "__signature__", signature)  # noqa: B010 - mypy types no __signature__
        return method

    return sign


def _record(now: datetime, fields: Mapping[str, Any]) -> Schedule:
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


def _write(
    sched: SchedulerBase,
    schedule_id: str,
    owner: str | None,
    change: Callable[[Schedule, datetime], Schedule],
    done: str,
) -> Schedule:
    """Apply a state-machine `change` with optimistic concurrency, re-applying it to
    the fresh record when another write got in first; then emit `schedule.<done>`."""
    for _ in range(_WRITE_ATTEMPTS):
        current = Operations.get(sched, schedule_id, owner=owner)
        now = sched.clock.now()
        updated = change(current, now)
        if updated is current:
            return current
        try:
            sched.store.update(updated, expected_version=current.version)
        except ConflictError:
            continue
        sched._events.emit(f"schedule.{done}", now, updated)
        if updated.status is Status.COMPLETED and current.status is not Status.COMPLETED:
            sched._events.emit("schedule.completed", now, updated)
        return updated
    raise ConflictError(
        f"schedule {shorten(schedule_id)} kept changing; gave up after {_WRITE_ATTEMPTS} tries"
    )


class Operations(SchedulerBase):
    """The calls an app makes on either shell (see the module docstring)."""

    # -- reading -------------------------------------------------------------

    def get(
        self: SchedulerBase,
        schedule_id: str,
        owner: str | None = None,
        include_deleted: bool = False,
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
        self: SchedulerBase,
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
        self: SchedulerBase, schedule_id: str, n: int = 5, owner: str | None = None
    ) -> builtins.list[datetime]:
        """The next `n` fire times: from `next_run_at` if active; from now if paused."""
        _check_limit("n", n, _MAX_UPCOMING)
        schedule = Operations.get(self, schedule_id, owner=owner)
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
        self: SchedulerBase, schedule_id: str, limit: int = 50, owner: str | None = None
    ) -> builtins.list[Run]:
        """The schedule's runs, newest first (deleted schedules included)."""
        _check_limit("limit", limit, _MAX_RUNS_PAGE)
        Operations.get(self, schedule_id, owner=owner, include_deleted=True)
        return self.store.runs(schedule_id, limit=limit)

    # -- writing -------------------------------------------------------------

    @_keywords(REQUIRED)
    def create(self: SchedulerBase, /, **fields: Unpack[NewSchedule]) -> Schedule:
        """Validate and store a new active schedule (completed at once if it never fires).

        `agent_id`, `schedule` and `input` are required. `schedule` is a spec or
        its `to_dict()` shape (`{"type": "cron", ...}`). `id` is yours to choose
        (1-128 characters of `A-Za-z0-9_.:-`; a `ConflictError` if taken, even by
        a deleted schedule), or generated. A keyword that is no field, or a
        required one left out, is a `ValidationError` naming it.
        """
        now = self.clock.now()
        values = arguments(fields, REQUIRED)
        if values["id"] is None:
            values["id"] = new_id("sched")
        record = _record(now, values)
        self.store.add(record)
        self._events.emit("schedule.created", now, record)
        return record

    @_keywords(_DECLARED)
    def ensure(self: SchedulerBase, /, **fields: Unpack[DeclaredSchedule]) -> Schedule:
        """Declare a schedule at start-up: create it if `id` is new, else update the
        fields that differ from this declaration, keeping its history, counters and
        status; unchanged, it is returned as it is (no write).

        The keywords are those of `create`, `id` required. The declaration is
        whole: a field left out means its default. `previous_response_id` is used
        only when creating (later runs own it). An `Interval` without `start_at`
        keeps the phase of the stored one, and a `Cron` with `H` its hash key.
        Safe when several processes declare at once: one creates, the others find
        it. A deleted or another owner's schedule with this id is a `ConflictError`.
        """
        now = self.clock.now()
        values = arguments(fields, _DECLARED)
        schedule, id, owner = values["schedule"], values["id"], values["owner"]
        given = spec_from_dict(schedule) if isinstance(schedule, Mapping) else schedule
        desired = _record(now, {**values, "schedule": given})
        for _ in range(_WRITE_ATTEMPTS):
            current = self.store.get(id)
            if current is None:
                try:
                    self.store.add(desired)
                except ConflictError:
                    continue  # another process created it first: compare with theirs
                self._events.emit("schedule.created", now, desired)
                return desired
            if current.status is Status.DELETED or current.owner != desired.owner:
                state = "deleted" if current.status is Status.DELETED else "another owner's"
                raise ConflictError(f"schedule id {shorten(id)} is taken ({state} schedule)")
            changes = _declared_changes(current, desired, given, now)
            if not changes:
                return current
            try:
                return _write(self, id, owner, partial(_apply, changes), "updated")
            except ConflictError:
                continue
        raise ConflictError(
            f"schedule {shorten(id)} kept changing; gave up after {_WRITE_ATTEMPTS} tries"
        )

    def update(
        self: SchedulerBase,
        /,
        schedule_id: str,
        owner: str | None = None,
        **changes: Unpack[ScheduleChanges],
    ) -> Schedule:
        """PATCH-like update of the fields given (a spec, or its `to_dict()` shape, for
        `schedule`); recomputes `next_run_at` when the timing changes. A field that
        cannot be updated is a `ValidationError` naming it."""

        def apply(schedule: Schedule, now: datetime) -> Schedule:
            bound: dict[str, Any] = dict(changes)
            spec = bound.get("schedule")
            if isinstance(spec, Mapping):
                spec = spec_from_dict(spec)
            if isinstance(spec, SPEC_TYPES):
                bound["schedule"] = states.bind_spec(spec, schedule.id, now)
            return states.update(schedule, now, bound)

        return _write(self, schedule_id, owner, apply, "updated")

    def pause(self: SchedulerBase, schedule_id: str, owner: str | None = None) -> Schedule:
        """Stop firing until `resume`; a no-op if already paused."""
        return _write(self, schedule_id, owner, states.pause, "paused")

    def resume(self: SchedulerBase, schedule_id: str, owner: str | None = None) -> Schedule:
        """Fire again from the next time after now; the paused period is not back-filled."""
        return _write(self, schedule_id, owner, states.resume, "resumed")

    def delete(self: SchedulerBase, schedule_id: str, owner: str | None = None) -> Schedule:
        """Soft delete: hidden from `get`/`list` unless asked for, never fires again."""
        return _write(self, schedule_id, owner, states.delete, "deleted")

    # -- firing --------------------------------------------------------------

    def trigger(self: SchedulerBase, schedule_id: str, owner: str | None = None) -> Run:
        """Run a schedule's agent now, outside its spec; it does not count toward `max_runs`.

        Returns the run as started (`running`), or as finished when the
        executor is an `InlineExecutor`.
        """
        self._require_handler()
        schedule = Operations.get(self, schedule_id, owner=owner)
        return self._engine.trigger(schedule, self.clock.now())

    def tick(self: SchedulerBase, now: datetime | None = None) -> builtins.list[Run]:
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
        self._require_handler()
        return self._engine.tick(at)
