"""Soak: many schedules firing every second for minutes; memory and disk must stay flat.

Each store (memory, SQLite, and PostgreSQL when AGENTSCHED_PG_DSN is set) runs
in its own fresh process: 500 `Interval(1 s)` schedules, a no-op handler, the
real clock and the background loop, for `--seconds` (120 by default). Every
`--every` seconds it prints the process's RSS, the runs recorded so far, and
the size of the SQLite file (with its WAL) or of the PostgreSQL tables. With
`keep_runs` (default 1000 per schedule, here 50 to reach the bound within the
run) RSS and size stop growing once the bound is reached. PostgreSQL reuses
the space of deleted runs once they are vacuumed: where the server runs with
autovacuum off, the benchmark vacuums the tables itself, and says so.

There is no peer here: the table is agentsched alone, one line per --every
seconds. PostgreSQL is skipped, saying why, when AGENTSCHED_PG_DSN is unset
or its server does not answer.

    pip install -e ".[test,bench]" && python benchmarks/bench_soak.py [--quick] [--seconds 120]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from _common import pg_server, versions

from agentsched import Interval, MemoryStore, Scheduler, SQLiteStore
from agentsched.stores.base import Store

SCHEDULES = 500


def rss_mb() -> float:
    """Resident set size now (not the peak), from /proc where there is one."""
    try:
        with open(f"/proc/{os.getpid()}/statm") as statm:
            pages = int(statm.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def size_mb(path: Path | None, schema: str | None) -> float | None:
    """The SQLite file with its WAL, or the PostgreSQL schema's tables with their
    indexes and TOAST; None for memory."""
    if path is not None:
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 2**20
    if schema is None:
        return None
    import psycopg

    with psycopg.connect(os.environ["AGENTSCHED_PG_DSN"], autocommit=True) as connection:
        row = connection.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind = 'r'",
            (schema,),
        ).fetchone()
    return None if row is None else float(row[0]) / 2**20


def autovacuum_is_off() -> bool:
    import psycopg

    with psycopg.connect(os.environ["AGENTSCHED_PG_DSN"], autocommit=True) as connection:
        row = connection.execute("SHOW autovacuum").fetchone()
    return row is not None and row[0] == "off"


def vacuum_schema(schema: str) -> None:
    """What autovacuum does to the tables: make the space of deleted rows reusable."""
    import psycopg

    with psycopg.connect(os.environ["AGENTSCHED_PG_DSN"], autocommit=True) as connection:
        tables = connection.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind = 'r'",
            (schema,),
        ).fetchall()
        for (table,) in tables:
            connection.execute(f'VACUUM "{schema}"."{table}"')


def drop_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(os.environ["AGENTSCHED_PG_DSN"], autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def build(kind: str, directory: Path, keep_runs: int) -> tuple[Store, Path | None, str | None]:
    """The store, and where its size is read: a file (SQLite) or a schema (PostgreSQL)."""
    if kind == "memory":
        return MemoryStore(keep_runs=keep_runs), None, None
    if kind == "sqlite":
        path = directory / "soak.db"
        return SQLiteStore(path, keep_runs=keep_runs), path, None
    from agentsched.stores.postgres import PostgresStore

    schema = f"soak_{os.getpid()}"
    dsn = os.environ["AGENTSCHED_PG_DSN"]
    return PostgresStore(dsn, schema=schema, keep_runs=keep_runs), None, schema


def soak(kind: str, seconds: float, every: float, keep_runs: int) -> None:
    fired = 0

    def handler(ctx: Any) -> None:
        nonlocal fired
        fired += 1

    with tempfile.TemporaryDirectory() as directory:
        store, path, schema = build(kind, Path(directory), keep_runs)
        sched = Scheduler(store=store, handler=handler)
        for n in range(SCHEDULES):
            sched.create(
                agent_id="soak", input=f"schedule {n}", schedule=Interval(timedelta(seconds=1))
            )
        vacuum = schema is not None and autovacuum_is_off()
        if vacuum:
            print(
                "(autovacuum is off on this server: the benchmark vacuums the schema's "
                f"tables every {every:g} s in its stead)"
            )
        print(f"{kind:>8} {'t (s)':>6} {'RSS MB':>8} {'size MB':>8} {'handled':>9}", flush=True)
        began = time.monotonic()
        sched.start()
        try:
            while (elapsed := time.monotonic() - began) < seconds:
                size = size_mb(path, schema)
                shown = "-" if size is None else f"{size:.1f}"
                print(f"{'':>8} {elapsed:6.0f} {rss_mb():8.1f} {shown:>8} {fired:9d}", flush=True)
                time.sleep(every)
                if vacuum and schema is not None:
                    vacuum_schema(schema)
        finally:
            sched.stop()
        size = size_mb(path, schema)
        shown = "-" if size is None else f"{size:.1f}"
        print(f"{'end':>8} {seconds:6.0f} {rss_mb():8.1f} {shown:>8} {fired:9d}", flush=True)
        store.close()
        if schema is not None:
            drop_schema(schema)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--every", type=float, default=15.0, help="print a line this often")
    parser.add_argument("--keep-runs", type=int, default=50)
    parser.add_argument("--store", choices=("memory", "sqlite", "postgres"))
    parser.add_argument("--quick", action="store_true", help="20 s per store, a line every 5 s")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.every = 20.0, 5.0
    if args.store:
        soak(args.store, args.seconds, args.every, args.keep_runs)
        return
    kinds = ["memory", "sqlite"]
    dsn = os.environ.get("AGENTSCHED_PG_DSN")
    server, reason = pg_server(dsn) if dsn else (None, "AGENTSCHED_PG_DSN is not set")
    if server is not None:
        kinds.append("postgres")
    print(versions("agentsched", server=server))
    print(
        f"soak: {SCHEDULES} schedules every second for {args.seconds:g}s, "
        f"keep_runs={args.keep_runs}, each store in a fresh process"
    )
    if server is None:
        print(f"postgres: not measured ({reason})")
    print()
    for kind in kinds:
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--store",
                kind,
                "--seconds",
                str(args.seconds),
                "--every",
                str(args.every),
                "--keep-runs",
                str(args.keep_runs),
            ],
            check=True,
        )
        print()


if __name__ == "__main__":
    main()
