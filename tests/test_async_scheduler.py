"""AsyncScheduler: the same API as coroutines; handlers on the loop or in threads.

Behaviour shared with `Scheduler` is proven by the parametrized suites
(`make` fixture); this file covers what only the async shell has: coroutine
handlers as tasks, sync handlers off the loop, task cancellation on timeout.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

from support.waiting import DEADLINE

from agentsched import (
    AsyncScheduler,
    Cron,
    InlineExecutor,
    Once,
    RunContext,
    RunResult,
    RunStatus,
    Scheduler,
    Status,
)
from agentsched.testing import FakeClock

UTC = timezone.utc
T0 = datetime(2026, 1, 5, 8, 59, tzinfo=UTC)
NINE = datetime(2026, 1, 5, 9, tzinfo=UTC)


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 10))


def test_crud_and_tick_with_an_async_handler() -> None:
    async def main() -> None:
        seen: list[str] = []

        async def handler(ctx: RunContext) -> RunResult:
            asyncio.get_running_loop()  # runs on the loop
            await asyncio.sleep(0)
            seen.append(ctx.input)
            return RunResult(response_id="resp_1", output="done")

        sched = AsyncScheduler(handler=handler, executor=InlineExecutor(), clock=FakeClock(T0))
        s = await sched.create(
            agent_id="bot", schedule=Cron("0 9 * * *"), input="go", stateful=True
        )
        assert (await sched.get(s.id)) == s
        assert [x.id for x in await sched.list()] == [s.id]
        assert len(await sched.upcoming(s.id, n=3)) == 3
        (done,) = await sched.tick(now=NINE)
        assert (done.status, done.output, seen) == (RunStatus.SUCCEEDED, "done", ["go"])
        assert (await sched.get(s.id)).previous_response_id == "resp_1"
        assert [r.id for r in await sched.runs(s.id)] == [done.id]
        paused = await sched.pause(s.id)
        assert paused.status is Status.PAUSED
        assert (await sched.resume(s.id)).status is Status.ACTIVE
        assert (await sched.update(s.id, name="renamed")).name == "renamed"
        manual = await sched.trigger(s.id)
        assert manual.status is RunStatus.SUCCEEDED and manual.trigger == "manual"
        assert (await sched.delete(s.id)).status is Status.DELETED

    run(main())


def test_methods_mirror_scheduler_signatures_and_docstrings() -> None:
    for name in (
        "get",
        "list",
        "upcoming",
        "runs",
        "create",
        "update",
        "pause",
        "resume",
        "delete",
        "trigger",
        "tick",
    ):
        sync, coro = getattr(Scheduler, name), getattr(AsyncScheduler, name)
        assert inspect.iscoroutinefunction(coro), name
        assert coro.__doc__ == sync.__doc__ and coro.__doc__, name
        assert inspect.signature(coro) == inspect.signature(sync), name


def test_sync_handlers_run_in_threads_and_never_block_the_loop() -> None:
    async def main() -> None:
        entered, unblock = threading.Event(), threading.Event()
        threads: list[str] = []

        def blocking(ctx: RunContext) -> str:
            threads.append(threading.current_thread().name)
            entered.set()
            assert unblock.wait(DEADLINE)  # the loop must stay free to set this
            return "ok"

        sched = AsyncScheduler(handler=blocking, clock=FakeClock(T0))
        s = await sched.create(agent_id="bot", schedule=Cron("0 9 * * *"), input="go")
        (started,) = await sched.tick(now=NINE)
        assert started.status is RunStatus.RUNNING  # launched, not awaited
        assert await asyncio.to_thread(entered.wait, DEADLINE)  # blocked in its thread
        unblock.set()
        await sched.stop()
        (done,) = await sched.runs(s.id)
        assert done.status is RunStatus.SUCCEEDED and done.output == "ok"
        assert threads and threads[0] != threading.current_thread().name

    run(main())


def test_timeout_cancels_an_async_handler_and_its_slot_frees_when_it_ends() -> None:
    async def main() -> None:
        flags: list[bool] = []
        clock = FakeClock(T0)

        async def slow(ctx: RunContext) -> None:
            try:
                await asyncio.sleep(10)
            finally:
                flags.append(ctx.cancel.is_set())

        sched = AsyncScheduler(handler=slow, clock=clock)
        s = await sched.create(
            agent_id="bot",
            schedule=Cron("* * * * *"),
            input="go",
            timeout=timedelta(seconds=30),
        )
        (started,) = await sched.tick(now=NINE)
        assert started.status is RunStatus.RUNNING
        await asyncio.sleep(0)
        await sched.tick(now=NINE + timedelta(seconds=31))  # past the deadline: cancel
        await sched.stop()
        assert flags == [True]
        (failed,) = await sched.runs(s.id)
        assert failed.status is RunStatus.FAILED and failed.error == "timed out after 30s"
        assert (await sched.get(s.id)).status is Status.ACTIVE

    run(main())


def test_exceptions_fail_the_run() -> None:
    async def main() -> None:
        async def broken(ctx: RunContext) -> None:
            raise KeyError("missing")

        sched = AsyncScheduler(handler=broken, executor=InlineExecutor(), clock=FakeClock(T0))
        s = await sched.create(agent_id="bot", schedule=Cron("0 9 * * *"), input="go")
        (failed,) = await sched.tick(now=NINE)
        assert failed.status is RunStatus.FAILED and failed.error == "KeyError: 'missing'"
        assert failed.traceback is not None and "broken" in failed.traceback
        assert (await sched.get(s.id)).failure_count == 1

    run(main())


def test_background_loop_fires_on_the_fake_clock_and_stops() -> None:
    async def main() -> None:
        fired = asyncio.Event()
        clock = FakeClock(T0)

        async def handler(ctx: RunContext) -> None:
            fired.set()

        async with AsyncScheduler(handler=handler, clock=clock) as sched:
            await sched.create(agent_id="bot", schedule=Once(NINE), input="go")
            clock.set(NINE)
            await asyncio.wait_for(fired.wait(), 5)

    run(main())


def test_sync_scheduler_runs_async_handlers_on_one_shared_loop() -> None:
    loops: list[asyncio.AbstractEventLoop] = []

    async def handler(ctx: RunContext) -> str:
        loops.append(asyncio.get_running_loop())
        return "ok"

    sched = Scheduler(handler=handler, executor=InlineExecutor(), clock=FakeClock(T0))
    sched.create(agent_id="bot", schedule=Cron("* * * * *"), input="go")
    for minute in range(3):
        (done,) = sched.tick(now=NINE + timedelta(minutes=minute))
        assert done.status is RunStatus.SUCCEEDED and done.output == "ok"
    assert len(loops) == 3 and len(set(map(id, loops))) == 1  # not a new loop per run
    sched.stop()
