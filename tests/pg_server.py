"""A PostgreSQL server for the tests: where it is, and scratch schemas that clean up.

The server is `AGENTSCHED_PG_DSN`, else a local default. A test that needs
it calls `require()`: it skips with the reason when no server answers, and
fails in CI (`.ci/run` always provides one). Every test gets a schema of its
own, with a random name, dropped when its first store closes (and, as a
fallback, when the test process exits).
"""

from __future__ import annotations

import atexit
import functools
import os
import uuid
from typing import Any

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
DSN = os.environ.get("AGENTSCHED_PG_DSN") or DEFAULT_DSN  # a postgresql:// URL

_made: set[str] = set()


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
    from conftest import need  # late: conftest imports the drivers, which import this

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
        cur = conn.execute(statement, params)
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
                conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
            break
        except psycopg.errors.DeadlockDetected:
            if attempt == 4:
                raise
    _made.discard(name)


@atexit.register
def _drop_leftovers() -> None:
    for name in list(_made):
        try:
            drop_schema(name)
        except Exception as exc:
            print(f"could not drop test schema {name}: {exc}")


def scratch_store(**options: Any) -> Any:
    """A `PostgresStore` in a new schema, dropped when this store closes."""
    require()
    from agentsched.stores.postgres import PostgresStore

    class ScratchStore(PostgresStore):
        def close(self) -> None:
            super().close()
            if self.schema in _made:
                drop_schema(self.schema)

    return ScratchStore(DSN, schema=new_schema(), **options)


@functools.cache
def _shared() -> Any:
    from agentsched.stores.postgres import PostgresStore

    class SharedStore(PostgresStore):
        """Closing empties it, for the next user; it really closes at exit."""

        def close(self) -> None:
            with self._db.transaction("empty the test schema") as cur:
                cur.execute(f"DELETE FROM {self._r}")
                cur.execute(f"DELETE FROM {self._s}")

    store = SharedStore(DSN, schema=new_schema())
    atexit.register(PostgresStore.close, store)
    return store


def shared_store() -> Any:
    """An empty `PostgresStore`, the same one each call: for tests that open a store
    hundreds of times (a schema each would cost more than the test)."""
    require()
    return _shared()


def reopen(store: Any, **options: Any) -> Any:
    """Another `PostgresStore` on the same schema (what another process would open)."""
    from agentsched.stores.postgres import PostgresStore

    return PostgresStore(DSN, schema=store.schema, **options)
