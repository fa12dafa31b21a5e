"""Timeouts: a run past its `timeout` is failed at once, its handler told to stop
(`ctx.cancel`), and its slot stays taken until the code returns, for this scheduler and
the others on the store; the loop records timeouts while handler threads write theirs."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from support.firing import HeldWrites, of_agent, stored_run, waiting
from support.matrix import Factory, firing_core
from support.threads import Background, Gates, pool
from support.waiting import DEADLINE, eventually

from agentsched import (
    Cron,
    Overlap,
    RunContext,
    RunStatus,
    Schedule,
    Status,
    StoreError,
)
from agentsched.stores.base import Finishing
from agentsched.testing import FakeClock

UTC = timezone.utc
T0 = datetime(2026, 1, 5, 8, 59, tzinfo=UTC)
NINE = datetime(2026, 1, 5, 9, tzinfo=UTC)
SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
LEASE = timedelta(seconds=30)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


def daily(sched: Any, agent: str = "bot", **changes: Any) -> Schedule:
    """A schedule of `agent` firing at 09:00 every day, with `changes`."""
    fields: dict[str, Any] = {"agent_id": agent, "schedule": Cron("0 9 * * *"), "input": "go"}
    fields.update(changes)
    created: Schedule = sched.create(**fields)
    return created


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
        assert ctx.cancel.wait(DEADLINE)
        done.set()
        return "too late"

    sched = make(stubborn, executor=None, clock=clock)
    s = daily(sched, timeout=timedelta(seconds=30))
    sched.tick(now=NINE)
    assert entered.wait(DEADLINE)
    sched.tick(now=NINE + timedelta(seconds=31))
    assert done.wait(DEADLINE)
    sched.stop()
    (final,) = sched.runs(s.id)
    assert final.status is RunStatus.FAILED and final.error == "timed out after 30s"
    assert final.finished_at == NINE + timedelta(seconds=31)


@pytest.mark.parametrize("overlap", [Overlap.SKIP, Overlap.BUFFER_ONE])
def test_a_timed_out_handler_keeps_its_slot_until_it_returns(
    make: Factory, overlap: Overlap
) -> None:
    """The timeout is recorded at once; no second copy starts while the code still runs."""
    clock = FakeClock(T0)
    release, entered = threading.Event(), threading.Event()
    inside = 0
    most = 0
    lock = threading.Lock()

    def stubborn(ctx: RunContext) -> str:
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        entered.set()
        release.wait(DEADLINE)  # ignores ctx.cancel
        with lock:
            inside -= 1
        return "late"

    sched = make(stubborn, executor=None, clock=clock)
    s = sched.create(
        agent_id="bot",
        schedule=Cron("* * * * *"),
        input="go",
        overlap=overlap,
        timeout=timedelta(seconds=30),
    )
    (first,) = sched.tick(now=NINE)
    assert entered.wait(DEADLINE)
    sched.tick(now=NINE + timedelta(seconds=31))  # past the deadline
    timed_out = stored_run(sched.store, first.id)
    assert timed_out.status is RunStatus.FAILED and timed_out.error == "timed out after 30s"
    later = [sched.tick(now=NINE + m * MINUTE) for m in (1, 2, 3)]
    statuses = [run.status for runs in later for run in runs]
    if overlap is Overlap.SKIP:
        assert statuses == [RunStatus.SKIPPED] * 3
    else:  # one buffered, then skips; the buffered one waits for the code to leave
        assert statuses == [RunStatus.RUNNING, RunStatus.SKIPPED, RunStatus.SKIPPED]
        assert later[0][0].started_at is None
    assert most == 1
    entered.clear()
    release.set()
    if overlap is Overlap.BUFFER_ONE:
        assert entered.wait(DEADLINE)  # the buffered run starts once the first one left
    sched.stop()
    assert most == 1
    assert stored_run(sched.store, first.id) == timed_out  # its late result changes nothing
    runs = sched.runs(s.id, limit=10)
    assert sum(r.status is RunStatus.SUCCEEDED for r in runs) == (
        1 if overlap is Overlap.BUFFER_ONE else 0
    )
    assert sched.get(s.id).failure_count == (0 if overlap is Overlap.BUFFER_ONE else 1)


def test_a_timed_out_run_occupies_its_slot_for_other_schedulers_too(make: Factory) -> None:
    """Another scheduler on the same store sees the slot taken until the code returns."""
    clock = FakeClock(T0)
    release, entered = threading.Event(), threading.Event()

    def stubborn(ctx: RunContext) -> None:
        entered.set()
        release.wait(DEADLINE)

    store = make.store()
    first = make(stubborn, executor=None, clock=clock, store=store)
    other = make(lambda ctx: None, clock=clock, store=make.reopen(store))
    s = first.create(
        agent_id="bot", schedule=Cron("* * * * *"), input="go", timeout=timedelta(seconds=5)
    )
    first.tick(now=NINE)
    assert entered.wait(DEADLINE)
    first.tick(now=NINE + timedelta(seconds=6))
    assert [r.status for r in other.tick(now=NINE + MINUTE)] == [RunStatus.SKIPPED]
    release.set()
    first.stop()
    assert [r.status for r in other.tick(now=NINE + 2 * MINUTE)] == [RunStatus.SUCCEEDED]
    assert first.get(s.id).run_count == 2


def test_a_timed_out_run_whose_scheduler_died_frees_its_slot_at_lease_expiry(
    make: Factory,
) -> None:
    clock = FakeClock(T0)
    release, entered = threading.Event(), threading.Event()

    def stubborn(ctx: RunContext) -> None:
        entered.set()
        release.wait(DEADLINE)

    store = make.store()
    doomed = make(stubborn, executor=None, clock=clock, store=store, lease=timedelta(minutes=2))
    s = doomed.create(
        agent_id="bot", schedule=Cron("* * * * *"), input="go", timeout=timedelta(seconds=5)
    )
    doomed.tick(now=NINE)
    assert entered.wait(DEADLINE)
    doomed.tick(now=NINE + timedelta(seconds=6))  # timed out; lease now runs to 09:02:06
    survivor = make(lambda ctx: "ok", clock=clock, store=make.reopen(store))
    assert [r.status for r in survivor.tick(now=NINE + MINUTE)] == [RunStatus.SKIPPED]
    # `doomed` never ticks again (as if its process died): the lease runs out
    ran = survivor.tick(now=NINE + 3 * MINUTE)
    assert [r.status for r in ran] == [RunStatus.SUCCEEDED]
    release.set()
    doomed.stop(wait=True)  # its handler returns and frees a slot no longer held
    assert survivor.get(s.id).status is Status.ACTIVE


def test_a_timed_out_run_whose_handler_returns_while_its_failure_waits_frees_its_slot(
    make: Factory,
) -> None:
    """The order of events inside the firing core is the subject: the failure waits in
    the group writer's queue while the handler returns (the core's private `_outcomes`
    and `_in_flight` show both), and the slot is freed once the failure is stored."""
    gates = Gates("slow", "quick")
    with pool(8) as executor:
        sched = make(gates, executor=executor, clock=FakeClock(T0))
        engine = firing_core(sched)
        slow = daily(sched, "slow", schedule=Cron("* * * * *"), timeout=10 * SECOND)
        daily(sched, "quick")
        held = HeldWrites(sched.store, of_agent("quick"))
        runs = {run.agent_id: run for run in sched.tick(now=NINE)}
        gates.gates["quick"].set()
        assert held.entered.wait(DEADLINE)  # quick's outcome is being written (slowly)
        ticker = Background(lambda: sched.tick(now=NINE + 10 * SECOND))
        eventually(lambda: waiting(engine._outcomes) == 1)  # slow's failure waits
        gates.gates["slow"].set()  # ... and slow's handler returns meanwhile
        eventually(lambda: engine._in_flight[runs["slow"].id].returned_at is not None)
        held.release.set()
        ticker.result()  # the failure stored, the tick frees the slot
        assert runs["slow"].id not in engine._in_flight
        failed = stored_run(sched.store, runs["slow"].id)
        assert failed.status is RunStatus.FAILED and "timed out" in (failed.error or "")
        eventually(lambda: sched.runs_in_flight == 0)  # quick lands on its own thread
        (next_run,) = [r for r in sched.tick(now=NINE + MINUTE) if r.schedule_id == slow.id]
        assert next_run.status is not RunStatus.SKIPPED, "skipped beside a run that is gone"


def test_timeouts_recorded_by_the_loop_while_handler_threads_write_are_all_stored(
    make: Factory,
) -> None:
    """Twelve runs time out together while three other handlers' writes are in flight
    (the tick waits in the group writer's private queue): each timeout is stored once,
    the slots are freed when the handlers return, and the next fire of every schedule
    runs."""
    gates = Gates("slow", "quick")
    with pool(16) as executor:
        sched = make(gates, executor=executor, clock=FakeClock(T0))
        engine = firing_core(sched)
        slow = [
            daily(sched, "slow", schedule=Cron("* * * * *"), timeout=10 * SECOND) for _ in range(12)
        ]
        for _ in range(3):
            daily(sched, "quick")
        held = HeldWrites(sched.store, of_agent("quick"))
        runs = sched.tick(now=NINE)
        gates.gates["quick"].set()
        assert held.entered.wait(DEADLINE)
        ticker = Background(lambda: sched.tick(now=NINE + 10 * SECOND))
        eventually(lambda: waiting(engine._outcomes) >= 1)
        held.release.set()
        ticker.result()
        for run in runs:
            if run.agent_id == "slow":
                stored = stored_run(sched.store, run.id)
                assert stored.status is RunStatus.FAILED and "timed out" in (stored.error or "")
        # timed out, still occupying their slots (the quick ones land on their own threads)
        eventually(lambda: sched.runs_in_flight == 12)
        gates.gates["slow"].set()
        eventually(lambda: sched.runs_in_flight == 0)
        fired = sched.tick(now=NINE + MINUTE)
        assert sorted(r.schedule_id for r in fired) == sorted(s.id for s in slow)
        assert all(r.status is not RunStatus.SKIPPED for r in fired)
        eventually(lambda: sched.runs_in_flight == 0)
        for s in slow:
            after = sched.get(s.id)
            assert after.run_count == 2 and after.failure_count == 0


def test_a_timeout_whose_write_failed_is_recorded_by_a_later_tick(
    make: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    gates = Gates("stuck")
    with pool(4) as executor:
        sched = make(gates, executor=executor, clock=FakeClock(T0), lease=LEASE)
        s = daily(sched, "stuck", timeout=10 * SECOND)
        (run,) = sched.tick(now=NINE)
        store = sched.store
        inner = store.finish_runs
        fails = {"left": 2}  # the write and its retry

        def flaky(finishing: list[Finishing], lease_until: Any = None) -> Any:
            if fails["left"]:
                fails["left"] -= 1
                raise StoreError("connection reset")
            return inner(finishing, lease_until)

        monkeypatch.setattr(store, "finish_runs", flaky)
        try:
            sched.tick(now=NINE + 10 * SECOND)  # the timeout's write fails
            for minute in range(1, 6):  # the handler never returns; the loop goes on
                sched.tick(now=NINE + minute * MINUTE)
            stored = stored_run(store, run.id)
            assert stored.status is RunStatus.FAILED, "running 5 minutes past its timeout"
            assert sched.get(s.id).failure_count == 1
        finally:
            gates.open()
            sched.stop(wait=True)


def test_timeouts_not_reached_when_a_tick_is_interrupted_are_recorded_by_the_next(
    make: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runs time out in one tick and the first timeout's write is interrupted
    (Ctrl-C in the ticking thread): the tick raises, the second timeout is recorded by
    the next tick, and both slots are freed when the handlers return."""
    if make.is_async:
        pytest.skip("SystemExit/KeyboardInterrupt in a task stop asyncio's loop by design")
    gates = Gates("slow")
    with pool(4) as executor:
        sched = make(gates, executor=executor, clock=FakeClock(T0))
        made = [daily(sched, "slow", timeout=10 * SECOND) for _ in range(2)]
        inner = sched.store.finish_runs
        armed = {"left": 1}

        def interrupted_once(finishing: list[Finishing], lease_until: Any = None) -> Any:
            if armed["left"] and any(item.occupied for item in finishing):
                armed["left"] = 0
                raise KeyboardInterrupt
            return inner(finishing, lease_until)

        monkeypatch.setattr(sched.store, "finish_runs", interrupted_once)
        runs = sched.tick(now=NINE)
        eventually(gates.entered["slow"].is_set)
        with pytest.raises(KeyboardInterrupt):
            sched.tick(now=NINE + 10 * SECOND)
        sched.tick(now=NINE + 11 * SECOND)
        for run in runs:
            stored = stored_run(sched.store, run.id)
            assert stored.status is RunStatus.FAILED and "timed out" in (stored.error or "")
        gates.open()
        eventually(lambda: sched.runs_in_flight == 0)
        monkeypatch.setattr(sched.store, "finish_runs", inner)
        nexts = [r for r in sched.tick(now=NINE + timedelta(days=1)) if r.agent_id == "slow"]
        assert sorted(r.schedule_id for r in nexts) == sorted(s.id for s in made)
        assert all(r.status is not RunStatus.SKIPPED for r in nexts)
