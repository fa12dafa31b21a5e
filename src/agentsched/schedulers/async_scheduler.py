"""`AsyncScheduler`: the `Scheduler` API as coroutines, for asyncio apps.

A thin shell over the same `SchedulerBase` as `Scheduler`: each method runs
the shared implementation in a worker thread (store calls never block the
event loop), so the two cannot behave differently. What is its own is how
handlers run: `async def` handlers as tasks on the running loop, plain ones
on `executor` (the loop's default executor unless given); with
`InlineExecutor`, `tick()` and `trigger()` return once their handlers have
finished, exactly as `Scheduler`'s do.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable, Coroutine, Iterable, Mapping
from concurrent.futures import Executor
from datetime import timedelta
from functools import partial
from typing import Any, Concatenate, ParamSpec, TypeVar

from .._checks import check_seconds
from .._log import fields, log
from ..clock import Clock
from ..errors import AgentschedError
from ..firing.core import DEFAULT_LEASE, Launch
from ..firing.events import Event
from ..firing.executors import InlineExecutor
from ..firing.handlers import Handler, RunContext, is_async, no_handler, run_handler_async
from ..model import Run
from ..rules.outcomes import Outcome
from ..stores.base import Store
from ..stores.urls import store_from_url
from .base import H, SchedulerBase

__all__ = ["AsyncScheduler"]


P = ParamSpec("P")
T = TypeVar("T")


def _off_loop(
    method: Callable[Concatenate[SchedulerBase, P], T],
) -> Callable[Concatenate[AsyncScheduler, P], Coroutine[Any, Any, T]]:
    """`SchedulerBase.method` as a coroutine method of `AsyncScheduler`: the same
    signature (checked by mypy), the same docstring, run in a worker thread."""

    @functools.wraps(method)
    async def call(self: AsyncScheduler, /, *args: P.args, **kwargs: P.kwargs) -> T:
        self._bind_loop()
        return await asyncio.to_thread(method, self._core, *args, **kwargs)

    call.__qualname__ = f"AsyncScheduler.{method.__name__}"
    return call


class AsyncScheduler:
    """Keeps schedules in a store and fires them from the running event loop.

    Same arguments and methods as `Scheduler`, each a coroutine. `executor`
    runs plain (non-async) handlers; `InlineExecutor` makes `tick()` and
    `trigger()` wait for the handlers they start (deterministic tests).
    """

    def __init__(
        self,
        store: Store | None = None,
        handler: Handler | None = None,
        executor: Executor | None = None,
        clock: Clock | None = None,
        lease: timedelta = DEFAULT_LEASE,
        *,
        handlers: Mapping[str, Handler] | None = None,
    ) -> None:
        self._core = SchedulerBase(
            store,
            handler,
            clock,
            lease,
            handlers=handlers,
            launch=self._launch,
            wake=self._wake_soon,
            deliver=self._deliver,
        )
        self.store: Store = self._core.store
        self.clock: Clock = self._core.clock
        self.executor = executor
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[Run | None]] = set()
        self._task_runs: dict[asyncio.Task[Run | None], str] = {}
        self._abandoned: set[str] = set()  # runs whose tasks a stop() cancelled
        self._callbacks: set[asyncio.Future[Any]] = set()
        self._wake = asyncio.Event()
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None
        self._unwatch: Callable[[], None] = lambda: None

    @classmethod
    def from_url(cls, url: str, **options: Any) -> AsyncScheduler:
        """An `AsyncScheduler` over the store a URL names (see `Scheduler.from_url`)."""
        return cls(store=store_from_url(url), **options)

    @property
    def handlers(self) -> dict[str, Handler]:
        """The routes by agent id (see `agent`)."""
        return self._core.handlers

    def agent(self, agent_id: str) -> Callable[[H], H]:
        """Route the runs of `agent_id` to the decorated function (sync or async)."""
        return self._core.agent(agent_id)

    def subscribe(
        self, callback: Callable[[Event], Any], kinds: Iterable[str] | None = None
    ) -> Callable[[], None]:
        """Call `callback(event)` (a plain function or a coroutine function) on this
        scheduler's event loop after each write of the given `kinds` (all if None);
        returns a function that unsubscribes. A callback that raises is logged."""
        return self._core.subscribe(callback, kinds)

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

    @property
    def handler(self) -> Handler | None:
        """The function (or coroutine function) each run calls."""
        return self._core.handler

    @handler.setter
    def handler(self, handler: Handler | None) -> None:
        self._core.handler = handler

    async def __aenter__(self) -> AsyncScheduler:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _bind_loop(self) -> None:
        self._loop = asyncio.get_running_loop()

    def _wake_soon(self) -> None:
        """Called after a write, from whatever thread made it: wake the loop task."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    # -- the shared API, as coroutines ------------------------------------------

    ensure = _off_loop(SchedulerBase.ensure)
    get = _off_loop(SchedulerBase.get)
    list = _off_loop(SchedulerBase.list)
    upcoming = _off_loop(SchedulerBase.upcoming)
    runs = _off_loop(SchedulerBase.runs)
    create = _off_loop(SchedulerBase.create)
    update = _off_loop(SchedulerBase.update)
    pause = _off_loop(SchedulerBase.pause)
    resume = _off_loop(SchedulerBase.resume)
    delete = _off_loop(SchedulerBase.delete)
    trigger = _off_loop(SchedulerBase.trigger)
    tick = _off_loop(SchedulerBase.tick)

    # -- running handlers ----------------------------------------------------

    def _launch(self, launch: Launch) -> Run | None:
        """Start a run's handler on the loop; called from the worker thread of a tick."""
        loop = self._loop
        assert loop is not None, "AsyncScheduler methods bind the loop before firing"
        schedule, run = launch
        context = self._core.engine.begin(schedule, run)
        if isinstance(self.executor, InlineExecutor):
            return asyncio.run_coroutine_threadsafe(self._execute(context), loop).result()
        loop.call_soon_threadsafe(self._spawn, context)
        return None

    def _spawn(self, context: RunContext) -> None:
        task = asyncio.get_running_loop().create_task(self._execute(context))
        self._tasks.add(task)
        self._task_runs[task] = context.run_id
        task.add_done_callback(self._forget)
        handler = self._core.handler_for(context.schedule)
        if handler is None or not is_async(handler):
            return  # a thread cannot be cancelled: its task must end when the code does
        loop = task.get_loop()

        def cancel() -> None:
            loop.call_soon_threadsafe(task.cancel)

        self._core.engine.set_cancel(context.run_id, cancel)

    def _forget(self, task: asyncio.Task[Run | None]) -> None:
        self._tasks.discard(task)
        self._abandoned.discard(self._task_runs.pop(task, ""))

    async def _execute(self, context: RunContext) -> Run | None:
        handler = self._core.handler_for(context.schedule)
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
                        self._core.engine.abandon(context.run_id)
                        return None
                    error = "cancelled: the scheduler stopped"
                elif context.cancelled:
                    error = "cancelled: the run timed out or the scheduler stopped"
                else:
                    error = "handler raised CancelledError"
                outcome = Outcome(False, self.clock.now(), error=error)
        try:
            return await asyncio.to_thread(self._core.engine.finish, context, outcome)
        except Exception:
            log.exception(
                "could not record the outcome of run %s",
                context.run_id,
                extra=fields(context.schedule, run_id=context.run_id),
            )
            return None

    # -- the background loop -------------------------------------------------

    async def start(self) -> None:
        """Start firing from a task on the running loop (idempotent; again after `stop()`)."""
        self._core.require_handler()
        self._bind_loop()
        if self._loop_task is not None and not self._loop_task.done():
            return
        if self.executor is not None and not isinstance(self.executor, InlineExecutor):
            try:
                self.executor.submit(lambda: None)
            except RuntimeError as exc:
                raise AgentschedError(
                    f"the executor given to this AsyncScheduler refuses work ({exc}); "
                    "pass one that is not shut down"
                ) from None
        self._stopping = False
        self._unwatch = self.store.watch(self._wake_soon)
        self._loop_task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self, wait: bool = True, timeout: float | None = None) -> None:
        """Stop claiming, set every running handler's cancel event, and (by default) wait
        for the handlers, at most `timeout` seconds, after which their tasks are
        cancelled. Called from inside a handler, it returns without waiting."""
        timeout = check_seconds("timeout", timeout)
        current = asyncio.current_task()
        inside = current in self._tasks
        self._unwatch()
        self._stopping = True
        self._wake.set()
        loop_task = self._loop_task
        if loop_task is not None and loop_task is not current:
            await loop_task
            self._loop_task = None
        self._core.engine.cancel_all()
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

    async def _run(self) -> None:
        failures = 0
        engine = self._core.engine
        while not self._stopping:
            self._wake.clear()
            try:
                await asyncio.to_thread(engine.tick, self.clock.now())
                failures = 0
            except Exception:
                failures += 1
                log.exception("tick failed (attempt %d); retrying", failures)
            if self._stopping:
                return
            wake_at = await asyncio.to_thread(engine.next_wake, self.clock.now(), failures)
            await self.clock.wait_until_async(wake_at, self._wake)


def _event_fields(event: Event) -> dict[str, Any]:
    return fields(event.schedule, event.run, schedule_id=event.schedule_id, run_id=event.run_id)
