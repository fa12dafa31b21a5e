"""Claim planning: the one-fire fast path decides exactly what the general rules decide."""

from __future__ import annotations

from datetime import timedelta

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from agentsched import Retry, Status
from agentsched.model import Activity, PendingRetry, Schedule
from agentsched.planning import _plan_claim, due_fires, plan_claim
from agentsched.testing import schedules


@st.composite
def claimable(draw: st.DrawFn) -> tuple[Schedule, Activity, timedelta]:
    """An active schedule with a next fire, what else runs, and how long after the fire
    the claim happens (often just after it, so the one-fire case comes up)."""
    schedule = draw(schedules())
    fire = schedule.next_run_at or schedule.created_at
    changes = {
        "status": Status.ACTIVE,
        "next_run_at": fire,
        "catchup_window": timedelta(seconds=draw(st.integers(1, 7200))),
        "max_runs": draw(st.none() | st.integers(1, 2000)),
        "end_at": draw(st.none() | st.just(fire + timedelta(hours=draw(st.integers(-1, 48))))),
        "jitter": draw(st.none() | st.just(timedelta(seconds=draw(st.integers(1, 600))))),
    }
    if draw(st.booleans()):
        changes["retry"] = Retry(attempts=3, backoff=timedelta(seconds=30))
        if draw(st.booleans()):
            changes["pending_retry"] = PendingRetry(2, fire, fire + timedelta(seconds=30))
    schedule = attrs.evolve(schedule, **changes)
    activity = Activity(running=draw(st.integers(0, 2)), waiting=draw(st.integers(0, 1)))
    late = draw(
        st.sampled_from([timedelta(0), timedelta(seconds=1), timedelta(minutes=59)])
        | st.timedeltas(timedelta(0), timedelta(days=3))
    )
    return schedule, activity, late


@settings(max_examples=400)
@given(claimable())
def test_the_one_fire_path_plans_what_the_general_rules_plan(
    case: tuple[Schedule, Activity, timedelta],
) -> None:
    schedule, activity, late = case
    assert schedule.next_run_at is not None
    now = schedule.next_run_at + late
    fires, not_due = due_fires(schedule, now)
    if not fires:
        return
    planned = plan_claim(schedule, activity, now, lambda: "run_fixed")
    expected = _plan_claim(
        schedule, activity, now, lambda: "run_fixed", fires=fires, not_due=not_due
    )
    assert planned == expected
