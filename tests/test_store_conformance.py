"""Every shipped store passes the one conformance suite in agentsched.testing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pg_server
import pytest

from agentsched import MemoryStore, SQLiteStore
from agentsched.stores import Store
from agentsched.testing import StoreConformance


class TestMemoryStore(StoreConformance):
    @pytest.fixture
    def store(self) -> Iterator[Store]:
        store = MemoryStore()
        yield store
        store.close()


class TestSQLiteStore(StoreConformance):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[Store]:
        store = SQLiteStore(tmp_path / "agents.db")
        yield store
        store.close()


class TestPostgresStore(StoreConformance):
    @pytest.fixture
    def store(self) -> Iterator[Store]:
        store = pg_server.scratch_store()
        yield store
        store.close()


def test_memory_store_keeps_a_bounded_run_history() -> None:
    from datetime import datetime, timedelta, timezone

    from agentsched import InlineExecutor, Interval, Scheduler, ValidationError
    from agentsched.testing import FakeClock

    clock = FakeClock(datetime(2026, 1, 1, tzinfo=timezone.utc))
    store = MemoryStore(keep_runs=10)
    sched = Scheduler(store=store, handler=lambda ctx: None, executor=InlineExecutor(), clock=clock)
    s = sched.create(agent_id="a", input="x", schedule=Interval(timedelta(minutes=1)))
    for _ in range(50):
        clock.advance(timedelta(minutes=1))
        sched.tick()
    kept = store.runs(s.id, limit=1000)
    assert 10 <= len(kept) <= 20 and kept[0].scheduled_for == clock.now()
    assert sched.get(s.id).run_count == 50
    with pytest.raises(ValidationError):
        MemoryStore(keep_runs=0)
