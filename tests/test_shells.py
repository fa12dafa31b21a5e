"""`Scheduler` and `AsyncScheduler` are one surface on one base: the same public names,
parameters and docstrings, the async one's calls coroutines where they do store I/O or
run the loop; the faces' needs (`around_runs`, `runs_in_flight`, immediate events) are
public on both; the loop's policy is one object both shells run."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

import pytest
from support.firing import stored_run
from support.matrix import Factory

from agentsched import (
    AgentschedError,
    AsyncScheduler,
    Cron,
    Event,
    MemoryStore,
    RunContext,
    RunStatus,
    Scheduler,
    StoreError,
    ValidationError,
)
from agentsched.firing.core import MAX_SLEEP, FiringCore
from agentsched.firing.loop_policy import LoopPolicy
from agentsched.testing import FakeClock

UTC = timezone.utc
T0 = datetime(2026, 1, 5, 8, 59, tzinfo=UTC)
NINE = datetime(2026, 1, 5, 9, tzinfo=UTC)

CALLS = {"create", "ensure", "get", "list", "update", "pause", "resume", "delete", "upcoming"}
CALLS |= {"runs", "trigger", "tick", "start", "stop"}  # coroutines on AsyncScheduler
PLAIN = {"agent", "subscribe", "around_runs", "from_url"}  # functions on both
ATTRIBUTES = {"store", "clock", "executor", "handler", "handlers", "runs_in_flight"}


def public(kind: type, instance: object) -> set[str]:
    return {name for name in dir(kind) + list(vars(instance)) if not name.startswith("_")}


@pytest.fixture
def shells() -> Iterator[tuple[Scheduler, AsyncScheduler]]:
    sync = Scheduler()
    yield sync, AsyncScheduler()
    sync.stop()


def test_both_shells_show_the_same_public_names_and_no_others(
    shells: tuple[Scheduler, AsyncScheduler],
) -> None:
    sync, asynchronous = shells
    assert public(Scheduler, sync) == public(AsyncScheduler, asynchronous)
    assert public(Scheduler, sync) == CALLS | PLAIN | ATTRIBUTES


@pytest.mark.parametrize("name", sorted(CALLS | PLAIN | {"__init__"}))
def test_each_call_has_one_signature_and_docstring(name: str) -> None:
    sync, asynchronous = getattr(Scheduler, name), getattr(AsyncScheduler, name)
    assert inspect.signature(sync) == inspect.signature(asynchronous)
    assert inspect.getdoc(sync) == inspect.getdoc(asynchronous)
    assert inspect.getdoc(sync)
    assert not inspect.iscoroutinefunction(sync)
    assert inspect.iscoroutinefunction(asynchronous) is (name in CALLS)


def test_runs_in_flight_is_one_property_of_both() -> None:
    assert Scheduler.runs_in_flight is AsyncScheduler.runs_in_flight
    assert isinstance(AsyncScheduler.runs_in_flight, property)


def test_runs_in_flight_counts_handlers_until_they_return(make: Factory) -> None:
    entered, release = threading.Event(), threading.Event()

    def held(ctx: RunContext) -> None:
        entered.set()
        assert release.wait(10)

    sched = make(held, executor=None, clock=FakeClock(T0))
    sched.create(agent_id="bot", schedule=Cron("0 9 * * *"), input="go")
    assert sched.runs_in_flight == 0
    (run,) = sched.tick(now=NINE)
    assert entered.wait(10)
    assert sched.runs_in_flight == 1
    release.set()
    sched.stop(wait=True)
    assert sched.runs_in_flight == 0
    assert stored_run(sched.store, run.id).status is RunStatus.SUCCEEDED


def test_an_immediate_subscriber_sees_a_run_start_before_its_handler_on_both(
    make: Factory,
) -> None:
    """On `AsyncScheduler` too, where other callbacks wait for the event loop."""
    seen: list[str] = []

    def handler(ctx: RunContext) -> None:
        seen.append("handler")

    def on_event(event: Event) -> None:
        seen.append(event.kind)

    sched = make(handler, clock=FakeClock(T0))
    sched.subscribe(on_event, kinds=["run.started", "run.succeeded"], immediate=True)
    sched.create(agent_id="bot", schedule=Cron("0 9 * * *"), input="go")
    sched.tick(now=NINE)
    assert seen == ["run.started", "handler", "run.succeeded"]


def test_an_immediate_subscriber_must_be_a_plain_function() -> None:
    async def on_event(event: Event) -> None:
        pass

    for sched in (Scheduler(), AsyncScheduler()):
        with pytest.raises(ValidationError) as info:
            sched.subscribe(on_event, immediate=True)
        assert info.value.field == "callback"
        sched.subscribe(on_event)  # delivered on the loop, where it is awaited


def test_both_refuse_to_start_on_an_executor_that_is_shut_down() -> None:
    pool = ThreadPoolExecutor(1)
    pool.shutdown()
    sync = Scheduler(handler=print, executor=pool)
    with pytest.raises(AgentschedError, match="the executor given to this Scheduler refuses work"):
        sync.start()

    async def main() -> None:
        asynchronous = AsyncScheduler(handler=print, executor=pool)
        with pytest.raises(AgentschedError, match="given to this AsyncScheduler refuses work"):
            await asynchronous.start()

    asyncio.run(main())


class _FailingStore(MemoryStore):
    """A store whose claims fail while `down` is set."""

    down = False

    def claim_due(self, *args: Any, **kwargs: Any) -> Any:
        if self.down:
            raise StoreError("the store is down")
        return super().claim_due(*args, **kwargs)


def test_the_loop_policy_backs_off_after_failed_ticks_and_ends_when_closed() -> None:
    """Turn by turn: a sleep of at most a minute, then 0.2 s doubling to 30 s while the
    store fails, back to the next due time once it answers; no turn after `close`."""
    clock = FakeClock(T0)
    store = _FailingStore()
    wakes: list[str] = []
    core = FiringCore(store, launch=lambda launch: None)
    policy = LoopPolicy(core, store, clock, lambda: wakes.append("woken"))
    assert not policy.running
    policy.open()
    assert policy.running
    assert policy.turn() == T0 + MAX_SLEEP
    store.down = True
    sleeps = []
    for _ in range(12):
        wake_at = policy.turn()
        assert wake_at is not None
        sleeps.append((wake_at - T0).total_seconds())
    assert sleeps == [0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0, 30.0, 30.0]
    store.down = False
    assert policy.turn() == T0 + MAX_SLEEP  # one good tick and the backoff is over
    policy.close()
    assert wakes == ["woken"]  # a sleeping loop is woken to see it must end
    assert not policy.running
    assert policy.turn() is None


def test_the_loop_policy_wakes_on_writes_only_while_open() -> None:
    clock = FakeClock(T0)
    store = MemoryStore()
    wakes: list[str] = []
    policy = LoopPolicy(
        FiringCore(store, launch=lambda launch: None), store, clock, lambda: wakes.append("w")
    )
    sched = Scheduler(store=store, clock=clock)
    sched.create(agent_id="bot", schedule=Cron("0 9 * * *"), input="before")
    assert wakes == []
    policy.open()
    sched.create(agent_id="bot", schedule=Cron("0 9 * * *"), input="while open")
    assert wakes == ["w"]
    policy.close()
    sched.create(agent_id="bot", schedule=Cron("0 9 * * *"), input="after")
    assert wakes == ["w", "w"]  # the one `close` itself makes, no more
