"""Firing: a tick fires what is due once, records what the handler returned, counts
failures, chains stateful runs, completes exhausted schedules; trigger runs now; many
schedulers on one store fire each time exactly once. On every store and shell.

Catch-up, overlap, timeouts, leases, retries, jitter and the background loop have files
of their own.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from support.firing import Recorder
from support.matrix import Factory

from agentsched import (
    AgentschedError,
    Cron,
    Interval,
    Once,
    RunContext,
    RunResult,
    RunStatus,
    Schedule,
    Scheduler,
    Status,
    ValidationError,
)
from agentsched.errors import shorten
from agentsched.model import RunTrigger
from agentsched.testing import FakeClock

UTC = timezone.utc
T0 = datetime(2026, 1, 5, 8, 59, tzinfo=UTC)
NINE = datetime(2026, 1, 5, 9, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


def daily(sched: Any, **changes: Any) -> Schedule:
    fields: dict[str, Any] = {"agent_id": "bot", "schedule": Cron("0 9 * * *"), "input": "go"}
    fields.update(changes)
    created: Schedule = sched.create(**fields)
    return created


def test_tick_fires_a_due_schedule_once(make: Factory, clock: FakeClock) -> None:
    handler = Recorder("all done")
    sched = make(handler, clock=clock)
    s = daily(sched)
    assert sched.tick() == []
    clock.set(NINE + timedelta(seconds=2))
    runs = sched.tick()
    assert [r.status for r in runs] == [RunStatus.SUCCEEDED]
    run = runs[0]
    assert (run.scheduled_for, run.started_at, run.finished_at) == (NINE, clock.now(), clock.now())
    assert run.output == "all done" and run.coalesced == 1 and run.trigger is RunTrigger.SCHEDULE
    assert sched.tick() == []  # same instant again: nothing twice
    after = sched.get(s.id)
    assert after.run_count == 1 and after.last_run_id == run.id and after.last_run_at == clock.now()
    assert after.next_run_at == NINE + timedelta(days=1)
    assert sched.runs(s.id) == [run]
    ctx = handler.calls[0]
    assert (ctx.run_id, ctx.scheduled_for, ctx.attempt, ctx.input) == (run.id, NINE, 1, "go")


def test_tick_with_an_explicit_now(make: Factory, clock: FakeClock) -> None:
    sched = make(Recorder(), clock=clock)
    daily(sched)
    assert len(sched.tick(now=NINE)) == 1


@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 1, 5, 9),  # naive
        "2026-01-05T09:00:00Z",
        NINE.timestamp(),
        NINE.date(),
        datetime(1969, 12, 31, 23, 59, tzinfo=UTC),
        datetime.min.replace(tzinfo=UTC),
        datetime.max.replace(tzinfo=timezone(-timedelta(hours=1))),  # 10000-01-01 in UTC
    ],
    ids=repr,
)
def test_tick_refuses_a_now_that_is_not_an_instant_and_fires_nothing(
    make: Factory, clock: FakeClock, now: object
) -> None:
    sched = make(Recorder(), clock=clock)
    s = daily(sched)
    with pytest.raises(ValidationError) as info:
        sched.tick(now=now)  # type: ignore[arg-type]  # what is refused
    assert info.value.field == "now" and "'now'" in str(info.value)
    assert sched.get(s.id) == s and sched.runs(s.id) == []


def test_tick_takes_any_aware_now_in_utc_up_to_the_last_instant(
    make: Factory, clock: FakeClock
) -> None:
    sched = make(Recorder(), clock=clock)
    s = daily(sched, end_at=NINE + timedelta(days=3))
    tokyo = NINE.astimezone(timezone(timedelta(hours=9)))
    (run,) = sched.tick(now=tokyo)
    assert run.started_at == NINE and run.started_at.tzinfo is UTC
    (last,) = sched.tick(now=datetime.max.replace(tzinfo=UTC))
    assert last.status is RunStatus.MISSED and last.coalesced == 3
    assert sched.get(s.id).status is Status.COMPLETED


@pytest.mark.parametrize(
    ("returned", "status", "output", "error"),
    [
        (None, RunStatus.SUCCEEDED, None, None),
        ("text", RunStatus.SUCCEEDED, "text", None),
        (RunResult(response_id="resp_9", output="o"), RunStatus.SUCCEEDED, "o", None),
        (42, RunStatus.FAILED, None, "handler returned int; expected RunResult, str or None"),
        (
            RunResult(response_id="x" * 300),
            RunStatus.FAILED,
            None,
            "handler returned a response_id that is not a 1-256 character string of valid "
            f"text (got {shorten('x' * 300)})",
        ),
        (ValueError("boom"), RunStatus.FAILED, None, "ValueError: boom"),
        ("y" * 30_000, RunStatus.SUCCEEDED, "y" * (20_000 - 15) + "... [truncated]", None),
    ],
)
def test_handler_results(
    make: Factory,
    clock: FakeClock,
    returned: Any,
    status: RunStatus,
    output: str | None,
    error: str | None,
) -> None:
    sched = make(Recorder(returned), clock=clock)
    s = daily(sched)
    (run,) = sched.tick(now=NINE)
    assert (run.status, run.output, run.error) == (status, output, error)
    after = sched.get(s.id)
    assert after.last_error == error and after.failure_count == (0 if error is None else 1)


def test_failures_count_reset_and_pause(make: Factory, clock: FakeClock) -> None:
    handler = Recorder(RuntimeError("down"))
    sched = make(handler, clock=clock)
    s = sched.create(agent_id="bot", schedule=Cron("0 * * * *"), input="go", pause_after_failures=3)
    sched.tick(now=NINE)
    sched.tick(now=NINE + timedelta(hours=1))
    assert sched.get(s.id).failure_count == 2
    handler.result = None
    sched.tick(now=NINE + timedelta(hours=2))
    assert sched.get(s.id).failure_count == 0 and sched.get(s.id).last_error is None
    handler.result = RuntimeError("down again")
    for h in (3, 4, 5):
        sched.tick(now=NINE + timedelta(hours=h))
    paused = sched.get(s.id)
    assert (
        paused.status is Status.PAUSED and paused.failure_count == 3 and paused.next_run_at is None
    )
    assert sched.tick(now=NINE + timedelta(hours=9)) == []


def test_stateful_chain_exact(make: Factory, clock: FakeClock) -> None:
    seen: list[str | None] = []

    def chat(ctx: RunContext) -> RunResult:
        seen.append(ctx.previous_response_id)
        assert ctx.conversation == "conv_1" and ctx.metadata == {"k": "v"}
        return RunResult(response_id=f"resp_{len(seen)}")

    sched = make(chat, clock=clock)
    s = sched.create(
        agent_id="bot",
        schedule=Cron("0 * * * *"),
        input="go",
        stateful=True,
        previous_response_id="resp_0",
        conversation="conv_1",
        metadata={"k": "v"},
    )
    for h in range(3):
        sched.tick(now=NINE + timedelta(hours=h))
    assert seen == ["resp_0", "resp_1", "resp_2"]
    assert sched.get(s.id).previous_response_id == "resp_3"


@pytest.mark.parametrize(
    ("changes", "fires"),
    [
        ({"schedule": Once(NINE)}, 1),
        ({"schedule": Cron("0 * * * *"), "max_runs": 2}, 2),
        ({"schedule": Cron("0 * * * *"), "end_at": NINE + timedelta(hours=2, minutes=30)}, 3),
    ],
)
def test_exhausted_schedules_complete(
    make: Factory, clock: FakeClock, changes: dict[str, Any], fires: int
) -> None:
    handler = Recorder()
    sched = make(handler, clock=clock)
    s = daily(sched, **changes)
    for h in range(6):
        sched.tick(now=NINE + timedelta(hours=h))
    assert len(handler.calls) == fires
    done = sched.get(s.id)
    assert done.status is Status.COMPLETED and done.next_run_at is None and done.run_count == fires


def test_trigger_runs_now_outside_the_spec(make: Factory, clock: FakeClock) -> None:
    handler = Recorder("manual")
    sched = make(handler, clock=clock)
    s = daily(sched, max_runs=1)
    run = sched.trigger(s.id)
    assert (run.trigger, run.status, run.output, run.scheduled_for) == (
        RunTrigger.MANUAL,
        RunStatus.SUCCEEDED,
        "manual",
        T0,
    )
    after = sched.get(s.id)
    assert after.run_count == 0 and after.status is Status.ACTIVE and after.last_run_id == run.id
    (scheduled,) = sched.tick(now=NINE)
    assert scheduled.status is RunStatus.SUCCEEDED
    assert [r.id for r in sched.runs(s.id)] == [scheduled.id, run.id]
    assert sched.get(s.id).status is Status.COMPLETED


def test_paused_and_deleted_schedules_never_fire(make: Factory, clock: FakeClock) -> None:
    later = NINE + timedelta(days=3)
    handler = Recorder()
    sched = make(handler, clock=clock)
    paused, deleted = daily(sched), daily(sched)
    sched.pause(paused.id)
    sched.delete(deleted.id)
    assert sched.tick(now=later) == [] and handler.calls == []
    clock.set(later)
    sched.resume(paused.id)
    assert sched.tick() == []  # no back-fill
    assert [r.coalesced for r in sched.tick(now=later + timedelta(days=1))] == [1]


@pytest.mark.parametrize("lease", [timedelta(0), timedelta(milliseconds=10), 300, None])
def test_bad_lease_is_a_validation_error(lease: Any) -> None:
    with pytest.raises(ValidationError) as info:
        Scheduler(lease=lease)
    assert info.value.field == "lease"


def test_no_handler_is_a_clear_error(make: Factory, clock: FakeClock) -> None:
    sched = make(None, clock=clock)
    daily(sched)
    with pytest.raises(AgentschedError, match="handler"):
        sched.tick(now=NINE)
    assert sched.get(sched.list()[0].id).next_run_at == NINE  # nothing consumed


def test_several_schedulers_on_one_store_fire_each_time_exactly_once(make: Factory) -> None:
    store = make.store()
    calls: list[tuple[str, datetime | None]] = []
    lock = threading.Lock()

    def handler(ctx: RunContext) -> None:
        with lock:
            calls.append((ctx.schedule.id, ctx.scheduled_for))

    clock = FakeClock(T0)
    schedulers = [make(handler, store=make.reopen(store), clock=clock) for _ in range(4)]
    for n in range(25):
        schedulers[0].create(agent_id="bot", schedule=Cron(f"{n} * * * *"), input="go")
    instants = [NINE + timedelta(minutes=m) for m in range(0, 180, 7)]
    barrier = threading.Barrier(len(schedulers))

    def work(s: Any) -> None:
        for t in instants:
            barrier.wait()
            s.tick(now=t)

    threads = [threading.Thread(target=work, args=(s,)) for s in schedulers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == len(set(calls))
    runs = [r for s in schedulers[0].list(limit=100) for r in store.runs(s.id, limit=1000)]
    keys = [(r.schedule_id, r.scheduled_for) for r in runs]
    assert len(keys) == len(set(keys))
    assert sum(r.coalesced for r in runs) == 25 * 3 - sum(
        1 for n in range(25) if NINE + timedelta(hours=2, minutes=n) > instants[-1]
    )


# -- the background loop, driven by a FakeClock ------------------------------------


def test_interval_keeps_its_phase(make: Factory, clock: FakeClock) -> None:
    sched = make(Recorder(), clock=clock)
    s = sched.create(agent_id="bot", schedule=Interval(timedelta(minutes=90)), input="go")
    sched.tick(now=T0 + timedelta(minutes=100))
    assert sched.get(s.id).next_run_at == T0 + timedelta(minutes=180)
