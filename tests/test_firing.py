"""Firing: tick, catch-up, overlap, outcomes, timeouts, trigger, the loop."""

from __future__ import annotations

import logging
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from drivers import Factory

from agentsched import (
    AgentschedError,
    Cron,
    Interval,
    MemoryStore,
    Once,
    Overlap,
    Run,
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
WAIT = 5.0  # seconds a thread test may wait for an event before failing


class Recorder:
    """A handler that records its contexts and returns what it is told to."""

    def __init__(self, result: Any = None) -> None:
        self.calls: list[RunContext] = []
        self.result = result

    def __call__(self, ctx: RunContext) -> Any:
        self.calls.append(ctx)
        if isinstance(self.result, BaseException):
            raise self.result
        return self.result


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


def daily(sched: Any, **changes: Any) -> Schedule:
    fields: dict[str, Any] = {"agent_id": "bot", "schedule": Cron("0 9 * * *"), "input": "go"}
    fields.update(changes)
    return sched.create(**fields)


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
        sched.tick(now=now)
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


def test_catch_up_coalesces_recent_fires_and_records_older_ones_as_one_missed_run(
    make: Factory,
    clock: FakeClock,
) -> None:
    sched = make(Recorder(), clock=clock)
    s = sched.create(
        agent_id="bot", schedule=Cron("*/10 * * * *"), input="go", catchup_window=timedelta(hours=1)
    )
    clock.set(T0 + timedelta(hours=3, minutes=5))  # down from 08:59 to 12:04
    runs = sched.tick()
    missed, ran = runs
    # fires 09:00 ... 12:00 are 19; those at or after 11:04 (11:10 ... 12:00) are recent: 6
    assert (missed.status, missed.coalesced, missed.scheduled_for) == (
        RunStatus.MISSED,
        13,
        datetime(2026, 1, 5, 11, 0, tzinfo=UTC),
    )
    assert (ran.status, ran.coalesced, ran.scheduled_for) == (
        RunStatus.SUCCEEDED,
        6,
        datetime(2026, 1, 5, 12, 0, tzinfo=UTC),
    )
    after = sched.get(s.id)
    assert after.next_run_at == datetime(2026, 1, 5, 12, 10, tzinfo=UTC) and after.run_count == 1


def test_catch_up_window_zero_records_late_fires_as_missed(make: Factory, clock: FakeClock) -> None:
    sched = make(Recorder(), clock=clock)
    sched.create(
        agent_id="bot", schedule=Cron("0 9 * * *"), input="go", catchup_window=timedelta(0)
    )
    assert [r.status for r in sched.tick(now=NINE)] == [RunStatus.SUCCEEDED]
    assert [r.status for r in sched.tick(now=NINE + timedelta(days=1, seconds=1))] == [
        RunStatus.MISSED
    ]


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
            assert release.wait(WAIT)

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
        assert release.wait(WAIT)

    sched = make(slow, executor=None, clock=FakeClock(T0))
    sched.create(agent_id="bot", schedule=Cron("0 * * * *"), input="go")
    sched.tick(now=NINE)
    assert entered.wait(WAIT)
    assert [r.status for r in sched.tick(now=NINE + timedelta(hours=1))] == [RunStatus.SKIPPED]
    release.set()
    sched.stop()


def test_allow_all_with_real_threads_runs_concurrently(make: Factory) -> None:
    both_in = threading.Barrier(2, timeout=WAIT)

    def meet(ctx: RunContext) -> None:
        both_in.wait()

    sched = make(meet, executor=None, clock=FakeClock(T0))
    s = sched.create(agent_id="bot", schedule=Cron("0 * * * *"), input="go", overlap="allow_all")
    sched.tick(now=NINE)
    sched.tick(now=NINE + timedelta(hours=1))
    sched.stop()
    assert [r.status for r in sched.runs(s.id)] == [RunStatus.SUCCEEDED, RunStatus.SUCCEEDED]


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


def test_timeout_inline_is_judged_by_the_clock(make: Factory, clock: FakeClock) -> None:
    def slow(ctx: RunContext) -> str:
        clock.advance(timedelta(seconds=31))
        return "late"

    sched = make(slow, clock=clock)
    s = daily(sched, timeout=timedelta(seconds=30))
    clock.set(NINE)
    (run,) = sched.tick()
    assert (
        run.status is RunStatus.FAILED and run.error == "timed out after 30s" and run.output is None
    )
    assert sched.get(s.id).status is Status.ACTIVE  # the schedule goes on


def test_timeout_with_threads_sets_cancel_and_fails_the_run(make: Factory) -> None:
    entered, done = threading.Event(), threading.Event()
    clock = FakeClock(T0)

    def stubborn(ctx: RunContext) -> str:
        entered.set()
        assert ctx.cancel.wait(WAIT)
        done.set()
        return "too late"

    sched = make(stubborn, executor=None, clock=clock)
    s = daily(sched, timeout=timedelta(seconds=30))
    sched.tick(now=NINE)
    assert entered.wait(WAIT)
    sched.tick(now=NINE + timedelta(seconds=31))
    assert done.wait(WAIT)
    sched.stop()
    (final,) = sched.runs(s.id)
    assert final.status is RunStatus.FAILED and final.error == "timed out after 30s"
    assert final.finished_at == NINE + timedelta(seconds=31)


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


def test_one_log_line_per_outcome(
    make: Factory, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    sched = make(Recorder(ValueError("nope")), clock=clock)
    daily(sched)
    with caplog.at_level(logging.INFO, logger="agentsched"):
        sched.tick(now=NINE)
    lines = [r for r in caplog.records if r.name == "agentsched"]
    assert (
        len(lines) == 1
        and "failed" in lines[0].getMessage()
        and "ValueError: nope" in lines[0].getMessage()
    )


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
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.calls) >= count, WAIT), self.calls
            return list(self.calls)


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
        sched.stop(timeout=timeout)
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
    with Scheduler(handler=Recorder()) as inner:
        assert inner._thread is not None and inner._thread.is_alive()
    assert inner._thread is None


def test_stop_sets_cancel_and_waits_for_handlers(make: Factory) -> None:
    entered = threading.Event()
    finished: list[bool] = []

    def polite(ctx: RunContext) -> None:
        entered.set()
        finished.append(ctx.cancel.wait(WAIT))

    sched = make(polite, executor=None, clock=FakeClock(T0))
    s = daily(sched)
    sched.tick(now=NINE)
    assert entered.wait(WAIT)
    sched.stop(wait=True)
    assert finished == [True]
    assert sched.runs(s.id)[0].status is RunStatus.SUCCEEDED


def test_a_failing_store_call_is_retried_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    fired = Fired()

    class Flaky(MemoryStore):
        failures = 2

        def claim_due(self, *args: Any, **kwargs: Any) -> Any:
            if self.failures:
                self.failures -= 1
                raise OSError("disk on fire")
            return super().claim_due(*args, **kwargs)

    clock = FakeClock(T0)
    sched = Scheduler(store=Flaky(), handler=fired, clock=clock)
    sched.create(agent_id="bot", schedule=Once(NINE), input="go")
    with caplog.at_level(logging.ERROR, logger="agentsched"):
        sched.start()
        clock.set(NINE)  # the failed ticks back off on the fake clock: move it along
        while not fired.calls:
            clock.advance(timedelta(seconds=1))
            time.sleep(0.001)
        sched.stop()
    assert sum("tick failed" in r.getMessage() for r in caplog.records) == 2


def test_a_hanging_handler_does_not_delay_other_schedules(make: Factory) -> None:
    hang, other = threading.Event(), threading.Event()

    def handler(ctx: RunContext) -> None:
        if ctx.input == "hang":
            hang.wait(WAIT)
        else:
            other.set()

    clock = FakeClock(T0)
    sched = make(handler, executor=None, clock=clock)
    daily(sched, input="hang")
    sched.create(agent_id="bot", schedule=Cron("1 9 * * *"), input="fast")
    sched.tick(now=NINE)
    sched.tick(now=NINE + timedelta(minutes=1))
    assert other.wait(WAIT)
    hang.set()
    sched.stop()


def test_interval_keeps_its_phase(make: Factory, clock: FakeClock) -> None:
    sched = make(Recorder(), clock=clock)
    s = sched.create(agent_id="bot", schedule=Interval(timedelta(minutes=90)), input="go")
    sched.tick(now=T0 + timedelta(minutes=100))
    assert sched.get(s.id).next_run_at == T0 + timedelta(minutes=180)


def test_a_long_run_keeps_its_lease_renewed_once_a_third_of_it_has_gone(make: Factory) -> None:
    """Renewal is one write per third of a lease (not per tick), and the loop wakes for
    it: a run outliving many leases is never swept by another scheduler."""
    release, entered = threading.Event(), threading.Event()

    def slow(ctx: RunContext) -> None:
        entered.set()
        assert release.wait(WAIT)

    lease = timedelta(seconds=30)
    with ThreadPoolExecutor(2) as pool:
        sched = make(slow, executor=pool, clock=FakeClock(T0), lease=lease)
        other = make(lambda ctx: None, store=make.reopen(sched.store), lease=lease)
        s = sched.create(agent_id="bot", schedule=Cron("0 9 * * *"), input="go")
        (run,) = sched.tick(now=NINE)
        assert entered.wait(WAIT)
        engine = (sched.scheduler if make.is_async else sched)._engine
        assert engine.next_wake(NINE) == NINE + lease / 3

        def swept_at(at: datetime) -> bool:
            return run.id in {r.id for r in sched.store.expired_runs(at)}

        sched.tick(now=NINE + timedelta(seconds=5))  # too soon: the lease stands as granted
        assert swept_at(NINE + lease + timedelta(seconds=1))
        sched.tick(now=NINE + lease / 3)
        assert not swept_at(NINE + lease + timedelta(seconds=1))
        assert swept_at(NINE + lease / 3 + lease + timedelta(seconds=1))
        for step in range(2, 60):  # ten minutes, twenty leases
            at = NINE + step * lease / 3
            sched.tick(now=at)
            other.tick(now=at + lease / 2)
        assert sched.store.get_run(run.id).status is RunStatus.RUNNING
        release.set()
        sched.stop(wait=True)
    assert sched.store.get_run(run.id).status is RunStatus.SUCCEEDED
    assert s.id == run.schedule_id
