"""The edges of time: fires, jitter, leases, timeouts and retries near the end of year
9999 and the start of 1970.

Every duration the firing path adds to an instant goes through
`_datetimes.later`, which stops at the last representable instant rather than
raising `OverflowError`; whatever the clock and the schedule, every tick,
trigger and outcome completes and every run ends in a final status.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.matrix import EACH_STORE_AND_SHELL, Factory, family, firing_core

from agentsched import (
    Cron,
    Interval,
    Once,
    Overlap,
    Retry,
    RunContext,
    RunStatus,
)
from agentsched._instants import FIRST_INSTANT, LAST_INSTANT, later
from agentsched.model import MAX_ATTEMPTS, jitter_offset
from agentsched.testing import FakeClock

UTC = timezone.utc
YEAR = timedelta(days=366)  # the longest duration any field takes
END = datetime(9999, 12, 31, 23, 59, tzinfo=UTC)  # the last whole minute


def test_later_adds_or_stops_at_the_last_instant() -> None:
    assert later(END, timedelta(seconds=59)) == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert later(END, timedelta(minutes=1)) == LAST_INSTANT
    assert later(END, YEAR) == LAST_INSTANT
    assert later(LAST_INSTANT, timedelta(microseconds=1)) == LAST_INSTANT
    assert later(FIRST_INSTANT, YEAR) == FIRST_INSTANT + YEAR


@given(
    st.timedeltas(min_value=timedelta(0), max_value=YEAR),
    st.integers(min_value=1, max_value=MAX_ATTEMPTS),
    st.data(),
)
def test_retry_delays_double_up_to_their_cap_without_overflowing(
    backoff: timedelta, attempt: int, data: st.DataObject
) -> None:
    cap = data.draw(st.timedeltas(min_value=backoff, max_value=YEAR))
    retry = Retry(attempts=MAX_ATTEMPTS, backoff=backoff, max_backoff=cap)
    delays = [retry.delay(n) for n in range(1, attempt + 1)]
    assert delays[0] == backoff
    for before, after in itertools.pairwise(delays):
        assert after == min(before * 2, cap)


def test_jitter_lease_and_timeout_at_the_end_of_year_9999(make: Factory) -> None:
    """jitter, lease and timeout near 9999-12-31 at create, tick and trigger."""
    clock = FakeClock(END - timedelta(hours=1))
    sched = make(lambda ctx: "done", clock=clock, lease=YEAR)
    jittered = sched.create(agent_id="a", input="x", schedule=Once(END), jitter=YEAR)
    timed = sched.create(agent_id="a", input="x", schedule=Once(END), timeout=YEAR)
    assert jittered.due_at == later(END, jitter_offset(jittered.id, END, YEAR))
    clock.set(END)
    (run,) = sched.tick()
    assert run.schedule_id == timed.id and run.status is RunStatus.SUCCEEDED
    manual = sched.trigger(timed.id)
    assert manual.status is RunStatus.SUCCEEDED and manual.started_at == END
    clock.set(LAST_INSTANT)
    (late,) = sched.tick()
    assert late.schedule_id == jittered.id and late.status is RunStatus.SUCCEEDED
    assert sched.tick() == []
    assert firing_core(sched).next_wake(LAST_INSTANT) == LAST_INSTANT


class Agent:
    """A handler that, run after run, succeeds, fails, or takes `overrun` of fake time
    (its clock moved on, stopping at the last instant), as `plan` says."""

    def __init__(self, clock: FakeClock, plan: list[str], overrun: timedelta) -> None:
        self.clock, self.plan, self.overrun = clock, plan, overrun
        self.calls = 0

    def __call__(self, ctx: RunContext) -> str:
        action = self.plan[self.calls % len(self.plan)]
        self.calls += 1
        if action == "fail":
            raise RuntimeError(f"attempt {ctx.attempt} failed")
        if action == "overrun":
            self.clock.set(later(self.clock.now(), self.overrun))
        return "ok"


durations = st.timedeltas(min_value=timedelta(0), max_value=YEAR)


@st.composite
def edge_cases(draw: st.DrawFn) -> dict[str, Any]:
    """A schedule with every policy that adds a duration, a scheduler lease, and a clock
    starting within a year of one edge of the range."""
    near_end = draw(st.booleans())
    start, fire = (
        LAST_INSTANT - offset if near_end else FIRST_INSTANT + offset
        for offset in (draw(durations), draw(durations))
    )
    spec = draw(
        st.sampled_from(
            [
                Once(fire),
                Cron("0 0 * * *"),
                # every hour at least: a tick walks each fire since the last one
                Interval(draw(st.timedeltas(timedelta(hours=1), YEAR)), start_at=fire),
            ]
        )
    )
    backoff = draw(durations)
    retry = draw(
        st.none()
        | st.builds(
            Retry,
            attempts=st.integers(1, 4),
            backoff=st.just(backoff),
            max_backoff=st.timedeltas(min_value=backoff, max_value=YEAR),
        )
    )
    return {
        "start": start,
        "near_end": near_end,
        "lease": draw(st.timedeltas(timedelta(seconds=1), YEAR)),
        "spec": spec,
        "policies": {
            "retry": retry,
            "jitter": draw(st.none() | durations),
            "timeout": draw(st.none() | st.timedeltas(timedelta(microseconds=1), YEAR)),
            "catchup_window": draw(durations),
            "overlap": draw(st.sampled_from(list(Overlap))),
        },
        "plan": draw(st.lists(st.sampled_from(["ok", "fail", "overrun"]), min_size=1)),
        "overrun": draw(durations),
        "steps": draw(st.lists(st.one_of(st.just("trigger"), durations), max_size=6)),
    }


@pytest.mark.parametrize(("store_kind", "shell"), EACH_STORE_AND_SHELL)
@settings(max_examples=60)
@given(case=edge_cases())
def test_near_either_edge_every_run_ends_and_nothing_raises(
    store_kind: str, shell: str, case: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    clock = FakeClock(case["start"])
    agent = Agent(clock, case["plan"], case["overrun"])
    with family(store_kind, shell, tmp_path_factory.mktemp("edges")) as make:
        sched = make(agent, clock=clock, lease=case["lease"])
        store = sched.store
        made = sched.create(agent_id="a", input="x", schedule=case["spec"], **case["policies"])
        for step in case["steps"]:
            if step == "trigger":
                sched.trigger(made.id)
            else:
                clock.set(later(clock.now(), step))
                sched.tick()
            firing_core(sched).next_wake(clock.now())
        # then every retry, jittered fire and timeout left falls due, at the latest at
        # the last instant (a clock near 1970 jumps a few years, not millennia)
        horizon = LAST_INSTANT if case["near_end"] else later(clock.now(), 4 * YEAR)
        for _ in range(MAX_ATTEMPTS):
            due = store.next_due_at()
            if due is None or due > horizon:
                break
            clock.set(max(due, clock.now()))
            sched.tick()
        runs = store.runs(made.id, limit=1000)
        assert all(run.status is not RunStatus.RUNNING for run in runs)
        assert all(run.finished_at is not None for run in runs)
