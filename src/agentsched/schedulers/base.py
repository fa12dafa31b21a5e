"""`SchedulerBase`: what `Scheduler` and `AsyncScheduler` are, written once.

Both shells are a `SchedulerBase`: the same constructor and attributes
(`store`, `clock`, `executor`, `handler`, `handlers`), the same handler routes
(`agent`), events (`subscribe`), `around_runs`, `runs_in_flight` and
`from_url`, over one firing core and one loop policy. Their schedule and
firing calls are written once too, as blocking code, in `operations.py`.

What a shell adds is only how things run: how it starts a handler
(`_launch`), delivers an event (`_deliver`), wakes its loop (`_wake`), and
runs that loop (`start`, `stop`).
"""

from __future__ import annotations

import abc
import contextlib
import inspect
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor
from datetime import timedelta
from typing import Any, TypeVar

from .._checks import check_text
from ..clock import Clock, SystemClock
from ..errors import AgentschedError, ValidationError, shorten
from ..firing.core import DEFAULT_LEASE, FiringCore, Launch
from ..firing.events import Event, EventHub
from ..firing.handlers import Handler, RunWrapper, wrap_handler
from ..firing.loop_policy import LoopPolicy
from ..model import MAX_ID, Run, Schedule
from ..stores.base import Store
from ..stores.memory import MemoryStore
from ..stores.urls import store_from_url

__all__ = ["SchedulerBase"]

H = TypeVar("H", bound=Handler)
S = TypeVar("S", bound="SchedulerBase")


def _nothing() -> None:
    pass


class SchedulerBase(abc.ABC):
    """Schedules in a store, and the firing core that runs them (see `Scheduler`)."""

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
        self.store: Store = store if store is not None else MemoryStore()
        self.handler = handler
        self.handlers: dict[str, Handler] = {}
        for agent_id, routed in (handlers or {}).items():
            self.agent(agent_id)(routed)
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.executor: Executor | None = executor
        self._around: list[RunWrapper] = []
        self._events = EventHub(self._deliver)
        self._engine = FiringCore(self.store, self._launch, lease, self._wake, self._events)
        self._policy = LoopPolicy(self._engine, self.store, self.clock, self._wake)
        self._set_up()

    @classmethod
    def from_url(cls: type[S], url: str, **options: Any) -> S:
        """A scheduler over the store a URL names.

        `sqlite:///relative/path.db`, `sqlite:////absolute/path.db`,
        `memory://`, or `postgresql://...` (needs the `postgres` extra).
        Other keyword arguments go to the scheduler.
        """
        return cls(store=store_from_url(url), **options)

    # -- handlers, events, runs in flight --------------------------------------

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

    def around_runs(self, factory: RunWrapper) -> Callable[[], None]:
        """Enter `factory(ctx)` (a context manager) around every handler call, in the
        handler's own thread or task (for tracing: its span is current inside the
        handler). Returns a function that removes it."""
        self._around.append(factory)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._around.remove(factory)

        return remove

    def subscribe(
        self,
        callback: Callable[[Event], Any],
        kinds: Iterable[str] | None = None,
        *,
        immediate: bool = False,
    ) -> Callable[[], None]:
        """Call `callback(event)` after each write of the given `kinds` (all if None);
        returns a function that unsubscribes. A callback that raises is logged and
        never affects firing. Kinds: `agentsched.firing.events.EVENT_KINDS`.

        `Scheduler` calls it in the thread that made the write; `AsyncScheduler` on
        its event loop, awaiting what a coroutine function returns as a task.
        `immediate=True` calls it in the thread that made the write on both, before
        anything else happens (a handler starts only once its `run.started`
        callbacks have returned): for instrumentation, quick, thread-safe and a
        plain function.
        """
        if immediate and inspect.iscoroutinefunction(callback):
            raise ValidationError(
                "callback", "an immediate callback must be a plain function, not a coroutine one"
            )
        return self._events.subscribe(callback, kinds, immediate)

    @property
    def runs_in_flight(self) -> int:
        """How many runs this scheduler started whose handlers have not returned (one
        that timed out counts until its handler really returns)."""
        return self._engine.in_flight()

    # -- the background loop, as each shell runs it ----------------------------

    @abc.abstractmethod
    def start(self) -> object:
        """Start firing in the background: from a thread (`Scheduler`), or from a task on
        the running loop (`AsyncScheduler`). Idempotent; again after `stop()` too."""

    @abc.abstractmethod
    def stop(self, wait: bool = True, timeout: float | None = None) -> object:
        """Stop claiming, set every running handler's cancel event, and (by default) wait
        for the handlers, at most `timeout` seconds if given (an `AsyncScheduler` then
        cancels their tasks).

        Runs still going when it returns keep their `running` record until they
        finish; one that never finishes is marked interrupted by its lease.
        Called from inside a handler, it stops the scheduler and returns without
        waiting (for itself, or for handlers that may be waiting for it).
        """

    # -- for the shells and the operations ---------------------------------------

    @abc.abstractmethod
    def _set_up(self) -> None:
        """The shell's own state (threads, or tasks), made last in `__init__`."""

    @abc.abstractmethod
    def _launch(self, launch: Launch) -> Run | None:
        """Start a run's handler: the finished run if it ran inline, else None."""

    @abc.abstractmethod
    def _wake(self) -> None:
        """Wake the loop (from any thread): a write or a deadline may make work due sooner."""

    @abc.abstractmethod
    def _deliver(self, callback: Callable[[Event], Any], event: Event) -> None:
        """Call a subscriber the shell's way (in this thread, or on the event loop)."""

    def _handler_for(self, schedule: Schedule) -> Handler | None:
        """The handler that runs `schedule`'s agent: its route, else the fallback, inside
        the contexts of `around_runs` if any."""
        handler = self.handlers.get(schedule.agent_id, self.handler)
        if handler is None or not self._around:
            return handler
        return wrap_handler(handler, tuple(self._around))

    def _require_handler(self) -> None:
        """Firing needs something to call: refuse early, with a clear error."""
        if self.handler is None and not self.handlers:
            raise AgentschedError(
                "this scheduler has no handler; pass handler= or handlers= to fire runs"
            )

    def _check_executor(self) -> None:
        """The executor given must take work: refuse to start on one that is shut down."""
        if self.executor is None:
            return
        try:
            self.executor.submit(_nothing)
        except RuntimeError as exc:
            raise AgentschedError(
                f"the executor given to this {type(self).__name__} refuses work ({exc}); "
                "pass one that is not shut down"
            ) from None
