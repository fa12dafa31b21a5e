"""Run history: bounded by `keep_runs` in every store, tracebacks kept with failures."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pg_server
import pytest
from conftest import claim_and_die

from agentsched import (
    Cron,
    InlineExecutor,
    MemoryStore,
    Overlap,
    RunContext,
    RunStatus,
    Scheduler,
    SQLiteStore,
    ValidationError,
)
from agentsched.cli import main
from agentsched.model import MAX_TRACEBACK
from agentsched.stores.base import Store
from agentsched.stores.sqlite.schema import _MIGRATIONS
from agentsched.testing import FakeClock

UTC = timezone.utc
T0 = datetime(2026, 1, 5, 8, 59, tzinfo=UTC)
NINE = datetime(2026, 1, 5, 9, tzinfo=UTC)
MINUTE = timedelta(minutes=1)

StoreFactory = Callable[..., Store]


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    made: list[Store] = []

    def factory(**options: object) -> Store:
        store: Store
        if request.param == "memory":
            store = MemoryStore(**options)  # type: ignore[arg-type]
        elif request.param == "sqlite":
            store = SQLiteStore(tmp_path / f"s{len(made)}.db", **options)  # type: ignore[arg-type]
        else:
            store = pg_server.scratch_store(**options)
        made.append(store)
        return store

    yield factory
    for store in made:
        store.close()


def _scheduler(store: Store, handler: Callable[[RunContext], object]) -> Scheduler:
    return Scheduler(store=store, handler=handler, executor=InlineExecutor(), clock=FakeClock(T0))


@pytest.mark.parametrize("keep", [1, 3, 10])
def test_a_schedule_never_holds_more_than_keep_runs_finished_runs(
    make_store: StoreFactory, keep: int
) -> None:
    sched = _scheduler(make_store(keep_runs=keep), lambda ctx: "ok")
    s = sched.create(agent_id="bot", schedule=Cron("* * * * *"), input="go")
    other = sched.create(agent_id="bot", schedule=Cron("*/2 * * * *"), input="go")
    for minute in range(40):
        sched.tick(now=NINE + minute * MINUTE)
        for schedule_id in (s.id, other.id):
            runs = sched.runs(schedule_id, limit=1000)
            assert len(runs) <= keep
        newest = sched.runs(s.id, limit=1000)
        expected = [NINE + (minute - k) * MINUTE for k in range(min(keep, minute + 1))]
        assert [r.scheduled_for for r in newest] == expected
    assert sched.get(s.id).run_count == 40  # counters keep counting what was pruned


def test_keep_runs_none_keeps_everything(make_store: StoreFactory) -> None:
    sched = _scheduler(make_store(keep_runs=None), lambda ctx: None)
    s = sched.create(agent_id="bot", schedule=Cron("* * * * *"), input="go")
    for minute in range(30):
        sched.tick(now=NINE + minute * MINUTE)
    assert len(sched.runs(s.id, limit=1000)) == 30


def test_running_runs_are_never_pruned_and_skips_count_as_finished(
    make_store: StoreFactory,
) -> None:
    """A SKIP schedule whose first run never finishes: only skipped records come and go."""
    store = make_store(keep_runs=3)
    clock = FakeClock(T0)
    sched = Scheduler(store=store, handler=lambda ctx: None, clock=clock)
    s = sched.create(agent_id="bot", schedule=Cron("* * * * *"), input="go", overlap=Overlap.SKIP)
    first = claim_and_die(store, NINE, timedelta(hours=1))  # started and never finished
    for minute in range(1, 10):
        claim_and_die(store, NINE + minute * MINUTE, timedelta(hours=1))
    runs = store.runs(s.id, limit=100)
    assert [r.status for r in runs] == [RunStatus.SKIPPED] * 3 + [RunStatus.RUNNING]
    assert runs[-1].id == first[0].id
    assert [r.scheduled_for for r in runs[:3]] == [NINE + m * MINUTE for m in (9, 8, 7)]


@pytest.mark.parametrize("bad", [0, -1, True, "10", 1.5])
def test_keep_runs_is_validated(make_store: StoreFactory, bad: object) -> None:
    with pytest.raises(ValidationError) as info:
        make_store(keep_runs=bad)
    assert info.value.field == "keep_runs"


def test_a_version_1_file_is_migrated_and_pruned(tmp_path: Path) -> None:
    """An older file with a long history gets counted, bounded, and keeps its runs' ids."""
    path = tmp_path / "old.db"
    old = SQLiteStore(path, keep_runs=None)
    sched = _scheduler(old, lambda ctx: None)
    s = sched.create(agent_id="bot", schedule=Cron("* * * * *"), input="go")
    for minute in range(12):
        sched.tick(now=NINE + minute * MINUTE)
    old.close()
    with sqlite3.connect(path) as conn:  # rebuild the file as version 1 had it
        rows = conn.execute(
            "SELECT id, owner, agent_id, sort_name, status, next_run_at, version, body "
            "FROM schedules"
        ).fetchall()
        runs = conn.execute(
            "SELECT id, schedule_id, trigger, scheduled_for, status, started_at, body FROM runs"
        ).fetchall()
        conn.execute("DROP TABLE schedules")
        conn.execute("DROP TABLE runs")
        conn.executescript(_MIGRATIONS[1])
        conn.executemany(
            "INSERT INTO schedules (id, owner, agent_id, sort_name, status, next_run_at, "
            "version, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        conn.executemany(
            "INSERT INTO runs (id, schedule_id, trigger, scheduled_for, status, started_at, body) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            runs,
        )
        conn.execute("PRAGMA user_version=1")
    store = SQLiteStore(path, keep_runs=5)
    assert len(store.runs(s.id, limit=100)) == 12  # nothing dropped by the migration itself
    again = _scheduler(store, lambda ctx: None)
    again.tick(now=NINE + 12 * MINUTE)
    assert [r.scheduled_for for r in again.runs(s.id, limit=100)] == [
        NINE + m * MINUTE for m in range(12, 7, -1)
    ]


# -- tracebacks --------------------------------------------------------------------


def _broken_agent(ctx: RunContext) -> None:
    data: dict[str, str] = {}
    print(data["missing"])


def test_a_failed_run_keeps_the_one_line_error_and_the_traceback(make_store: StoreFactory) -> None:
    sched = _scheduler(make_store(), _broken_agent)
    s = sched.create(agent_id="bot", schedule=Cron("0 9 * * *"), input="go")
    (run,) = sched.tick(now=NINE)
    assert run.status is RunStatus.FAILED and run.error == "KeyError: 'missing'"
    assert run.traceback is not None
    assert "_broken_agent" in run.traceback and "test_run_history.py" in run.traceback
    assert run.traceback.rstrip().endswith("KeyError: 'missing'")
    assert sched.runs(s.id) == [run] and run.to_dict()["traceback"] == run.traceback


def test_tracebacks_are_bounded_keeping_the_end(make_store: StoreFactory) -> None:
    def huge(ctx: RunContext) -> None:
        raise RuntimeError("bottom " + "y" * 30_000 + " end")

    sched = _scheduler(make_store(), huge)
    sched.create(agent_id="bot", schedule=Cron("0 9 * * *"), input="go")
    (run,) = sched.tick(now=NINE)
    assert run.traceback is not None and len(run.traceback) <= MAX_TRACEBACK
    assert run.traceback.startswith("[... earlier lines cut]")
    assert run.traceback.rstrip().endswith("y end")


def test_runs_verbose_prints_tracebacks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "a.db"
    sched = _scheduler(SQLiteStore(path), _broken_agent)
    s = sched.create(agent_id="bot", schedule=Cron("0 9 * * *"), input="go")
    sched.tick(now=NINE)
    sched.store.close()
    assert main(["--db", f"sqlite:///{path}", "runs", s.id]) == 0
    assert "Traceback" not in capsys.readouterr().out
    assert main(["--db", f"sqlite:///{path}", "runs", s.id, "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "Traceback (most recent call last)" in out and "_broken_agent" in out
