"""SQLite: agentsched SQLiteStore vs APScheduler 3.x SQLAlchemyJobStore (and 4), one run.

  create     schedules created one by one through the public API (a
             transaction each), and agentsched's bulk `add_many`
  burst      10,000 schedules due at once, one tick: claim, run record,
             no-op handler, outcome stored (fires per second)
  first      3,000 one-offs due at distinct instants in the past minute, one
             tick: time to the first handler's start, the whole burst, and
             whether handlers started in due order
  latency    background loop, real clock: 200 one-offs due 10 ms apart, from
             due time to handler start (p50, p99, max)
  tick       one tick with 100 schedules due among N (10k, 100k, 1M): each
             table filled once, then ticked on consecutive days (the same 100
             come due again each day), which should not grow with N
  footprint  bytes per schedule: in memory (tracemalloc, MemoryStore vs
             MemoryJobStore, the same daily cron) and on disk (SQLite file
             with its WAL after a checkpoint, divided by the count)
  procs      one SQLite file, 1, 2 and 4 processes each ticking its own
             Scheduler over the same burst until nothing is left: fires per
             second, each process's share, and a check that every schedule
             fired exactly once (agentsched alone: APScheduler 3 supports one
             scheduler per job store)

Equal durability: agentsched's SQLiteStore sets journal_mode=WAL and
synchronous=NORMAL on its connections; APScheduler's SQLAlchemyJobStore gets
an engine whose connect listener runs the same two pragmas. The header prints
both as read back from live connections.

Handlers run synchronously (InlineExecutor / DebugExecutor) and time is
driven by hand, except for latency. Each round uses fresh files; a filled
file is measured by a store opened afresh on it (as after a restart). Large
tables are filled by `add_many` (ours) and by APScheduler's own pickled job
rows, cloned and inserted (it has no bulk insert). Every comparison runs the
libraries alternately for --rounds rounds (the order flips each round), with
a garbage collection before each timed burst, tick and first-handler section,
and prints median and min-max over rounds and the ratio of medians. `--only
latency tick` runs just those sections.

APScheduler 4 (pre-release, another venv; see aps4_peer.py) joins the burst
with --with-aps4 or --aps4-python PATH, with --aps4-count schedules (its
SQLite data store manages about 100 fires per second here).

    pip install -e ".[test,bench]" && python benchmarks/bench_store.py [--quick] [--sizes 10000]
"""

from __future__ import annotations

import argparse
import gc
import os
import sqlite3
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

from _common import (
    APS3,
    APS4,
    OURS,
    Table,
    add_aps4_options,
    aps4_interpreter,
    aps_pragmas,
    aps_sqlite_engine,
    aps_start,
    disk_bytes,
    durability,
    interleave,
    median,
    noop,
    ours_pragmas,
    ratio,
    section,
    spread,
    timer_start,
    versions,
)
from _workloads import (
    CHUNK,
    CREATED,
    DUE,
    FAR,
    LATER,
    START,
    aps4_contender,
    aps_date_jobs,
    daily_ticks,
    drain,
    first_contenders,
    latency_contenders,
    once_each,
    print_fires,
    print_first,
    print_latency,
    print_processes,
    print_ticks,
    race,
)
from aps_harness import ManualScheduler, job_rows, job_state, manual, process_at
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.triggers.cron import CronTrigger

from agentsched import Cron, InlineExecutor, MemoryStore, Scheduler, SQLiteStore
from agentsched.ids import new_id
from agentsched.model import replace
from agentsched.testing import FakeClock

UTC = timezone.utc


class Files:
    """Fresh file names in one temporary directory; `drop` deletes a file and its WAL."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.made = 0

    def new(self, label: str) -> Path:
        self.made += 1
        return self.directory / f"{label}-{self.made}.db"

    @staticmethod
    def drop(path: Path) -> None:
        for p in path.parent.glob(path.name + "*"):
            p.unlink()


# -- agentsched -----------------------------------------------------------------


def ours(path: Path, handler: Any = noop, at: datetime = START) -> tuple[Scheduler, FakeClock]:
    clock = FakeClock(at)
    sched = Scheduler(
        store=SQLiteStore(path), handler=handler, executor=InlineExecutor(), clock=clock
    )
    return sched, clock


def ours_fill(path: Path, total: int, due: int) -> float:
    """`total` daily 09:00 schedules, the first `due` due at DUE, the others a year on,
    copies of one made by `Scheduler.create`; returns the seconds `add_many` took."""
    maker = Scheduler(store=MemoryStore(), clock=FakeClock(START))
    template = maker.create(agent_id="bench", schedule=Cron("0 9 * * *"), input="go")
    store = SQLiteStore(path)
    spent = 0.0
    for begin in range(0, total, CHUNK):
        batch = [
            replace(template, id=new_id("sched"), next_run_at=DUE if n < due else FAR)
            for n in range(begin, min(begin + CHUNK, total))
        ]
        began = time.perf_counter()
        store.add_many(batch)
        spent += time.perf_counter() - began
    store.close()
    return spent


def ours_tick(sched: Scheduler, clock: FakeClock, at: datetime) -> int:
    clock.set(at)  # the handlers' finish times are read from the clock
    return len(sched.tick(now=at))


def reopen(store: SQLiteStore) -> SQLiteStore:
    store.close()
    return SQLiteStore(store.path)


# -- APScheduler 3.x --------------------------------------------------------------


def aps_jobstore(path: Path) -> SQLAlchemyJobStore:
    return SQLAlchemyJobStore(engine=aps_sqlite_engine(path))


def aps(path: Path, at: datetime = START) -> ManualScheduler:
    return manual(aps_jobstore(path), at)


def aps_insert(path: Path, rows: Any) -> None:
    """Insert job rows directly, in chunks (the table exists: the job store made it)."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA synchronous=NORMAL")
        batch: list[tuple[str, float, bytes]] = []
        for row in rows:
            batch.append(row)
            if len(batch) == CHUNK:
                conn.executemany("INSERT INTO apscheduler_jobs VALUES (?, ?, ?)", batch)
                conn.commit()
                batch = []
        conn.executemany("INSERT INTO apscheduler_jobs VALUES (?, ?, ?)", batch)
        conn.commit()


def aps_fill(path: Path, total: int, due: int) -> float:
    """`total` daily 09:00 jobs, the first `due` due at DUE, the others a year on;
    returns the seconds the inserts took."""
    aps(path).shutdown(wait=False)  # creates the table
    state = job_state(noop, CronTrigger(hour=9, minute=0, timezone=UTC), START)
    jobs = ((f"job{n}", DUE if n < due else FAR, None, ()) for n in range(total))
    began = time.perf_counter()
    aps_insert(path, job_rows(state, jobs))
    return time.perf_counter() - began


# -- workloads ------------------------------------------------------------------


def create_rounds(files: Files, count: int, rounds: int) -> Any:
    """Schedules per second, created one by one (ours, APScheduler) and by add_many."""

    def one_by_one() -> float:
        path = files.new("create-ours")
        sched, _ = ours(path)
        began = time.perf_counter()
        for _ in range(count):
            sched.create(agent_id="bench", schedule=Cron("0 9 * * *"), input="go")
        rate = count / (time.perf_counter() - began)
        sched.store.close()
        files.drop(path)
        return rate

    def bulk() -> float:
        path = files.new("create-bulk")
        rate = count * 10 / ours_fill(path, count * 10, 0)
        files.drop(path)
        return rate

    def add_job() -> float:
        path = files.new("create-aps")
        sched = aps(path)
        began = time.perf_counter()
        for n in range(count):
            sched.add_job(noop, CronTrigger(hour=9, minute=0, timezone=UTC), id=f"job{n}")
        rate = count / (time.perf_counter() - began)
        sched.shutdown(wait=False)
        files.drop(path)
        return rate

    return interleave(
        rounds,
        {
            f"{OURS} create()": one_by_one,
            f"{APS3} add_job()": add_job,
            f"{OURS} add_many()": bulk,
        },
    )


def burst_rounds(files: Files, count: int, rounds: int, aps4: Any, aps4_count: int) -> Any:
    """Fires per second of `count` due at once, one tick, each round on fresh files."""

    def mine() -> dict[str, float]:
        path = files.new("burst-ours")
        ours_fill(path, count, count)
        sched, clock = ours(path)
        began = timer_start()
        fired = ours_tick(sched, clock, LATER)
        seconds = time.perf_counter() - began
        sched.store.close()
        files.drop(path)
        return {"fired": fired, "rate": fired / seconds, "seconds": seconds}

    def theirs() -> dict[str, float]:
        path = files.new("burst-aps")
        aps_fill(path, count, count)
        sched = aps(path)
        began = timer_start()
        fired = process_at(sched, LATER)
        seconds = time.perf_counter() - began
        sched.shutdown(wait=False)
        files.drop(path)
        return {"fired": fired, "rate": fired / seconds, "seconds": seconds}

    contenders: dict[str, Callable[[], dict[str, Any]]] = {OURS: mine, APS3: theirs}
    if aps4 is not None:
        contenders[APS4] = aps4_contender(aps4, "sqlite", aps4_count)
    return interleave(rounds, contenders)


def first_rounds(files: Files, count: int, rounds: int) -> Any:
    current: list[Path] = []

    def ours_store() -> SQLiteStore:
        current.append(files.new("first"))
        return SQLiteStore(current[-1])

    def aps_filled(dues: list[datetime]) -> ManualScheduler:
        path = files.new("first-aps")
        current.append(path)
        aps(path, CREATED).shutdown(wait=False)  # creates the table
        state = job_state(aps_start, CronTrigger(hour=9, timezone=UTC), CREATED)
        aps_insert(path, job_rows(state, aps_date_jobs(dues)))
        return aps(path, CREATED)

    def cleanup() -> None:
        while current:
            files.drop(current.pop())

    contenders = first_contenders(count, ours_store, aps_filled, reopen, cleanup)
    return interleave(rounds, contenders)


def latency_rounds(files: Files, samples: int, gap: float, rounds: int) -> Any:
    current: list[Path] = []

    def make(label: str) -> Path:
        current.append(files.new(label))
        return current[-1]

    def cleanup() -> None:
        while current:
            files.drop(current.pop())

    contenders = latency_contenders(
        samples,
        gap,
        lambda: SQLiteStore(make("latency-ours")),
        lambda: aps_jobstore(make("latency-aps")),
        cleanup,
    )
    return interleave(rounds, contenders)


def tick_rounds(files: Files, total: int, rounds: int, with_aps: bool) -> dict[str, Any]:
    """Milliseconds per tick with 100 due among `total`, one fill per library, the ticks
    on consecutive days (the same 100 come due each day), interleaved."""
    found: dict[str, Any] = {}
    ours_path, aps_path = files.new(f"tick-ours-{total}"), files.new(f"tick-aps-{total}")
    found["fill ours"] = ours_fill(ours_path, total, 100)
    mine, clock = ours(ours_path)
    contenders: dict[str, Callable[[], tuple[int, float]]] = {
        OURS: daily_ticks(lambda at: ours_tick(mine, clock, at))
    }
    theirs = None
    if with_aps:
        found["fill aps"] = aps_fill(aps_path, total, 100)
        theirs = aps(aps_path)
        contenders[APS3] = daily_ticks(partial(process_at, theirs))
    found["rounds"] = interleave(rounds, contenders)
    mine.store.close()
    if theirs is not None:
        theirs.shutdown(wait=False)
    files.drop(ours_path)
    files.drop(aps_path)
    return found


def memory_per_schedule(count: int) -> dict[str, Callable[[], float]]:
    """Bytes traced per schedule, from before the first to after the last of `count`."""

    def traced(make: Callable[[], Any], add: Callable[[Any, int], None]) -> float:
        holder = make()
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for n in range(count):
            add(holder, n)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        return (after - before) / count

    def mine() -> float:
        return traced(
            lambda: Scheduler(store=MemoryStore(), clock=FakeClock(START)),
            lambda s, n: s.create(agent_id="bench", schedule=Cron("0 9 * * *"), input="go"),
        )

    def theirs() -> float:
        def make() -> ManualScheduler:
            return manual(MemoryJobStore(), START)

        return traced(
            make,
            lambda s, n: s.add_job(noop, CronTrigger(hour=9, minute=0, timezone=UTC), id=f"job{n}"),
        )

    return {OURS: mine, APS3: theirs}


def disk_per_schedule(files: Files, count: int) -> dict[str, Callable[[], float]]:
    def mine() -> float:
        path = files.new("disk-ours")
        ours_fill(path, count, 0)
        size = disk_bytes(path)
        files.drop(path)
        return size / count

    def theirs() -> float:
        path = files.new("disk-aps")
        aps_fill(path, count, 0)
        size = disk_bytes(path)
        files.drop(path)
        return size / count

    return {OURS: mine, APS3: theirs}


def _worker(path: Path, ready: Any, go: Any, results: Any) -> None:
    sched, clock = ours(path, at=LATER)
    ready.put(os.getpid())
    go.wait()
    fired = drain(sched, clock, LATER)
    results.put((fired, time.time()))
    sched.store.close()


def exactly_once(path: Path, count: int) -> str:
    with sqlite3.connect(path) as conn:
        counts = dict(
            conn.execute(
                "SELECT n, count(*) FROM (SELECT s.id, (SELECT count(*) FROM runs r "
                "WHERE r.schedule_id = s.id AND r.trigger = 'schedule') AS n "
                "FROM schedules s) GROUP BY n"
            ).fetchall()
        )
    return once_each(counts, count)


def process_rounds(files: Files, count: int, rounds: int, sizes: list[int]) -> dict[int, Any]:
    """Fires per second with `processes` schedulers sharing one SQLite file."""
    found: dict[int, list[dict[str, Any]]] = {p: [] for p in sizes}
    for _ in range(rounds):
        for processes in sizes:
            path = files.new(f"procs-{processes}")
            ours_fill(path, count, count)
            result = race(_worker, (path,), processes)
            result["check"] = exactly_once(path, count)
            found[processes].append(result)
            files.drop(path)
    return found


# -- output -----------------------------------------------------------------------


def header(files: Files) -> None:
    print(versions("agentsched", "apscheduler", "sqlalchemy", sqlite=True))
    path_ours, path_aps = files.new("pragmas-ours"), files.new("pragmas-aps")
    store = SQLiteStore(path_ours)
    engine = aps_sqlite_engine(path_aps)
    SQLAlchemyJobStore(engine=engine)
    print(durability(ours_pragmas(store), aps_pragmas(engine)))
    store.close()
    engine.dispose()
    files.drop(path_ours)
    files.drop(path_aps)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--create", type=int, default=5_000)
    parser.add_argument("--claim", type=int, default=10_000, help="schedules in the burst")
    parser.add_argument("--first", type=int, default=3_000, help="schedules in the first burst")
    parser.add_argument("--samples", type=int, default=200, help="one-offs per latency round")
    parser.add_argument("--gap-ms", type=float, default=10.0, help="between latency one-offs")
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000], help="tick: N"
    )
    parser.add_argument(
        "--aps-max", type=int, default=1_000_000, help="tick: largest N APScheduler 3 runs"
    )
    parser.add_argument("--footprint", type=int, default=20_000, help="schedules measured")
    parser.add_argument("--procs", type=int, default=10_000, help="burst shared by processes")
    parser.add_argument("--proc-rounds", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--aps4-count", type=int, default=1_000, help="APScheduler 4's burst")
    parser.add_argument("--quick", action="store_true", help="small sizes, 2 rounds: a smoke run")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=["create", "burst", "first", "latency", "tick", "footprint", "procs"],
        help="run these sections only",
    )
    add_aps4_options(parser)
    args = parser.parse_args()
    if args.quick:
        args.create, args.claim, args.first, args.samples = 500, 1_000, 300, 50
        args.sizes, args.footprint, args.procs, args.rounds = [10_000], 2_000, 1_000, 2
        args.proc_rounds, args.aps4_count = 1, 200
    aps4 = aps4_interpreter(args)
    with tempfile.TemporaryDirectory(prefix="agentsched-bench-") as tmp:
        files = Files(Path(tmp))
        header(files)
        print(
            f"{args.rounds} interleaved rounds per comparison (the order flips each round; "
            "fresh files each round): median and min-max over rounds"
        )
        run(args, files, aps4)


def run(args: Any, files: Files, aps4: Any) -> None:
    def wanted(name: str) -> bool:
        return not args.only or name in args.only

    if wanted("create"):
        section("create: schedules per second (a transaction each; add_many: one per 20,000)")
        created = create_rounds(files, args.create, args.rounds)
        table = Table("how", "schedules", "median/s", "min-max", "ratio")
        reference = created.values[f"{APS3} add_job()"]
        for label, values in created.measured().items():
            count = args.create * 10 if "add_many" in label else args.create
            table.add(
                label,
                f"{count:,}",
                f"{median(values):,.0f}",
                spread(values),
                ratio(values, reference),
            )
        table.print()
        print("  ratio: median schedules/s over APScheduler 3's add_job (higher is faster)")

    if wanted("burst"):
        burst = burst_rounds(files, args.claim, args.rounds, aps4, args.aps4_count)
        print_fires(
            f"burst: {args.claim:,} due at once, one tick: claim, run record, no-op handler, "
            f"outcome (APScheduler 4: {args.aps4_count:,})",
            burst,
        )

    if wanted("first"):
        first = first_rounds(files, args.first, args.rounds)
        print_first(
            f"first handler of a burst: {args.first:,} one-offs due at distinct instants in the "
            "past minute, one tick",
            first,
        )

    if wanted("latency"):
        latency = latency_rounds(files, args.samples, args.gap_ms / 1000, args.rounds)
        print_latency(
            f"handler start latency, background loop, real clock: {args.samples} one-offs "
            f"{args.gap_ms:g} ms apart (SQLiteStore vs SQLAlchemyJobStore)",
            latency,
            args.samples,
        )

    if wanted("tick"):
        by_total = {
            total: tick_rounds(files, total, args.rounds, total <= args.aps_max)
            for total in args.sizes
        }
        print_ticks(
            f"tick: 100 due among N, each table filled once, {args.rounds} ticks on consecutive "
            "days (ms per tick)",
            by_total,
            args.aps_max,
            "(ours: add_many; APScheduler: its pickled rows, cloned, by executemany)",
        )

    if wanted("footprint"):
        section(f"footprint per schedule: {args.footprint:,} daily cron schedules (bytes)")
        table = Table("where", "library", "bytes median", "min-max", "ratio", text=2)
        for where, contenders in (
            ("memory (tracemalloc)", memory_per_schedule(args.footprint)),
            ("SQLite file + WAL", disk_per_schedule(files, args.footprint)),
        ):
            found = interleave(args.rounds, contenders)
            for lib, values in found.values.items():
                table.add(
                    where,
                    lib,
                    f"{median(values):,.0f}",
                    spread(values),
                    ratio(values, found.values[APS3]),
                )
        table.print()
        print(
            "  ratio: median bytes over APScheduler 3's (lower is smaller); target for ours <= 1 KB"
        )

    if wanted("procs"):
        print_processes(
            f"several processes on one SQLite file: {args.procs:,} due at once, each process "
            f"ticks its own Scheduler until nothing is left ({args.proc_rounds} rounds)",
            process_rounds(files, args.procs, args.proc_rounds, [1, 2, 4]),
        )


if __name__ == "__main__":
    main()
