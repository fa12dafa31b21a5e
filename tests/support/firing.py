"""Firing under test: handlers that record their runs, what a scheduler that dies
leaves behind, store writes held on purpose, and how many outcomes wait for the group
writer."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from agentsched import RunContext
from agentsched.firing.core import FiringCore
from agentsched.firing.group_commit import GroupWriter
from agentsched.model import Run
from agentsched.stores.base import Finishing, Store
from support.waiting import DEADLINE


def claim_and_die(
    store: Store, now: datetime, lease: timedelta = timedelta(minutes=5)
) -> list[Run]:
    """What a scheduler that claims due work and dies before running any of it leaves:
    the runs it claimed, `running`, leased until `now + lease`."""
    return FiringCore(store, launch=lambda launch: None, lease=lease).tick(now)


class HeldWrites:
    """Wraps a store's `finish_runs`: the first call for which `when(finishing)` holds
    blocks inside (before writing) until `release` is set. `inner` is the store's own
    `finish_runs`, which a test may wrap in turn."""

    def __init__(self, store: Any, when: Callable[[list[Finishing]], bool]) -> None:
        self.inner = store.finish_runs
        self._when = when
        self.entered = threading.Event()
        self.release = threading.Event()
        store.finish_runs = self

    def __call__(self, finishing: list[Finishing], lease_until: Any = None) -> Any:
        if not self.release.is_set() and self._when(finishing):
            self.entered.set()
            assert self.release.wait(DEADLINE)
        return self.inner(finishing, lease_until)


def of_agent(agent: str) -> Callable[[list[Finishing]], bool]:
    """Whether a batch of outcomes holds a run of `agent`."""
    return lambda finishing: any(item.run.agent_id == agent for item in finishing)


def waiting(writer: GroupWriter[Any, Any]) -> int:
    """How many submissions wait behind the group writer: its private queue, read under
    its lock, by the tests whose subject is the order of group writes."""
    with writer._lock:
        return len(writer._waiting)


class Recorder:
    """A handler that records its contexts and returns what it is told to (raises it,
    if it is an exception)."""

    def __init__(self, result: Any = None) -> None:
        self.calls: list[RunContext] = []
        self.result = result

    def __call__(self, ctx: RunContext) -> Any:
        self.calls.append(ctx)
        if isinstance(self.result, BaseException):
            raise self.result
        return self.result


class Fired:
    """A handler that records its runs and lets a test wait for the n-th one."""

    def __init__(self) -> None:
        self.calls: list[RunContext] = []
        self._changed = threading.Condition()

    def __call__(self, ctx: RunContext) -> None:
        with self._changed:
            self.calls.append(ctx)
            self._changed.notify_all()

    def wait_for(self, count: int) -> list[RunContext]:
        """The contexts of the first `count` runs (or more), once they have run."""
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.calls) >= count, DEADLINE), self.calls
            return list(self.calls)


def stored_run(store: Store, run_id: str) -> Run:
    """The run as `store` holds it, which must hold it."""
    run = store.get_run(run_id)
    assert run is not None, f"the store holds no run {run_id}"
    return run
