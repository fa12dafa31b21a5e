"""PostgreSQL: agentsched PostgresStore vs APScheduler 3.x SQLAlchemyJobStore, one server.

  burst    3,000 one-offs due at distinct instants in the past minute, one
           tick: claim, run record, no-op handler, outcome stored; the time
           from the start of the tick to the first handler's start, the
           whole burst (and fires per second), and whether handlers started
           in due order
  tick     one tick with 100 schedules due among N (10k, 100k, 1M): each
           table filled once, then ticked on consecutive days (the same 100
           come due again each day), which should not grow with N
  procs    N schedules due at once, ticked by 1, 2 and 4 scheduler processes
           sharing the database until nothing is left: fires per second, each
           process's share, and a check that every schedule fired exactly
           once (agentsched alone: APScheduler 3 supports one scheduler per
           job store)

Both libraries run on the same PostgreSQL server in the same run, the
libraries alternating round by round (the order flips each round); tables
give the median and min-max over rounds and the ratio of medians. Handlers
run synchronously (InlineExecutor / DebugExecutor) and time is driven by
hand. Each store lives in a schema of its own, dropped at the end; a filled
store is vacuumed and checkpointed before it is measured, and measured by a
store opened afresh on it. Tables are filled by agentsched's `add_many`
(COPY) and by copying in APScheduler's own pickled job rows, cloned. Without
a server at --dsn the script says so and exits.

    pip install -e ".[test,bench]" && python benchmarks/bench_postgres.py [--quick] [--dsn URL]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from functools import partial
from typing import Any

import psycopg
from _common import (
    APS3,
    DEFAULT_DSN,
    OURS,
    aps_start,
    drop_schema,
    interleave,
    noop,
    pg_server,
    schema_name,
    scratch_schema,
    settle,
    versions,
)
from _workloads import (
    CHUNK,
    CREATED,
    DUE,
    FAR,
    LATER,
    START,
    aps_date_jobs,
    daily_ticks,
    drain,
    first_contenders,
    once_each,
    print_first,
    print_processes,
    print_ticks,
    race,
)
from aps_harness import ManualScheduler, job_rows, job_state, manual, process_at
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.triggers.cron import CronTrigger

from agentsched import Cron, InlineExecutor, MemoryStore, Scheduler
from agentsched.ids import new_id
from agentsched.model import replace
from agentsched.stores.postgres import PostgresStore
from agentsched.testing import FakeClock

UTC = timezone.utc


# -- agentsched -----------------------------------------------------------------


def ours(dsn: str, schema: str, at: datetime = START) -> tuple[Scheduler, FakeClock]:
    clock = FakeClock(at)
    sched = Scheduler(
        store=PostgresStore(dsn, schema=schema),
        handler=noop,
        executor=InlineExecutor(),
        clock=clock,
    )
    return sched, clock


def ours_fill(dsn: str, schema: str, total: int, due: int) -> float:
    """`total` daily 09:00 schedules, the first `due` due at DUE, the others a year on,
    copies of one made by `Scheduler.create`, by `add_many`; returns its seconds."""
    maker = Scheduler(store=MemoryStore(), clock=FakeClock(START))
    template = maker.create(agent_id="bench", schedule=Cron("0 9 * * *"), input="go")
    store = PostgresStore(dsn, schema=schema)
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
    settle(dsn, f'"{schema}".schedules')
    return spent


def ours_tick(sched: Scheduler, clock: FakeClock, at: datetime) -> int:
    clock.set(at)  # the handlers' finish times are read from the clock
    return len(sched.tick(now=at))


# -- APScheduler 3.x --------------------------------------------------------------


def aps(dsn: str, schema: str, at: datetime = START) -> ManualScheduler:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    url = dsn.replace("postgresql://", "postgresql+psycopg://", 1)
    return manual(SQLAlchemyJobStore(url=url, tableschema=schema), at)


def aps_copy(dsn: str, schema: str, rows: Iterable[tuple[str, float, bytes]]) -> float:
    """Copy job rows into the (existing) table, then settle it; the copy's seconds."""
    table = f'"{schema}".apscheduler_jobs'
    began = time.perf_counter()
    copy_in = f"COPY {table} (id, next_run_time, job_state) FROM STDIN"
    with (
        psycopg.connect(dsn, autocommit=True) as conn,
        conn.cursor() as cur,
        cur.copy(copy_in) as copy,
    ):
        for row in rows:
            copy.write_row(row)
    spent = time.perf_counter() - began
    settle(dsn, table)
    return spent


def aps_fill(dsn: str, schema: str, total: int, due: int) -> float:
    aps(dsn, schema).shutdown(wait=False)  # creates the table
    state = job_state(noop, CronTrigger(hour=9, minute=0, timezone=UTC), START)
    jobs = ((f"job{n}", DUE if n < due else FAR, None, ()) for n in range(total))
    return aps_copy(dsn, schema, job_rows(state, jobs))


# -- workloads ------------------------------------------------------------------


def burst_rounds(dsn: str, count: int, rounds: int) -> Any:
    schemas: list[str] = []

    def new_schema() -> str:
        schemas.append(schema_name())
        return schemas[-1]

    def ours_store() -> PostgresStore:
        return PostgresStore(dsn, schema=new_schema())

    def reopen(store: PostgresStore) -> PostgresStore:
        store.close()
        settle(dsn, f'"{store.schema}".schedules')
        return PostgresStore(dsn, schema=store.schema)

    def aps_filled(dues: list[datetime]) -> ManualScheduler:
        schema = new_schema()
        aps(dsn, schema, CREATED).shutdown(wait=False)  # creates the table
        state = job_state(aps_start, CronTrigger(hour=9, timezone=UTC), CREATED)
        aps_copy(dsn, schema, job_rows(state, aps_date_jobs(dues)))
        return aps(dsn, schema, CREATED)

    def cleanup() -> None:
        while schemas:
            drop_schema(dsn, schemas.pop())

    return interleave(rounds, first_contenders(count, ours_store, aps_filled, reopen, cleanup))


def tick_rounds(dsn: str, total: int, rounds: int, with_aps: bool) -> dict[str, Any]:
    """Milliseconds per tick with 100 due among `total`, one fill per library, the ticks
    on consecutive days (the same 100 come due each day), interleaved."""
    found: dict[str, Any] = {}
    with scratch_schema(dsn) as ours_schema, scratch_schema(dsn) as aps_schema:
        found["fill ours"] = ours_fill(dsn, ours_schema, total, 100)
        mine, clock = ours(dsn, ours_schema)
        contenders: dict[str, Callable[[], tuple[int, float]]] = {
            OURS: daily_ticks(lambda at: ours_tick(mine, clock, at))
        }
        theirs = None
        if with_aps:
            found["fill aps"] = aps_fill(dsn, aps_schema, total, 100)
            theirs = aps(dsn, aps_schema)
            contenders[APS3] = daily_ticks(partial(process_at, theirs))
        found["rounds"] = interleave(rounds, contenders)
        mine.store.close()
        if theirs is not None:
            theirs.shutdown(wait=False)
    return found


def _worker(dsn: str, schema: str, ready: Any, go: Any, results: Any) -> None:
    sched, clock = ours(dsn, schema, LATER)
    ready.put(os.getpid())
    go.wait()
    fired = drain(sched, clock, LATER)
    results.put((fired, time.time()))
    sched.store.close()


def exactly_once(dsn: str, schema: str, count: int) -> str:
    with psycopg.connect(dsn) as conn:
        counts = dict(
            conn.execute(
                f"SELECT n, count(*) FROM (SELECT s.id, count(r.id) AS n "
                f'FROM "{schema}".schedules s LEFT JOIN "{schema}".runs r '
                "ON r.schedule_id = s.id AND r.trigger = 'schedule' GROUP BY s.id) AS c "
                "GROUP BY n"
            ).fetchall()
        )
    return once_each(counts, count)


def process_rounds(dsn: str, count: int, rounds: int, sizes: list[int]) -> dict[int, Any]:
    """Fires per second with `processes` schedulers sharing one database."""
    found: dict[int, list[dict[str, Any]]] = {p: [] for p in sizes}
    for _ in range(rounds):
        for processes in sizes:
            with scratch_schema(dsn) as schema:
                ours_fill(dsn, schema, count, count)
                result = race(_worker, (dsn, schema), processes)
                result["check"] = exactly_once(dsn, schema, count)
                found[processes].append(result)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dsn", default=os.environ.get("AGENTSCHED_PG_DSN") or DEFAULT_DSN)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--claim", type=int, default=3_000, help="one-offs in the burst")
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000], help="tick: N"
    )
    parser.add_argument(
        "--aps-max", type=int, default=1_000_000, help="tick: largest N APScheduler 3 runs"
    )
    parser.add_argument("--procs", type=int, default=10_000, help="burst shared by processes")
    parser.add_argument("--proc-rounds", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if args.quick:
        args.claim, args.sizes, args.procs, args.rounds, args.proc_rounds = (
            300,
            [10_000],
            1_000,
            2,
            1,
        )
    server, reason = pg_server(args.dsn)
    print(
        versions(
            "agentsched", "apscheduler", "sqlalchemy", "psycopg", server=server or "not reached"
        )
    )
    if server is None:
        print(f"PostgreSQL: not measured ({reason})")
        return
    print(
        f"{args.rounds} interleaved rounds per comparison (the order flips each round; "
        "fresh schemas each round): median and min-max over rounds"
    )

    burst = burst_rounds(args.dsn, args.claim, args.rounds)
    print_first(
        f"burst and its first handler: {args.claim:,} one-offs due at distinct instants in the "
        "past minute, one tick",
        burst,
    )

    by_total = {
        total: tick_rounds(args.dsn, total, args.rounds, total <= args.aps_max)
        for total in args.sizes
    }
    print_ticks(
        f"tick: 100 due among N, each table filled once, {args.rounds} ticks on consecutive "
        "days (ms per tick)",
        by_total,
        args.aps_max,
        "(ours: add_many, by COPY; APScheduler: its pickled rows, cloned, by COPY)",
    )

    print_processes(
        f"several processes: {args.procs:,} due at once on one database, each process ticks "
        f"its own Scheduler until nothing is left ({args.proc_rounds} rounds)",
        process_rounds(args.dsn, args.procs, args.proc_rounds, [1, 2, 4]),
    )


if __name__ == "__main__":
    main()
