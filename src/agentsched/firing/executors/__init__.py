"""Executors: where handlers run.

- `InlineExecutor`: in the calling thread; `tick()` and `trigger()` return
  once the handlers they started have finished and their outcomes are
  stored (deterministic tests), on `Scheduler` and `AsyncScheduler` alike.
- Any `concurrent.futures.Executor`: `Scheduler` runs handlers on it (a
  16-thread pool by default); `AsyncScheduler` runs *synchronous* handlers
  on it (the loop's default executor by default).
- Coroutine handlers run on an event loop: the running one for
  `AsyncScheduler`, an `EventLoopThread` for `Scheduler`.
"""

from .inline import InlineExecutor
from .loop import EventLoopThread

__all__ = ["EventLoopThread", "InlineExecutor"]
