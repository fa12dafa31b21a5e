"""`InlineExecutor`: run each call at once in the caller's thread (deterministic tests)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

__all__ = ["InlineExecutor"]

T = TypeVar("T")


class InlineExecutor(Executor):
    """A `concurrent.futures.Executor` that runs `fn` before `submit` returns.

    With it, `Scheduler.tick()` returns only after the handlers it started
    have finished and their results are stored. Timeouts can then only be
    judged after the handler returns (by the scheduler's clock).
    """

    def __init__(self) -> None:
        self._shutdown = False
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new calls after shutdown")
        future: Future[T] = Future()
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            future.set_exception(exc)
        else:
            future.set_result(result)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._shutdown = True
