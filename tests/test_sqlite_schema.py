"""SQLite's schema: schedules due at one instant are claimed by id, from an index that holds
them in that order, and a file of the version before is migrated to it."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import attrs

from agentsched import Cron, Run, RunStatus, Schedule, SQLiteStore
from agentsched.model import Activity
from agentsched.stores.sqlite.schema import SCHEMA_VERSION

UTC = timezone.utc
NOON = datetime(2026, 1, 5, 12, tzinfo=UTC)
IDS = ["sched_zeta", "sched_alpha", "sched_mike", "sched_bravo"]  # as inserted


def _schedule(schedule_id: str) -> Schedule:
    return Schedule(
        id=schedule_id,
        agent_id="bot",
        schedule=Cron("0 12 * * *"),
        input="go",
        next_run_at=NOON,
        created_at=NOON - timedelta(days=1),
        updated_at=NOON - timedelta(days=1),
    )


def _advance(schedule: Schedule, activity: Activity) -> tuple[Schedule, list[Run]]:
    run = Run(
        id=f"run_{schedule.id}",
        schedule_id=schedule.id,
        agent_id=schedule.agent_id,
        status=RunStatus.RUNNING,
        scheduled_for=NOON,
    )
    moved = attrs.evolve(schedule, next_run_at=NOON + timedelta(days=1), version=2)
    return moved, [run]


def _sql(path: Path, statement: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        with conn:
            return conn.execute(statement).fetchall()
    finally:
        conn.close()


def _claims_in_turn(store: SQLiteStore) -> list[list[str]]:
    """The ids of each claim at NOON with a limit of 1, then 2, then 3."""
    return [[s.id for s, _ in store.claim_due(NOON, _advance, limit=n)] for n in (1, 2, 3)]


def test_the_claim_reads_the_due_index_in_order_without_sorting(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "agents.db")
    for schedule_id in IDS:
        store.add(_schedule(schedule_id))
    conn = store._connection()
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    claimed = _claims_in_turn(store)
    conn.set_trace_callback(None)
    assert claimed == [["sched_alpha"], ["sched_bravo", "sched_mike"], ["sched_zeta"]]
    select = next(s for s in statements if s.lstrip().upper().startswith("SELECT"))
    plan = " ".join(
        str(row[3])
        for row in conn.execute("EXPLAIN QUERY PLAN " + select, [None] * select.count("?"))
    )
    assert "USING INDEX schedules_due" in plan and "TEMP B-TREE" not in plan, plan
    store.close()


def test_a_version_2_file_is_migrated_and_claims_ties_by_id(tmp_path: Path) -> None:
    path = tmp_path / "agents.db"
    store = SQLiteStore(path)
    for schedule_id in IDS:
        store.add(_schedule(schedule_id))
    done = Run(
        id="run_earlier",
        schedule_id="sched_mike",
        agent_id="bot",
        status=RunStatus.SUCCEEDED,
        scheduled_for=NOON - timedelta(days=1),
        finished_at=NOON - timedelta(days=1),
    )
    store.add_run(done)
    store.close()
    conn = sqlite3.connect(path)  # back to the due index version 2 had, and its number
    with conn:
        conn.execute("DROP INDEX schedules_due")
        conn.execute(
            "CREATE INDEX schedules_due ON schedules (next_run_at) "
            "WHERE status = 'active' AND next_run_at IS NOT NULL"
        )
        conn.execute("PRAGMA user_version=2")
    conn.close()
    old_index = _sql(path, "SELECT name FROM pragma_index_info('schedules_due')")
    assert old_index == [("next_run_at",)]

    migrated = SQLiteStore(path)
    assert _sql(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    index = _sql(path, "SELECT name FROM pragma_index_info('schedules_due')")
    assert index == [("next_run_at",), ("id",)]
    assert [migrated.get(i) for i in IDS] == [_schedule(i) for i in IDS]  # nothing lost
    assert migrated.runs("sched_mike") == [done]
    assert _claims_in_turn(migrated) == [
        ["sched_alpha"],
        ["sched_bravo", "sched_mike"],
        ["sched_zeta"],
    ]
    migrated.close()
