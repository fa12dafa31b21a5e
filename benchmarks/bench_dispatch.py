"""In-memory dispatch: agentsched vs APScheduler 3.x (and 4, if given), in one run.

  burst    10,000 schedules due at the same instant; one tick fires them all
  steady   100,000 hourly schedules spread over the minutes of the hour;
           ten one-minute ticks fire about 1,667 each
  first    3,000 one-off schedules due at distinct instants within the past
           minute (created in shuffled order); one tick fires them all: the
           time from the start of the tick to the first handler's start, the
           whole burst, and whether handlers started in due order
  latency  background loop, real clock: 200 one-offs due 10 ms apart, from
           due time to handler start (agentsched `Scheduler` started as a
           context manager vs APScheduler `BackgroundScheduler`, each with its
           default thread pool); p50, p99 and max per round
  events   the burst again, agentsched alone: nobody subscribed and the
           `agentsched` logger quiet (the default), then a no-op subscriber
           to every event, then INFO logging to a handler that drops records

Both sides use in-memory job stores and, except for latency, run the
handler synchronously with time driven by hand (agentsched: MemoryStore +
InlineExecutor + FakeClock moved to the tick instant; APScheduler 3:
MemoryJobStore + DebugExecutor + its own `_process_jobs`, clock frozen).
agentsched writes a run record before each handler and its outcome after;
APScheduler 3 keeps no run history and dispatches its job events.

Every comparison runs the libraries alternately for --rounds rounds (the
order flips each round), each round on fresh schedulers, its timed section
started after a garbage collection (neither side pays for its setup's
garbage); tables give the median and min-max over rounds and the ratio of
medians to APScheduler 3.

APScheduler 4 (pre-release, another venv; see aps4_peer.py for exactly what
is timed) joins the burst with --with-aps4 or --aps4-python PATH.

    pip install -e ".[bench]" && python benchmarks/bench_dispatch.py [--quick] [--with-aps4]
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from _common import (
    APS3,
    APS4,
    OURS,
    Table,
    add_aps4_options,
    aps4_interpreter,
    aps_start,
    interleave,
    median,
    noop,
    ratio,
    section,
    spread,
    timer_start,
    versions,
)
from _workloads import (
    CREATED,
    START,
    aps4_contender,
    aps_date_jobs,
    first_contenders,
    latency_contenders,
    print_fires,
    print_first,
    print_latency,
)
from aps_harness import ManualScheduler, manual, process_at
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.triggers.cron import CronTrigger

from agentsched import Cron, InlineExecutor, MemoryStore, Scheduler
from agentsched.testing import FakeClock

UTC = timezone.utc


# -- agentsched ---------------------------------------------------------------


def ours_scheduler(count: int, minute_of: Callable[[int], int]) -> tuple[Scheduler, FakeClock]:
    clock = FakeClock(START)
    sched = Scheduler(store=MemoryStore(), handler=noop, executor=InlineExecutor(), clock=clock)
    specs = {m: Cron(f"{m} * * * *") for m in range(60)}
    for n in range(count):
        sched.create(agent_id="bench", schedule=specs[minute_of(n)], input="go")
    return sched, clock


def ours_fires(sched: Scheduler, clock: FakeClock, instants: list[datetime]) -> tuple[int, float]:
    fired, began = 0, timer_start()
    for t in instants:
        clock.set(t)  # the handler's finish time is read from the clock
        fired += len(sched.tick(now=t))
    return fired, time.perf_counter() - began


# -- APScheduler 3.x ----------------------------------------------------------


def aps_scheduler(count: int, minute_of: Callable[[int], int]) -> ManualScheduler:
    sched = manual(MemoryJobStore(), START)
    triggers = {m: CronTrigger(minute=m, timezone=UTC) for m in range(60)}
    for n in range(count):
        sched.add_job(noop, triggers[minute_of(n)], id=f"job{n}")
    return sched


def aps_fires(sched: ManualScheduler, instants: list[datetime]) -> tuple[int, float]:
    began = timer_start()
    fired = sum(process_at(sched, t) for t in instants)
    return fired, time.perf_counter() - began


# -- workloads ----------------------------------------------------------------


def fires_rounds(
    rounds: int, count: int, minute_of: Callable[[int], int], instants: list[datetime], aps4: Any
) -> Any:
    """Fires per second (and fires) per round, for each library."""

    def ours() -> dict[str, float]:
        sched, clock = ours_scheduler(count, minute_of)
        fired, seconds = ours_fires(sched, clock, instants)
        return {"fired": fired, "rate": fired / seconds, "seconds": seconds}

    def aps() -> dict[str, float]:
        sched = aps_scheduler(count, minute_of)
        fired, seconds = aps_fires(sched, instants)
        sched.shutdown(wait=False)
        return {"fired": fired, "rate": fired / seconds, "seconds": seconds}

    contenders: dict[str, Callable[[], dict[str, Any]]] = {OURS: ours, APS3: aps}
    if aps4 is not None:
        contenders[APS4] = aps4_contender(aps4, "memory", count)
    return interleave(rounds, contenders)


def aps_memory_jobs(dues: list[datetime]) -> ManualScheduler:
    """APScheduler 3 on a MemoryJobStore with one `aps_start` date job per due time."""
    sched = manual(MemoryJobStore(), CREATED)
    for job_id, _due, trigger, args in aps_date_jobs(dues):
        sched.add_job(aps_start, trigger, args=args, id=job_id)
    return sched


def events_cost(count: int, rounds: int) -> dict[str, list[float]]:
    """Fires/s of a burst with nobody listening, with a subscriber, with INFO logging."""
    logger = logging.getLogger("agentsched")
    at = [START + timedelta(seconds=30)]

    def setup(kind: str) -> Callable[[], float]:
        def run() -> float:
            sched, clock = ours_scheduler(count, lambda n: 0)
            sink = logging.NullHandler()
            if kind == "a subscriber":
                sched.subscribe(noop)
            elif kind == "INFO logs":
                logger.addHandler(sink)
                logger.setLevel(logging.INFO)
            try:
                fired, seconds = ours_fires(sched, clock, at)
            finally:
                logger.removeHandler(sink)
                logger.setLevel(logging.NOTSET)
            return fired / seconds

        return run

    kinds = ("nobody listening", "a subscriber", "INFO logs")
    return interleave(rounds, {kind: setup(kind) for kind in kinds}).values


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--burst", type=int, default=10_000)
    parser.add_argument("--steady", type=int, default=100_000)
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--first", type=int, default=3_000, help="schedules in the first burst")
    parser.add_argument("--samples", type=int, default=200, help="one-offs per latency round")
    parser.add_argument("--gap-ms", type=float, default=10.0, help="between latency one-offs")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="small sizes, 2 rounds: a smoke run")
    add_aps4_options(parser)
    args = parser.parse_args()
    if args.quick:
        args.burst, args.steady, args.first, args.samples, args.rounds = 1000, 6000, 300, 50, 2
    aps4 = aps4_interpreter(args)
    print(versions("agentsched", "apscheduler"))
    print(
        f"{args.rounds} interleaved rounds per comparison (the order flips each round; fresh "
        "schedulers each round): median and min-max over rounds; in-memory stores"
    )

    at = [START + timedelta(seconds=30)]
    burst = fires_rounds(args.rounds, args.burst, lambda n: 0, at, aps4)
    print_fires(f"burst: {args.burst:,} due at once, one tick, synchronous no-op handler", burst)

    instants = [START + timedelta(seconds=30, minutes=m) for m in range(args.minutes)]
    steady = fires_rounds(args.rounds, args.steady, lambda n: n % 60, instants, None)
    print_fires(
        f"steady: {args.steady:,} hourly schedules, {args.minutes} one-minute ticks", steady
    )

    first = interleave(args.rounds, first_contenders(args.first, MemoryStore, aps_memory_jobs))
    print_first(
        f"first handler of a burst: {args.first:,} one-offs due at distinct instants in the "
        "past minute, one tick",
        first,
    )

    latency = interleave(
        args.rounds,
        latency_contenders(args.samples, args.gap_ms / 1000, MemoryStore, MemoryJobStore),
    )
    print_latency(
        f"handler start latency, background loop, real clock: {args.samples} one-offs "
        f"{args.gap_ms:g} ms apart (MemoryStore vs MemoryJobStore)",
        latency,
        args.samples,
    )

    section(f"events and logging (agentsched alone): a burst of {args.burst:,}")
    table = Table("setup", "fires/s median", "min-max", "vs nobody listening")
    rates = events_cost(args.burst, args.rounds)
    for kind, values in rates.items():
        table.add(
            kind, f"{median(values):,.0f}", spread(values), ratio(values, rates["nobody listening"])
        )
    table.print()


if __name__ == "__main__":
    main()
