"""Every scheduler behind one synchronous face, so that one test proves a behaviour on
every combination of store (memory, sqlite, postgres) and shell (sync, async).

`AsyncDriver` runs an `AsyncScheduler` on an event loop in a background thread
and turns each coroutine method into a blocking call, the way a test of
`Scheduler` calls it.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pg_server
import pytest

from agentsched import AsyncScheduler, InlineExecutor, MemoryStore, Scheduler, SQLiteStore
from agentsched.clock import Clock
from agentsched.firing.core import DEFAULT_LEASE
from agentsched.stores.base import Store
from agentsched.testing import FakeClock


class AsyncDriver:
    """An `AsyncScheduler` with blocking methods (its loop runs in a thread)."""

    def __init__(self, scheduler: AsyncScheduler) -> None:
        self.scheduler = scheduler
        self.store = scheduler.store
        self.clock = scheduler.clock
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def _run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=30)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.scheduler, name)
        if not callable(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            return self._run(result) if inspect.iscoroutine(result) else result

        return call

    @property
    def handler(self) -> Any:
        return self.scheduler.handler

    @handler.setter
    def handler(self, value: Any) -> None:
        self.scheduler.handler = value

    def close(self) -> None:
        try:
            self._run(self.scheduler.stop(wait=False))
        finally:
            self._run(self._loop.shutdown_default_executor())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._loop.close()


Inline = object()  # the executor marker for "InlineExecutor" in `Factory`


@dataclass
class Factory:
    """Builds schedulers of one kind (store x shell) and cleans them up."""

    kind: str
    directory: Path
    made: list[Any] = field(default_factory=list)
    stores: list[Store] = field(default_factory=list)

    @property
    def is_async(self) -> bool:
        return self.kind.endswith("async")

    def store(self, **options: Any) -> Store:
        """A fresh store of this kind (several calls on sqlite: several files)."""
        if self.kind.startswith("memory"):
            made: Store = MemoryStore(**options)
        elif self.kind.startswith("sqlite"):
            made = SQLiteStore(self.directory / f"store-{len(self.stores)}.db", **options)
        elif self.kind.startswith("postgres"):
            made = pg_server.scratch_store(**options)
        else:
            raise AssertionError(self.kind)
        self.stores.append(made)
        return made

    def reopen(self, store: Store) -> Store:
        """Another handle on the same data (another process would open its own)."""
        if isinstance(store, SQLiteStore):
            again = SQLiteStore(store.path)
            self.stores.append(again)
            return again
        if self.kind.startswith("postgres"):
            again = pg_server.reopen(store)
            self.stores.append(again)
            return again
        return store

    def __call__(
        self,
        handler: Callable[..., Any] | None = None,
        *,
        executor: Executor | object | None = Inline,
        clock: Clock | None = None,
        store: Store | None = None,
        lease: timedelta = DEFAULT_LEASE,
        **more: Any,
    ) -> Any:
        """A scheduler of this kind; `executor=Inline` (the default) runs handlers inline,
        `None` uses the shell's default (threads, or tasks on the loop)."""
        chosen = InlineExecutor() if executor is Inline else executor
        options: dict[str, Any] = {
            "store": store if store is not None else self.store(),
            "handler": handler,
            "executor": chosen,
            "clock": clock if clock is not None else FakeClock(),
            "lease": lease,
            **more,
        }
        if self.is_async:
            driver = AsyncDriver(AsyncScheduler(**options))
            self.made.append(driver)
            return driver
        sched = Scheduler(**options)
        self.made.append(sched)
        return sched

    def close(self) -> None:
        for made in self.made:
            if isinstance(made, AsyncDriver):
                made.close()
            else:
                made.stop(wait=False)
        for store in self.stores:
            store.close()


KINDS = [
    "memory-sync",
    "memory-async",
    "sqlite-sync",
    "sqlite-async",
    "postgres-sync",
    "postgres-async",
]


@pytest.fixture(params=KINDS)
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Factory]:
    factory = Factory(request.param, tmp_path)
    yield factory
    factory.close()
