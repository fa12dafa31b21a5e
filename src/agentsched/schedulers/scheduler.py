"""`Scheduler`: the facade an app talks to — schedules in, agent runs out.

Everything it decides comes from `SchedulerBase`, `Operations`, the firing
core and the loop policy; this shell only runs handlers on an executor and
runs the loop in a thread that sleeps (through its clock) until the next
wake, and wakes at once when a change makes something due sooner.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for_futures
from typing import Any

from .._checks import check_seconds
from .._log import fields, log
from ..firing.core import Launch
from ..firing.events import Event
from ..firing.executors import EventLoopThread, InlineExecutor
from ..firing.handlers import RunContext, no_handler, not_started, run_handler
from ..model import Run
from .operations import Operations

__all__ = ["Scheduler"]


_POOL_SIZE = 16


def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=_POOL_SIZE, thread_name_prefix="agentsched-run")


class Scheduler(Operations):
    """Keeps schedules in a store and (from `start()` or `tick()`) fires them.

    `store` defaults to a `MemoryStore`, `clock` to the system clock,
    `executor` to a 16-thread pool (`InlineExecutor` runs handlers in the
    calling thread). `handler` runs every agent's runs, or those of agents
    with no route in `handlers` (`{agent_id: handler}`, or `@sched.agent`).
    `lease` is how long a started run stays claimed without this scheduler
    renewing it (each time a third of it has gone) before others may
    declare it interrupted. `async def` handlers run on one event loop in a
    background thread.
    """

    executor: Executor  # a 16-thread pool of its own unless one is given

    def _set_up(self) -> None:
        self._owns_executor = self.executor is None
        if self._owns_executor:
            self.executor = _pool()
        self._executor_shut_down = False
        self._wake_event = threading.Event()
        self._coroutines = EventLoopThread()
        self._futures: set[Future[Run | None]] = set()
        self._futures_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._in_handler = threading.local()

    def __enter__(self) -> Scheduler:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _wake(self) -> None:
        self._wake_event.set()

    def _deliver(self, callback: Callable[[Event], Any], event: Event) -> None:
        """Event callbacks of a `Scheduler` run at once, in the thread that made the write."""
        callback(event)

    # -- running handlers ----------------------------------------------------

    def _launch(self, launch: Launch) -> Run | None:
        schedule, run = launch
        context = self._engine.begin(schedule, run)
        if isinstance(self.executor, InlineExecutor):
            return self._execute(context)  # the same as submitting to it, minus the Future
        try:
            future = self.executor.submit(self._execute, context)
        except RuntimeError as exc:  # the executor is shut down
            error = f"not started: the executor refused it ({exc})"
            return self._engine.finish(context, not_started(error, self.clock.now()))
        with self._futures_lock:
            self._futures.add(future)
        future.add_done_callback(self._forget)
        return None

    def _forget(self, future: Future[Run | None]) -> None:
        with self._futures_lock:
            self._futures.discard(future)

    def _execute(self, context: RunContext) -> Run | None:
        handler = self._handler_for(context.schedule)
        if handler is None:
            return self._engine.finish(
                context, no_handler(context.schedule.agent_id, self.clock.now())
            )
        self._in_handler.active = True
        try:
            outcome, escaped = run_handler(handler, context, self.clock.now, self._coroutines.run)
        finally:
            self._in_handler.active = False
        try:
            final = self._engine.finish(context, outcome)
        except Exception:
            log.exception(
                "could not record the outcome of run %s",
                context.run_id,
                extra=fields(context.schedule, run_id=context.run_id),
            )
            final = None
        if escaped is not None:
            if isinstance(escaped, (KeyboardInterrupt, SystemExit)) and (
                threading.current_thread() is threading.main_thread()
            ):
                raise escaped  # Ctrl-C or sys.exit in the app's own thread: recorded, then honoured
            log.warning(
                "the handler of run %s raised %s; the run is failed and firing goes on",
                context.run_id,
                type(escaped).__name__,
                extra=fields(context.schedule, run_id=context.run_id),
            )
        return final

    # -- the background loop -------------------------------------------------

    def start(self) -> None:
        self._require_handler()
        if self._thread is not None and self._thread.is_alive():
            if self._policy.running:
                return
            self._thread.join()  # a loop told to stop from its own handler: let it end
        self._thread = None
        if self._executor_shut_down:  # ours, shut down by stop(): a fresh one
            self.executor = _pool()
            self._executor_shut_down = False
        elif not self._owns_executor:
            self._check_executor()
        self._policy.open()
        self._thread = threading.Thread(target=self._run_loop, name="agentsched-loop", daemon=True)
        self._thread.start()

    def stop(self, wait: bool = True, timeout: float | None = None) -> None:
        timeout = check_seconds("timeout", timeout)
        inside = getattr(self._in_handler, "active", False)
        self._policy.close()
        thread = self._thread
        # From the loop's own thread (an inline handler) the loop exits after this run;
        # a later stop() from elsewhere joins it.
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if not thread.is_alive():
                self._thread = None
        self._engine.cancel_all()
        if wait and not inside:
            self._wait_for_handlers(timeout)
        if self._owns_executor:
            self.executor.shutdown(wait=False)
            self._executor_shut_down = True
        if not self._engine.in_flight():
            self._coroutines.close()

    def _wait_for_handlers(self, timeout: float | None) -> None:
        """Wait for the handlers started here, and the buffered runs they start in turn."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._futures_lock:
                pending = list(self._futures)
            if not pending:
                return
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            _, late = wait_for_futures(pending, left)
            if late:
                return

    def _run_loop(self) -> None:
        while self._policy.running:
            self._wake_event.clear()
            wake_at = self._policy.turn()
            if wake_at is None:
                return
            self.clock.wait_until(wake_at, self._wake_event)
