"""AsyncScheduler: the same API as coroutines; handlers on the loop or in threads."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

from agentsched import AsyncScheduler, Cron, Once, RunContext, RunResult, RunStatus, Status
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

        sched = AsyncScheduler(handler=handler, clock=FakeClock(T0))
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


def test_sync_handlers_run_in_threads_and_never_block_the_loop() -> None:
    async def main() -> None:
        unblock = threading.Event()
        threads: list[str] = []

        def blocking(ctx: RunContext) -> str:
            threads.append(threading.current_thread().name)
            assert unblock.wait(5)  # the loop must stay free to set this
            return "ok"

        sched = AsyncScheduler(handler=blocking, clock=FakeClock(T0))
        await sched.create(agent_id="bot", schedule=Cron("0 9 * * *"), input="go")

        async def release() -> None:
            await asyncio.sleep(0.05)
            unblock.set()

        runs, _ = await asyncio.gather(sched.tick(now=NINE), release())
        assert runs[0].status is RunStatus.SUCCEEDED
        assert threads and threads[0] != threading.current_thread().name

    run(main())


def test_timeout_cancels_an_async_handler() -> None:
    async def main() -> None:
        flags: list[bool] = []

        async def slow(ctx: RunContext) -> None:
            try:
                await asyncio.sleep(10)
            finally:
                flags.append(ctx.cancel.is_set())

        sched = AsyncScheduler(handler=slow, clock=FakeClock(T0))
        s = await sched.create(
            agent_id="bot",
            schedule=Cron("0 9 * * *"),
            input="go",
            timeout=timedelta(milliseconds=50),
        )
        (failed,) = await sched.tick(now=NINE)
        assert failed.status is RunStatus.FAILED and failed.error == "timed out after 0.05s"
        assert (await sched.get(s.id)).status is Status.ACTIVE

    run(main())


def test_exceptions_fail_the_run() -> None:
    async def main() -> None:
        async def broken(ctx: RunContext) -> None:
            raise KeyError("missing")

        sched = AsyncScheduler(handler=broken, clock=FakeClock(T0))
        s = await sched.create(agent_id="bot", schedule=Cron("0 9 * * *"), input="go")
        (failed,) = await sched.tick(now=NINE)
        assert failed.status is RunStatus.FAILED and failed.error == "KeyError: 'missing'"
        assert (await sched.get(s.id)).failure_count == 1

    run(main())


def test_background_loop_fires_and_stops() -> None:
    async def main() -> None:
        fired = asyncio.Event()

        async def handler(ctx: RunContext) -> None:
            fired.set()

        async with AsyncScheduler(handler=handler) as sched:
            due = sched.clock.now() + timedelta(milliseconds=50)
            await sched.create(agent_id="bot", schedule=Once(due), input="go")
            await asyncio.wait_for(fired.wait(), 5)

    run(main())
