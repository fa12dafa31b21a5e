"""`AsyncScheduler`: the `Scheduler` API as coroutines, for asyncio apps.

Store calls run in worker threads (`asyncio.to_thread`), so nothing blocks
the event loop. `async def` handlers run as tasks on the loop; plain
functions run in worker threads. A timeout sets the run's cancel event and,
for `async def` handlers, cancels the task.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from .clock import Clock
from .engine import DEFAULT_LEASE, Engine, Launch, backoff_seconds, seconds_until
from .errors import AgentschedError
from .executors import InlineExecutor
from .handlers import RunContext, failure_of, outcome_of
from .model import Run, Schedule
from .planning import Outcome
from .scheduler import Scheduler
from .stores.base import Store

__all__ = ["AsyncScheduler"]

log = logging.getLogger("agentsched")

T = TypeVar("T")
AsyncHandler = Callable[[RunContext], Any]


class AsyncScheduler:
    """Keeps schedules in a store and fires them from the running event loop.

    Same arguments and methods as `Scheduler`, each a coroutine (no
    executor: handlers run on the loop or in worker threads). `tick()` waits
    for the handlers it started, which makes tests deterministic; the
    background loop started by `start()` does not.
    """

    def __init__(
        self,
        store: Store | None = None,
        handler: AsyncHandler | None = None,
        clock: Clock | None = None,
        lease: timedelta = DEFAULT_LEASE,
    ) -> None:
        self._sync = Scheduler(store=store, executor=InlineExecutor(), clock=clock)
        self.store: Store = self._sync.store
        self.clock: Clock = self._sync.clock
        self.handler = handler
        self._engine = Engine(self.store, lease)
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> AsyncScheduler:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @staticmethod
    async def _off_loop(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(partial(call, *args, **kwargs))

    # -- CRUD ----------------------------------------------------------------

    async def create(self, **fields: Any) -> Schedule:
        """See `Scheduler.create`."""
        schedule = await self._off_loop(self._sync.create, **fields)
        self._wake.set()
        return schedule

    async def get(
        self, schedule_id: str, owner: str | None = None, include_deleted: bool = False
    ) -> Schedule:
        """See `Scheduler.get`."""
        return await self._off_loop(
            self._sync.get, schedule_id, owner=owner, include_deleted=include_deleted
        )

    async def list(self, agent_id: str | None = None, **filters: Any) -> builtins.list[Schedule]:
        """See `Scheduler.list`."""
        return await self._off_loop(self._sync.list, agent_id, **filters)

    async def update(self, schedule_id: str, owner: str | None = None, **changes: Any) -> Schedule:
        """See `Scheduler.update`."""
        schedule = await self._off_loop(self._sync.update, schedule_id, owner=owner, **changes)
        self._wake.set()
        return schedule

    async def pause(self, schedule_id: str, owner: str | None = None) -> Schedule:
        """See `Scheduler.pause`."""
        return await self._off_loop(self._sync.pause, schedule_id, owner=owner)

    async def resume(self, schedule_id: str, owner: str | None = None) -> Schedule:
        """See `Scheduler.resume`."""
        schedule = await self._off_loop(self._sync.resume, schedule_id, owner=owner)
        self._wake.set()
        return schedule

    async def delete(self, schedule_id: str, owner: str | None = None) -> Schedule:
        """See `Scheduler.delete`."""
        return await self._off_loop(self._sync.delete, schedule_id, owner=owner)

    async def upcoming(
        self, schedule_id: str, n: int = 5, owner: str | None = None
    ) -> builtins.list[datetime]:
        """See `Scheduler.upcoming`."""
        return await self._off_loop(self._sync.upcoming, schedule_id, n=n, owner=owner)

    async def runs(
        self, schedule_id: str, limit: int = 50, owner: str | None = None
    ) -> builtins.list[Run]:
        """See `Scheduler.runs`."""
        return await self._off_loop(self._sync.runs, schedule_id, limit=limit, owner=owner)

    # -- firing --------------------------------------------------------------

    def _require_handler(self) -> AsyncHandler:
        if self.handler is None:
            raise AgentschedError("this AsyncScheduler has no handler; pass handler= to fire runs")
        return self.handler

    async def tick(self, now: datetime | None = None) -> builtins.list[Run]:
        """Fire everything due at `now`; returns the runs written, once their handlers finished."""
        written, tasks = await self._tick(now)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        return [(await self._stored(run)) for run in written]

    async def _stored(self, run: Run) -> Run:
        stored: Run | None = await self._off_loop(self.store.get_run, run.id)
        return stored if stored is not None else run

    async def _tick(
        self, now: datetime | None
    ) -> tuple[builtins.list[Run], builtins.list[asyncio.Task[None]]]:
        self._require_handler()
        moment = now if now is not None else self.clock.now()
        await self._off_loop(self._engine.renew, moment)
        launches = await self._off_loop(self._engine.expire, moment)
        launches += await self._off_loop(self._engine.sweep, moment)
        written, started = await self._off_loop(self._engine.claim, moment)
        return written, [self._launch(launch) for launch in launches + started]

    async def trigger(self, schedule_id: str, owner: str | None = None) -> Run:
        """See `Scheduler.trigger`; returns once the handler finished."""
        self._require_handler()
        schedule = await self.get(schedule_id, owner=owner)
        run = await self._off_loop(self._engine.manual, schedule, self.clock.now())
        await self._launch((schedule, run))
        return await self._stored(run)

    def _launch(self, launch: Launch) -> asyncio.Task[None]:
        schedule, run = launch
        context = self._engine.begin(schedule, run)
        task = asyncio.get_running_loop().create_task(self._execute(context))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _execute(self, context: RunContext) -> None:
        handler = self._require_handler()
        timeout = context.schedule.timeout
        call: Awaitable[Any] = (
            handler(context)
            if inspect.iscoroutinefunction(handler)
            else asyncio.to_thread(handler, context)
        )
        try:
            if timeout is None:
                returned = await call
            else:
                returned = await asyncio.wait_for(call, timeout.total_seconds())
            outcome = outcome_of(returned, self.clock.now())
        except asyncio.TimeoutError:
            context.signal.set()
            seconds = timeout.total_seconds() if timeout else 0.0
            outcome = Outcome(False, self.clock.now(), error=f"timed out after {seconds:g}s")
        except asyncio.CancelledError:
            outcome = Outcome(False, self.clock.now(), error="cancelled: the scheduler stopped")
        except Exception as exc:
            outcome = failure_of(exc, self.clock.now())
        try:
            follow_up = await self._off_loop(self._engine.finish, context.run_id, outcome)
        except Exception:
            log.exception("could not record the outcome of run %s", context.run_id)
            return
        if follow_up is not None:
            await self._launch(follow_up)

    # -- the background loop -------------------------------------------------

    async def start(self) -> None:
        """Start firing from a task on the running loop (idempotent)."""
        self._require_handler()
        if self._loop_task is not None and not self._loop_task.done():
            return
        self._stopping = False
        self._loop_task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self, wait: bool = True) -> None:
        """Stop the loop, set every running handler's cancel event, and (by default) wait."""
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            await self._loop_task
            self._loop_task = None
        self._engine.cancel_all()
        if wait and self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _loop(self) -> None:
        failures = 0
        while not self._stopping:
            self._wake.clear()
            try:
                await self._tick(None)
                failures = 0
            except Exception:
                failures += 1
                log.exception("tick failed (attempt %d); retrying", failures)
            delay = await self._seconds_to_sleep(failures)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    async def _seconds_to_sleep(self, failures: int) -> float:
        if failures:
            return backoff_seconds(failures)
        try:
            due = await self._off_loop(self.store.next_due_at)
        except Exception:
            log.exception("could not read the next due time; retrying")
            return 1.0
        return seconds_until([due, self._engine.next_deadline()], self.clock.now())
