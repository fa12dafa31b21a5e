"""Group commit: outcomes that finish at once in many threads share one store write
(`GroupWriter`), each thread hears its own result, and no failure, interrupt or stop
loses, doubles or strands an outcome; inline ticks write theirs 64 at a time.

Several tests pin bugs found and fixed (named in their docstrings). Time is a
`FakeClock`; threads meet on events, waits are bounded. The tests of the writer's
queue read it (`support.firing.waiting`, the engine's `_outcomes` and `_in_flight`):
the order of group writes is their subject.
"""

from __future__ import annotations

import functools
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.firing import HeldWrites, of_agent, stored_run, waiting
from support.matrix import Factory, firing_core
from support.threads import Background, Gates, interrupt_main_on, pool
from support.waiting import DEADLINE, eventually

from agentsched import (
    Cron,
    MemoryStore,
    Overlap,
    RunContext,
    RunStatus,
    Scheduler,
    StoreError,
)
from agentsched.firing.core import INTERRUPTED
from agentsched.firing.group_commit import GroupWriter
from agentsched.stores.base import Finishing
from agentsched.testing import FakeClock

UTC = timezone.utc
T0 = datetime(2026, 1, 5, 8, 59, tzinfo=UTC)
NINE = datetime(2026, 1, 5, 9, tzinfo=UTC)
SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
LEASE = timedelta(seconds=30)


# -- helpers ---------------------------------------------------------------------------


def unwedge(writer: GroupWriter[Any, Any]) -> None:
    """Should a waiter handed the writer's role have left without passing it on (a
    regression of the Ctrl-C tests below), write in its stead, so that the threads it
    strands end and the test fails rather than hangs."""
    while True:
        with writer._lock:
            first = writer._waiting[0] if writer._writing and writer._waiting else None
        if first is None or not first.lead:
            return
        writer._lead(first)


def daily(sched: Any, agent: str, **changes: Any) -> Any:
    fields: dict[str, Any] = {"agent_id": agent, "schedule": Cron("0 9 * * *"), "input": "go"}
    fields.update(changes)
    return sched.create(**fields)


# -- GroupWriter on its own -------------------------------------------------------------


class RecordedWrite:
    """A write that records its calls, checks it is never entered twice at once,
    and can be held inside its first call."""

    def __init__(self, hold_first: bool = False) -> None:
        self.calls: list[list[int]] = []
        self.inside = threading.Lock()
        self.entered = threading.Event()
        self.release = threading.Event()
        if not hold_first:
            self.release.set()

    def __call__(self, items: list[int]) -> list[int]:
        assert self.inside.acquire(blocking=False), "two writes at once"
        try:
            self.calls.append(list(items))
            self.entered.set()
            assert self.release.wait(10)
            return [item * 10 for item in items]
        finally:
            self.inside.release()


def test_alone_a_thread_writes_its_item_at_once() -> None:
    write = RecordedWrite()
    writer = GroupWriter(write)
    assert [writer.submit(n) for n in range(3)] == [0, 10, 20]
    assert write.calls == [[0], [1], [2]]


def test_items_arriving_during_a_write_share_the_next_one() -> None:
    write = RecordedWrite(hold_first=True)
    writer: GroupWriter[int, int] = GroupWriter(write)
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(writer.submit, 0)
        assert write.entered.wait(10)
        rest = [pool.submit(writer.submit, n) for n in range(1, 8)]
        eventually(lambda: len(writer._waiting) == 7)  # all seven behind the held write
        write.release.set()
        assert first.result(10) == 0
        assert [f.result(10) for f in rest] == [n * 10 for n in range(1, 8)]
    assert write.calls[0] == [0]
    assert sorted(write.calls[1]) == list(range(1, 8))
    assert len(write.calls) == 2


def test_a_failed_write_raises_in_every_thread_of_its_group_only() -> None:
    entered, release = threading.Event(), threading.Event()
    calls: list[list[int]] = []

    def write(items: list[int]) -> list[int]:
        calls.append(items)
        if len(calls) == 1:
            entered.set()
            assert release.wait(10)
            return [1]
        if len(calls) == 2:
            raise OSError("disk full")
        return list(items)

    writer: GroupWriter[int, int] = GroupWriter(write)
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(writer.submit, 1)
        assert entered.wait(10)
        group = [pool.submit(writer.submit, n) for n in (2, 3)]
        eventually(lambda: len(writer._waiting) == 2)
        release.set()
        assert first.result(10) == 1
        for future in group:
            with pytest.raises(OSError, match="disk full"):
                future.result(10)
    assert writer.submit(4) == 4  # the writer carries on after a failure


def test_a_thread_interrupted_while_writing_hands_on_the_role() -> None:
    """BaseException (a handler thread told to stop) still frees the writer."""

    def write(items: list[int]) -> list[int]:
        if items == [0]:
            raise KeyboardInterrupt
        return items

    writer: GroupWriter[int, int] = GroupWriter(write)
    with pytest.raises(KeyboardInterrupt):
        writer.submit(0)
    assert writer.submit(5) == 5


@settings(max_examples=25, deadline=None)
@given(threads=st.integers(1, 8), per_thread=st.integers(1, 30))
def test_every_item_is_written_once_and_answered_to_its_thread(
    threads: int, per_thread: int
) -> None:
    write = RecordedWrite()
    writer: GroupWriter[int, int] = GroupWriter(write)

    def worker(base: int) -> list[int]:
        return [writer.submit(base + n) for n in range(per_thread)]

    with ThreadPoolExecutor(threads) as pool:
        answers = list(pool.map(worker, [t * 1000 for t in range(threads)]))
    for t, got in enumerate(answers):
        assert got == [(t * 1000 + n) * 10 for n in range(per_thread)]
    written = [item for call in write.calls for item in call]
    assert sorted(written) == sorted(
        t * 1000 + n for t in range(threads) for n in range(per_thread)
    )
    assert not writer._waiting and not writer._writing


def _failing_group_run(error: BaseException) -> tuple[list[Background], list[list[int]], Any]:
    """A held write (item 0), then a group of five (1-5) whose write raises `error`,
    with four more (10-13) queued during that failing write."""
    entered, release = threading.Event(), threading.Event()
    failing_entered, failing_release = threading.Event(), threading.Event()
    calls: list[list[int]] = []

    def write(items: list[int]) -> list[int]:
        calls.append(list(items))
        if len(calls) == 1:
            entered.set()
            assert release.wait(DEADLINE)
        elif len(calls) == 2:
            failing_entered.set()
            assert failing_release.wait(DEADLINE)
            raise error
        return [item * 2 for item in items]

    writer: GroupWriter[int, int] = GroupWriter(write)
    first = Background(lambda: writer.submit(0))
    assert entered.wait(DEADLINE)
    group = [Background(functools.partial(writer.submit, n)) for n in range(1, 6)]
    eventually(lambda: waiting(writer) == 5)
    release.set()
    assert failing_entered.wait(DEADLINE)
    late = [Background(functools.partial(writer.submit, n)) for n in range(10, 14)]
    eventually(lambda: waiting(writer) == 4)
    failing_release.set()
    assert first.result() == 0
    return group + late, calls, writer


def test_a_write_failing_with_an_error_fails_its_whole_group_and_the_next_leads() -> None:
    """The write of a group of five raises MemoryError: all five hear it, the threads
    that queued during that failing write are written by the next leader, and the
    writer is idle at the end."""
    threads, calls, writer = _failing_group_run(MemoryError())
    group, late = threads[:5], threads[5:]
    for thread in group:
        with pytest.raises(MemoryError):
            thread.result()
    assert sorted(t.result() for t in late) == [20, 22, 24, 26]
    assert sorted(calls[1]) == [1, 2, 3, 4, 5] and sorted(calls[2]) == [10, 11, 12, 13]
    assert not writer._writing and not writer._waiting


@pytest.mark.parametrize("interrupt", [SystemExit(2), KeyboardInterrupt()])
def test_an_interrupted_writer_alone_hears_it_and_its_group_is_written_next(
    interrupt: BaseException,
) -> None:
    """The thread writing a group of five is interrupted (SystemExit, Ctrl-C) in the
    write: it alone leaves with the interrupt; the group, its item included, goes back
    in line and is written by the next writer with those that queued meanwhile."""
    threads, calls, writer = _failing_group_run(interrupt)
    results: list[int] = []
    interrupted = 0
    for thread in threads:
        try:
            results.append(thread.result())
        except type(interrupt):
            interrupted += 1
    assert interrupted == 1
    assert len(results) == 8 and all(r % 2 == 0 for r in results)
    assert sorted(calls[1]) == [1, 2, 3, 4, 5]
    assert sorted(calls[2]) == [1, 2, 3, 4, 5, 10, 11, 12, 13]  # nothing lost
    assert not writer._writing and not writer._waiting


def test_a_write_returning_the_wrong_number_of_results_fails_its_group_only() -> None:
    calls: list[list[int]] = []

    def write(items: list[int]) -> list[int]:
        calls.append(items)
        return [] if items == [1] else items

    writer: GroupWriter[int, int] = GroupWriter(write)
    with pytest.raises(ValueError):
        writer.submit(1)
    assert writer.submit(2) == 2 and not writer._writing


def test_a_waiter_interrupted_by_ctrl_c_does_not_wedge_the_writer() -> None:
    entered, release = threading.Event(), threading.Event()

    def write(items: list[int]) -> list[int]:
        if items == [0]:
            entered.set()
            assert release.wait(DEADLINE)
        return items

    writer: GroupWriter[int, int] = GroupWriter(write)
    with interrupt_main_on() as fire:
        first = Background(lambda: writer.submit(0))
        assert entered.wait(DEADLINE)
        interrupter = Background(lambda: eventually(lambda: waiting(writer) == 1) and fire())
        with pytest.raises(KeyboardInterrupt):
            writer.submit(1)  # the main thread waits behind the held write; Ctrl-C
        interrupter.result()
    release.set()
    assert first.result() == 0
    later = Background(lambda: writer.submit(2))
    try:
        assert later.done(), "a submit after the interrupted one never returns"
        assert later.result() == 2
    finally:
        unwedge(writer)
        later.done()


# -- the engine: writes that fail ---------------------------------------------------------


def _main_thread_tick_setup(
    executor: ThreadPoolExecutor,
) -> tuple[Scheduler, Gates, HeldWrites, dict[str, Any]]:
    """A Scheduler driven by tick() from the main thread with three runs in the pool:
    'slow' (10 s timeout, gated), 'quick' (returns at once; its write is held) and
    'later' (gated)."""
    gates = Gates("slow", "later")
    store = MemoryStore()
    sched = Scheduler(store=store, handler=gates, executor=executor, clock=FakeClock(T0))
    daily(sched, "slow", timeout=10 * SECOND)
    daily(sched, "quick")
    daily(sched, "later")
    held = HeldWrites(store, of_agent("quick"))
    runs = {run.agent_id: run for run in sched.tick(now=NINE)}
    assert held.entered.wait(DEADLINE) and gates.entered["later"].wait(DEADLINE)
    return sched, gates, held, runs


def test_ctrl_c_during_a_main_thread_tick_leaves_later_outcomes_recordable() -> None:
    with pool(4) as executor:
        sched, gates, held, runs = _main_thread_tick_setup(executor)
        engine = firing_core(sched)
        try:
            with interrupt_main_on() as fire:
                interrupter = Background(
                    lambda: eventually(lambda: waiting(engine._outcomes) == 1) and fire()
                )
                with pytest.raises(KeyboardInterrupt):
                    sched.tick(now=NINE + 10 * SECOND)  # 'slow' timed out: its failure waits
                interrupter.result()
            held.release.set()
            gates.gates["later"].set()
            later = runs["later"].id
            eventually(
                lambda: later not in engine._in_flight,
                what="the 'later' handler returned but its outcome is never written",
            )
            assert stored_run(sched.store, later).status is RunStatus.SUCCEEDED
        finally:
            unwedge(engine._outcomes)
            gates.open()
            sched.stop(wait=True, timeout=DEADLINE)


def test_ctrl_c_in_the_main_threads_write_loses_no_other_threads_outcome() -> None:
    main = threading.main_thread()
    with pool(4) as executor:
        sched, gates, held, runs = _main_thread_tick_setup(executor)
        engine = firing_core(sched)
        inner = held.inner

        def interrupted_in_main(finishing: list[Finishing], lease_until: Any = None) -> Any:
            if threading.current_thread() is main:
                raise KeyboardInterrupt  # Ctrl-C while the main thread commits
            return inner(finishing, lease_until)

        held.inner = interrupted_in_main

        def order_the_group() -> None:  # the main thread first in line, 'later' second
            eventually(lambda: waiting(engine._outcomes) == 1)
            gates.gates["later"].set()
            eventually(lambda: waiting(engine._outcomes) == 2)
            held.release.set()

        try:
            helper = Background(order_the_group)
            with pytest.raises(KeyboardInterrupt):
                sched.tick(now=NINE + 10 * SECOND)  # leads the group [slow's timeout, later]
            helper.result()
            later = runs["later"].id
            eventually(lambda: later not in engine._in_flight)
            assert stored_run(sched.store, later).status is RunStatus.SUCCEEDED
        finally:
            held.inner = inner
            gates.open()
            sched.stop(wait=True, timeout=DEADLINE)


def test_a_store_error_on_a_group_write_leaves_no_run_in_flight_and_leases_finish_them(
    make: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """finish_runs fails twice (the write and its retry) for the group behind a held
    write (b, c, perhaps d): every
    handler thread returns, the runs leave the in-flight set, stay 'running' until their
    lease lapses and are then failed 'interrupted' by the same scheduler, counted once."""
    gates = Gates("a", "b", "c", "d")
    with pool(8) as executor:
        sched = make(gates, executor=executor, clock=FakeClock(T0), lease=LEASE)
        engine = firing_core(sched)
        made = {agent: daily(sched, agent) for agent in "abcd"}
        store = sched.store
        inner = store.finish_runs
        failures = {"left": 2}
        first_in = threading.Event()

        def failing(finishing: list[Finishing], lease_until: Any = None) -> Any:
            if of_agent("b")(finishing) and failures["left"]:
                failures["left"] -= 1
                raise StoreError("database is locked")
            if not first_in.is_set():
                first_in.set()
                assert gates.gates["d"].wait(DEADLINE)  # 'a' writes while b, c wait behind
            return inner(finishing, lease_until)

        monkeypatch.setattr(store, "finish_runs", failing)
        runs = {run.agent_id: run for run in sched.tick(now=NINE)}
        gates.gates["a"].set()
        assert first_in.wait(DEADLINE)
        gates.gates["b"].set()
        gates.gates["c"].set()
        eventually(lambda: waiting(engine._outcomes) == 2)
        gates.gates["d"].set()  # 'a' writes; b, c and d share the failing write
        eventually(lambda: sched.runs_in_flight == 0)
        monkeypatch.setattr(store, "finish_runs", inner)
        status = {agent: stored_run(store, run.id).status for agent, run in runs.items()}
        assert status["a"] is RunStatus.SUCCEEDED
        lost = [agent for agent in "bcd" if status[agent] is RunStatus.RUNNING]
        assert {"b", "c"} <= set(lost), status  # the group that failed (d may be in it)
        sched.tick(now=NINE + LEASE + SECOND)
        for agent in lost:
            run = stored_run(store, runs[agent].id)
            assert run.status is RunStatus.FAILED and run.error == INTERRUPTED
            assert sched.get(made[agent].id).failure_count == 1
        assert sched.runs_in_flight == 0


@pytest.mark.parametrize("error", [SystemExit(1), KeyboardInterrupt()], ids=repr)
def test_a_base_exception_in_a_pool_threads_store_write_deadlocks_nothing(
    make: Factory, error: BaseException
) -> None:
    """The store raises SystemExit/KeyboardInterrupt inside one group write: no thread
    hangs, no run stays in flight, and the interrupted group is written with the next
    one, nothing lost. (AsyncScheduler: the exception leaves the task that
    awaited the write and, as asyncio does with these two, stops the event loop.)"""
    if make.is_async:
        pytest.skip("SystemExit/KeyboardInterrupt in a task stop asyncio's loop by design")
    gates = Gates("a", "b", "c")
    with pool(8) as executor:
        sched = make(gates, executor=executor, clock=FakeClock(T0), lease=LEASE)
        engine = firing_core(sched)
        for agent in "abc":
            daily(sched, agent)
        held = HeldWrites(sched.store, of_agent("a"))
        inner = held.inner
        armed = {"left": 1}

        def exploding(finishing: list[Finishing], lease_until: Any = None) -> Any:
            if of_agent("b")(finishing) and armed["left"]:
                armed["left"] = 0
                raise error
            return inner(finishing, lease_until)

        held.inner = exploding
        runs = {run.agent_id: run for run in sched.tick(now=NINE)}
        gates.gates["a"].set()
        assert held.entered.wait(DEADLINE)
        gates.gates["b"].set()
        eventually(lambda: waiting(engine._outcomes) == 1)
        held.release.set()  # a is written; b leads its own group and explodes
        eventually(lambda: runs["b"].id not in engine._in_flight)
        gates.gates["c"].set()
        eventually(lambda: sched.runs_in_flight == 0)
        store = sched.store
        assert stored_run(store, runs["a"].id).status is RunStatus.SUCCEEDED
        assert stored_run(store, runs["c"].id).status is RunStatus.SUCCEEDED
        # b's write was interrupted in its own thread: its outcome went back in line and
        # was written with c's.
        assert stored_run(store, runs["b"].id).status is RunStatus.SUCCEEDED
        sched.tick(now=NINE + LEASE + SECOND)
        assert stored_run(store, runs["b"].id).status is RunStatus.SUCCEEDED
        assert not engine._outcomes._writing and not engine._outcomes._waiting


def test_an_event_callback_raising_system_exit_holds_up_no_other_thread(make: Factory) -> None:
    """A `run.succeeded` subscriber raises SystemExit in the thread of one run of a group:
    the group's other outcome is written and announced, no run stays in flight, and the
    buffered run that thread should have launched (started in the store) ends
    'interrupted' at its lease rather than 'running' for ever."""
    if make.is_async:
        pytest.skip("AsyncScheduler calls subscribers on its event loop, not in the writer")
    gates = Gates("a", "b", "c")
    announced: list[str] = []

    def subscriber(event: Any) -> None:
        if event.run.agent_id == "a":
            raise SystemExit(1)
        announced.append(event.run.agent_id)

    with pool(8) as executor:
        sched = make(gates, executor=executor, clock=FakeClock(T0), lease=LEASE)
        engine = firing_core(sched)
        a = daily(sched, "a", schedule=Cron("* * * * *"), overlap=Overlap.BUFFER_ONE)
        daily(sched, "b")
        daily(sched, "c")
        sched.subscribe(subscriber, kinds=["run.succeeded"])
        held = HeldWrites(sched.store, of_agent("b"))
        runs = {run.agent_id: run for run in sched.tick(now=NINE)}
        sched.tick(now=NINE + MINUTE)  # a's 9:01 fire waits behind a's 9:00 run
        gates.gates["b"].set()
        assert held.entered.wait(DEADLINE)
        gates.gates["a"].set()
        gates.gates["c"].set()
        eventually(lambda: waiting(engine._outcomes) == 2)
        held.release.set()  # then a and c share a write
        eventually(lambda: sched.runs_in_flight == 0)
        store = sched.store
        assert [stored_run(store, runs[x].id).status for x in "abc"] == [RunStatus.SUCCEEDED] * 3
        assert sorted(announced) == ["b", "c"]
        buffered, first = sched.runs(a.id)
        assert first.id == runs["a"].id and buffered.status is RunStatus.RUNNING
        assert len(gates.calls) == 3  # the buffered run was never launched
        sched.tick(now=NINE + MINUTE + LEASE + SECOND)
        swept = stored_run(store, buffered.id)
        assert swept.status is RunStatus.FAILED and swept.error == INTERRUPTED
        assert sched.runs_in_flight == 0


# -- stop() while writes are in flight ---------------------------------------------------


@pytest.mark.parametrize("wait", [True, False])
def test_stop_while_group_writes_are_in_flight(make: Factory, wait: bool) -> None:
    """stop(wait=True) returns only once the waiting outcomes are written; stop(wait=False)
    returns at once and the outcomes are written all the same."""
    gates = Gates("a", "b", "c")
    with pool(8) as executor:
        sched = make(gates, executor=executor, clock=FakeClock(T0))
        engine = firing_core(sched)
        for agent in "abc":
            daily(sched, agent)
        held = HeldWrites(sched.store, of_agent("a"))
        runs = sched.tick(now=NINE)
        gates.gates["a"].set()
        assert held.entered.wait(DEADLINE)
        gates.gates["b"].set()
        gates.gates["c"].set()
        eventually(lambda: waiting(engine._outcomes) == 2)
        stopper = Background(lambda: sched.stop(wait=wait))
        if wait:
            assert not stopper.done(0.05)  # it cannot return while outcomes wait
        else:
            stopper.result()
        held.release.set()
        stopper.result()
        eventually(lambda: sched.runs_in_flight == 0)
        assert [stored_run(sched.store, r.id).status for r in runs] == [RunStatus.SUCCEEDED] * 3
        assert not engine._outcomes._writing


@pytest.mark.parametrize("shell", ["async"])
def test_a_run_abandoned_by_an_async_stop_is_not_running_forever(make: Factory) -> None:
    gate = threading.Event()

    def handler(ctx: RunContext) -> str:
        assert gate.wait(DEADLINE)
        return "late"

    with pool(2) as executor:
        sched = make(handler, executor=executor, clock=FakeClock(T0))
        s = sched.create(agent_id="bot", schedule=Cron("0 9 * * *"), input="go")
        (run,) = sched.tick(now=NINE)
        sched.stop(timeout=0.01)  # the handler's task is abandoned
        gate.set()  # ... and its code returns
        for minute in range(1, 12):  # ticking again (say after start())
            sched.tick(now=NINE + minute * MINUTE)
        assert sched.runs_in_flight == 0
        (stored,) = sched.runs(s.id)
        assert stored.id == run.id and stored.status is not RunStatus.RUNNING


# -- many threads, hundreds of runs -----------------------------------------------------


def test_hundreds_of_runs_on_sixteen_threads_are_each_handled_once(make: Factory) -> None:
    """150 schedules (SKIP, BUFFER_ONE, ALLOW_ALL; every third failing), three fires each,
    on 16 threads, the first wave held until the second fire is claimed: every run is
    handled exactly once, ends final, and every schedule's counters add up."""
    gate = threading.Event()
    seen: list[tuple[str, str, datetime | None]] = []
    lock = threading.Lock()

    def handler(ctx: RunContext) -> str:
        with lock:
            seen.append((ctx.run_id, ctx.schedule.id, ctx.scheduled_for))
        assert gate.wait(DEADLINE)
        if ctx.schedule.input == "fail":
            raise RuntimeError("agent failed")
        return "ok"

    overlaps = [Overlap.SKIP, Overlap.BUFFER_ONE, Overlap.ALLOW_ALL]
    with pool(16) as executor:
        sched = make(handler, executor=executor, clock=FakeClock(T0))
        engine = firing_core(sched)
        made = [
            sched.create(
                agent_id="bot",
                schedule=Cron("* * * * *"),
                input="fail" if n % 3 == 0 else "go",
                overlap=overlaps[n % len(overlaps)],
            )
            for n in range(150)
        ]
        sched.tick(now=NINE)
        sched.tick(now=NINE + MINUTE)  # SKIP skipped, BUFFER_ONE buffered, ALLOW_ALL started
        gate.set()
        eventually(lambda: sched.runs_in_flight == 0)
        sched.tick(now=NINE + 2 * MINUTE)
        eventually(lambda: sched.runs_in_flight == 0)
        ids = [run_id for run_id, _, _ in seen]
        assert len(ids) == len(set(ids))  # no run handled twice
        fires = [(sid, at) for _, sid, at in seen]
        assert len(fires) == len(set(fires))  # no fire handled twice
        handled = set(ids)
        for n, s in enumerate(made):
            runs = sorted(sched.runs(s.id), key=lambda r: r.scheduled_for)
            assert [r.scheduled_for for r in runs] == [NINE + k * MINUTE for k in range(3)]
            ran = [r for r in runs if r.status is not RunStatus.SKIPPED]
            expected = 2 if s.overlap is Overlap.SKIP else 3
            assert len(ran) == expected, runs
            assert {r.id for r in ran} <= handled
            assert {r.id for r in runs if r.status is RunStatus.SKIPPED}.isdisjoint(handled)
            final = RunStatus.FAILED if n % 3 == 0 else RunStatus.SUCCEEDED
            assert all(r.status is final for r in ran), runs
            after = sched.get(s.id)
            assert after.run_count == expected
            assert after.failure_count == (expected if n % 3 == 0 else 0)
            assert after.last_run_id == ran[-1].id
        assert len(handled) == sum(2 if s.overlap is Overlap.SKIP else 3 for s in made)
        assert sched.store.expired_runs(NINE + timedelta(days=1), limit=1000) == []
        assert not engine._outcomes._writing and not engine._outcomes._waiting


# -- inline outcomes, flushed 64 at a time -----------------------------------------------


def test_a_big_inline_tick_writes_every_outcome_in_batches_of_at_most_64(
    make: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """200 inline runs in one tick; the store fails the second write and its retry: the
    runs of that write alone stay 'running' (until their lease), every other run is
    final, in what tick() returns and in the store."""

    def handler(ctx: RunContext) -> str:
        if ctx.schedule.input == "fail":
            raise RuntimeError("agent failed")
        return "ok"

    sched = make(handler, clock=FakeClock(T0), lease=LEASE)
    made = {
        s.id: s
        for s in (daily(sched, "bot", input="fail" if n % 4 == 0 else "go") for n in range(200))
    }
    store = sched.store
    inner = store.finish_runs
    sizes: list[int] = []
    lost: set[str] = set()

    def counting(finishing: list[Finishing], lease_until: Any = None) -> Any:
        sizes.append(len(finishing))
        if len(sizes) in (2, 3):  # the second write, and its retry
            lost.update(item.run.id for item in finishing)
            raise StoreError("disk I/O error")
        return inner(finishing, lease_until)

    monkeypatch.setattr(store, "finish_runs", counting)
    runs = sched.tick(now=NINE)
    monkeypatch.setattr(store, "finish_runs", inner)
    assert len(runs) == 200 and max(sizes) <= 64 and lost
    assert sum(sizes) - sizes[2] == 200  # every outcome offered to the store once, but the retry
    for run in runs:
        want = (
            RunStatus.RUNNING
            if run.id in lost
            else RunStatus.FAILED
            if made[run.schedule_id].input == "fail"
            else RunStatus.SUCCEEDED
        )
        assert run.status is want and stored_run(store, run.id).status is want
    assert sched.runs_in_flight == 0
    sched.tick(now=NINE + LEASE + SECOND)  # their leases lapse: failed, interrupted
    for run_id in lost:
        swept = stored_run(store, run_id)
        assert swept.status is RunStatus.FAILED and swept.error == INTERRUPTED
    for s in made.values():
        after = sched.get(s.id)
        assert after.run_count == 1
        assert after.failure_count == int(s.input == "fail" or after.last_error == INTERRUPTED)
