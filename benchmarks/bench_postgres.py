"""PostgreSQL store: agentsched PostgresStore vs APScheduler 3.x SQLAlchemyJobStore, one server.

  claim    N schedules due at once, one tick: claim, run record, no-op
           handler, outcome stored (fires per second)
  tick     one tick with 100 schedules due among N (100k, 1M): how long it
           takes, which should not grow with N
  procs    N schedules due at once, ticked by 1, 2 and 4 scheduler processes
           sharing the database (fires per second, and each process's share)

Both libraries run on the same PostgreSQL server in the same run, in
interleaved rounds (each figure is the median, with min-max; each fill is
vacuumed and checkpointed before it is measured), with no-op
handlers run synchronously (InlineExecutor / DebugExecutor) and time driven
by hand. Large tables are filled by copying rows in directly: clones of one
schedule made by `Scheduler.create` (ours), of one pickled job made by
`add_job` (APScheduler's). APScheduler 3 supports one scheduler per job
store, so only agentsched has a row for several processes. Each store lives
in a schema of its own, dropped at the end.

    pip install -e ".[test,bench]" && python benchmarks/bench_postgres.py [--quick] [--dsn URL]
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import pickle
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from importlib.metadata import version
from typing import Any

import psycopg
from aps_harness import ManualScheduler, freeze, process_at
from apscheduler.executors.debug import DebugExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.triggers.cron import CronTrigger

from agentsched import Cron, InlineExecutor, Scheduler
from agentsched.stores._rows import to_json
from agentsched.stores.postgres import PostgresStore
from agentsched.testing import FakeClock

UTC = timezone.utc
START = datetime(2026, 1, 5, 8, 59, 30, tzinfo=UTC)
DUE = datetime(2026, 1, 5, 9, tzinfo=UTC)
LATER = datetime(2026, 1, 5, 9, 0, 30, tzinfo=UTC)
FAR = datetime(2027, 1, 5, 9, tzinfo=UTC)
DAY = timedelta(days=1)
DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"


def noop(*_: Any) -> None:
    return None


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


@contextmanager
def scratch_schema(dsn: str) -> Iterator[str]:
    name = f"bench_{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def settle(dsn: str, table: str) -> None:
    """After a bulk fill: statistics and visibility up to date, and dirty pages written
    out, so that neither autovacuum nor a checkpoint lands inside a measurement."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"VACUUM (ANALYZE) {table}")
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):  # not a superuser
            conn.execute("CHECKPOINT")


# -- agentsched -----------------------------------------------------------------


def ours(dsn: str, schema: str, at: datetime = START) -> Scheduler:
    return Scheduler(
        store=PostgresStore(dsn, schema=schema),
        handler=noop,
        executor=InlineExecutor(),
        clock=FakeClock(at),
    )


def ours_fill(dsn: str, schema: str, total: int, due: int) -> Scheduler:
    """`total` daily 09:00 schedules, `due` of them due at DUE, the others a year on."""
    sched = ours(dsn, schema)
    template = sched.create(agent_id="bench", schedule=Cron("0 9 * * *"), input="go")
    text = to_json(template)
    table = f'"{schema}".schedules'
    with psycopg.connect(dsn, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"DELETE FROM {table}")
        columns = "(id, owner, agent_id, sort_name, status, due, version, body)"
        with cur.copy(f"COPY {table} {columns} FROM STDIN") as copy:
            for n in range(total):
                at = DUE if n < due else FAR
                new_id = f"sched_{n:020d}"
                body = text.replace(template.id, new_id).replace(
                    f'"next_run_at":"{_iso(DUE)}"', f'"next_run_at":"{_iso(at)}"'
                )
                copy.write_row((new_id, None, "bench", "", "active", at, 1, body))
    settle(dsn, table)
    return sched


def ours_tick(sched: Scheduler, at: datetime) -> int:
    return len(sched.tick(now=at))


# -- APScheduler 3.x --------------------------------------------------------------


def aps(dsn: str, schema: str) -> ManualScheduler:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    freeze(START)
    url = dsn.replace("postgresql://", "postgresql+psycopg://", 1)
    sched = ManualScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=url, tableschema=schema)},
        executors={"default": DebugExecutor()},
        timezone=UTC,
        job_defaults={"misfire_grace_time": 3600, "coalesce": True},
    )
    sched.start()
    return sched


def aps_fill(dsn: str, schema: str, total: int, due: int) -> ManualScheduler:
    sched = aps(dsn, schema)
    sched.add_job(noop, CronTrigger(hour=9, minute=0, timezone=UTC), id="job0")
    table = f'"{schema}".apscheduler_jobs'
    with psycopg.connect(dsn, autocommit=True) as conn, conn.cursor() as cur:
        (state,) = cur.execute(f"SELECT job_state FROM {table}").fetchone() or (None,)
        job = pickle.loads(state)
        cur.execute(f"DELETE FROM {table}")
        with cur.copy(f"COPY {table} (id, next_run_time, job_state) FROM STDIN") as copy:
            for n in range(total):
                when = DUE if n < due else FAR
                job.update(id=f"job{n}", next_run_time=when)
                copy.write_row((f"job{n}", when.timestamp(), pickle.dumps(job, 5)))
    settle(dsn, table)
    return sched


def aps_tick(sched: ManualScheduler, at: datetime) -> int:
    return process_at(sched, at)


# -- measuring ----------------------------------------------------------------------


def timed(action: Callable[[], int]) -> tuple[int, float]:
    began = time.perf_counter()
    count = action()
    return count, time.perf_counter() - began


def spread(values: list[float], fmt: str) -> str:
    return (
        f"{format(statistics.median(values), fmt)} "
        f"({format(min(values), fmt)}-{format(max(values), fmt)})"
    )


def claim_rates(dsn: str, count: int, rounds: int) -> dict[str, list[float]]:
    """Fires per second for `count` due at once, each round on fresh tables."""
    rates: dict[str, list[float]] = {"agentsched": [], "APScheduler": []}
    for r in range(rounds):
        order = [("agentsched", ours_fill, ours_tick), ("APScheduler", aps_fill, aps_tick)]
        for label, fill, tick in order if r % 2 == 0 else order[::-1]:
            with scratch_schema(dsn) as schema:
                sched: Any = fill(dsn, schema, count, count)
                fired, seconds = timed(lambda s=sched, t=tick: t(s, LATER))
                assert fired == count, (label, fired)
                rates[label].append(fired / seconds)
                if isinstance(sched, Scheduler):
                    sched.store.close()
                else:
                    sched.shutdown(wait=False)
    return rates


def tick_latency(dsn: str, total: int, rounds: int) -> dict[str, list[float]]:
    """Milliseconds for one tick with 100 due among `total`; the same 100 come due
    again each day, so the rounds tick on consecutive days."""
    times: dict[str, list[float]] = {"agentsched": [], "APScheduler": []}
    with scratch_schema(dsn) as ours_schema, scratch_schema(dsn) as aps_schema:
        mine = ours_fill(dsn, ours_schema, total, 100)
        theirs = aps_fill(dsn, aps_schema, total, 100)
        for r in range(rounds):
            at = LATER + r * DAY
            pairs = [
                ("agentsched", lambda at=at: ours_tick(mine, at)),
                ("APScheduler", lambda at=at: aps_tick(theirs, at)),
            ]
            for label, tick in pairs if r % 2 == 0 else pairs[::-1]:
                fired, seconds = timed(tick)
                assert fired == 100, (label, fired)
                times[label].append(seconds * 1000)
        mine.store.close()
        theirs.shutdown(wait=False)
    return times


def _worker(dsn: str, schema: str, ready: Any, go: Any, results: Any) -> None:
    sched = ours(dsn, schema, LATER)
    ready.put(os.getpid())
    go.wait()
    fired = 0
    while True:  # ticks until nothing is left for this process (the others took it)
        batch = len(sched.tick(now=LATER))
        if not batch:
            break
        fired += batch
    results.put((fired, time.time()))
    sched.store.close()


def process_rates(dsn: str, count: int, rounds: int, sizes: list[int]) -> dict[int, Any]:
    """Fires per second with `processes` schedulers sharing one database."""
    context = multiprocessing.get_context("spawn")
    found: dict[int, Any] = {p: {"rates": [], "shares": []} for p in sizes}
    for _ in range(rounds):
        for processes in sizes:
            with scratch_schema(dsn) as schema:
                ours_fill(dsn, schema, count, count).store.close()
                ready, results, go = context.Queue(), context.Queue(), context.Event()
                workers = [
                    context.Process(target=_worker, args=(dsn, schema, ready, go, results))
                    for _ in range(processes)
                ]
                for w in workers:
                    w.start()
                for _ in workers:
                    ready.get(timeout=120)
                began = time.time()
                go.set()
                outcomes = [results.get(timeout=600) for _ in workers]
                for w in workers:
                    w.join()
                fired = sum(f for f, _ in outcomes)
                with psycopg.connect(dsn) as conn:
                    distinct = conn.execute(
                        f'SELECT count(DISTINCT (schedule_id, scheduled_for)) FROM "{schema}".runs'
                    ).fetchone()
                assert fired == count and distinct == (count,), (fired, distinct)
                found[processes]["rates"].append(fired / (max(t for _, t in outcomes) - began))
                found[processes]["shares"].append(sorted(f for f, _ in outcomes))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dsn", default=os.environ.get("AGENTSCHED_PG_DSN") or DEFAULT_DSN)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--claim", type=int, default=10_000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--procs", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.quick:
        args.claim, args.sizes, args.procs, args.rounds = 1_000, [10_000], 1_000, 2
    with psycopg.connect(args.dsn) as conn:
        server = conn.info.parameter_status("server_version")
    print(
        f"agentsched {version('agentsched')}, APScheduler {version('apscheduler')}, "
        f"SQLAlchemy {version('sqlalchemy')}, psycopg {version('psycopg')}, "
        f"PostgreSQL {server}; {args.rounds} interleaved rounds: median (min-max)"
    )

    print(f"\nclaim + record: {args.claim:,} due at once, one tick (fires per second)")
    rates = claim_rates(args.dsn, args.claim, args.rounds)
    theirs = statistics.median(rates["APScheduler"])
    for label, values in rates.items():
        ratio = statistics.median(values) / theirs
        print(f"  {label:12} {spread(values, ',.0f'):>26}/s  {ratio:4.1f}x")

    print("\ntick latency: 100 due among N (ms)")
    for total in args.sizes:
        times = tick_latency(args.dsn, total, args.rounds)
        for label, values in times.items():
            print(f"  N={total:>9,}  {label:12} {spread(values, ',.1f'):>24} ms")

    print(f"\nseveral processes: {args.procs:,} due at once on one database (fires per second)")
    by_size = process_rates(args.dsn, args.procs, args.rounds, [1, 2, 4])
    base = statistics.median(by_size[1]["rates"])
    for processes, found in by_size.items():
        ratio = statistics.median(found["rates"]) / base
        shares = " ".join(f"{s:,}" for s in found["shares"][0])
        print(
            f"  {processes} process{'es' if processes > 1 else '  '} "
            f"{spread(found['rates'], ',.0f'):>24}/s  {ratio:4.2f}x   first round's split: {shares}"
        )


if __name__ == "__main__":
    main()
