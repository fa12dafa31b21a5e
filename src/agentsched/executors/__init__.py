"""Executors: where handlers run.

Any `concurrent.futures.Executor` works with `Scheduler` (a
`ThreadPoolExecutor` is the default); `InlineExecutor` runs handlers in the
calling thread, so `tick()` returns only once their outcomes are stored.
`AsyncScheduler` runs handlers on its event loop instead.
"""

from .inline import InlineExecutor

__all__ = ["InlineExecutor"]
