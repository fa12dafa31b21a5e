"""Handlers at their worst: escaping exceptions, stopping their own scheduler, a
shut-down executor, errors no line can hold. On every store and both shells, the run
is recorded and the loop lives on (hanging past a timeout: test_timeouts.py).
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.matrix import Factory
from support.waiting import DEADLINE

from agentsched import (
    AgentschedError,
    AsyncScheduler,
    Cron,
    InlineExecutor,
    Run,
    RunContext,
    RunStatus,
    Schedule,
    Scheduler,
    Status,
)
from agentsched._checks import clean_text
from agentsched.firing.handlers import error_line
from agentsched.model import MAX_ERROR
from agentsched.testing import FakeClock

UTC = timezone.utc
T0 = datetime(2026, 1, 5, 8, 59, tzinfo=UTC)
NINE = datetime(2026, 1, 5, 9, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


class Calls:
    """Counts handler calls and lets a test wait for the n-th."""

    def __init__(self) -> None:
        self.count = 0
        self._changed = threading.Condition()

    def hit(self) -> int:
        with self._changed:
            self.count += 1
            self._changed.notify_all()
            return self.count

    def wait_for(self, count: int) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: self.count >= count, DEADLINE), self.count


ESCAPING: list[Callable[[], BaseException]] = [
    lambda: SystemExit(3),
    KeyboardInterrupt,
    asyncio.CancelledError,
    GeneratorExit,
]


@pytest.mark.parametrize(
    "escaping", ESCAPING, ids=["SystemExit", "KeyboardInterrupt", "Cancelled", "GeneratorExit"]
)
def test_an_escaping_exception_fails_the_run_and_the_loop_goes_on(
    make: Factory, escaping: Callable[[], BaseException]
) -> None:
    """InlineExecutor + start(): the handler runs in the loop's own thread or task."""
    clock, calls = FakeClock(T0), Calls()

    def handler(ctx: RunContext) -> str:
        if calls.hit() == 1:
            raise escaping()
        return "fine"

    sched = make(handler, clock=clock)
    s = sched.create(agent_id="bot", schedule=Cron("* * * * *"), input="go")
    sched.start()
    clock.set(NINE)
    calls.wait_for(1)
    clock.set(NINE + MINUTE)
    calls.wait_for(2)
    sched.stop()
    second, first = sched.runs(s.id)
    assert first.status is RunStatus.FAILED and first.error is not None
    assert type(escaping()).__name__ in first.error
    assert second.status is RunStatus.SUCCEEDED and second.output == "fine"


@pytest.mark.parametrize("escaping", [SystemExit(1), KeyboardInterrupt()])
def test_in_the_main_thread_tick_records_the_run_then_honours_the_exception(
    escaping: BaseException,
) -> None:
    def handler(ctx: RunContext) -> None:
        raise escaping

    sched = Scheduler(handler=handler, executor=InlineExecutor(), clock=FakeClock(T0))
    s = sched.create(agent_id="bot", schedule=Cron("0 9 * * *"), input="go")
    with pytest.raises(type(escaping)):
        sched.tick(now=NINE)
    (run,) = sched.runs(s.id)
    assert run.status is RunStatus.FAILED and type(escaping).__name__ in (run.error or "")


def test_an_async_handler_calling_sys_exit_ends_its_run() -> None:
    async def main() -> None:
        async def quitter(ctx: RunContext) -> None:
            sys.exit(4)

        sched = AsyncScheduler(handler=quitter, clock=FakeClock(T0))
        s = await sched.create(agent_id="bot", schedule=Cron("0 9 * * *"), input="go")
        await sched.tick(now=NINE)
        await sched.stop()
        (run,) = await sched.runs(s.id)
        assert run.status is RunStatus.FAILED and "SystemExit" in (run.error or "")

    asyncio.run(asyncio.wait_for(main(), 10))


@pytest.mark.parametrize("executor", ["inline", "threads"])
def test_stop_from_inside_a_handler_returns_and_the_run_ends(make: Factory, executor: str) -> None:
    if make.is_async:
        pytest.skip(
            "a blocking stop() from a handler on the loop is the caller's deadlock; "
            "the coroutine case is test_an_async_handler_stopping_its_scheduler"
        )
    clock, calls = FakeClock(T0), Calls()
    holder: list[Any] = []

    def handler(ctx: RunContext) -> str:
        holder[0].stop()
        calls.hit()
        return "stopped myself"

    threads: dict[str, Any] = {} if executor == "inline" else {"executor": None}
    sched = make(handler, clock=clock, **threads)
    holder.append(sched)
    s = sched.create(agent_id="bot", schedule=Cron("0 9 * * *"), input="go")
    sched.start()
    clock.set(NINE)
    calls.wait_for(1)
    sched.stop()  # and from outside, afterwards: still fine
    (run,) = sched.runs(s.id)
    assert run.status is RunStatus.SUCCEEDED and run.output == "stopped myself"


def test_an_async_handler_stopping_its_scheduler_does_not_recurse() -> None:
    async def main() -> None:
        done = asyncio.Event()
        holder: list[AsyncScheduler] = []

        async def handler(ctx: RunContext) -> str:
            await holder[0].stop()
            done.set()
            return "ok"

        clock = FakeClock(T0)
        sched = AsyncScheduler(handler=handler, clock=clock)
        holder.append(sched)
        s = await sched.create(agent_id="bot", schedule=Cron("0 9 * * *"), input="go")
        await sched.start()
        clock.set(NINE)
        await asyncio.wait_for(done.wait(), 5)
        await sched.stop()
        (run,) = await sched.runs(s.id)
        assert run.status is RunStatus.SUCCEEDED

    asyncio.run(asyncio.wait_for(main(), 10))


def test_a_shut_down_executor_is_refused_at_start_and_never_counts_as_failures(
    make: Factory,
) -> None:
    pool = ThreadPoolExecutor(2)
    sched = make(lambda ctx: "ok", executor=pool, clock=FakeClock(T0))
    s = sched.create(agent_id="bot", schedule=Cron("* * * * *"), input="go", pause_after_failures=1)
    pool.shutdown()
    with pytest.raises(AgentschedError, match="executor"):
        sched.start()
    sched.tick(now=NINE)  # fired anyway, by hand: recorded, not the agent's fault
    sched.stop()
    (run,) = sched.runs(s.id)
    assert run.status is RunStatus.FAILED and "not started" in (run.error or "")
    after = sched.get(s.id)
    assert after.failure_count == 0 and after.status is Status.ACTIVE


# -- the error of a run: one line ---------------------------------------------------------


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no")


_LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"
_messages = st.text(st.characters(codec="utf-8") | st.sampled_from([*_LINE_BREAKS, "\x00"]))


def _failed_run(error: BaseException) -> tuple[Run, Schedule]:
    def handler(ctx: RunContext) -> None:
        raise error

    sched = Scheduler(handler=handler, executor=InlineExecutor(), clock=FakeClock(T0))
    made = sched.create(agent_id="a", schedule=Cron("0 9 * * *"), input="go")
    (run,) = sched.tick(now=NINE)
    return run, sched.get(made.id)


@given(_messages | st.text(min_size=MAX_ERROR, max_size=3 * MAX_ERROR))
def test_a_handler_exception_is_one_line_in_error_and_whole_in_traceback(message: str) -> None:
    run, schedule = _failed_run(ValueError(message))
    assert run.status is RunStatus.FAILED and schedule.last_error == run.error
    assert run.error is not None and len(run.error) <= MAX_ERROR
    assert len(run.error.splitlines()) == 1 and "\x00" not in run.error
    lines = [line.strip() for line in clean_text(message).splitlines() if line.strip()]
    shown = f"ValueError: {lines[0]}" if lines else "ValueError"
    cut = len(lines) > 1 or len(shown) > MAX_ERROR
    assert run.error == (f"{shown[: MAX_ERROR - 2]} …" if cut else shown)
    assert run.traceback is not None and run.traceback.startswith("Traceback")
    if len(message) < 1000:
        assert clean_text(message).strip() in run.traceback


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ValueError("first\nsecond"), "ValueError: first …"),
        (ValueError("\n\n  first  \r\n"), "ValueError: first"),
        (KeyError("missing"), "KeyError: 'missing'"),
        (ValueError(), "ValueError"),
        (json.JSONDecodeError("bad\njson", "{", 0), "json.decoder.JSONDecodeError: bad …"),
        (Unprintable(), "test_handler_faults.Unprintable: <exception str() failed>"),
    ],
)
def test_errors_read_as_one_line(error: Exception, expected: str) -> None:
    run, _ = _failed_run(error)
    assert run.error == expected


@given(_messages)
def test_error_line_keeps_the_first_line_of_any_text(text: str) -> None:
    line = error_line(text)
    assert len(line.splitlines()) <= 1 and len(line) <= MAX_ERROR
    assert clean_text(text).strip().startswith(line.removesuffix(" …"))
