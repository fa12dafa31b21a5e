"""Hostile tests of group commit (`GroupWriter`), the lease rule (renew once a third of
a lease has gone) and the batched inline outcomes.

Each test states a guarantee; several pin bugs found and fixed (named in their docstrings).
Time is a `FakeClock`; threads meet on events, waits are bounded.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from drivers import AsyncDriver, Factory

from agentsched import (
    AsyncScheduler,
    Cron,
    MemoryStore,
    Overlap,
    RunContext,
    RunStatus,
    Scheduler,
    StoreError,
)
from agentsched.firing.core import INTERRUPTED, FiringCore
from agentsched.firing.group_commit import GroupWriter
from agentsched.model import Run, RunTrigger, replace
from agentsched.stores.base import Finishing
from agentsched.testing import FakeClock

UTC = timezone.utc
T0 = datetime(2026, 1, 5, 8, 59, tzinfo=UTC)
NINE = datetime(2026, 1, 5, 9, tzinfo=UTC)
SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
LEASE = timedelta(seconds=30)
WAIT = 10.0  # seconds a thread may take to get somewhere before the test fails
HANG = 3.0  # seconds after which a wait that should end at once is called a hang


# -- helpers ---------------------------------------------------------------------------


def engine_of(sched: Any) -> FiringCore:
    return (sched.scheduler if isinstance(sched, AsyncDriver) else sched)._engine


def eventually(check: Callable[[], bool], timeout: float = WAIT) -> bool:
    """Poll `check` until true (False once `timeout` seconds have gone)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not check():
        if time.monotonic() > deadline:
            return False
        pause.wait(0.002)
    return True


def waiting(writer: GroupWriter[Any, Any]) -> int:
    with writer._lock:
        return len(writer._waiting)


class HeldWrites:
    """Wraps a store's `finish_runs`: the first call for which `when(finishing)` holds
    blocks inside (before writing) until `release` is set."""

    def __init__(self, store: Any, when: Callable[[list[Finishing]], bool]) -> None:
        self._inner = store.finish_runs
        self._when = when
        self.entered = threading.Event()
        self.release = threading.Event()
        store.finish_runs = self

    def __call__(self, finishing: list[Finishing], lease_until: Any = None) -> Any:
        if not self.release.is_set() and self._when(finishing):
            self.entered.set()
            assert self.release.wait(WAIT)
        return self._inner(finishing, lease_until)


def of_agent(agent: str) -> Callable[[list[Finishing]], bool]:
    return lambda finishing: any(item.run.agent_id == agent for item in finishing)


class Background:
    """`fn()` in a daemon thread; `result()` waits for it and re-raises what it raised."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[[], Any]) -> None:
        try:
            self._value = fn()
        except BaseException as exc:
            self._error = exc

    def done(self, timeout: float = WAIT) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def result(self, timeout: float = WAIT) -> Any:
        assert self.done(timeout), "still blocked"
        if self._error is not None:
            raise self._error
        return self._value


class Gates:
    """A handler routed by agent id: `agent` waits on its gate (if it has one), then
    returns `agent`'s answer (an exception is raised)."""

    def __init__(self, *gated: str) -> None:
        self.gates = {agent: threading.Event() for agent in gated}
        self.entered = {agent: threading.Event() for agent in gated}
        self.answers: dict[str, Any] = {}
        self.calls: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def __call__(self, ctx: RunContext) -> Any:
        agent = ctx.schedule.agent_id
        with self._lock:
            self.calls.append((ctx.schedule.id, ctx.run_id))
        if agent in self.gates:
            self.entered[agent].set()
            assert self.gates[agent].wait(WAIT)
        answer = self.answers.get(agent, agent)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def open(self) -> None:
        for gate in self.gates.values():
            gate.set()


@contextmanager
def pool(workers: int = 8) -> Iterator[ThreadPoolExecutor]:
    executor = ThreadPoolExecutor(workers, thread_name_prefix="hostile")
    try:
        yield executor
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


@contextmanager
def interrupt_main_on(signum: int = signal.SIGUSR1) -> Iterator[Callable[[], None]]:
    """While inside: `fire()` (from any thread) raises KeyboardInterrupt in the main thread,
    as Ctrl-C does."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("needs the main thread")

    def raise_interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signum, raise_interrupt)
    main = threading.main_thread().ident
    assert main is not None
    try:
        yield lambda: signal.pthread_kill(main, signum)
    finally:
        signal.signal(signum, previous)


def unwedge(writer: GroupWriter[Any, Any]) -> None:
    """Should a waiter handed the writer's role have left without passing it on (a
    regression of the Ctrl-C tests below), write in its stead, so that the threads it
    strands end and the test fails rather than hangs."""
    while True:
        with writer._lock:
            stuck = writer._writing and writer._waiting and writer._waiting[0].lead
        if not stuck:
            return
        writer._lead()


def daily(sched: Any, agent: str, **changes: Any) -> Any:
    fields: dict[str, Any] = {"agent_id": agent, "schedule": Cron("0 9 * * *"), "input": "go"}
    fields.update(changes)
    return sched.create(**fields)


# -- GroupWriter on its own -------------------------------------------------------------


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
            assert release.wait(WAIT)
        elif len(calls) == 2:
            failing_entered.set()
            assert failing_release.wait(WAIT)
            raise error
        return [item * 2 for item in items]

    writer: GroupWriter[int, int] = GroupWriter(write)
    first = Background(lambda: writer.submit(0))
    assert entered.wait(WAIT)
    group = [Background(lambda n=n: writer.submit(n)) for n in range(1, 6)]
    assert eventually(lambda: waiting(writer) == 5)
    release.set()
    assert failing_entered.wait(WAIT)
    late = [Background(lambda n=n: writer.submit(n)) for n in range(10, 14)]
    assert eventually(lambda: waiting(writer) == 4)
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
            assert release.wait(WAIT)
        return items

    writer: GroupWriter[int, int] = GroupWriter(write)
    with interrupt_main_on() as fire:
        first = Background(lambda: writer.submit(0))
        assert entered.wait(WAIT)
        interrupter = Background(lambda: eventually(lambda: waiting(writer) == 1) and fire())
        with pytest.raises(KeyboardInterrupt):
            writer.submit(1)  # the main thread waits behind the held write; Ctrl-C
        interrupter.result()
    release.set()
    assert first.result() == 0
    later = Background(lambda: writer.submit(2))
    try:
        assert later.done(HANG), "a submit after the interrupted one never returns"
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
    assert held.entered.wait(WAIT) and gates.entered["later"].wait(WAIT)
    return sched, gates, held, runs


def test_ctrl_c_during_a_main_thread_tick_leaves_later_outcomes_recordable() -> None:
    with pool(4) as executor:
        sched, gates, held, runs = _main_thread_tick_setup(executor)
        engine = engine_of(sched)
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
            assert eventually(lambda: later not in engine._in_flight, HANG), (
                "the 'later' handler returned but its outcome is never written"
            )
            assert sched.store.get_run(later).status is RunStatus.SUCCEEDED
        finally:
            unwedge(engine._outcomes)
            gates.open()
            sched.stop(wait=True, timeout=WAIT)


def test_ctrl_c_in_the_main_threads_write_loses_no_other_threads_outcome() -> None:
    main = threading.main_thread()
    with pool(4) as executor:
        sched, gates, held, runs = _main_thread_tick_setup(executor)
        engine = engine_of(sched)
        inner = held._inner

        def interrupted_in_main(finishing: list[Finishing], lease_until: Any = None) -> Any:
            if threading.current_thread() is main:
                raise KeyboardInterrupt  # Ctrl-C while the main thread commits
            return inner(finishing, lease_until)

        held._inner = interrupted_in_main

        def order_the_group() -> None:  # the main thread first in line, 'later' second
            assert eventually(lambda: waiting(engine._outcomes) == 1)
            gates.gates["later"].set()
            assert eventually(lambda: waiting(engine._outcomes) == 2)
            held.release.set()

        try:
            helper = Background(order_the_group)
            with pytest.raises(KeyboardInterrupt):
                sched.tick(now=NINE + 10 * SECOND)  # leads the group [slow's timeout, later]
            helper.result()
            later = runs["later"].id
            assert eventually(lambda: later not in engine._in_flight)
            assert sched.store.get_run(later).status is RunStatus.SUCCEEDED
        finally:
            held._inner = inner
            gates.open()
            sched.stop(wait=True, timeout=WAIT)


def test_a_store_error_on_a_group_write_leaves_no_run_in_flight_and_leases_finish_them(
    make: Factory,
) -> None:
    """finish_runs fails twice (the write and its retry) for the group behind a held
    write (b, c, perhaps d): every
    handler thread returns, the runs leave the in-flight set, stay 'running' until their
    lease lapses and are then failed 'interrupted' by the same scheduler, counted once."""
    gates = Gates("a", "b", "c", "d")
    with pool(8) as executor:
        sched = make(gates, executor=executor, clock=FakeClock(T0), lease=LEASE)
        engine = engine_of(sched)
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
                assert gates.gates["d"].wait(WAIT)  # 'a' writes while b, c wait behind
            return inner(finishing, lease_until)

        store.finish_runs = failing
        runs = {run.agent_id: run for run in sched.tick(now=NINE)}
        gates.gates["a"].set()
        assert first_in.wait(WAIT)
        gates.gates["b"].set()
        gates.gates["c"].set()
        assert eventually(lambda: waiting(engine._outcomes) == 2)
        gates.gates["d"].set()  # 'a' writes; b, c and d share the failing write
        assert eventually(lambda: engine.in_flight() == 0)
        store.finish_runs = inner
        status = {agent: store.get_run(run.id).status for agent, run in runs.items()}
        assert status["a"] is RunStatus.SUCCEEDED
        lost = [agent for agent in "bcd" if status[agent] is RunStatus.RUNNING]
        assert {"b", "c"} <= set(lost), status  # the group that failed (d may be in it)
        sched.tick(now=NINE + LEASE + SECOND)
        for agent in lost:
            run = store.get_run(runs[agent].id)
            assert run.status is RunStatus.FAILED and run.error == INTERRUPTED
            assert sched.get(made[agent].id).failure_count == 1
        assert engine.in_flight() == 0


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
        engine = engine_of(sched)
        for agent in "abc":
            daily(sched, agent)
        held = HeldWrites(sched.store, of_agent("a"))
        inner = held._inner
        armed = {"left": 1}

        def exploding(finishing: list[Finishing], lease_until: Any = None) -> Any:
            if of_agent("b")(finishing) and armed["left"]:
                armed["left"] = 0
                raise error
            return inner(finishing, lease_until)

        held._inner = exploding
        runs = {run.agent_id: run for run in sched.tick(now=NINE)}
        gates.gates["a"].set()
        assert held.entered.wait(WAIT)
        gates.gates["b"].set()
        assert eventually(lambda: waiting(engine._outcomes) == 1)
        held.release.set()  # a is written; b leads its own group and explodes
        assert eventually(lambda: runs["b"].id not in engine._in_flight)
        gates.gates["c"].set()
        assert eventually(lambda: engine.in_flight() == 0)
        store = sched.store
        assert store.get_run(runs["a"].id).status is RunStatus.SUCCEEDED
        assert store.get_run(runs["c"].id).status is RunStatus.SUCCEEDED
        # b's write was interrupted in its own thread: its outcome went back in line and
        # was written with c's.
        assert store.get_run(runs["b"].id).status is RunStatus.SUCCEEDED
        sched.tick(now=NINE + LEASE + SECOND)
        assert store.get_run(runs["b"].id).status is RunStatus.SUCCEEDED
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
        engine = engine_of(sched)
        a = daily(sched, "a", schedule=Cron("* * * * *"), overlap=Overlap.BUFFER_ONE)
        daily(sched, "b")
        daily(sched, "c")
        sched.subscribe(subscriber, kinds=["run.succeeded"])
        held = HeldWrites(sched.store, of_agent("b"))
        runs = {run.agent_id: run for run in sched.tick(now=NINE)}
        sched.tick(now=NINE + MINUTE)  # a's 9:01 fire waits behind a's 9:00 run
        gates.gates["b"].set()
        assert held.entered.wait(WAIT)
        gates.gates["a"].set()
        gates.gates["c"].set()
        assert eventually(lambda: waiting(engine._outcomes) == 2)
        held.release.set()  # then a and c share a write
        assert eventually(lambda: engine.in_flight() == 0)
        store = sched.store
        assert [store.get_run(runs[x].id).status for x in "abc"] == [RunStatus.SUCCEEDED] * 3
        assert sorted(announced) == ["b", "c"]
        buffered, first = sched.runs(a.id)
        assert first.id == runs["a"].id and buffered.status is RunStatus.RUNNING
        assert len(gates.calls) == 3  # the buffered run was never launched
        sched.tick(now=NINE + MINUTE + LEASE + SECOND)
        swept = store.get_run(buffered.id)
        assert swept.status is RunStatus.FAILED and swept.error == INTERRUPTED
        assert engine.in_flight() == 0


# -- timeouts, recorded from the loop thread through the group writer ---------------------


def test_a_timed_out_run_whose_handler_returns_while_its_failure_waits_frees_its_slot(
    make: Factory,
) -> None:
    gates = Gates("slow", "quick")
    with pool(8) as executor:
        sched = make(gates, executor=executor, clock=FakeClock(T0))
        engine = engine_of(sched)
        slow = daily(sched, "slow", schedule=Cron("* * * * *"), timeout=10 * SECOND)
        daily(sched, "quick")
        held = HeldWrites(sched.store, of_agent("quick"))
        runs = {run.agent_id: run for run in sched.tick(now=NINE)}
        gates.gates["quick"].set()
        assert held.entered.wait(WAIT)  # quick's outcome is being written (slowly)
        ticker = Background(lambda: sched.tick(now=NINE + 10 * SECOND))
        assert eventually(lambda: waiting(engine._outcomes) == 1)  # slow's failure waits
        gates.gates["slow"].set()  # ... and slow's handler returns meanwhile
        assert eventually(lambda: engine._in_flight[runs["slow"].id].returned_at is not None)
        held.release.set()
        ticker.result()  # the failure stored, the tick frees the slot
        assert runs["slow"].id not in engine._in_flight
        failed = sched.store.get_run(runs["slow"].id)
        assert failed.status is RunStatus.FAILED and "timed out" in (failed.error or "")
        assert eventually(lambda: engine.in_flight() == 0)  # quick lands on its own thread
        (next_run,) = [r for r in sched.tick(now=NINE + MINUTE) if r.schedule_id == slow.id]
        assert next_run.status is not RunStatus.SKIPPED, "skipped beside a run that is gone"


def test_timeouts_recorded_by_the_loop_while_handler_threads_write_are_all_stored(
    make: Factory,
) -> None:
    """Twelve runs time out together while three other handlers' writes are in flight:
    each timeout is stored once, the slots are freed when the handlers return, and the
    next fire of every schedule runs."""
    gates = Gates("slow", "quick")
    with pool(16) as executor:
        sched = make(gates, executor=executor, clock=FakeClock(T0))
        engine = engine_of(sched)
        slow = [
            daily(sched, "slow", schedule=Cron("* * * * *"), timeout=10 * SECOND) for _ in range(12)
        ]
        for _ in range(3):
            daily(sched, "quick")
        held = HeldWrites(sched.store, of_agent("quick"))
        runs = sched.tick(now=NINE)
        gates.gates["quick"].set()
        assert held.entered.wait(WAIT)
        ticker = Background(lambda: sched.tick(now=NINE + 10 * SECOND))
        assert eventually(lambda: waiting(engine._outcomes) >= 1)
        held.release.set()
        ticker.result()
        for run in runs:
            if run.agent_id == "slow":
                stored = sched.store.get_run(run.id)
                assert stored.status is RunStatus.FAILED and "timed out" in (stored.error or "")
        # timed out, still occupying their slots (the quick ones land on their own threads)
        assert eventually(lambda: engine.in_flight() == 12)
        gates.gates["slow"].set()
        assert eventually(lambda: engine.in_flight() == 0)
        fired = sched.tick(now=NINE + MINUTE)
        assert sorted(r.schedule_id for r in fired) == sorted(s.id for s in slow)
        assert all(r.status is not RunStatus.SKIPPED for r in fired)
        assert eventually(lambda: engine.in_flight() == 0)
        for s in slow:
            after = sched.get(s.id)
            assert after.run_count == 2 and after.failure_count == 0


def test_a_timeout_whose_write_failed_is_recorded_by_a_later_tick(make: Factory) -> None:
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

        store.finish_runs = flaky
        try:
            sched.tick(now=NINE + 10 * SECOND)  # the timeout's write fails
            for minute in range(1, 6):  # the handler never returns; the loop goes on
                sched.tick(now=NINE + minute * MINUTE)
            stored = store.get_run(run.id)
            assert stored.status is RunStatus.FAILED, "running 5 minutes past its timeout"
            assert sched.get(s.id).failure_count == 1
        finally:
            gates.open()
            sched.stop(wait=True)


# -- stop() while writes are in flight ---------------------------------------------------


@pytest.mark.parametrize("wait", [True, False])
def test_stop_while_group_writes_are_in_flight(make: Factory, wait: bool) -> None:
    """stop(wait=True) returns only once the waiting outcomes are written; stop(wait=False)
    returns at once and the outcomes are written all the same."""
    gates = Gates("a", "b", "c")
    with pool(8) as executor:
        sched = make(gates, executor=executor, clock=FakeClock(T0))
        engine = engine_of(sched)
        for agent in "abc":
            daily(sched, agent)
        held = HeldWrites(sched.store, of_agent("a"))
        runs = sched.tick(now=NINE)
        gates.gates["a"].set()
        assert held.entered.wait(WAIT)
        gates.gates["b"].set()
        gates.gates["c"].set()
        assert eventually(lambda: waiting(engine._outcomes) == 2)
        stopper = Background(lambda: sched.stop(wait=wait))
        if wait:
            assert not stopper.done(0.05)  # it cannot return while outcomes wait
        else:
            stopper.result()
        held.release.set()
        stopper.result()
        assert eventually(lambda: engine.in_flight() == 0)
        assert [sched.store.get_run(r.id).status for r in runs] == [RunStatus.SUCCEEDED] * 3
        assert not engine._outcomes._writing


# -- leases ---------------------------------------------------------------------------------


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
        assert gates.entered["manual"].wait(WAIT)
        try:
            _run_side_by_side(sched, other, clock, NINE - 24 * SECOND, NINE + 20 * SECOND)
            stored = sched.store.get_run(run.id)
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
        assert (first, second)[n].wait(WAIT)
        return "done"

    with pool(4) as executor:
        sched = make(handler, executor=executor, clock=clock, lease=LEASE)
        other = make(lambda ctx: None, store=make.reopen(sched.store), clock=clock, lease=LEASE)
        s = daily(sched, "bot", schedule=Cron("* * * * *"), overlap=Overlap.BUFFER_ONE)
        sched.tick(now=NINE)
        assert entered[0].wait(WAIT)
        clock.set(NINE + MINUTE)
        sched.tick(now=NINE + MINUTE)  # renews; the 9:01 fire is buffered
        held = HeldWrites(sched.store, of_agent("bot"))
        clock.set(NINE + 61 * SECOND)
        first.set()  # finished at 9:01:01; its write stalls 30 s
        assert held.entered.wait(WAIT)
        for at in (71, 81, 91):  # the loop keeps renewing the leases meanwhile
            clock.set(NINE + at * SECOND)
            sched.tick(now=NINE + at * SECOND)
        held.release.set()
        assert entered[1].wait(WAIT)  # the buffered run started, leased until 9:01:31
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
            assert release_buffered.wait(WAIT)
            return "buffered"
        return gates(ctx)

    with pool(16) as executor:
        sched = make(handler, executor=executor, clock=clock, lease=LEASE)
        other = make(lambda ctx: None, store=make.reopen(sched.store), clock=clock, lease=LEASE)
        engine = engine_of(sched)
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
        assert eventually(lambda: len(buffered_started) == 6)
        started = {r.id: r for r in (sched.store.get_run(i) for i in buffered_started)}
        for run in started.values():
            assert run.started_at == NINE + 65 * SECOND
            # leased for at least a lease from its start
            assert run.id not in {r.id for r in sched.store.expired_runs(NINE + 94 * SECOND)}
        try:
            _run_side_by_side(sched, other, clock, NINE + 66 * SECOND, NINE + 5 * MINUTE)
            for run_id in [manual_run.id, *started]:
                assert sched.store.get_run(run_id).status is RunStatus.RUNNING
        finally:
            gates.open()
            release_buffered.set()
        assert eventually(lambda: engine.in_flight() == 0)
        for run_id in [manual_run.id, *started]:
            assert sched.store.get_run(run_id).status is RunStatus.SUCCEEDED
        for s in buf:  # later fires: one more buffered (started when 9:01's ended), rest skipped
            runs = sched.runs(s.id)
            ran = [r for r in runs if r.started_at is not None]
            assert all(r.status in (RunStatus.SUCCEEDED, RunStatus.SKIPPED) for r in runs)
            after = sched.get(s.id)
            assert after.run_count == len(ran) == 3
            assert after.last_run_id == max(ran, key=lambda r: r.scheduled_for).id
        sched.stop(wait=True)


def test_a_failed_renewal_is_retried_by_the_next_tick(make: Factory) -> None:
    clock = FakeClock(T0)
    gates = Gates("long")
    with pool(4) as executor:
        sched = make(gates, executor=executor, clock=clock, lease=LEASE)
        other = make(lambda ctx: None, store=make.reopen(sched.store), clock=clock, lease=LEASE)
        engine = engine_of(sched)
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

        store.renew_leases = flaky
        try:
            with pytest.raises(StoreError):
                sched.tick(now=NINE + 10 * SECOND)
            assert engine.next_wake(NINE + 10 * SECOND) == NINE + 10 * SECOND  # due again
            sched.tick(now=NINE + 11 * SECOND)  # renews now
            other.tick(now=NINE + 35 * SECOND)
            assert store.get_run(run.id).status is RunStatus.RUNNING
            assert engine.next_wake(NINE + 12 * SECOND) == NINE + 21 * SECOND
        finally:
            gates.open()
            sched.stop(wait=True)
        assert store.get_run(run.id).status is RunStatus.SUCCEEDED


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
        other = make(
            lambda ctx: other_calls.append(ctx.run_id) or "other",
            store=make.reopen(sched.store),
            clock=clock,
            lease=LEASE,
        )
        engine = engine_of(sched)
        made = [
            daily(sched, "bot", schedule=Cron("* * * * *"), overlap=Overlap.BUFFER_ONE)
            for _ in range(5)
        ]
        owned = sched.tick(now=NINE)
        clock.set(NINE + MINUTE)
        other.tick(now=NINE + MINUTE)  # sweeps the five, then runs the 9:01 fires
        for run in owned:
            swept = sched.store.get_run(run.id)
            assert swept.status is RunStatus.FAILED and swept.error == INTERRUPTED
        gates.open()  # the owner's handlers return now, all at once
        assert eventually(lambda: engine.in_flight() == 0)
        assert len(other_calls) == 5 and len(gates.calls) == 5
        for run in owned:
            assert sched.store.get_run(run.id).error == INTERRUPTED
        for s in made:
            after = sched.get(s.id)
            runs = sched.runs(s.id)
            assert [r.status for r in runs] == [RunStatus.SUCCEEDED, RunStatus.FAILED]
            assert after.run_count == 2 and after.failure_count == 0
            assert after.last_run_id == runs[0].id
        sched.tick(now=NINE + MINUTE + SECOND)
        assert engine.in_flight() == 0
        sched.stop(wait=True)


def test_a_run_abandoned_by_an_async_stop_is_not_running_forever() -> None:
    gate = threading.Event()

    def handler(ctx: RunContext) -> str:
        assert gate.wait(WAIT)
        return "late"

    async def main() -> None:
        with pool(2) as executor:
            sched = AsyncScheduler(
                store=MemoryStore(), handler=handler, executor=executor, clock=FakeClock(T0)
            )
            s = await sched.create(agent_id="bot", schedule=Cron("0 9 * * *"), input="go")
            (run,) = await sched.tick(now=NINE)
            await sched.stop(timeout=0.01)  # the handler's task is abandoned
            gate.set()  # ... and its code returns
            engine = sched._engine
            for minute in range(1, 12):  # ticking again (say after start())
                await sched.tick(now=NINE + minute * MINUTE)
            assert engine.in_flight() == 0
            (stored,) = await sched.runs(s.id)
            assert stored.id == run.id and stored.status is not RunStatus.RUNNING

    asyncio.run(asyncio.wait_for(main(), 30))


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
        assert gate.wait(WAIT)
        if ctx.schedule.input == "fail":
            raise RuntimeError("agent failed")
        return "ok"

    overlaps = [Overlap.SKIP, Overlap.BUFFER_ONE, Overlap.ALLOW_ALL]
    with pool(16) as executor:
        sched = make(handler, executor=executor, clock=FakeClock(T0))
        engine = engine_of(sched)
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
        assert eventually(lambda: engine.in_flight() == 0, 60)
        sched.tick(now=NINE + 2 * MINUTE)
        assert eventually(lambda: engine.in_flight() == 0, 60)
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


def test_a_big_inline_tick_writes_every_outcome_in_batches_of_at_most_64(make: Factory) -> None:
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

    store.finish_runs = counting
    runs = sched.tick(now=NINE)
    store.finish_runs = inner
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
        assert run.status is want and store.get_run(run.id).status is want
    assert engine_of(sched).in_flight() == 0
    sched.tick(now=NINE + LEASE + SECOND)  # their leases lapse: failed, interrupted
    for run_id in lost:
        swept = store.get_run(run_id)
        assert swept.status is RunStatus.FAILED and swept.error == INTERRUPTED
    for s in made.values():
        after = sched.get(s.id)
        assert after.run_count == 1
        assert after.failure_count == int(s.input == "fail" or after.last_error == INTERRUPTED)


def test_record_copies_are_right_whatever_the_order_and_number_of_changed_fields() -> None:
    """More change sets than the copier cache holds, in every order: each copy equals
    `attrs.evolve`, and an unknown field is refused even once the cache is full."""
    base = Run(
        id="run_1",
        schedule_id="sched_1",
        agent_id="bot",
        status=RunStatus.RUNNING,
        trigger=RunTrigger.SCHEDULE,
        scheduled_for=NINE,
        started_at=NINE,
    )
    values: dict[str, Any] = {
        "output": "out",
        "error": "err",
        "traceback": "tb",
        "response_id": "resp",
        "attempt": 3,
        "coalesced": 2,
        "finished_at": NINE + MINUTE,
    }
    for size in (1, 2, 4, 7):
        for names in itertools.islice(itertools.permutations(values, size), 200):
            changes = {name: values[name] for name in names}
            assert replace(base, **changes) == attrs.evolve(base, **changes)
    with pytest.raises(TypeError):
        replace(base, output="x", bogus=1)


def test_timeouts_not_reached_when_a_tick_is_interrupted_are_recorded_by_the_next(
    make: Factory,
) -> None:
    """Two runs time out in one tick and the first timeout's write is interrupted
    (Ctrl-C in the ticking thread): the tick raises, the second timeout is recorded by
    the next tick, and both slots are freed when the handlers return."""
    if make.is_async:
        pytest.skip("SystemExit/KeyboardInterrupt in a task stop asyncio's loop by design")
    gates = Gates("slow")
    with pool(4) as executor:
        sched = make(gates, executor=executor, clock=FakeClock(T0))
        engine = engine_of(sched)
        made = [daily(sched, "slow", timeout=10 * SECOND) for _ in range(2)]
        inner = sched.store.finish_runs
        armed = {"left": 1}

        def interrupted_once(finishing: list[Finishing], lease_until: Any = None) -> Any:
            if armed["left"] and any(item.occupied for item in finishing):
                armed["left"] = 0
                raise KeyboardInterrupt
            return inner(finishing, lease_until)

        sched.store.finish_runs = interrupted_once
        runs = sched.tick(now=NINE)
        assert eventually(gates.entered["slow"].is_set)
        with pytest.raises(KeyboardInterrupt):
            sched.tick(now=NINE + 10 * SECOND)
        sched.tick(now=NINE + 11 * SECOND)
        for run in runs:
            stored = sched.store.get_run(run.id)
            assert stored.status is RunStatus.FAILED and "timed out" in (stored.error or "")
        gates.open()
        assert eventually(lambda: engine.in_flight() == 0)
        sched.store.finish_runs = inner
        nexts = [r for r in sched.tick(now=NINE + timedelta(days=1)) if r.agent_id == "slow"]
        assert sorted(r.schedule_id for r in nexts) == sorted(s.id for s in made)
        assert all(r.status is not RunStatus.SKIPPED for r in nexts)
