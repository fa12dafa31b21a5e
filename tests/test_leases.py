"""Leases: a run holds its schedule's slot while its scheduler renews the lease (once a
third of it has gone); a run whose scheduler died is failed 'interrupted' when its
lease lapses, by any scheduler on the store, and never run again."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from support.firing import HeldWrites, claim_and_die, of_agent, stored_run
from support.matrix import Factory, firing_core
from support.threads import Gates, pool
from support.waiting import DEADLINE, eventually

from agentsched import (
    Cron,
    Overlap,
    RunContext,
    RunStatus,
    Schedule,
    StoreError,
)
from agentsched.firing.core import INTERRUPTED
from agentsched.testing import FakeClock

UTC = timezone.utc
T0 = datetime(2026, 1, 5, 8, 59, tzinfo=UTC)
NINE = datetime(2026, 1, 5, 9, tzinfo=UTC)
SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
LEASE = timedelta(seconds=30)


def daily(sched: Any, agent: str = "bot", **changes: Any) -> Schedule:
    """A schedule of `agent` firing at 09:00 every day, with `changes`."""
    fields: dict[str, Any] = {"agent_id": agent, "schedule": Cron("0 9 * * *"), "input": "go"}
    fields.update(changes)
    created: Schedule = sched.create(**fields)
    return created


def test_a_long_run_keeps_its_lease_renewed_once_a_third_of_it_has_gone(make: Factory) -> None:
    """Renewal is one write per third of a lease (not per tick), and the loop wakes for
    it: a run outliving many leases is never swept by another scheduler."""
    release, entered = threading.Event(), threading.Event()

    def slow(ctx: RunContext) -> None:
        entered.set()
        assert release.wait(DEADLINE)

    lease = timedelta(seconds=30)
    with ThreadPoolExecutor(2) as pool:
        sched = make(slow, executor=pool, clock=FakeClock(T0), lease=lease)
        other = make(lambda ctx: None, store=make.reopen(sched.store), lease=lease)
        s = sched.create(agent_id="bot", schedule=Cron("0 9 * * *"), input="go")
        (run,) = sched.tick(now=NINE)
        assert entered.wait(DEADLINE)
        engine = firing_core(sched)
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
        assert stored_run(sched.store, run.id).status is RunStatus.RUNNING
        release.set()
        sched.stop(wait=True)
    assert stored_run(sched.store, run.id).status is RunStatus.SUCCEEDED
    assert s.id == run.schedule_id


def _run_side_by_side(
    sched: Any, other: Any, clock: FakeClock, start: datetime, end: datetime
) -> None:
    """Both schedulers tick every second from `start` to `end` (far more often than the
    loop would): the owner renews by its rule, the other sweeps what has lapsed."""
    at = start
    while at <= end:
        clock.set(at)
        sched.tick(now=at)
        other.tick(now=at)
        at += SECOND


def test_a_run_started_after_the_clock_stepped_back_keeps_its_lease(make: Factory) -> None:
    clock = FakeClock(T0)
    gates = Gates("long", "manual")
    with pool(4) as executor:
        sched = make(gates, executor=executor, clock=clock, lease=LEASE)
        other = make(lambda ctx: None, store=make.reopen(sched.store), clock=clock, lease=LEASE)
        daily(sched, "long")
        manual = daily(sched, "manual", schedule=Cron("0 10 * * *"))
        sched.tick(now=NINE)  # 'long' in flight, leased from 9:00:00
        clock.set(NINE - 25 * SECOND)  # the system clock steps back 25 s
        run = sched.trigger(manual.id)  # started 8:59:35, leased until 9:00:05
        assert gates.entered["manual"].wait(DEADLINE)
        try:
            _run_side_by_side(sched, other, clock, NINE - 24 * SECOND, NINE + 20 * SECOND)
            stored = stored_run(sched.store, run.id)
            assert stored.status is RunStatus.RUNNING, f"swept while running: {stored.error}"
        finally:
            gates.open()
            sched.stop(wait=True)


def test_a_buffered_run_started_by_a_delayed_write_keeps_its_lease(make: Factory) -> None:
    clock = FakeClock(T0)
    first, second = threading.Event(), threading.Event()
    entered = [threading.Event(), threading.Event()]
    calls: list[str] = []

    def handler(ctx: RunContext) -> str:
        calls.append(ctx.run_id)
        n = len(calls) - 1
        entered[n].set()
        assert (first, second)[n].wait(DEADLINE)
        return "done"

    with pool(4) as executor:
        sched = make(handler, executor=executor, clock=clock, lease=LEASE)
        other = make(lambda ctx: None, store=make.reopen(sched.store), clock=clock, lease=LEASE)
        s = daily(sched, "bot", schedule=Cron("* * * * *"), overlap=Overlap.BUFFER_ONE)
        sched.tick(now=NINE)
        assert entered[0].wait(DEADLINE)
        clock.set(NINE + MINUTE)
        sched.tick(now=NINE + MINUTE)  # renews; the 9:01 fire is buffered
        held = HeldWrites(sched.store, of_agent("bot"))
        clock.set(NINE + 61 * SECOND)
        first.set()  # finished at 9:01:01; its write stalls 30 s
        assert held.entered.wait(DEADLINE)
        for at in (71, 81, 91):  # the loop keeps renewing the leases meanwhile
            clock.set(NINE + at * SECOND)
            sched.tick(now=NINE + at * SECOND)
        held.release.set()
        assert entered[1].wait(DEADLINE)  # the buffered run started, leased until 9:01:31
        try:
            _run_side_by_side(sched, other, clock, NINE + 92 * SECOND, NINE + 110 * SECOND)
            (buffered, _) = sched.store.runs(s.id)
            assert buffered.status is RunStatus.RUNNING, f"swept while running: {buffered.error}"
        finally:
            second.set()
            sched.stop(wait=True)


def test_runs_joining_others_in_flight_keep_their_leases(make: Factory) -> None:
    """A manual run started while another is in flight, and buffered runs started by a
    group write of several threads, all hold their leases for four minutes of ticks by
    the owner (by its renewal rule) and by a second scheduler sweeping beside it."""
    clock = FakeClock(T0)
    gates = Gates("long", "manual", "buf")
    release_buffered = threading.Event()
    buffered_started: list[str] = []
    lock = threading.Lock()

    def handler(ctx: RunContext) -> Any:
        if ctx.schedule.agent_id == "buf" and ctx.scheduled_for != NINE:
            with lock:
                buffered_started.append(ctx.run_id)
            assert release_buffered.wait(DEADLINE)
            return "buffered"
        return gates(ctx)

    with pool(16) as executor:
        sched = make(handler, executor=executor, clock=clock, lease=LEASE)
        other = make(lambda ctx: None, store=make.reopen(sched.store), clock=clock, lease=LEASE)
        daily(sched, "long")
        manual = daily(sched, "manual", schedule=Cron("0 10 * * *"))
        buf = [
            daily(sched, "buf", schedule=Cron("* * * * *"), overlap=Overlap.BUFFER_ONE)
            for _ in range(6)
        ]
        sched.tick(now=NINE)
        clock.set(NINE + 7 * SECOND)
        manual_run = sched.trigger(manual.id)
        clock.set(NINE + MINUTE)
        sched.tick(now=NINE + MINUTE)  # the buffered fires
        clock.set(NINE + 65 * SECOND)
        gates.gates["buf"].set()  # six outcomes at once: grouped; each starts its buffered run
        eventually(lambda: len(buffered_started) == 6)
        started = {r.id: r for r in (stored_run(sched.store, i) for i in buffered_started)}
        for run in started.values():
            assert run.started_at == NINE + 65 * SECOND
            # leased for at least a lease from its start
            assert run.id not in {r.id for r in sched.store.expired_runs(NINE + 94 * SECOND)}
        try:
            _run_side_by_side(sched, other, clock, NINE + 66 * SECOND, NINE + 5 * MINUTE)
            for run_id in [manual_run.id, *started]:
                assert stored_run(sched.store, run_id).status is RunStatus.RUNNING
        finally:
            gates.open()
            release_buffered.set()
        eventually(lambda: sched.runs_in_flight == 0)
        for run_id in [manual_run.id, *started]:
            assert stored_run(sched.store, run_id).status is RunStatus.SUCCEEDED
        for s in buf:  # later fires: one more buffered (started when 9:01's ended), rest skipped
            runs = sched.runs(s.id)
            ran = [r for r in runs if r.started_at is not None]
            assert all(r.status in (RunStatus.SUCCEEDED, RunStatus.SKIPPED) for r in runs)
            after = sched.get(s.id)
            assert after.run_count == len(ran) == 3
            latest = max(ran, key=lambda r: r.scheduled_for or datetime.min.replace(tzinfo=UTC))
            assert after.last_run_id == latest.id
        sched.stop(wait=True)


def test_a_failed_renewal_is_retried_by_the_next_tick(
    make: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock(T0)
    gates = Gates("long")
    with pool(4) as executor:
        sched = make(gates, executor=executor, clock=clock, lease=LEASE)
        other = make(lambda ctx: None, store=make.reopen(sched.store), clock=clock, lease=LEASE)
        engine = firing_core(sched)
        daily(sched, "long")
        (run,) = sched.tick(now=NINE)
        store = sched.store
        inner = store.renew_leases
        fails = {"left": 1}

        def flaky(run_ids: Any, until: datetime) -> None:
            if fails["left"]:
                fails["left"] -= 1
                raise StoreError("connection reset")
            inner(run_ids, until)

        monkeypatch.setattr(store, "renew_leases", flaky)
        try:
            with pytest.raises(StoreError):
                sched.tick(now=NINE + 10 * SECOND)
            assert engine.next_wake(NINE + 10 * SECOND) == NINE + 10 * SECOND  # due again
            sched.tick(now=NINE + 11 * SECOND)  # renews now
            other.tick(now=NINE + 35 * SECOND)
            assert stored_run(store, run.id).status is RunStatus.RUNNING
            assert engine.next_wake(NINE + 12 * SECOND) == NINE + 21 * SECOND
        finally:
            gates.open()
            sched.stop(wait=True)
        assert stored_run(store, run.id).status is RunStatus.SUCCEEDED


def test_a_run_swept_by_another_scheduler_is_finished_once(make: Factory) -> None:
    """The owner stalls (no tick) past the lease: another scheduler fails its runs as
    interrupted and starts the buffered ones itself. When the owner's handlers return,
    together (grouped), nothing is written twice, nothing is started twice, the runs
    leave its in-flight set, and the counters count each run once."""
    clock = FakeClock(T0)
    gates = Gates("bot")
    with pool(8) as executor:
        sched = make(gates, executor=executor, clock=clock, lease=LEASE)
        other_calls: list[str] = []

        def other_handler(ctx: RunContext) -> str:
            other_calls.append(ctx.run_id)
            return "other"

        other = make(
            other_handler,
            store=make.reopen(sched.store),
            clock=clock,
            lease=LEASE,
        )
        made = [
            daily(sched, "bot", schedule=Cron("* * * * *"), overlap=Overlap.BUFFER_ONE)
            for _ in range(5)
        ]
        owned = sched.tick(now=NINE)
        clock.set(NINE + MINUTE)
        other.tick(now=NINE + MINUTE)  # sweeps the five, then runs the 9:01 fires
        for run in owned:
            swept = stored_run(sched.store, run.id)
            assert swept.status is RunStatus.FAILED and swept.error == INTERRUPTED
        gates.open()  # the owner's handlers return now, all at once
        eventually(lambda: sched.runs_in_flight == 0)
        assert len(other_calls) == 5 and len(gates.calls) == 5
        for run in owned:
            assert stored_run(sched.store, run.id).error == INTERRUPTED
        for s in made:
            after = sched.get(s.id)
            runs = sched.runs(s.id)
            assert [r.status for r in runs] == [RunStatus.SUCCEEDED, RunStatus.FAILED]
            assert after.run_count == 2 and after.failure_count == 0
            assert after.last_run_id == runs[0].id
        sched.tick(now=NINE + MINUTE + SECOND)
        assert sched.runs_in_flight == 0
        sched.stop(wait=True)


def test_a_dead_schedulers_run_is_marked_interrupted_and_never_rerun(make: Factory) -> None:
    clock = FakeClock(T0)
    calls: list[str] = []

    def record(ctx: RunContext) -> None:
        calls.append(ctx.run_id)

    store = make.store()
    sched = make(record, executor=None, clock=clock, store=store, lease=timedelta(minutes=5))
    s = sched.create(agent_id="bot", schedule=Cron("0 9 * * *"), input="go")
    # simulate a scheduler that claimed the fire and then died: claim without running
    written = claim_and_die(store, NINE)
    (orphan,) = written
    survivor = make(record, clock=clock, store=make.reopen(store), lease=timedelta(minutes=5))
    assert survivor.tick(now=NINE + timedelta(minutes=4)) == []
    assert survivor.runs(s.id)[0].status is RunStatus.RUNNING  # lease still valid
    survivor.tick(now=NINE + timedelta(minutes=6))
    (final,) = survivor.runs(s.id)
    assert final.id == orphan.id and final.status is RunStatus.FAILED
    assert final.error is not None and final.error.startswith("interrupted")
    assert calls == [] and survivor.get(s.id).failure_count == 1
