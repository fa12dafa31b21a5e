"""The SQLite store's tables, and the migrations that create and upgrade them.

The version lives in `PRAGMA user_version`. Opening a writable file applies
the missing migrations in one `BEGIN IMMEDIATE` transaction (several
processes opening a new file take turns, and the later ones find the work
done); a file newer than this code is refused, and a read-only one must be
at this version already.

Ids and sort names compare as SQLite's default BINARY collation compares
UTF-8 text, by code point, as in the other stores. `seq` orders a
schedule's runs (through `runs_by_schedule`); `schedules_due` serves claims,
which take due schedules earliest first and, at one instant, by id.
"""

from __future__ import annotations

import sqlite3

from ...errors import StoreError

__all__ = ["SCHEMA_VERSION", "check_version", "migrate"]

SCHEMA_VERSION = 3

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE schedules (
        id          TEXT PRIMARY KEY,
        owner       TEXT,
        agent_id    TEXT NOT NULL,
        sort_name   TEXT NOT NULL,
        status      TEXT NOT NULL,
        next_run_at INTEGER,
        version     INTEGER NOT NULL,
        body        TEXT NOT NULL
    );
    CREATE INDEX schedules_due ON schedules (next_run_at)
        WHERE status = 'active' AND next_run_at IS NOT NULL;
    CREATE INDEX schedules_sorted ON schedules (sort_name, id);
    CREATE INDEX schedules_agent ON schedules (agent_id, sort_name, id);
    CREATE INDEX schedules_owner ON schedules (owner, sort_name, id);
    CREATE TABLE runs (
        seq           INTEGER PRIMARY KEY AUTOINCREMENT,
        id            TEXT NOT NULL UNIQUE,
        schedule_id   TEXT NOT NULL,
        trigger       TEXT NOT NULL,
        scheduled_for INTEGER,
        status        TEXT NOT NULL,
        started_at    INTEGER,
        lease_until   INTEGER,
        body          TEXT NOT NULL
    );
    CREATE UNIQUE INDEX runs_one_per_fire ON runs (schedule_id, scheduled_for)
        WHERE trigger = 'schedule';
    CREATE INDEX runs_by_schedule ON runs (schedule_id, seq);
    CREATE INDEX runs_unfinished ON runs (schedule_id) WHERE status = 'running';
    CREATE INDEX runs_leases ON runs (lease_until) WHERE lease_until IS NOT NULL;
    """,
    # 2: run history is bounded per schedule (a count of finished runs kept per
    # schedule makes the bound cheap); a fire may have several attempts; a run
    # that timed out keeps its lease (its slot) until its handler returns.
    2: """
    ALTER TABLE schedules ADD COLUMN finished_runs INTEGER NOT NULL DEFAULT 0;
    UPDATE schedules SET finished_runs = (
        SELECT COUNT(*) FROM runs
        WHERE runs.schedule_id = schedules.id AND runs.status != 'running'
    );
    ALTER TABLE runs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
    DROP INDEX runs_one_per_fire;
    CREATE UNIQUE INDEX runs_one_per_fire ON runs (schedule_id, scheduled_for, attempt)
        WHERE trigger = 'schedule';
    DROP INDEX runs_unfinished;
    CREATE INDEX runs_unfinished ON runs (schedule_id)
        WHERE status = 'running' OR lease_until IS NOT NULL;
    DROP INDEX runs_leases;
    CREATE INDEX runs_leases ON runs (lease_until) WHERE lease_until IS NOT NULL;
    """,
    # 3: schedules due at one instant are claimed by id, as in the other stores; the
    # due index holds the id too, so that a claim reads them in order without a sort.
    3: """
    DROP INDEX schedules_due;
    CREATE INDEX schedules_due ON schedules (next_run_at, id)
        WHERE status = 'active' AND next_run_at IS NOT NULL;
    """,
}


def check_version(conn: sqlite3.Connection, where: str) -> None:
    """Refuse a file opened read-only whose schema is not this code's (it cannot be
    migrated where it cannot be written)."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version != SCHEMA_VERSION:
        raise StoreError(
            f"cannot open {where} read-only: it has schema version {version} and this "
            f"agentsched needs {SCHEMA_VERSION} (open it once where it can be written, "
            "to migrate it)"
        )


def migrate(conn: sqlite3.Connection, where: str) -> None:
    """Create or upgrade the schema to `SCHEMA_VERSION`, inside the caller's write
    transaction; a file newer than this code is refused."""
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    if current > SCHEMA_VERSION:
        raise StoreError(
            f"{where} has schema version {current}; this agentsched knows up to "
            f"{SCHEMA_VERSION} (upgrade agentsched)"
        )
    for version in range(current + 1, SCHEMA_VERSION + 1):
        for statement in _MIGRATIONS[version].split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version={version}")
