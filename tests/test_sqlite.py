"""SQLiteStore beyond the conformance suite: files, corruption, restarts, leases."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import claim_and_die

from agentsched import (
    Cron,
    InlineExecutor,
    MemoryStore,
    RunContext,
    RunStatus,
    Scheduler,
    SQLiteStore,
    StoreError,
    ValidationError,
)
from agentsched.stores.sqlite import checkpoint
from agentsched.stores.sqlite.checkpoint import BACKSTOP_PAGES
from agentsched.stores.sqlite.store import SCHEMA_VERSION
from agentsched.testing import FakeClock

UTC = timezone.utc
T0 = datetime(2026, 1, 5, 8, 59, tzinfo=UTC)
NINE = datetime(2026, 1, 5, 9, tzinfo=UTC)


def scheduler(path: Path, clock: FakeClock, handler: object = None, **kw: object) -> Scheduler:
    return Scheduler(
        store=SQLiteStore(path),
        handler=handler or (lambda ctx: "ok"),  # type: ignore[arg-type]
        executor=InlineExecutor(),
        clock=clock,
        **kw,
    )  # type: ignore[arg-type]


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


def test_a_dead_schedulers_run_is_marked_interrupted_and_never_rerun(tmp_path: Path) -> None:
    path = tmp_path / "agents.db"
    clock = FakeClock(T0)
    calls: list[str] = []

    def record(ctx: RunContext) -> None:
        calls.append(ctx.run_id)

    store = SQLiteStore(path)
    sched = Scheduler(store=store, handler=record, clock=clock, lease=timedelta(minutes=5))
    s = sched.create(agent_id="bot", schedule=Cron("0 9 * * *"), input="go")
    # simulate a scheduler that claimed the fire and then died: claim without running
    written = claim_and_die(store, NINE)
    (orphan,) = written
    survivor = scheduler(path, clock, record, lease=timedelta(minutes=5))
    assert survivor.tick(now=NINE + timedelta(minutes=4)) == []
    assert survivor.runs(s.id)[0].status is RunStatus.RUNNING  # lease still valid
    survivor.tick(now=NINE + timedelta(minutes=6))
    (final,) = survivor.runs(s.id)
    assert final.id == orphan.id and final.status is RunStatus.FAILED
    assert final.error is not None and final.error.startswith("interrupted")
    assert calls == [] and survivor.get(s.id).failure_count == 1


def test_from_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert isinstance(Scheduler.from_url("sqlite:///relative.db").store, SQLiteStore)
    assert (tmp_path / "relative.db").exists()
    absolute = tmp_path / "absolute.db"
    assert isinstance(Scheduler.from_url(f"sqlite:///{absolute}").store, SQLiteStore)
    assert absolute.exists()
    assert isinstance(Scheduler.from_url("memory://").store, MemoryStore)
    for bad in ("mysql://x", "sqlite:///", 3):
        with pytest.raises(ValidationError) as info:
            Scheduler.from_url(bad)  # type: ignore[arg-type]
        assert info.value.field == "url"


def _wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def test_the_log_is_checkpointed_by_a_thread_of_its_own_not_by_writers(tmp_path: Path) -> None:
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

    assert _wait_for(lambda: in_main_file() == len(created))
    assert store._db.checkpointer.checkpoints >= 1
    checkpointer = store._db.checkpointer
    store.close()
    assert checkpointer._thread is not None and not checkpointer._thread.is_alive()
    sched.create(agent_id="bot", schedule=Cron("0 * * * *"), input="go")  # usable again
    assert _wait_for(lambda: in_main_file() == len(created) + 1)
    store.close()


def test_an_idle_store_holds_no_checkpoint_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoint, "_IDLE", 0.05)
    store = SQLiteStore(tmp_path / "agents.db")
    sched = Scheduler(store=store, clock=FakeClock(T0))
    sched.create(agent_id="bot", schedule=Cron("0 * * * *"), input="go")
    first = store._db.checkpointer._thread
    assert first is not None
    assert _wait_for(lambda: not first.is_alive())  # ended, its connection closed
    sched.create(agent_id="bot", schedule=Cron("0 * * * *"), input="go")
    second = store._db.checkpointer._thread
    assert second is not None and second is not first  # the next write starts another
    store.close()
