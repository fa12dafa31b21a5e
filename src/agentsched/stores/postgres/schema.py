"""The PostgreSQL store's tables, and the migrations that create and upgrade them.

Everything lives in one schema the user names (`agentsched` by default), so
several apps, or test runs, can share a database. The schema records every
migration applied in `schema_versions`; opening a store applies the missing
ones in one transaction under an advisory lock (two processes opening a new
database at once take turns), and refuses a schema newer than this code.

Ids and sort names are `COLLATE "C"`: lists sort by code point, as in the
other stores, whatever the database's collation. Bodies are the records'
JSON text (not `jsonb`): written and read back as the exact text, never
re-encoded by the server. Firing writes each schedule twice (claim, finish);
the finish changes no indexed column, and free space left in each page
(`fillfactor`) lets it update in place without touching the indexes. `seq`
orders a schedule's runs (through `runs_by_schedule`) and needs no index of
its own.
"""

from __future__ import annotations

import re

import psycopg
from psycopg.rows import tuple_row

from ...errors import StoreError, ValidationError, shorten

__all__ = ["SCHEMA_VERSION", "check_schema_name", "existing_version", "migrate"]

SCHEMA_VERSION = 1

# An identifier we can quote safely, short enough that the NOTIFY channel derived
# from it stays within PostgreSQL's 63-byte limit on names.
_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,47}")

# pg_advisory_xact_lock(key1, key2): key1 is ours ('agsc'), key2 the schema's hash.
_LOCK_CLASS = 0x61677363

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE {s}.schedules (
        id            text COLLATE "C" PRIMARY KEY,
        owner         text,
        agent_id      text NOT NULL,
        sort_name     text COLLATE "C" NOT NULL,
        status        text NOT NULL,
        due           timestamptz,
        version       bigint NOT NULL,
        finished_runs bigint NOT NULL DEFAULT 0,
        body          text NOT NULL
    ) WITH (fillfactor = 80);
    CREATE INDEX schedules_due ON {s}.schedules (due, id)
        WHERE status = 'active' AND due IS NOT NULL;
    CREATE INDEX schedules_sorted ON {s}.schedules (sort_name, id);
    CREATE INDEX schedules_agent ON {s}.schedules (agent_id, sort_name, id);
    CREATE INDEX schedules_owner ON {s}.schedules (owner, sort_name, id);
    CREATE TABLE {s}.runs (
        id            text COLLATE "C" PRIMARY KEY,
        seq           bigint GENERATED ALWAYS AS IDENTITY,
        schedule_id   text COLLATE "C" NOT NULL,
        trigger       text NOT NULL,
        scheduled_for timestamptz,
        attempt       integer NOT NULL,
        status        text NOT NULL,
        started_at    timestamptz,
        lease_until   timestamptz,
        body          text NOT NULL
    );
    CREATE UNIQUE INDEX runs_one_per_fire ON {s}.runs (schedule_id, scheduled_for, attempt)
        WHERE trigger = 'schedule';
    CREATE INDEX runs_by_schedule ON {s}.runs (schedule_id, seq);
    CREATE INDEX runs_unfinished ON {s}.runs (schedule_id)
        WHERE status = 'running' OR lease_until IS NOT NULL;
    CREATE INDEX runs_leases ON {s}.runs (lease_until) WHERE lease_until IS NOT NULL;
    """,
}


def check_schema_name(name: object) -> str:
    """The schema name, or a `ValidationError`: 1-48 letters, digits or `_`, not a digit
    first (it is quoted as given, so case matters)."""
    if not isinstance(name, str) or not _SCHEMA_NAME.fullmatch(name):
        raise ValidationError(
            "schema",
            "'schema' must be 1-48 letters, digits or underscores, not starting with a "
            f"digit (got {shorten(name)})",
        )
    return name


def existing_version(conn: psycopg.Connection[object], schema: str) -> int | None:
    """The schema's version: None if the schema or its version table is missing."""
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute(
        "SELECT to_regclass(%s) IS NOT NULL", (f'"{schema}".schema_versions',)
    ).fetchone()
    if row is None or not row[0]:
        return None
    found = cur.execute(f'SELECT max(version) FROM "{schema}".schema_versions').fetchone()
    return int(found[0]) if found is not None and found[0] is not None else 0


def migrate(conn: psycopg.Connection[object], schema: str, where: str) -> None:
    """Create or upgrade the schema to `SCHEMA_VERSION` in one transaction.

    The advisory lock makes concurrent first opens take turns: the second
    finds the work done. A schema newer than this code is refused.
    """
    quoted = f'"{schema}"'
    with conn.transaction():
        cur = conn.cursor(row_factory=tuple_row)
        cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_CLASS, schema))
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
        cur.execute(
            f"CREATE TABLE IF NOT EXISTS {quoted}.schema_versions ("
            "version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        current = existing_version(conn, schema) or 0
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"schema {schema!r} in {where} has version {current}; this agentsched "
                f"knows up to {SCHEMA_VERSION} (upgrade agentsched)"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            for statement in _MIGRATIONS[version].split(";"):
                if statement.strip():
                    cur.execute(statement.format(s=quoted))
            cur.execute(f"INSERT INTO {quoted}.schema_versions (version) VALUES (%s)", (version,))
