"""The one fixture family of the behaviour tests: every store (memory, sqlite, postgres)
behind every shell (sync, async), so that one test proves a behaviour on each.

- `make`: a `Factory` of schedulers of one store and one shell, each behind the
  synchronous face of `Scheduler` (an `AsyncScheduler` through an `AsyncDriver`);
  `make.store()` opens another store of the kind, `make.native()` gives the shell
  itself (for the web app, which awaits an `AsyncScheduler`).
- `stores`: a `Stores` factory alone, and `store`, one store it opened, for tests of
  what a store keeps (the store conformance suite takes `store`).
- `store_kind` and `shell` are the two axes; `--store` and `--shell` (see conftest.py)
  run one of each. PostgreSQL stores need the test server (`support.postgres`).

Tests whose case is drawn by hypothesis cannot take a function-scoped fixture per
example; they parametrize `store_kind` and `shell` over `KINDS` (or
`EACH_STORE_AND_SHELL`) and open a `family()` in each example.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import threading
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Executor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from agentsched import AsyncScheduler, InlineExecutor, MemoryStore, Scheduler, SQLiteStore
from agentsched.clock import Clock
from agentsched.firing.core import DEFAULT_LEASE, FiringCore
from agentsched.firing.handlers import Handler
from agentsched.stores.base import Store
from agentsched.testing import FakeClock
from support import postgres
from support.waiting import DEADLINE

STORES = ("memory", "sqlite", "postgres")
SHELLS = ("sync", "async")
KINDS = tuple((store, shell) for store in STORES for shell in SHELLS)
EACH_STORE_AND_SHELL: tuple[tuple[str, str], ...] = (
    ("memory", "sync"),
    ("sqlite", "sync"),
    ("postgres", "sync"),
    ("memory", "async"),
)
"""Every store and every shell, each once: for property tests, whose examples cost a
store and a scheduler each, where the six kinds would cost more than they find (the
shells share the firing core; the stores differ in what they keep)."""


class AsyncDriver:
    """An `AsyncScheduler` with blocking methods: its loop runs in a thread of its own,
    and each coroutine method is called as `Scheduler`'s is."""

    def __init__(self, scheduler: AsyncScheduler) -> None:
        self.scheduler = scheduler
        self.store = scheduler.store
        self.clock = scheduler.clock
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        """Run `coroutine` on the driver's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(DEADLINE)

    def settle(self) -> None:
        """Let the callbacks queued on the loop so far run (event subscribers are): the
        loop runs what is queued first in, first out, so they run before this does."""
        self.run(asyncio.sleep(0))

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.scheduler, name)
        if not callable(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            return self.run(result) if inspect.iscoroutine(result) else result

        return call

    def agent(self, agent_id: str) -> Callable[[Handler], Handler]:
        """`AsyncScheduler.agent`, a decorator (not a coroutine)."""
        return self.scheduler.agent(agent_id)

    @property
    def handler(self) -> Any:
        return self.scheduler.handler

    @handler.setter
    def handler(self, value: Any) -> None:
        self.scheduler.handler = value

    def close(self) -> None:
        try:
            self.run(self.scheduler.stop(wait=False))
        finally:
            self.run(self._loop.shutdown_default_executor())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(DEADLINE)
            self._loop.close()


def shell_of(sched: Scheduler | AsyncScheduler | AsyncDriver) -> Scheduler | AsyncScheduler:
    """The shell itself, behind its driver if it has one."""
    return sched.scheduler if isinstance(sched, AsyncDriver) else sched


def firing_core(sched: Scheduler | AsyncScheduler | AsyncDriver) -> FiringCore:
    """The firing core a shell keeps private (`_engine`): for the tests whose subject is
    what happens inside it (its wake-ups, its queue of outcomes, the runs it holds)."""
    return shell_of(sched)._engine


def settle(sched: Scheduler | AsyncDriver) -> None:
    """Let event callbacks delivered after a write run: at once for `Scheduler`, on the
    loop for an `AsyncScheduler`."""
    if isinstance(sched, AsyncDriver):
        sched.settle()


class Stores:
    """Opens stores of one kind, each fresh (on sqlite, a file each; on postgres, a
    schema each), and closes them after the test."""

    def __init__(self, kind: str, directory: Path | None = None) -> None:
        self.kind = kind
        self.directory = directory  # for sqlite files
        self.opened: list[Store] = []

    def __call__(self, **options: Any) -> Store:
        if self.kind == "memory":
            made: Store = MemoryStore(**options)
        elif self.kind == "sqlite":
            assert self.directory is not None, "sqlite stores need a directory"
            made = SQLiteStore(self.directory / f"store-{len(self.opened)}.db", **options)
        elif self.kind == "postgres":
            made = postgres.scratch_store(**options)
        else:
            raise AssertionError(self.kind)
        self.opened.append(made)
        return made

    def reopen(self, store: Store, **options: Any) -> Store:
        """Another handle on the same data, as another process would open it (a
        `MemoryStore` lives in one process: the same store)."""
        if isinstance(store, SQLiteStore):
            again: Store = SQLiteStore(store.path, **options)
        elif self.kind == "postgres":
            again = postgres.reopen(store, **options)
        else:
            return store
        self.opened.append(again)
        return again

    def close(self) -> None:
        """Close every store, the handles opened last first (a PostgreSQL schema is
        emptied for reuse when its first store closes, after the others)."""
        for store in reversed(self.opened):
            store.close()


Inline: Any = object()  # the executor marker for "an InlineExecutor of its own"


class Factory:
    """Schedulers of one store kind and one shell, cleaned up after the test."""

    def __init__(self, stores: Stores, shell: str) -> None:
        self.stores = stores
        self.shell = shell
        self.made: list[Scheduler | AsyncDriver] = []

    @property
    def kind(self) -> str:
        return f"{self.stores.kind}-{self.shell}"

    @property
    def is_async(self) -> bool:
        return self.shell == "async"

    def store(self, **options: Any) -> Store:
        """A fresh store of this kind."""
        return self.stores(**options)

    def reopen(self, store: Store) -> Store:
        """Another handle on the same data (another process would open its own)."""
        return self.stores.reopen(store)

    def native(
        self,
        handler: Callable[..., Any] | None = None,
        *,
        executor: Executor | None = Inline,
        clock: Clock | None = None,
        store: Store | None = None,
        lease: timedelta = DEFAULT_LEASE,
        **more: Any,
    ) -> Scheduler | AsyncScheduler:
        """The shell itself, over a fresh store unless one is given; `executor=Inline`
        (the default) runs handlers inline, `None` takes the shell's default (threads, or
        tasks on the loop). Whoever starts an `AsyncScheduler` stops it, on its loop."""
        options: dict[str, Any] = {
            "store": store if store is not None else self.store(),
            "handler": handler,
            "executor": InlineExecutor() if executor is Inline else executor,
            "clock": clock if clock is not None else FakeClock(),
            "lease": lease,
            **more,
        }
        if self.is_async:
            return AsyncScheduler(**options)
        sched = Scheduler(**options)
        self.made.append(sched)
        return sched

    def __call__(
        self,
        handler: Callable[..., Any] | None = None,
        *,
        executor: Executor | None = Inline,
        clock: Clock | None = None,
        store: Store | None = None,
        lease: timedelta = DEFAULT_LEASE,
        **more: Any,
    ) -> Scheduler | AsyncDriver:
        """A scheduler of this kind with `Scheduler`'s blocking methods (see `native`)."""
        sched = self.native(
            handler, executor=executor, clock=clock, store=store, lease=lease, **more
        )
        if isinstance(sched, AsyncScheduler):
            driver = AsyncDriver(sched)
            self.made.append(driver)
            return driver
        return sched

    def close(self) -> None:
        """Stop every scheduler made (the stores are closed by their `Stores`)."""
        for made in self.made:
            if isinstance(made, AsyncDriver):
                made.close()
            else:
                made.stop(wait=False)


@contextlib.contextmanager
def family(store_kind: str, shell: str, directory: Path | None = None) -> Iterator[Factory]:
    """A `Factory` for one hypothesis example (or any block), closed at its end; sqlite
    stores need a `directory`."""
    opened = Stores(store_kind, directory)
    factory = Factory(opened, shell)
    try:
        yield factory
    finally:
        try:
            factory.close()
        finally:
            opened.close()


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture(params=SHELLS)
def shell(request: pytest.FixtureRequest) -> str:
    chosen: str = request.param
    return chosen


@pytest.fixture
def stores(store_kind: str, tmp_path: Path) -> Iterator[Stores]:
    opened = Stores(store_kind, tmp_path)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def store(stores: Stores) -> Store:
    return stores()


@pytest.fixture
def make(stores: Stores, shell: str) -> Iterator[Factory]:
    factory = Factory(stores, shell)
    yield factory
    factory.close()
