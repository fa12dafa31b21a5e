"""Dispatch throughput and latency: agentsched vs APScheduler 3.x, in one run.

  burst    10,000 schedules due at the same instant; one tick fires them all
  steady   100,000 hourly schedules spread over the minutes of the hour;
           ten one-minute ticks fire about 1,667 each
  latency  from due time to handler start with the background thread
           (agentsched Scheduler vs APScheduler BackgroundScheduler)
  events   the burst again, agentsched alone: nobody subscribed and the
           `agentsched` logger quiet (the default), then a no-op subscriber
           to every event, then INFO logging to a handler that drops
           records; interleaved rounds, medians (min-max)

Both sides use in-memory job stores and run a no-op handler synchronously
(agentsched: MemoryStore + InlineExecutor; APScheduler: MemoryJobStore +
DebugExecutor), and both record each run's outcome (agentsched writes a Run
record; APScheduler dispatches its job events). Time is driven by hand on
both sides for burst and steady; latency uses the real clock.

    pip install -e ".[bench]" && python benchmarks/bench_dispatch.py
"""

from __future__ import annotations

import argparse
import logging
import statistics
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from importlib.metadata import version
from typing import Any

from aps_harness import ManualScheduler, freeze, process_at, unfreeze
from apscheduler.executors.debug import DebugExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from agentsched import Cron, InlineExecutor, MemoryStore, Once, RunContext, Scheduler
from agentsched.testing import FakeClock

UTC = timezone.utc
START = datetime(2026, 1, 5, 8, 59, 30, tzinfo=UTC)


def noop(*_: Any) -> None:
    return None


# -- agentsched ---------------------------------------------------------------


def ours_scheduler(count: int, minute_of: Callable[[int], int]) -> tuple[Scheduler, FakeClock]:
    clock = FakeClock(START)
    sched = Scheduler(store=MemoryStore(), handler=noop, executor=InlineExecutor(), clock=clock)
    specs = {m: Cron(f"{m} * * * *") for m in range(60)}
    for n in range(count):
        sched.create(agent_id="bench", schedule=specs[minute_of(n)], input="go")
    return sched, clock


def ours_fires(sched: Scheduler, instants: list[datetime]) -> tuple[int, float]:
    fired, began = 0, time.perf_counter()
    for t in instants:
        fired += len(sched.tick(now=t))
    return fired, time.perf_counter() - began


# -- APScheduler 3.x ----------------------------------------------------------


def aps_scheduler(count: int, minute_of: Callable[[int], int]) -> ManualScheduler:
    sched = ManualScheduler(
        jobstores={"default": MemoryJobStore()},
        executors={"default": DebugExecutor()},
        timezone=UTC,
        job_defaults={"misfire_grace_time": 3600, "coalesce": True},
    )
    sched.start()
    freeze(START)
    triggers = {m: CronTrigger(minute=m, timezone=UTC) for m in range(60)}
    for n in range(count):
        sched.add_job(noop, triggers[minute_of(n)], id=f"job{n}")
    return sched


def aps_fires(sched: ManualScheduler, instants: list[datetime]) -> tuple[int, float]:
    began = time.perf_counter()
    fired = sum(process_at(sched, t) for t in instants)
    return fired, time.perf_counter() - began


# -- workloads ----------------------------------------------------------------


def burst(count: int) -> list[tuple[str, int, float]]:
    at = [START + timedelta(seconds=30)]
    ours, _ = ours_scheduler(count, lambda n: 0)
    aps = aps_scheduler(count, lambda n: 0)
    return [("agentsched", *ours_fires(ours, at)), ("APScheduler", *aps_fires(aps, at))]


def steady(count: int, minutes: int) -> list[tuple[str, int, float]]:
    at = [START + timedelta(seconds=30, minutes=m) for m in range(minutes)]
    ours, _ = ours_scheduler(count, lambda n: n % 60)
    aps = aps_scheduler(count, lambda n: n % 60)
    return [("agentsched", *ours_fires(ours, at)), ("APScheduler", *aps_fires(aps, at))]


def latency_ours(samples: int) -> list[float]:
    lags: list[float] = []
    done = threading.Event()
    due_at: dict[str, datetime] = {}

    def handler(ctx: RunContext) -> None:
        lags.append((datetime.now(UTC) - due_at[ctx.schedule.id]).total_seconds() * 1000)
        if len(lags) == samples:
            done.set()

    with Scheduler(handler=handler) as sched:
        base = datetime.now(UTC) + timedelta(milliseconds=200)
        for i in range(samples):
            due = base + timedelta(milliseconds=25 * i)
            due_at[sched.create(agent_id="bench", schedule=Once(due), input="go").id] = due
        done.wait(30)
    return lags


def latency_aps(samples: int) -> list[float]:
    unfreeze()
    lags: list[float] = []
    done = threading.Event()
    sched = BackgroundScheduler(timezone=UTC)
    sched.start()

    def job(due: datetime) -> None:
        lags.append((datetime.now(UTC) - due).total_seconds() * 1000)
        if len(lags) == samples:
            done.set()

    base = datetime.now(UTC) + timedelta(milliseconds=200)
    for i in range(samples):
        due = base + timedelta(milliseconds=25 * i)
        sched.add_job(job, "date", run_date=due, args=[due])
    done.wait(30)
    sched.shutdown()
    return lags


def events_cost(count: int, rounds: int) -> dict[str, list[float]]:
    """Fires/s of a burst with nobody listening, with a subscriber, with INFO logging."""
    logger = logging.getLogger("agentsched")
    rates: dict[str, list[float]] = {"nobody listening": [], "a subscriber": [], "INFO logs": []}
    for _ in range(rounds):
        for setup, samples in rates.items():
            sched, _clock = ours_scheduler(count, lambda n: 0)
            sink = logging.NullHandler()
            if setup == "a subscriber":
                sched.subscribe(noop)
            elif setup == "INFO logs":
                logger.addHandler(sink)
                logger.setLevel(logging.INFO)
            fired, seconds = ours_fires(sched, [START + timedelta(seconds=30)])
            logger.removeHandler(sink)
            logger.setLevel(logging.NOTSET)
            samples.append(fired / seconds)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--burst", type=int, default=10_000)
    parser.add_argument("--steady", type=int, default=100_000)
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"agentsched {version('agentsched')}, APScheduler {version('apscheduler')}")
    print(f"{'workload':34} {'library':12} {'fires':>7} {'seconds':>8} {'fires/s':>9} {'ratio':>6}")
    for name, rows in (
        (f"burst: {args.burst:,} due at once", burst(args.burst)),
        (
            f"steady: {args.steady:,} hourly, {args.minutes} ticks",
            steady(args.steady, args.minutes),
        ),
    ):
        rates = {lib: fired / seconds for lib, fired, seconds in rows}
        for lib, fired, seconds in rows:
            ratio = rates[lib] / rates["APScheduler"]
            print(f"{name:34} {lib:12} {fired:7,} {seconds:8.3f} {rates[lib]:9,.0f} {ratio:5.1f}x")
    print(f"\nlatency from due time to handler start, {args.samples} one-offs 25 ms apart (ms)")
    print(f"{'library':12} {'median':>7} {'p90':>7} {'max':>7}")
    for lib, lags in (
        ("agentsched", latency_ours(args.samples)),
        ("APScheduler", latency_aps(args.samples)),
    ):
        lags.sort()
        p90 = lags[int(len(lags) * 0.9) - 1]
        print(f"{lib:12} {statistics.median(lags):7.2f} {p90:7.2f} {max(lags):7.2f}")
    print(f"\nevents and logging: a burst of {args.burst:,}, {args.rounds} interleaved rounds")
    print(f"{'setup':20} {'fires/s (median)':>17} {'min-max':>20}")
    for setup, values in events_cost(args.burst, args.rounds).items():
        spread = f"{min(values):,.0f}-{max(values):,.0f}"
        print(f"{setup:20} {statistics.median(values):17,.0f} {spread:>20}")


if __name__ == "__main__":
    main()
