"""Threads in tests: a call in the background, handlers held at gates, a pool that
cleans up, and Ctrl-C raised in the main thread. Every wait is bounded by `DEADLINE`."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest

from agentsched import RunContext
from support.waiting import DEADLINE


class Background:
    """`fn()` in a daemon thread; `result()` waits for it and re-raises what it raised."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[[], Any]) -> None:
        try:
            self._value = fn()
        except BaseException as exc:
            self._error = exc

    def done(self, timeout: float = DEADLINE) -> bool:
        """Whether `fn()` returned (or raised) within `timeout` seconds."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def result(self, timeout: float = DEADLINE) -> Any:
        assert self.done(timeout), "still blocked"
        if self._error is not None:
            raise self._error
        return self._value


class Gates:
    """A handler routed by agent id: `agent` waits on its gate (if it has one), then
    returns `agent`'s answer (an exception is raised)."""

    def __init__(self, *gated: str) -> None:
        self.gates = {agent: threading.Event() for agent in gated}
        self.entered = {agent: threading.Event() for agent in gated}
        self.answers: dict[str, Any] = {}
        self.calls: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def __call__(self, ctx: RunContext) -> Any:
        agent = ctx.schedule.agent_id
        with self._lock:
            self.calls.append((ctx.schedule.id, ctx.run_id))
        if agent in self.gates:
            self.entered[agent].set()
            assert self.gates[agent].wait(DEADLINE)
        answer = self.answers.get(agent, agent)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def open(self) -> None:
        for gate in self.gates.values():
            gate.set()


@contextmanager
def pool(workers: int = 8) -> Iterator[ThreadPoolExecutor]:
    """A thread pool for handlers, shut down (its queue cancelled) after the block."""
    executor = ThreadPoolExecutor(workers, thread_name_prefix="test-pool")
    try:
        yield executor
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


@contextmanager
def interrupt_main_on(signum: int = signal.SIGUSR1) -> Iterator[Callable[[], None]]:
    """While inside: `fire()` (from any thread) raises KeyboardInterrupt in the main thread,
    as Ctrl-C does."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("needs the main thread")

    def raise_interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signum, raise_interrupt)
    main = threading.main_thread().ident
    assert main is not None
    try:
        yield lambda: signal.pthread_kill(main, signum)
    finally:
        signal.signal(signum, previous)
