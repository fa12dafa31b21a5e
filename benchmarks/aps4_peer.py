"""APScheduler 4 (pre-release) peer for the burst benchmarks; prints one JSON document.

APScheduler 4 cannot share a virtualenv with APScheduler 3 (both are the
`apscheduler` distribution), so `bench_dispatch.py` and `bench_store.py` run
this script with another interpreter (`--aps4-python PATH`, or `--with-aps4`
to build a cached venv). It needs only APScheduler 4 (and SQLAlchemy and
aiosqlite for `--store sqlite`), never agentsched.

What it measures, the closest equivalent of "N schedules due at once, one
tick fires them all": APScheduler 4 is async-first, and firing goes through
its data store in two steps (the schedule loop turns due schedules into jobs
in the store, the job loop acquires jobs, runs them and stores a result).
For each round, on a fresh data store (SQLite: a fresh file, WAL and
synchronous=NORMAL set on every connection, as the other libraries get):

  1. `count` schedules are added, each a `DateTrigger` whose run time is one
     second in the past, running a synchronous no-op function on the `async`
     job executor (called directly on the event loop: no thread hop, as close
     to an inline handler as APScheduler 4 offers);
  2. the clock starts, then `start_in_background()`;
  3. `first` is when the no-op first runs, `seconds` when the `count`-th
     `JobReleased` event arrives (every job run and its outcome stored).

The scheduler runs with its defaults otherwise (`max_concurrent_jobs=100`,
schedules acquired 100 at a time) and the real clock (it has no clock to
inject). Outcomes are not kept (`job_result_expiration_time=0`, the default).

    python benchmarks/aps4_peer.py --store memory --count 10000 --rounds 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Any

MEASURED = (
    "N DateTrigger schedules due 1 s ago, added before start; time from "
    "start_in_background() until N JobReleased events (sync no-op on the 'async' "
    "executor, max_concurrent_jobs=100, real clock)"
)

_calls = {"count": 0, "first": 0.0}


def noop() -> None:
    """The job: counts itself and notes when it first ran."""
    if not _calls["count"]:
        _calls["first"] = time.perf_counter()
    _calls["count"] += 1


def _sqlite_engine(path: Path) -> Any:
    from sqlalchemy import event
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


def _pragmas_of(path: Path) -> dict[str, Any]:
    """The journal mode stored in the file, and what a listener-configured connection
    reports for synchronous (read on the engine's own connection by the caller)."""
    with sqlite3.connect(path) as conn:
        return {"journal_mode": conn.execute("PRAGMA journal_mode").fetchone()[0]}


async def _engine_synchronous(engine: Any) -> int:
    from sqlalchemy import text

    async with engine.connect() as conn:
        return int((await conn.execute(text("PRAGMA synchronous"))).scalar_one())


async def one_round(store: str, count: int, directory: Path, index: int) -> dict[str, Any]:
    from apscheduler import AsyncScheduler, JobReleased
    from apscheduler.datastores.memory import MemoryDataStore
    from apscheduler.triggers.date import DateTrigger

    engine = None
    path = directory / f"aps4-{index}.db"
    if store == "sqlite":
        from apscheduler.datastores.sqlalchemy import SQLAlchemyDataStore

        engine = _sqlite_engine(path)
        data_store: Any = SQLAlchemyDataStore(engine)
    else:
        data_store = MemoryDataStore()
    _calls.update(count=0, first=0.0)
    released = 0
    done = asyncio.Event()

    def on_released(_event: Any) -> None:
        nonlocal released
        released += 1
        if released == count:
            done.set()

    extra: dict[str, Any] = {}
    async with AsyncScheduler(data_store, cleanup_interval=None) as scheduler:
        due = datetime.now(timezone.utc) - timedelta(seconds=1)
        for n in range(count):
            await scheduler.add_schedule(noop, DateTrigger(due), id=f"s{n}", job_executor="async")
        scheduler.subscribe(on_released, {JobReleased})
        began = time.perf_counter()
        await scheduler.start_in_background()
        await asyncio.wait_for(done.wait(), timeout=600)
        seconds = time.perf_counter() - began
        first = _calls["first"] - began
        await scheduler.stop()
        await scheduler.wait_until_stopped()
    if engine is not None:
        extra = _pragmas_of(path)
        extra["synchronous"] = await _engine_synchronous(engine)
        await engine.dispose()
    return {"fired": _calls["count"], "seconds": seconds, "first": first, **extra}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store", choices=("memory", "sqlite"), default="memory")
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    found: dict[str, Any] = {
        "python": sys.version.split()[0],
        "apscheduler": version("apscheduler"),
        "store": args.store,
        "count": args.count,
        "measured": MEASURED,
        "rounds": [],
    }
    if args.store == "sqlite":
        found["sqlalchemy"] = version("sqlalchemy")
        found["aiosqlite"] = version("aiosqlite")
        found["sqlite"] = sqlite3.sqlite_version
    with tempfile.TemporaryDirectory(prefix="aps4-peer-") as tmp:
        for r in range(args.rounds):
            found["rounds"].append(asyncio.run(one_round(args.store, args.count, Path(tmp), r)))
    print(json.dumps(found))


if __name__ == "__main__":
    main()
