"""Jitter: each start is delayed by an offset derived from the schedule and the fire,
deterministic and within the jitter; `scheduled_for` never moves."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st
from support.matrix import Factory

from agentsched import (
    Cron,
    Overlap,
    RunContext,
)
from agentsched.model import jitter_offset
from agentsched.testing import FakeClock

UTC = timezone.utc
T0 = datetime(2026, 1, 5, 8, 59, tzinfo=UTC)
NINE = datetime(2026, 1, 5, 9, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def ok(ctx: RunContext) -> str:
    return f"{ctx.schedule.agent_id} ok"


def test_jitter_delays_each_start_but_never_scheduled_for(make: Factory) -> None:
    clock = FakeClock(T0)
    sched = make(ok, clock=clock)
    jitter = timedelta(seconds=50)
    s = sched.create(agent_id="bot", schedule=Cron("* * * * *"), input="go", jitter=jitter)
    for minute in range(20):
        fire = NINE + minute * MINUTE
        offset = jitter_offset(s.id, fire, jitter)
        assert timedelta(0) <= offset < jitter
        if offset > timedelta(0):
            assert sched.tick(now=fire + offset - timedelta(microseconds=1)) == []
        (run,) = sched.tick(now=fire + offset)
        assert run.scheduled_for == fire and run.started_at == fire + offset
    offsets = {jitter_offset(s.id, NINE + m * MINUTE, jitter) for m in range(20)}
    assert len(offsets) > 10  # spread, not one fixed delay


@settings(max_examples=50)
@given(st.text(min_size=1, max_size=20), st.integers(1, 10**9), st.integers(0, 10**6))
def test_jitter_offsets_are_deterministic_and_in_range(key: str, micros: int, minute: int) -> None:
    jitter = timedelta(microseconds=micros)
    fire = NINE + minute * MINUTE
    offset = jitter_offset(key, fire, jitter)
    assert timedelta(0) <= offset < jitter and offset == jitter_offset(key, fire, jitter)


def test_overlap_and_jitter_together(make: Factory) -> None:
    clock = FakeClock(T0)
    sched = make(ok, clock=clock)
    s = sched.create(
        agent_id="bot",
        schedule=Cron("0 * * * *"),
        input="go",
        jitter=timedelta(minutes=30),
        overlap=Overlap.ALLOW_ALL,
    )
    runs = [r for h in range(4) for r in sched.tick(now=NINE + timedelta(hours=h, minutes=30))]
    assert [r.scheduled_for for r in runs] == [NINE + timedelta(hours=h) for h in range(4)]
    assert sched.get(s.id).run_count == 4
