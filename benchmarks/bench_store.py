"""SQLite store: agentsched SQLiteStore vs APScheduler 3.x SQLAlchemyJobStore, one run.

  create   schedules created one by one through the public API (a transaction
           each), and agentsched's bulk `add_many`
  claim    10,000 schedules due at once, one tick: claim, run record, no-op
           handler, outcome stored (fires per second)
  tick     one tick with 100 schedules due among N (100k, 1M): how long it
           takes, which should not grow with N

Both sides run their no-op handler synchronously (InlineExecutor /
DebugExecutor) on a fresh SQLite file in a temporary directory, with time
driven by hand. For the large N, both stores are filled by inserting rows
directly (ours: `add_many`; APScheduler: its own pickled job rows, cloned).

    pip install -e ".[test,bench]" && python benchmarks/bench_store.py [--sizes 100000 1000000]
"""

from __future__ import annotations

import argparse
import pickle
import sqlite3
import statistics
import tempfile
import time
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Any

from aps_harness import ManualScheduler, freeze, process_at
from apscheduler.executors.debug import DebugExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.triggers.cron import CronTrigger

from agentsched import Cron, InlineExecutor, Scheduler, SQLiteStore
from agentsched.ids import new_id
from agentsched.model import Schedule, replace
from agentsched.testing import FakeClock

UTC = timezone.utc
START = datetime(2026, 1, 5, 8, 59, 30, tzinfo=UTC)
DUE = datetime(2026, 1, 5, 9, tzinfo=UTC)
LATER = datetime(2026, 1, 5, 9, 0, 30, tzinfo=UTC)
FAR = datetime(2027, 1, 5, 9, tzinfo=UTC)


def noop(*_: Any) -> None:
    return None


# -- agentsched -----------------------------------------------------------------


def ours(path: Path) -> Scheduler:
    return Scheduler(
        store=SQLiteStore(path), handler=noop, executor=InlineExecutor(), clock=FakeClock(START)
    )


def ours_fill(path: Path, total: int, due: int) -> Scheduler:
    sched = ours(path)
    template = sched.create(agent_id="bench", schedule=Cron("0 9 * * *"), input="go")
    store = sched.store
    assert isinstance(store, SQLiteStore)
    batch: list[Schedule] = []
    for n in range(1, total):
        batch.append(replace(template, id=new_id("sched"), next_run_at=DUE if n <= due else FAR))
        if len(batch) == 20_000:
            store.add_many(batch)
            batch = []
    store.add_many(batch)
    return sched


# -- APScheduler 3.x --------------------------------------------------------------


def aps(path: Path) -> ManualScheduler:
    freeze(START)
    sched = ManualScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=f"sqlite:///{path}")},
        executors={"default": DebugExecutor()},
        timezone=UTC,
        job_defaults={"misfire_grace_time": 3600, "coalesce": True},
    )
    sched.start()
    return sched


def aps_fill(path: Path, total: int, due: int) -> ManualScheduler:
    sched = aps(path)
    sched.add_job(noop, CronTrigger(hour=9, minute=0, timezone=UTC), id="job0")
    conn = sqlite3.connect(path)
    state = pickle.loads(conn.execute("SELECT job_state FROM apscheduler_jobs").fetchone()[0])
    rows = []
    for n in range(1, total):
        when = DUE if n <= due else FAR
        state.update(id=f"job{n}", next_run_time=when)
        rows.append((f"job{n}", when.timestamp(), pickle.dumps(state, pickle.HIGHEST_PROTOCOL)))
        if len(rows) == 20_000:
            conn.executemany("INSERT INTO apscheduler_jobs VALUES (?, ?, ?)", rows)
            conn.commit()
            rows = []
    conn.executemany("INSERT INTO apscheduler_jobs VALUES (?, ?, ?)", rows)
    conn.commit()
    conn.close()
    return sched


def aps_tick(sched: ManualScheduler, at: datetime) -> int:
    return process_at(sched, at)


# -- workloads ------------------------------------------------------------------


def create_rates(directory: Path, count: int) -> list[tuple[str, str, float]]:
    sched = ours(directory / "create-ours.db")
    began = time.perf_counter()
    for _ in range(count):
        sched.create(agent_id="bench", schedule=Cron("0 9 * * *"), input="go")
    one_by_one = count / (time.perf_counter() - began)
    sched.store.close()
    began = time.perf_counter()
    bulk = ours_fill(directory / "bulk-ours.db", count * 10, 0)
    bulk_rate = count * 10 / (time.perf_counter() - began)
    bulk.store.close()
    other = aps(directory / "create-aps.db")
    began = time.perf_counter()
    for n in range(count):
        other.add_job(noop, CronTrigger(hour=9, minute=0, timezone=UTC), id=f"job{n}")
    aps_rate = count / (time.perf_counter() - began)
    return [
        ("agentsched create()", f"{count:,}", one_by_one),
        ("agentsched add_many()", f"{count * 10:,}", bulk_rate),
        ("APScheduler add_job()", f"{count:,}", aps_rate),
    ]


def claim_rates(directory: Path, count: int) -> list[tuple[str, int, float]]:
    sched = ours_fill(directory / "claim-ours.db", count, count)
    began = time.perf_counter()
    fired = len(sched.tick(now=LATER))
    ours_rate = fired / (time.perf_counter() - began)
    other = aps_fill(directory / "claim-aps.db", count, count)
    began = time.perf_counter()
    aps_fired = aps_tick(other, LATER)
    aps_rate = aps_fired / (time.perf_counter() - began)
    return [("agentsched", fired, ours_rate), ("APScheduler", aps_fired, aps_rate)]


def tick_latency(directory: Path, total: int) -> list[tuple[str, int, float]]:
    repeats = 3 if total <= 100_000 else 1  # filling a million rows takes a minute
    results = []
    for label, fill, tick in (
        ("agentsched", ours_fill, lambda s, t: len(s.tick(now=t))),
        ("APScheduler", aps_fill, aps_tick),
    ):
        times, fired = [], 0
        for r in range(repeats):
            sched = fill(directory / f"tick-{label}-{total}-{r}.db", total, 100)
            began = time.perf_counter()
            fired = tick(sched, LATER)
            times.append(time.perf_counter() - began)
            if isinstance(sched, Scheduler):
                sched.store.close()
            (directory / f"tick-{label}-{total}-{r}.db").unlink()
        results.append((label, fired, statistics.median(times) * 1000))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--create", type=int, default=5_000)
    parser.add_argument("--claim", type=int, default=10_000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args()
    print(
        f"agentsched {version('agentsched')}, APScheduler {version('apscheduler')}, "
        f"SQLAlchemy {version('sqlalchemy')}, SQLite {sqlite3.sqlite_version}"
    )
    with tempfile.TemporaryDirectory(prefix="agentsched-bench-") as tmp:
        directory = Path(tmp)
        print("\nbulk create (schedules per second)")
        for label, count, rate in create_rates(directory, args.create):
            print(f"  {label:24} {count:>10} {rate:12,.0f}/s")
        print(f"\nclaim + record: {args.claim:,} due at once, one tick (fires per second)")
        rows = claim_rates(directory, args.claim)
        for label, fired, rate in rows:
            print(f"  {label:24} {fired:>10,} {rate:12,.0f}/s  {rate / rows[1][2]:5.1f}x")
        print("\ntick latency: 100 due among N (median of 3; one run at 1M), ms")
        for total in args.sizes:
            rows_t = tick_latency(directory, total)
            for label, fired, ms in rows_t:
                print(f"  N={total:>9,}  {label:12} fired {fired:>4}  {ms:9.1f} ms")


if __name__ == "__main__":
    main()
