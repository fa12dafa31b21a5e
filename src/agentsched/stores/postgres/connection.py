"""`Database`: the PostgreSQL store's connections, and what their failures mean.

With a DSN the store keeps a pool of its own; with the app's
`psycopg_pool.ConnectionPool` it borrows from that (and never closes it).
Every psycopg failure becomes a `StoreError` naming the database (never
the password), what happened in words (connection lost, server
restarting, disk full, ...) and, for writes, whether anything may have
been committed. The pool replaces connections the server closed, found by
a check that costs a round trip only when an idle connection has something
to read (which a healthy idle connection never has) and, unlike the pool's
own check, never pauses between attempts.
"""

from __future__ import annotations

import builtins
import logging
import re
import select
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta, timezone
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import TupleRow, tuple_row
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from ...clock import Clock
from ...errors import StoreError, ValidationError, shorten

__all__ = ["Cursor", "Database"]

log = logging.getLogger("agentsched")

Cursor = psycopg.Cursor[TupleRow]

# What PostgreSQL's error codes mean for the person reading ours: exact codes first,
# then their class (the first two characters).
_MEANINGS = {
    "57P01": "the server ended the connection (it is shutting down or restarting, "
    "or an administrator terminated the session)",
    "57P02": "the server crashed and is restarting",
    "57P03": "the server is starting up or shutting down and accepts no connections yet",
    "57014": "the statement was cancelled (statement_timeout, or a cancel request)",
    "55P03": "a lock was not available in time (lock_timeout)",
    "40001": "a concurrent transaction conflicted with this one (serialization failure)",
    "40P01": "a concurrent transaction conflicted with this one (deadlock)",
    "53100": "the database server's disk is full",
    "53200": "the database server is out of memory",
    "53300": "the server has no free connection slots (max_connections)",
    "25006": "the database is read-only (a standby, or default_transaction_read_only)",
    "42501": "permission denied (the role needs rights on the schema and its tables)",
    "42P01": "a table of the agentsched schema is missing (was the schema dropped?)",
    "3F000": "the agentsched schema is missing (was it dropped?)",
    "3D000": "the database does not exist",
    "08": "the connection to the database failed or was lost",
    "28": "the server refused the credentials",
    "53": "the database server ran out of resources",
    "57": "an operator intervened or the server is shutting down",
    "58": "the database server had a system error (I/O)",
    "XX": "the database server reported an internal error (possibly damaged data)",
}
_LOST = re.compile(
    r"server closed the connection|consuming input failed|connection (is )?(lost|closed)"
    r"|terminat|broken pipe|connection reset|sending query failed|no connection to the server",
    re.IGNORECASE,
)


def explain(exc: psycopg.Error, timeout: float) -> str:
    """A psycopg failure in words, with psycopg's own message after them."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, PoolTimeout):
        return (
            f"no database connection within {timeout:g}s (the server may be down, "
            f"restarting or unreachable, or every pooled connection busy) ({text})"
        )
    if isinstance(exc, PoolClosed):
        return "the store is closed"
    state = exc.sqlstate or ""
    meaning = _MEANINGS.get(state) or _MEANINGS.get(state[:2])
    if meaning is None and isinstance(exc, psycopg.OperationalError):
        lowered = text.lower()
        if re.search(r'database ".*" does not exist', text):
            meaning = "the database does not exist (create it, or fix the connection string)"
        elif re.search(r"authentication failed|no pg_hba\.conf entry|role .* does not exist", text):
            meaning = "the server refused the credentials"
        elif "refused" in lowered:
            meaning = "the server refused the connection (is it running, on that host and port?)"
        elif "timeout expired" in lowered:
            meaning = "connecting to the server timed out"
        elif _LOST.search(text):
            meaning = "the connection to the database was lost"
    return f"{meaning} ({text})" if meaning else text


def describe(conninfo: str) -> str:
    """Where a connection string points, for messages: never the password."""
    try:
        params = psycopg.conninfo.conninfo_to_dict(conninfo)
    except psycopg.Error:
        return "PostgreSQL"
    host = params.get("host") or params.get("hostaddr") or "localhost"
    port = params.get("port") or 5432
    dbname = params.get("dbname") or params.get("user") or "?"
    return f"PostgreSQL database {dbname!r} on {host}:{port}"


def _alive(conn: psycopg.Connection[Any]) -> bool:
    """Whether a pooled connection can be used. An idle connection has nothing to read,
    unless the server closed it (a restart, pg_terminate_backend) or sent a notice:
    only then is it worth a round trip to find out."""
    if conn.closed:
        return False
    readable, _, _ = select.select([conn.fileno()], [], [], 0)
    if not readable:
        return True
    try:
        ConnectionPool.check_connection(conn)
    except psycopg.Error:
        return False
    return True


class Database:
    """Connections to one PostgreSQL database, and transactions that explain failures."""

    def __init__(
        self, dsn_or_pool: str | ConnectionPool[Any], timeout: timedelta, name: str
    ) -> None:
        self.timeout = timeout.total_seconds()
        self._name = name
        self._pool: ConnectionPool[Any] | None = None
        if isinstance(dsn_or_pool, ConnectionPool):
            self._pool = dsn_or_pool
            self._owns_pool = False
            conninfo = dsn_or_pool.conninfo
            self._conninfo = conninfo if isinstance(conninfo, str) else ""
        elif isinstance(dsn_or_pool, str):
            self._conninfo = dsn_or_pool
            self._owns_pool = True
        else:
            raise ValidationError(
                "dsn_or_pool",
                "'dsn_or_pool' must be a connection string or a psycopg_pool.ConnectionPool "
                f"(got {shorten(dsn_or_pool)})",
            )
        self.where = describe(self._conninfo)

    def _options(self) -> dict[str, Any]:
        return {"autocommit": True, "connect_timeout": max(2, round(self.timeout))}

    @contextmanager
    def opening(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection to open the store with: a fresh one for a DSN (so that a wrong
        address fails at once, with libpq's reason), a pooled one from the app's pool."""
        try:
            if self._pool is None:
                with psycopg.connect(self._conninfo, **self._options()) as conn:
                    yield conn
            else:
                with self._pool.connection(timeout=self.timeout) as conn:
                    yield conn
        except psycopg.ProgrammingError as exc:  # a malformed connection string
            raise ValidationError("dsn_or_pool", f"not a usable connection string: {exc}") from None
        except psycopg.Error as exc:
            raise StoreError(f"cannot open {self.where}: {explain(exc, self.timeout)}") from None

    def start(self, max_connections: int) -> None:
        """Open the store's own pool (a no-op with the app's pool)."""
        if self._pool is None:
            self._pool = ConnectionPool(
                self._conninfo,
                min_size=1,
                max_size=max_connections,
                open=False,
                timeout=self.timeout,
                kwargs=self._options(),
                name=self._name,
            )
            self._pool.open(wait=False)

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection the server has not closed. Connections a restart left
        dead are dropped (the pool replaces them) without the pool's retry pauses."""
        pool = self._pool
        if pool is None:
            raise StoreError(f"the store in {self.where} is not open")
        conn = pool.getconn()
        for _ in range(pool.max_size):
            if _alive(conn):
                break
            conn.close()
            pool.putconn(conn)
            conn = pool.getconn()
        try:
            yield conn
        finally:
            pool.putconn(conn)

    @contextmanager
    def transaction(self, action: str) -> Iterator[Cursor]:
        """One transaction: committed if the block returns, rolled back if it raises.
        psycopg failures become `StoreError`s that say what happened and whether
        anything may have been written; other exceptions pass through."""
        committing = False
        try:
            with self._connection() as conn, conn.transaction():
                yield conn.cursor(row_factory=tuple_row)
                committing = True
        except psycopg.Error as exc:
            outcome = (
                "it may or may not have been committed" if committing else "nothing was written"
            )
            raise StoreError(
                f"cannot {action} in {self.where}: {explain(exc, self.timeout)}; {outcome}"
            ) from None

    def read(self, sql: str, params: Sequence[Any] = ()) -> builtins.list[TupleRow]:
        """The rows of one query."""
        try:
            with self._connection() as conn:
                rows: builtins.list[TupleRow] = (
                    conn.cursor(row_factory=tuple_row).execute(sql, params).fetchall()
                )
                if conn.info.transaction_status != TransactionStatus.IDLE:
                    conn.rollback()  # an app's pool without autocommit: end the read
                return rows
        except psycopg.Error as exc:
            raise StoreError(f"cannot read {self.where}: {explain(exc, self.timeout)}") from None

    def connect(self) -> psycopg.Connection[TupleRow]:
        """A connection of its own, outside the pool (for LISTEN)."""
        pool = self._pool
        if pool is None or self._owns_pool:
            return psycopg.connect(self._conninfo, **self._options())
        kwargs = pool.kwargs() if callable(pool.kwargs) else pool.kwargs or {}
        conninfo = pool.conninfo() if callable(pool.conninfo) else pool.conninfo
        return psycopg.connect(conninfo, **{**kwargs, "autocommit": True})

    def close(self) -> None:
        """Close the store's own pool (never the app's)."""
        if self._owns_pool and self._pool is not None:
            self._pool.close()


def compare_clocks(
    conn: psycopg.Connection[Any], clock: Clock, threshold: timedelta, where: str
) -> timedelta:
    """How far the database server's clock is ahead of `clock` (negative: behind),
    warning when that is more than `threshold` (beyond the round trip's uncertainty)."""
    before = clock.now()
    row = (
        conn.cursor(row_factory=tuple_row)
        .execute("SELECT clock_timestamp() AT TIME ZONE 'UTC'")
        .fetchone()
    )
    after = clock.now()
    assert row is not None
    half_trip = (after - before) / 2
    skew: timedelta = row[0].replace(tzinfo=timezone.utc) - (before + half_trip)
    if abs(skew) > threshold + half_trip:
        log.warning(
            "this host's clock is %.1fs %s the database server's (%s); schedules fire by "
            "each scheduler's own clock, so keep every host's clock in sync (NTP)",
            abs(skew.total_seconds()),
            "behind" if skew > timedelta(0) else "ahead of",
            where,
        )
    return skew
