"""Claim planning: the one-fire fast path decides exactly what the general rules decide,
and so does the shortcut for a success the claim already recorded."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from agentsched import Retry, RunStatus, Status
from agentsched.model import Activity, PendingRetry, Run, RunTrigger, Schedule
from agentsched.rules.claims import _plan_claim, due_fires, plan_claim
from agentsched.rules.outcomes import Outcome, apply_outcome
from agentsched.testing import schedules


@st.composite
def claimable(draw: st.DrawFn) -> tuple[Schedule, Activity, timedelta]:
    """An active schedule with a next fire, what else runs, and how long after the fire
    the claim happens (often just after it, so the one-fire case comes up)."""
    schedule = draw(schedules())
    fire = schedule.next_run_at or schedule.created_at
    changes: dict[str, Any] = {
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
    due = due_fires(schedule, now)
    if due.last is None:
        return
    planned = plan_claim(schedule, activity, now, lambda: "run_fixed")
    expected = _plan_claim(schedule, activity, now, lambda: "run_fixed", due)
    assert planned == expected


@st.composite
def claimed_at_any_time(draw: st.DrawFn) -> tuple[Schedule, Activity, timedelta]:
    """`claimable` cases with a zero jitter possible, a pending retry due or not, a claim
    time before the fire too, and often a plain schedule (what the one-fire shortcut
    looks at) claimed after one or a few of its fires."""
    schedule, activity, late = draw(claimable())
    assert schedule.next_run_at is not None
    changes: dict[str, Any] = {}
    if draw(st.booleans()):
        changes["jitter"] = timedelta(0)
    if draw(st.booleans()):
        changes.update(max_runs=None, end_at=None, jitter=None, pending_retry=None)
        activity = Activity()
        late = draw(st.sampled_from([timedelta(seconds=s) for s in (59, 60, 61, 899, 900, 901)]))
    if schedule.pending_retry is not None and "pending_retry" not in changes:
        at = schedule.next_run_at + timedelta(seconds=draw(st.integers(-600, 600)))
        changes["pending_retry"] = attrs.evolve(schedule.pending_retry, at=at)
    if draw(st.booleans()):
        late = -draw(st.timedeltas(timedelta(0), timedelta(hours=2)))
    return attrs.evolve(schedule, **changes), activity, late


@settings(max_examples=400)
@given(claimed_at_any_time())
def test_plan_claim_is_the_general_walk_whenever_it_is_asked(
    case: tuple[Schedule, Activity, timedelta],
) -> None:
    """Whatever is due (nothing, one fire, several, a retry alone), `plan_claim` with its
    one-fire shortcut plans what the general walk plans, run ids drawn alike."""
    schedule, activity, late = case
    assert schedule.next_run_at is not None
    now = schedule.next_run_at + late
    due = due_fires(schedule, now)
    retry = schedule.pending_retry
    expected = (
        None
        if due.last is None and (retry is None or retry.at > now)
        else _plan_claim(schedule, activity, now, iter(["run_1", "run_2"]).__next__, due)
    )
    assert plan_claim(schedule, activity, now, iter(["run_1", "run_2"]).__next__) == expected


@settings(max_examples=400)
@given(schedule=schedules(), data=st.data())
def test_a_success_folds_as_the_general_rules_say(schedule: Schedule, data: st.DataObject) -> None:
    """A success (the claim's own run or another, started or buffered, stateful or not)
    leaves the schedule as it was when the fields a success sets already hold, the very
    same record; otherwise it records them in a new version."""
    draw = data.draw
    instants = st.sampled_from([schedule.created_at, schedule.updated_at])
    schedule = attrs.evolve(
        schedule,
        last_run_id=draw(st.none() | st.sampled_from(["run_a", "run_b"])),
        last_run_at=draw(st.none() | instants),
        failure_count=draw(st.integers(0, 2)),
        last_error=draw(st.none() | st.just("boom")),
        previous_response_id=draw(st.none() | st.just("resp_1")),
        pause_after_failures=draw(st.none() | st.integers(1, 2)),
        status=draw(st.sampled_from([Status.ACTIVE, Status.PAUSED, Status.COMPLETED])),
    )
    run = Run(
        id=draw(st.sampled_from(["run_a", "run_b"])),
        schedule_id=schedule.id,
        agent_id=schedule.agent_id,
        status=RunStatus.SUCCEEDED,
        trigger=draw(st.sampled_from(list(RunTrigger))),
        scheduled_for=schedule.created_at,
        started_at=draw(st.none() | instants),
    )
    outcome = Outcome(
        True,
        schedule.updated_at + timedelta(seconds=5),
        response_id=draw(st.none() | st.sampled_from(["resp_1", "resp_2"])),
    )
    recorded: dict[str, Any] = {"last_run_id": run.id, "failure_count": 0, "last_error": None}
    if run.started_at is not None:
        recorded["last_run_at"] = run.started_at
    if schedule.stateful and outcome.response_id is not None:
        recorded["previous_response_id"] = outcome.response_id
    folded = apply_outcome(schedule, run, outcome)
    if all(getattr(schedule, name) == value for name, value in recorded.items()):
        assert folded is schedule
    else:
        assert folded == attrs.evolve(
            schedule,
            version=schedule.version + 1,
            updated_at=outcome.finished_at,
            **recorded,
        )
