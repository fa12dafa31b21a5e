"""`AsyncScheduler`: the `Scheduler` API as coroutines, for asyncio apps.

A shell on the same `SchedulerBase` as `Scheduler`: each schedule and firing
call runs the shared `Operations` code in a worker thread (store calls never
block the event loop), so the two cannot behave differently. What is its own
is how handlers run: `async def` handlers as tasks on the running loop, plain
ones on `executor` (the loop's default executor unless given); with
`InlineExecutor`, `tick()` and `trigger()` return once their handlers have
finished, exactly as `Scheduler`'s do.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any, Concatenate, ParamSpec, TypeVar

from .._checks import check_seconds
from .._log import fields, log
from ..firing.core import Launch
from ..firing.events import Event
from ..firing.executors import InlineExecutor
from ..firing.handlers import RunContext, is_async, no_handler, run_handler_async
from ..model import Run
from ..rules.outcomes import Outcome
from .base import SchedulerBase
from .operations import Operations

__all__ = ["AsyncScheduler"]


P = ParamSpec("P")
T = TypeVar("T")


def off_loop(
    method: Callable[Concatenate[SchedulerBase, P], T],
) -> Callable[Concatenate[AsyncScheduler, P], Coroutine[Any, Any, T]]:
    """`Operations.method` as a coroutine method of `AsyncScheduler`: the same
    signature (checked by mypy), the same docstring, run in a worker thread."""

    @functools.wraps(method)
    async def call(self: AsyncScheduler, /, *args: P.args, **kwargs: P.kwargs) -> T:
        self._bind_loop()
        return await asyncio.to_thread(method, self, *args, **kwargs)

    call.__qualname__ = f"AsyncScheduler.{method.__name__}"
    return call


class AsyncScheduler(SchedulerBase):
    """Keeps schedules in a store and fires them from the running event loop.

    Same arguments, attributes and methods as `Scheduler`; those that touch the
    store or run the loop are coroutines. `executor` runs plain (non-async)
    handlers; `InlineExecutor` makes `tick()` and `trigger()` wait for the
    handlers they start (deterministic tests).
    """

    def _set_up(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[Run | None]] = set()
        self._task_runs: dict[asyncio.Task[Run | None], str] = {}
        self._abandoned: set[str] = set()  # runs whose tasks a stop() cancelled
        self._callbacks: set[asyncio.Future[Any]] = set()
        self._wake_flag = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None

    def _deliver(self, callback: Callable[[Event], Any], event: Event) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._callback, callback, event)

    def _callback(self, callback: Callable[[Event], Any], event: Event) -> None:
        try:
            result = callback(event)
        except Exception:
            log.exception("an event callback failed on %s", event.kind, extra=_event_fields(event))
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._callbacks.add(task)
            task.add_done_callback(partial(self._callback_done, event))

    def _callback_done(self, event: Event, task: asyncio.Future[Any]) -> None:
        self._callbacks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "an event callback failed on %s",
                event.kind,
                exc_info=task.exception(),
                extra=_event_fields(event),
            )

    async def __aenter__(self) -> AsyncScheduler:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _bind_loop(self) -> None:
        self._loop = asyncio.get_running_loop()

    def _wake(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake_flag.set)

    # -- the shared API, as coroutines ------------------------------------------

    create = off_loop(Operations.create)
    ensure = off_loop(Operations.ensure)
    get = off_loop(Operations.get)
    list = off_loop(Operations.list)
    update = off_loop(Operations.update)
    pause = off_loop(Operations.pause)
    resume = off_loop(Operations.resume)
    delete = off_loop(Operations.delete)
    upcoming = off_loop(Operations.upcoming)
    runs = off_loop(Operations.runs)
    trigger = off_loop(Operations.trigger)
    tick = off_loop(Operations.tick)

    # -- running handlers ----------------------------------------------------

    def _launch(self, launch: Launch) -> Run | None:
        """Start a run's handler on the loop; called from the worker thread of a tick."""
        loop = self._loop
        assert loop is not None, "AsyncScheduler methods bind the loop before firing"
        schedule, run = launch
        context = self._engine.begin(schedule, run)
        if isinstance(self.executor, InlineExecutor):
            return asyncio.run_coroutine_threadsafe(self._execute(context), loop).result()
        loop.call_soon_threadsafe(self._spawn, context)
        return None

    def _spawn(self, context: RunContext) -> None:
        task = asyncio.get_running_loop().create_task(self._execute(context))
        self._tasks.add(task)
        self._task_runs[task] = context.run_id
        task.add_done_callback(self._forget)
        handler = self._handler_for(context.schedule)
        if handler is None or not is_async(handler):
            return  # a thread cannot be cancelled: its task must end when the code does
        loop = task.get_loop()

        def cancel() -> None:
            loop.call_soon_threadsafe(task.cancel)

        self._engine.set_cancel(context.run_id, cancel)

    def _forget(self, task: asyncio.Task[Run | None]) -> None:
        self._tasks.discard(task)
        self._abandoned.discard(self._task_runs.pop(task, ""))

    async def _execute(self, context: RunContext) -> Run | None:
        handler = self._handler_for(context.schedule)
        if handler is None:
            outcome = no_handler(context.schedule.agent_id, self.clock.now())
        else:
            try:
                outcome = await run_handler_async(handler, context, self.clock.now, self.executor)
            except asyncio.CancelledError:
                if context.run_id in self._abandoned:
                    if not is_async(handler):
                        # The thread goes on: the run stays `running`, and its lease, no
                        # longer renewed, marks it interrupted.
                        self._engine.abandon(context.run_id)
                        return None
                    error = "cancelled: the scheduler stopped"
                elif context.cancelled:
                    error = "cancelled: the run timed out or the scheduler stopped"
                else:
                    error = "handler raised CancelledError"
                outcome = Outcome(False, self.clock.now(), error=error)
        try:
            return await asyncio.to_thread(self._engine.finish, context, outcome)
        except Exception:
            log.exception(
                "could not record the outcome of run %s",
                context.run_id,
                extra=fields(context.schedule, run_id=context.run_id),
            )
            return None

    # -- the background loop -------------------------------------------------

    async def start(self) -> None:
        self._require_handler()
        self._bind_loop()
        if self._loop_task is not None and not self._loop_task.done():
            return
        self._check_executor()
        self._policy.open()
        self._loop_task = asyncio.get_running_loop().create_task(self._run_loop())

    async def stop(self, wait: bool = True, timeout: float | None = None) -> None:
        timeout = check_seconds("timeout", timeout)
        current = asyncio.current_task()
        inside = current in self._tasks
        self._policy.close()
        loop_task = self._loop_task
        if loop_task is not None and loop_task is not current:
            await loop_task
            self._loop_task = None
        self._engine.cancel_all()
        if not wait or inside:
            return
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            await asyncio.sleep(0)  # let a run buffered behind a finished one be spawned
            pending = [t for t in self._tasks if t is not current]
            if not pending:
                return
            left = None if deadline is None else max(deadline - loop.time(), 0.0)
            _, late = await asyncio.wait(pending, timeout=left)
            if late:
                for task in late:
                    self._abandoned.add(self._task_runs.get(task, ""))
                    task.cancel()
                await asyncio.wait(late)
                return

    async def _run_loop(self) -> None:
        while self._policy.running:
            self._wake_flag.clear()
            wake_at = await asyncio.to_thread(self._policy.turn)
            if wake_at is None:
                return
            await self.clock.wait_until_async(wake_at, self._wake_flag)


def _event_fields(event: Event) -> dict[str, Any]:
    return fields(event.schedule, event.run, schedule_id=event.schedule_id, run_id=event.run_id)
