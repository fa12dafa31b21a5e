"""SQLiteStore beyond the conformance suite: files, corruption, restarts, leases."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from support.waiting import eventually

from agentsched import (
    Cron,
    InlineExecutor,
    RunStatus,
    Scheduler,
    SQLiteStore,
    StoreError,
)
from agentsched.firing.handlers import Handler
from agentsched.stores.sqlite import checkpoint
from agentsched.stores.sqlite.checkpoint import BACKSTOP_PAGES
from agentsched.stores.sqlite.schema import _MIGRATIONS, SCHEMA_VERSION
from agentsched.testing import FakeClock

UTC = timezone.utc
T0 = datetime(2026, 1, 5, 8, 59, tzinfo=UTC)
NINE = datetime(2026, 1, 5, 9, tzinfo=UTC)


def scheduler(
    path: Path, clock: FakeClock, handler: Handler | None = None, **options: Any
) -> Scheduler:
    return Scheduler(
        store=SQLiteStore(path),
        handler=handler or (lambda ctx: "ok"),
        executor=InlineExecutor(),
        clock=clock,
        **options,
    )


def test_missing_directory_is_a_clear_error_at_open(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        SQLiteStore(tmp_path / "nowhere" / "agents.db")


def test_an_unopenable_path_is_a_clear_error_at_open(tmp_path: Path) -> None:
    (tmp_path / "a-directory.db").mkdir()
    with pytest.raises(StoreError, match="cannot open"):
        SQLiteStore(tmp_path / "a-directory.db")


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "agents.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot"):
        SQLiteStore(path)


def test_schema_is_versioned_and_newer_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "agents.db"
    SQLiteStore(path).close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="upgrade agentsched"):
        SQLiteStore(path)


def test_a_version_1_file_is_migrated_and_pruned(tmp_path: Path) -> None:
    """An older file with a long history gets counted, bounded, and keeps its runs' ids
    (the file is rebuilt by the store's own first migration, the private `_MIGRATIONS`)."""
    path = tmp_path / "old.db"
    old = SQLiteStore(path, keep_runs=None)
    sched = Scheduler(
        store=old, handler=lambda ctx: None, executor=InlineExecutor(), clock=FakeClock(T0)
    )
    s = sched.create(agent_id="bot", schedule=Cron("* * * * *"), input="go")
    for minute in range(12):
        sched.tick(now=NINE + minute * timedelta(minutes=1))
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
    again = Scheduler(
        store=store, handler=lambda ctx: None, executor=InlineExecutor(), clock=FakeClock(T0)
    )
    again.tick(now=NINE + 12 * timedelta(minutes=1))
    assert [r.scheduled_for for r in again.runs(s.id, limit=100)] == [
        NINE + m * timedelta(minutes=1) for m in range(12, 7, -1)
    ]


def test_corrupt_rows_are_named_and_the_others_keep_firing(tmp_path: Path) -> None:
    path = tmp_path / "agents.db"
    clock = FakeClock(T0)
    sched = scheduler(path, clock)
    good = sched.create(agent_id="bot", schedule=Cron("0 9 * * *"), input="go", name="good")
    bad = sched.create(agent_id="bot", schedule=Cron("0 9 * * *"), input="go", name="bad")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE schedules SET body = '{not json' WHERE id = ?", (bad.id,))
    with pytest.raises(StoreError, match=bad.id):
        sched.get(bad.id)
    assert [s.id for s in sched.list()] == [good.id]
    runs = sched.tick(now=NINE)
    assert [(r.schedule_id, r.status) for r in runs] == [(good.id, RunStatus.SUCCEEDED)]
    with sqlite3.connect(path) as conn:  # nothing else was touched
        assert (
            conn.execute("SELECT body FROM schedules WHERE id = ?", (bad.id,)).fetchone()[0]
            == "{not json"
        )


def test_schedules_and_runs_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "agents.db"
    clock = FakeClock(T0)
    first = scheduler(path, clock)
    s = first.create(agent_id="bot", schedule=Cron("0 * * * *"), input="go", metadata={"k": "v"})
    first.tick(now=NINE)
    first.store.close()
    second = scheduler(path, clock)
    assert second.get(s.id).run_count == 1 and second.get(s.id).metadata == {"k": "v"}
    assert second.tick(now=NINE) == []  # already fired, by the first
    assert len(second.tick(now=NINE + timedelta(hours=1))) == 1
    assert [r.scheduled_for for r in second.runs(s.id)] == [NINE + timedelta(hours=1), NINE]


def test_the_log_is_checkpointed_by_a_thread_of_its_own_not_by_writers(tmp_path: Path) -> None:
    """The checkpointer (the store's private `_db.checkpointer`, a writer's connection's
    pragma) is the subject: nothing public tells who checkpoints."""
    path = tmp_path / "agents.db"
    sched = scheduler(path, FakeClock(T0))
    created = [
        sched.create(agent_id="bot", schedule=Cron("0 * * * *"), input="go") for _ in range(50)
    ]
    store = sched.store
    assert isinstance(store, SQLiteStore)
    writer = store._connection()
    # writers keep SQLite's own checkpoint only as a far backstop
    assert writer.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == BACKSTOP_PAGES

    def in_main_file() -> int:
        # immutable=1 reads the database file alone, ignoring the log
        with sqlite3.connect(f"file:{path}?immutable=1", uri=True) as main:
            try:
                return int(main.execute("SELECT COUNT(*) FROM schedules").fetchone()[0])
            except sqlite3.DatabaseError:  # not there yet, or a checkpoint is writing it
                return -1

    eventually(lambda: in_main_file() == len(created))
    eventually(lambda: store._db.checkpointer.checkpoints >= 1)  # counted once it has written
    checkpointer = store._db.checkpointer
    store.close()
    assert checkpointer._thread is not None and not checkpointer._thread.is_alive()
    sched.create(agent_id="bot", schedule=Cron("0 * * * *"), input="go")  # usable again
    eventually(lambda: in_main_file() == len(created) + 1)
    store.close()


def test_an_idle_store_holds_no_checkpoint_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checkpointer's thread (private, as its idle time is) ends when the store is
    idle and a write starts another."""
    monkeypatch.setattr(checkpoint, "_IDLE", 0.05)
    store = SQLiteStore(tmp_path / "agents.db")
    sched = Scheduler(store=store, clock=FakeClock(T0))
    sched.create(agent_id="bot", schedule=Cron("0 * * * *"), input="go")
    first = store._db.checkpointer._thread
    assert first is not None
    eventually(lambda: not first.is_alive())  # ended, its connection closed
    sched.create(agent_id="bot", schedule=Cron("0 * * * *"), input="go")
    second = store._db.checkpointer._thread
    assert second is not None and second is not first  # the next write starts another
    store.close()
