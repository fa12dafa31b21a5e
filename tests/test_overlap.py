"""Overlap: what a fire does while its schedule's last run is unfinished (SKIP,
BUFFER_ONE, ALLOW_ALL), inline and on real threads, on every store and shell."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from support.firing import Recorder
from support.matrix import Factory
from support.waiting import DEADLINE

from agentsched import (
    Cron,
    Overlap,
    Run,
    RunContext,
    RunStatus,
    Schedule,
)
from agentsched.testing import FakeClock

UTC = timezone.utc
T0 = datetime(2026, 1, 5, 8, 59, tzinfo=UTC)
NINE = datetime(2026, 1, 5, 9, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


def daily(sched: Any, agent: str = "bot", **changes: Any) -> Schedule:
    """A schedule of `agent` firing at 09:00 every day, with `changes`."""
    fields: dict[str, Any] = {"agent_id": agent, "schedule": Cron("0 9 * * *"), "input": "go"}
    fields.update(changes)
    created: Schedule = sched.create(**fields)
    return created


def unfinished(schedule: Schedule, run_id: str, started: bool = True) -> Run:
    return Run(
        id=run_id,
        schedule_id=schedule.id,
        agent_id=schedule.agent_id,
        status=RunStatus.RUNNING,
        scheduled_for=NINE - timedelta(days=1),
        started_at=NINE - timedelta(days=1) if started else None,
    )


def test_overlap_skip_records_a_skipped_run(make: Factory, clock: FakeClock) -> None:
    handler = Recorder()
    sched = make(handler, clock=clock)
    s = daily(sched)
    sched.store.add_run(unfinished(s, "run_elsewhere"))  # still running, e.g. in another process
    runs = sched.tick(now=NINE)
    assert [(r.status, r.scheduled_for) for r in runs] == [(RunStatus.SKIPPED, NINE)]
    assert handler.calls == [] and sched.get(s.id).run_count == 0


def test_overlap_allow_all_runs_anyway(make: Factory, clock: FakeClock) -> None:
    handler = Recorder()
    sched = make(handler, clock=clock)
    s = daily(sched, overlap=Overlap.ALLOW_ALL)
    sched.store.add_run(unfinished(s, "run_elsewhere"))
    assert [r.status for r in sched.tick(now=NINE)] == [RunStatus.SUCCEEDED]
    assert len(handler.calls) == 1


def test_overlap_buffer_one_keeps_one_waiting_then_skips(make: Factory, clock: FakeClock) -> None:
    handler = Recorder()
    sched = make(handler, clock=clock)
    s = sched.create(
        agent_id="bot", schedule=Cron("0 * * * *"), input="go", overlap=Overlap.BUFFER_ONE
    )
    sched.store.add_run(unfinished(s, "run_elsewhere"))
    first = sched.tick(now=NINE)
    assert [(r.status, r.started_at) for r in first] == [(RunStatus.RUNNING, None)]
    second = sched.tick(now=NINE + timedelta(hours=1))
    assert [r.status for r in second] == [RunStatus.SKIPPED]
    assert handler.calls == []


def test_buffered_run_starts_when_the_running_one_ends(make: Factory) -> None:
    release = threading.Event()
    started: list[str] = []

    def handler(ctx: RunContext) -> None:
        started.append(ctx.run_id)
        if len(started) == 1:
            assert release.wait(DEADLINE)

    clock = FakeClock(T0)
    with ThreadPoolExecutor(4) as pool:
        sched = make(handler, executor=pool, clock=clock)
        s = sched.create(
            agent_id="bot", schedule=Cron("0 * * * *"), input="go", overlap=Overlap.BUFFER_ONE
        )
        (first,) = sched.tick(now=NINE)
        (buffered,) = sched.tick(now=NINE + timedelta(hours=1))
        (skipped,) = sched.tick(now=NINE + timedelta(hours=2))
        assert buffered.started_at is None and skipped.status is RunStatus.SKIPPED
        release.set()
        sched.stop(wait=True)
    assert started == [first.id, buffered.id]
    final = {r.id: r.status for r in sched.runs(s.id)}
    assert final == {
        first.id: RunStatus.SUCCEEDED,
        buffered.id: RunStatus.SUCCEEDED,
        skipped.id: RunStatus.SKIPPED,
    }


def test_skip_with_real_threads(make: Factory) -> None:
    release, entered = threading.Event(), threading.Event()

    def slow(ctx: RunContext) -> None:
        entered.set()
        assert release.wait(DEADLINE)

    sched = make(slow, executor=None, clock=FakeClock(T0))
    sched.create(agent_id="bot", schedule=Cron("0 * * * *"), input="go")
    sched.tick(now=NINE)
    assert entered.wait(DEADLINE)
    assert [r.status for r in sched.tick(now=NINE + timedelta(hours=1))] == [RunStatus.SKIPPED]
    release.set()
    sched.stop()


def test_allow_all_with_real_threads_runs_concurrently(make: Factory) -> None:
    both_in = threading.Barrier(2, timeout=DEADLINE)

    def meet(ctx: RunContext) -> None:
        both_in.wait()

    sched = make(meet, executor=None, clock=FakeClock(T0))
    s = sched.create(agent_id="bot", schedule=Cron("0 * * * *"), input="go", overlap="allow_all")
    sched.tick(now=NINE)
    sched.tick(now=NINE + timedelta(hours=1))
    sched.stop()
    assert [r.status for r in sched.runs(s.id)] == [RunStatus.SUCCEEDED, RunStatus.SUCCEEDED]
