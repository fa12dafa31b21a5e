"""`Scheduler`: the facade an app talks to — schedules in, agent runs out.

CRUD: every call is scoped by `owner` when one is given (another owner's
schedule is `ScheduleNotFound`, exactly like one that never existed). Writes
go through the pure state machine and the store's optimistic concurrency; a
write that races with another (say, the firing loop advancing
`next_run_at`) is re-applied to the fresh record.

Firing: `tick(now)` claims what is due and runs handlers on the executor;
`start()` runs a background thread that sleeps until the next due time or
timeout deadline and wakes at once when a change makes something due sooner.
"""

from __future__ import annotations

import asyncio
import builtins
import functools
import inspect
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for_futures
from datetime import datetime, timedelta
from typing import Any

import attrs

from . import states
from ._validate import check_text
from .clock import Clock, SystemClock
from .engine import DEFAULT_LEASE, Engine, Launch, backoff_seconds, seconds_until
from .errors import AgentschedError, ConflictError, ScheduleNotFound, ValidationError, shorten
from .executors import InlineExecutor
from .handlers import RunContext, describe_error, failure_of, outcome_of
from .ids import new_id
from .model import MAX_ID, Overlap, Run, Schedule, Status
from .planning import Outcome
from .specs import SPEC_TYPES, Spec
from .stores.base import Store
from .stores.memory import MemoryStore
from .stores.urls import store_from_url

__all__ = ["Scheduler"]

_MAX_PAGE = 1000
_MAX_UPCOMING = 1000
_WRITE_ATTEMPTS = 10
_MAX_RUNS_PAGE = 1000

log = logging.getLogger("agentsched")

Handler = Callable[[RunContext], Any]


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


@functools.lru_cache(maxsize=64)
def _is_async(handler: Handler) -> bool:
    return inspect.iscoroutinefunction(handler)


class Scheduler:
    """Keeps schedules in a store and (from `start()` or `tick()`) fires them.

    `store` defaults to a `MemoryStore`, `clock` to the system clock,
    `executor` to a 16-thread pool. `lease` is how long a started run stays
    claimed without this scheduler renewing it (every tick, at least once a
    minute) before others may declare it interrupted.
    """

    def __init__(
        self,
        store: Store | None = None,
        handler: Handler | None = None,
        executor: Executor | None = None,
        clock: Clock | None = None,
        lease: timedelta = DEFAULT_LEASE,
    ) -> None:
        self.store: Store = store if store is not None else MemoryStore()
        self.handler = handler
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._owns_executor = executor is None
        self.executor: Executor = (
            executor
            if executor is not None
            else ThreadPoolExecutor(max_workers=16, thread_name_prefix="agentsched-run")
        )
        self._engine = Engine(self.store, lease)
        self._futures: set[Future[None]] = set()
        self._futures_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_url(cls, url: str, **options: Any) -> Scheduler:
        """A scheduler over the store a URL names.

        `sqlite:///relative/path.db`, `sqlite:////absolute/path.db`,
        `memory://`, or `postgresql://...` (needs the `postgres` extra).
        Other keyword arguments go to `Scheduler`.
        """
        return cls(store=store_from_url(url), **options)

    def __enter__(self) -> Scheduler:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

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
        """Schedules sorted by name then id; `after` is the last id of the previous page."""
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
        self._wake.set()
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
            self._wake.set()
            return updated
        raise ConflictError(
            f"schedule {shorten(schedule_id)} kept changing; gave up after {_WRITE_ATTEMPTS} tries"
        )

    # -- firing --------------------------------------------------------------

    def _require_handler(self) -> Handler:
        if self.handler is None:
            raise AgentschedError("this Scheduler has no handler; pass handler= to fire runs")
        return self.handler

    def tick(self, now: datetime | None = None) -> builtins.list[Run]:
        """Fire everything due at `now` (default: the clock's now); returns the runs written.

        Also renews the leases of runs in flight here, fails those whose
        timeout has passed, and fails runs whose lease expired elsewhere
        (their scheduler died; their handler is not run again). With
        `InlineExecutor` it returns after the handlers finished and their
        outcomes were stored, and the runs returned are in their final state.
        """
        self._require_handler()
        moment = now if now is not None else self.clock.now()
        self._engine.renew(moment)
        launches = self._engine.expire(moment) + self._engine.sweep(moment)
        written, started = self._engine.claim(moment)
        for launch in launches + started:
            self._launch(launch)
        return [self.store.get_run(run.id) or run for run in written]

    def trigger(self, schedule_id: str, owner: str | None = None) -> Run:
        """Run a schedule's agent now, outside its spec; it does not count toward `max_runs`."""
        self._require_handler()
        schedule = self.get(schedule_id, owner=owner)
        run = self._engine.manual(schedule, self.clock.now())
        self._launch((schedule, run))
        self._wake.set()
        return self.store.get_run(run.id) or run

    def runs(
        self, schedule_id: str, limit: int = 50, owner: str | None = None
    ) -> builtins.list[Run]:
        """The schedule's runs, newest first (deleted schedules included)."""
        _check_limit("limit", limit, _MAX_RUNS_PAGE)
        self.get(schedule_id, owner=owner, include_deleted=True)
        return self.store.runs(schedule_id, limit=limit)

    def _launch(self, launch: Launch) -> None:
        schedule, run = launch
        context = self._engine.begin(schedule, run)
        if isinstance(self.executor, InlineExecutor):
            self._execute(context)  # the same as submitting to it, minus the Future
            return
        try:
            future = self.executor.submit(self._execute, context)
        except RuntimeError as exc:  # the executor is shut down
            self._finish(context, Outcome(False, self.clock.now(), error=describe_error(exc)))
            return
        with self._futures_lock:
            self._futures.add(future)
        future.add_done_callback(self._forget)

    def _forget(self, future: Future[None]) -> None:
        with self._futures_lock:
            self._futures.discard(future)

    def _execute(self, context: RunContext) -> None:
        handler = self._require_handler()
        outcome: Outcome | None = None
        try:
            returned = asyncio.run(handler(context)) if _is_async(handler) else handler(context)
            outcome = outcome_of(returned, self.clock.now())
        except Exception as exc:
            outcome = failure_of(exc, self.clock.now())
        finally:
            if outcome is None:  # KeyboardInterrupt, SystemExit: record, then let it go on
                outcome = Outcome(False, self.clock.now(), error="handler was interrupted")
            self._finish(context, outcome)

    def _finish(self, context: RunContext, outcome: Outcome) -> None:
        try:
            follow_up = self._engine.finish(context.run_id, outcome)
        except Exception:
            log.exception("could not record the outcome of run %s", context.run_id)
            return
        if follow_up is not None:
            self._launch(follow_up)

    # -- the background loop -------------------------------------------------

    def start(self) -> None:
        """Start firing in a background thread (idempotent)."""
        self._require_handler()
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="agentsched-loop", daemon=True)
        self._thread.start()

    def stop(self, wait: bool = True) -> None:
        """Stop the loop, set every running handler's cancel event, and (by default) wait.

        Runs still going when `wait=False` keep their `running` record until
        they finish; a run never finishing is swept by its store's lease.
        """
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._engine.cancel_all()
        if wait:
            with self._futures_lock:
                pending = list(self._futures)
            wait_for_futures(pending)
        if self._owns_executor:
            self.executor.shutdown(wait=wait)

    def _loop(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                self.tick()
                failures = 0
            except Exception:
                failures += 1
                log.exception("tick failed (attempt %d); retrying", failures)
            self._wake.wait(self._seconds_to_sleep(failures))

    def _seconds_to_sleep(self, failures: int) -> float:
        if failures:
            return backoff_seconds(failures)
        try:
            due = self.store.next_due_at()
        except Exception:
            log.exception("could not read the next due time; retrying")
            return 1.0
        return seconds_until([due, self._engine.next_deadline()], self.clock.now())
