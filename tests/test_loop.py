"""The background loop (`start()`/`stop()`): it fires when the fake clock reaches a due
time, wakes for new work, survives a failing store, never waits on one hung handler,
and stops by the rules of `stop()`."""

from __future__ import annotations

import logging
import math
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from support.firing import Fired, Recorder
from support.matrix import Factory
from support.waiting import DEADLINE, eventually

from agentsched import (
    Cron,
    Once,
    Overlap,
    RunContext,
    RunStatus,
    Schedule,
    Scheduler,
    ValidationError,
)
from agentsched.testing import FakeClock

UTC = timezone.utc
T0 = datetime(2026, 1, 5, 8, 59, tzinfo=UTC)
NINE = datetime(2026, 1, 5, 9, tzinfo=UTC)


def daily(sched: Any, agent: str = "bot", **changes: Any) -> Schedule:
    """A schedule of `agent` firing at 09:00 every day, with `changes`."""
    fields: dict[str, Any] = {"agent_id": agent, "schedule": Cron("0 9 * * *"), "input": "go"}
    fields.update(changes)
    created: Schedule = sched.create(**fields)
    return created


def test_background_loop_fires_when_the_clock_reaches_the_due_time(make: Factory) -> None:
    clock, fired = FakeClock(T0), Fired()
    sched = make(fired, executor=None, clock=clock)
    # ALLOW_ALL: a fire must not be skipped because the last run's outcome is still
    # being written when the clock moves on (that is SKIP doing its job)
    s = daily(sched, schedule=Cron("*/10 * * * *"), overlap=Overlap.ALLOW_ALL)
    sched.start()
    clock.set(datetime(2026, 1, 5, 9, 5, tzinfo=UTC))
    (first,) = fired.wait_for(1)
    assert first.scheduled_for == NINE
    for minute in (10, 20, 30):
        clock.set(datetime(2026, 1, 5, 9, minute, tzinfo=UTC))
        assert fired.wait_for(minute // 10 + 1)[-1].scheduled_for == clock.now()
    sched.stop()
    assert [r.scheduled_for for r in sched.runs(s.id)] == [
        datetime(2026, 1, 5, 9, m, tzinfo=UTC) for m in (30, 20, 10, 0)
    ]


def test_background_loop_wakes_for_a_new_schedule_and_for_trigger(make: Factory) -> None:
    clock, fired = FakeClock(T0), Fired()
    sched = make(fired, executor=None, clock=clock)
    sched.start()
    s = sched.create(agent_id="bot", schedule=Once(T0 + timedelta(seconds=1)), input="go")
    clock.advance(timedelta(seconds=1))
    assert fired.wait_for(1)[0].schedule.id == s.id
    other = sched.create(agent_id="bot", schedule=Cron("0 0 1 1 *"), input="go")
    sched.trigger(other.id)
    assert fired.wait_for(2)[1].schedule.id == other.id
    sched.stop()


@pytest.mark.parametrize("timeout", [-1, math.nan, math.inf, 1e300, "5", True, timedelta(5)])
def test_stop_refuses_a_timeout_no_thread_can_wait(make: Factory, timeout: object) -> None:
    sched = make(Recorder(), executor=None)
    sched.start()
    with pytest.raises(ValidationError) as info:
        sched.stop(timeout=timeout)  # type: ignore[arg-type]  # what is refused
    assert info.value.field == "timeout"
    sched.stop(timeout=0)


def test_start_and_stop_are_idempotent_and_start_again(make: Factory) -> None:
    clock, fired = FakeClock(T0), Fired()
    sched = make(fired, executor=None, clock=clock)
    daily(sched, schedule=Cron("* * * * *"), overlap=Overlap.ALLOW_ALL)
    sched.start()
    sched.start()
    sched.stop()
    sched.stop()
    sched.start()  # a stopped scheduler starts again, with a fresh executor of its own
    clock.set(NINE)
    assert fired.wait_for(1)[0].scheduled_for == NINE
    sched.stop()
    (run,) = sched.runs(sched.list()[0].id)
    assert run.status is RunStatus.SUCCEEDED


def test_the_context_manager_starts_and_stops() -> None:
    """`with Scheduler(...)` runs the loop (its thread, "agentsched-loop") inside the block
    only."""

    def loops() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name == "agentsched-loop"}

    before = loops()
    with Scheduler(handler=Recorder()):
        (started,) = loops() - before
        assert started.is_alive()
    assert not started.is_alive()


def test_stop_sets_cancel_and_waits_for_handlers(make: Factory) -> None:
    entered = threading.Event()
    finished: list[bool] = []

    def polite(ctx: RunContext) -> None:
        entered.set()
        finished.append(ctx.cancel.wait(DEADLINE))

    sched = make(polite, executor=None, clock=FakeClock(T0))
    s = daily(sched)
    sched.tick(now=NINE)
    assert entered.wait(DEADLINE)
    sched.stop(wait=True)
    assert finished == [True]
    assert sched.runs(s.id)[0].status is RunStatus.SUCCEEDED


def test_a_failing_store_call_is_retried_not_fatal(
    make: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    fired = Fired()
    store = make.store()
    claim_due = store.claim_due
    failures = [OSError("disk on fire")] * 2

    def flaky(*args: Any, **kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return claim_due(*args, **kwargs)

    store.claim_due = flaky  # type: ignore[method-assign]
    clock = FakeClock(T0)
    sched = make(fired, executor=None, store=store, clock=clock)
    sched.create(agent_id="bot", schedule=Once(NINE), input="go")
    with caplog.at_level(logging.ERROR, logger="agentsched"):
        sched.start()
        clock.set(NINE)

        def fired_once_the_clock_moved() -> bool:
            clock.advance(timedelta(seconds=1))  # the failed ticks back off on the clock
            return bool(fired.calls)

        eventually(fired_once_the_clock_moved)
        sched.stop()
    assert sum("tick failed" in r.getMessage() for r in caplog.records) == 2


def test_a_hanging_handler_does_not_delay_other_schedules(make: Factory) -> None:
    hang, other = threading.Event(), threading.Event()

    def handler(ctx: RunContext) -> None:
        if ctx.input == "hang":
            hang.wait(DEADLINE)
        else:
            other.set()

    clock = FakeClock(T0)
    sched = make(handler, executor=None, clock=clock)
    daily(sched, input="hang")
    sched.create(agent_id="bot", schedule=Cron("1 9 * * *"), input="fast")
    sched.tick(now=NINE)
    sched.tick(now=NINE + timedelta(minutes=1))
    assert other.wait(DEADLINE)
    hang.set()
    sched.stop()
