"""A PostgreSQL server for the tests: where it is, and scratch schemas that clean up.

The server is `AGENTSCHED_PG_DSN`, else a local default. A test that needs
it calls `require()`: it skips with the reason when no server answers, and
fails in CI (`.ci/run` always provides one).

A scratch store gets a schema no other store uses at the same time. Making a schema
(tables, indexes, the migrations' bookkeeping) costs a hundred times what emptying
one does, so a closed scratch store's schema is emptied and handed to the next
scratch store of this process; every schema is dropped when the process exits.
Tests that look at a schema itself (its tables, its versions) make their own with
`new_schema()`.
"""

from __future__ import annotations

import atexit
import functools
import os
import uuid
from typing import TYPE_CHECKING, Any

from support.environment import need

if TYPE_CHECKING:  # psycopg is imported when a test asks for the server, not before
    from agentsched.stores.postgres import PostgresStore

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
DSN = os.environ.get("AGENTSCHED_PG_DSN") or DEFAULT_DSN  # a postgresql:// URL

_made: set[str] = set()
_emptied: list[str] = []  # schemas of closed scratch stores, ready for the next one
_tables: dict[str, list[str]] = {}  # the tables to empty, per schema


@functools.cache
def _problem() -> str | None:
    """Why no server can be used (None: it answers)."""
    try:
        import psycopg
    except ImportError as exc:
        return f"psycopg is not installed ({exc}): pip install -e '.[test]'"
    try:
        with psycopg.connect(DSN, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        source = "AGENTSCHED_PG_DSN" if os.environ.get("AGENTSCHED_PG_DSN") else "the default"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return (
            f"no PostgreSQL server answers at {DSN} ({source}): {first}; "
            "start one (see README) or set AGENTSCHED_PG_DSN"
        )
    return None


def require() -> None:
    """Skip the calling test (fail it in CI) when there is no server to test against."""
    problem = _problem()
    need(problem is None, problem or "")


def new_schema() -> str:
    """A schema name no other test uses; dropped at exit if still there."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    _made.add(name)
    return name


def url(schema: str) -> str:
    """The store URL of a schema on the test server (for `store_from_url`, the CLI)."""
    return f"{DSN}{'&' if '?' in DSN else '?'}schema={schema}"


def sql(statement: str, *params: object) -> list[tuple[Any, ...]]:
    """Run one statement on its own connection (autocommit); its rows, if any."""
    import psycopg

    with psycopg.connect(DSN, autocommit=True) as conn:
        cur = conn.execute(statement.encode(), params)
        return cur.fetchall() if cur.description else []


def with_params(dsn: str, **params: str) -> str:
    """`dsn` with more connection parameters (as a `key=value` string)."""
    from psycopg.conninfo import make_conninfo

    return make_conninfo(dsn, **params)


def drop_schema(name: str) -> None:
    """Drop a test schema; a handler thread a test left behind may still be writing to
    it, and the server then picks the drop as a deadlock's victim: try again."""
    import psycopg

    for attempt in range(5):
        try:
            with psycopg.connect(DSN, autocommit=True) as conn:
                conn.execute("SET lock_timeout = '10s'")
                conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'.encode())
            break
        except psycopg.errors.DeadlockDetected:
            if attempt == 4:
                raise
    _made.discard(name)


def _empty(schema: str) -> None:
    """Delete every row of the schema's tables but its migrations' record, once every
    transaction still writing to them has ended (the lock waits for them), in one
    transaction."""
    if schema not in _tables:
        rows = sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s "
            "AND tablename <> 'schema_versions'",
            schema,
        )
        _tables[schema] = [f'"{schema}"."{table}"' for (table,) in rows]
    tables = _tables[schema]
    deletes = "; ".join(f"DELETE FROM {table}" for table in tables)
    sql(f"LOCK TABLE {', '.join(tables)} IN ACCESS EXCLUSIVE MODE; {deletes}")


@atexit.register
def _drop_leftovers() -> None:
    for name in list(_made):
        try:
            drop_schema(name)
        except Exception as exc:
            print(f"could not drop test schema {name}: {exc}")


@functools.cache
def _scratch_class() -> type[PostgresStore]:
    from agentsched.stores.postgres import PostgresStore

    class ScratchStore(PostgresStore):
        """A `PostgresStore` whose schema is emptied for the next scratch store when it
        closes (closing twice empties it once)."""

        def close(self) -> None:
            super().close()
            if self.schema in _made and self.schema not in _emptied:
                _empty(self.schema)
                _emptied.append(self.schema)

    return ScratchStore


def scratch_store(**options: Any) -> PostgresStore:
    """A `PostgresStore` in an empty schema of its own until it closes."""
    require()
    schema = _emptied.pop() if _emptied else new_schema()
    return _ready(_scratch_class()(DSN, schema=schema, **options))


def reopen(store: Any, **options: Any) -> PostgresStore:
    """Another `PostgresStore` on the same schema (what another process would open)."""
    from agentsched.stores.postgres import PostgresStore

    return _ready(PostgresStore(DSN, schema=store.schema, **options))


def _ready(store: PostgresStore) -> PostgresStore:
    """`store` once its pool has made its first connection: psycopg_pool makes it in a
    thread of its own and calls `random` for it, which hypothesis refuses to see while
    a test draws an example; one query waits for it here instead."""
    store.next_due_at()
    return store
