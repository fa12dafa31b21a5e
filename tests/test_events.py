"""Events: subscribers hear a schedule's life and its runs' ends, after the write, by
kind; a raising subscriber changes nothing; an async one runs on the loop."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from support.matrix import Factory, settle
from support.waiting import DEADLINE

from agentsched import (
    AsyncScheduler,
    Cron,
    Event,
    InlineExecutor,
    RunContext,
    RunStatus,
    ValidationError,
)
from agentsched.testing import FakeClock

UTC = timezone.utc
T0 = datetime(2026, 1, 5, 8, 59, tzinfo=UTC)
NINE = datetime(2026, 1, 5, 9, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def ok(ctx: RunContext) -> str:
    return f"{ctx.schedule.agent_id} ok"


class Recorded:
    def __init__(self, sched: Any) -> None:
        self.events: list[Event] = []
        self.stored: list[Any] = []
        self.sched = sched

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        if event.kind.startswith("schedule.") and event.kind != "schedule.deleted":
            self.stored.append(self.sched.store.get(event.schedule_id))

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]


def test_events_follow_a_schedules_life(make: Factory) -> None:
    clock = FakeClock(T0)
    failing = {"now": False}

    def handler(ctx: RunContext) -> str:
        if failing["now"]:
            raise RuntimeError("agent down")
        return "ok"

    sched = make(handler, clock=clock)
    recorded = Recorded(sched)
    sched.subscribe(recorded)
    s = sched.create(agent_id="bot", schedule=Cron("0 * * * *"), input="go", max_runs=3)
    sched.update(s.id, name="renamed")
    sched.pause(s.id)
    clock.set(NINE - MINUTE)
    sched.resume(s.id)
    sched.tick(now=NINE)
    failing["now"] = True
    sched.tick(now=NINE + timedelta(hours=1))
    sched.tick(now=NINE + timedelta(hours=4, minutes=30))  # 11:00, 12:00 missed; 13:00 runs
    sched.delete(s.id)
    settle(sched)
    assert recorded.kinds() == [
        "schedule.created",
        "schedule.updated",
        "schedule.paused",
        "schedule.resumed",
        "run.started",
        "run.succeeded",
        "run.started",
        "run.failed",
        "run.missed",
        "schedule.completed",
        "run.started",
        "run.failed",
        "schedule.deleted",
    ]
    # delivered after the write: the store already holds what the event shows
    for event, stored in zip(
        [
            e
            for e in recorded.events
            if e.kind.startswith("schedule.") and e.kind != "schedule.deleted"
        ],
        recorded.stored,
        strict=True,
    ):
        assert stored == event.schedule
    ends = [e for e in recorded.events if e.kind in ("run.succeeded", "run.failed")]
    assert all(e.run is not None and e.run_id == e.run.id for e in ends)
    assert ends[1].run is not None and ends[1].run.error == "RuntimeError: agent down"


def test_kinds_filter_unsubscribe_and_a_raising_callback(
    make: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    sched = make(ok, clock=FakeClock(T0))
    failed: list[str] = []
    unsubscribe = sched.subscribe(lambda e: failed.append(e.kind), kinds=["run.failed"])

    def broken(event: Event) -> None:
        raise RuntimeError("alerting is down")

    sched.subscribe(broken)
    with caplog.at_level(logging.ERROR, logger="agentsched"):
        s = sched.create(agent_id="bot", schedule=Cron("* * * * *"), input="go")
        (run,) = sched.tick(now=NINE)
        settle(sched)
    assert run.status is RunStatus.SUCCEEDED  # the broken callback changed nothing
    assert failed == []
    assert any("event callback failed" in r.getMessage() for r in caplog.records)
    sched.handler = lambda ctx: 1 / 0
    sched.tick(now=NINE + MINUTE)
    settle(sched)
    assert failed == ["run.failed"]
    unsubscribe()
    sched.tick(now=NINE + 2 * MINUTE)
    settle(sched)
    assert failed == ["run.failed"] and sched.get(s.id).failure_count == 2
    with pytest.raises(ValidationError) as info:
        sched.subscribe(print, kinds=["run.exploded"])
    assert info.value.field == "kinds"


def test_async_callbacks_run_on_the_loop() -> None:

    async def main() -> None:
        seen: list[str] = []
        both = asyncio.Event()

        async def on_event(event: Event) -> None:
            await asyncio.sleep(0)
            seen.append(event.kind)
            if len(seen) == 2:
                both.set()

        sched = AsyncScheduler(handler=ok, executor=InlineExecutor(), clock=FakeClock(T0))
        sched.subscribe(on_event, kinds=["schedule.created", "run.succeeded"])
        await sched.create(agent_id="bot", schedule=Cron("0 9 * * *"), input="go")
        await sched.tick(now=NINE)
        await asyncio.wait_for(both.wait(), DEADLINE)
        assert seen == ["schedule.created", "run.succeeded"]

    asyncio.run(asyncio.wait_for(main(), 10))
