"""`SQLiteStore`: one file, the embedded default; safe for several processes.

The SQLite dialect of the shared core (`stores/sql/core.py`): its SQL, over
the connections of `connection.py` and the tables of `schema.py`. A claim
is one `BEGIN IMMEDIATE` transaction (select due, advance `next_run_at`,
insert the runs); a `UNIQUE (schedule_id, scheduled_for, attempt)` index
on scheduled runs makes a double fire impossible even if two claims raced.
Batches are written with `executemany`.

Ids and bodies are read as BLOBs: SQLite would fail a whole query on one
row whose text is not UTF-8; as bytes, that row alone fails to decode. A row
corrupt in its very id is then found by its bytes.
"""

from __future__ import annotations

import builtins
import os
import sqlite3
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ...errors import ConflictError, StoreError, ValidationError, shorten
from ...model import Run, RunStatus, Schedule
from ..base import Finishing
from ..sql.core import Body, Duplicate, Locked, SQLStore, Write
from ..sql.rows import to_json
from ..watchers import Watchers
from .connection import Database, explain
from .schema import SCHEMA_VERSION, check_version, migrate

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)
_RUNNING = RunStatus.RUNNING


def _micros(value: datetime | None) -> int | None:
    return None if value is None else (value - _EPOCH) // _MICROSECOND


def _marks(values: Collection[object]) -> str:
    return ",".join("?" * len(values))


def _by_id(raw_id: bytes) -> str:
    """A WHERE clause for a row by the id read as bytes: the primary key when the id
    is text, a scan (rare: a row corrupt in its very id) when it is not."""
    try:
        text = raw_id.decode()
    except UnicodeDecodeError:
        return f"CAST(id AS BLOB) = X'{raw_id.hex()}'"
    return "id = '" + text.replace("'", "''") + "'"


_INSERT_RUN = (
    "INSERT INTO runs (id, schedule_id, trigger, scheduled_for, attempt, status, "
    "started_at, lease_until, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# The firing path: only status, timing and the document change, so the sorted and
# filtered indexes are left alone.
_ADVANCE = (
    "UPDATE schedules SET status = ?, next_run_at = ?, version = ?, body = ?, "
    "finished_runs = finished_runs + ? WHERE id = ? AND version = ?"
)
_REPLACE = (
    "UPDATE schedules SET owner = ?, agent_id = ?, sort_name = ?, status = ?, "
    "next_run_at = ?, version = ?, body = ?, finished_runs = finished_runs + ? "
    "WHERE id = ? AND version = ?"
)
_WRITE_RUN = "UPDATE runs SET status = ?, started_at = ?, body = ?, lease_until = ? WHERE id = ?"
_COUNTS_AT_ONCE = 500  # ids per statement when reading many back (SQLite bounds parameters)


def _keeps_keys(write: Write) -> bool:
    """Whether a write leaves the columns behind the sorted and filtered indexes alone."""
    previous, schedule = write.previous, write.schedule
    return (
        previous is not None
        and previous.name == schedule.name
        and previous.agent_id == schedule.agent_id
        and previous.owner == schedule.owner
    )


class SQLiteStore(SQLStore[sqlite3.Connection, bytes]):
    """A `Store` in one SQLite file (its directory must exist).

    `busy_timeout` is how long a writer waits for another process's
    transaction. `synchronous="NORMAL"` (the default) survives any process
    crash; pass `"FULL"` to also survive power loss at some cost per write.
    `keep_runs` bounds the finished runs kept per schedule (None keeps all).
    With `create=False` a missing file is a `StoreError` instead of a new
    database. A file that cannot be written (or whose directory cannot) is
    opened read-only: reads work and every write raises `StoreError`;
    `read_only=True` opens any file so (and never creates one).
    """

    _s = "schedules"
    _mark = "?"
    _id_and_body = "CAST(id AS BLOB), CAST(body AS BLOB)"

    def __init__(
        self,
        path: str | os.PathLike[str],
        busy_timeout: timedelta = timedelta(seconds=30),
        synchronous: str = "NORMAL",
        keep_runs: int | None = 1000,
        create: bool = True,
        *,
        read_only: bool = False,
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValidationError(
                "synchronous", f"'synchronous' must be NORMAL or FULL (got {shorten(synchronous)})"
            )
        self.path = Path(path)
        if "\x00" in str(self.path):
            raise StoreError(f"cannot open {str(self.path)!r}: a path cannot hold a NUL character")
        super().__init__(keep_runs)
        self._watchers = Watchers()
        self._db = Database(
            self.path,
            busy_timeout.total_seconds(),
            synchronous,
            create=create,
            read_only=read_only,
        )
        self.read_only = self._db.read_only
        try:
            if self.read_only:
                check_version(self._db.connection(), self._db.where)
            else:
                with self._db.write() as conn:
                    migrate(conn, self._db.where)
        except sqlite3.Error as exc:
            self.close()
            raise StoreError(f"cannot open {self._db.where}: {explain(exc)}") from None
        except StoreError:
            self.close()
            raise

    def _connection(self) -> sqlite3.Connection:
        """The calling thread's connection (the one it writes through)."""
        return self._db.connection()

    def watch(self, callback: Callable[[], None]) -> Callable[[], None]:
        """In-process only: SQLite cannot tell this process about other processes' writes
        (their schedulers' loops find them by polling, at least once a minute)."""
        return self._watchers.add(callback)

    def close(self) -> None:
        self._db.close()

    def next_due_at(self) -> datetime | None:
        rows = self._db.read(
            "SELECT MIN(next_run_at) FROM schedules "
            "WHERE status = 'active' AND next_run_at IS NOT NULL"
        )
        micros = rows[0][0] if rows else None
        return None if micros is None else _EPOCH + timedelta(microseconds=micros)

    # -- transactions and reads ------------------------------------------------

    def _transaction(self, action: str) -> AbstractContextManager[sqlite3.Connection]:
        return self._db.write()

    @contextmanager
    def _savepoint(self, tx: sqlite3.Connection) -> Iterator[None]:
        tx.execute("SAVEPOINT batch")
        try:
            yield
        except BaseException:
            if tx.in_transaction:  # else SQLite rolled the whole transaction back itself
                tx.execute("ROLLBACK TO batch")
                tx.execute("RELEASE batch")
            raise
        tx.execute("RELEASE batch")

    def _read(self, sql: str, params: Sequence[Any] = ()) -> builtins.list[tuple[Any, ...]]:
        return self._db.read(sql, params)

    def _notify(self, tx: sqlite3.Connection) -> None:
        """Nothing: SQLite cannot reach other processes (their loops poll)."""

    def _text(self, raw: bytes) -> str:
        return raw.decode("utf-8", "replace")

    # -- schedules -------------------------------------------------------------

    def _insert_schedules(self, tx: sqlite3.Connection, schedules: Sequence[Schedule]) -> None:
        try:
            tx.executemany(
                "INSERT INTO schedules (owner, agent_id, sort_name, status, next_run_at, "
                "version, body, id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        s.owner,
                        s.agent_id,
                        s.name or "",
                        s.status._value_,
                        _micros(s.due_at),
                        s.version,
                        self._encode(s),
                        s.id,
                    )
                    for s in schedules
                ],
            )
        except sqlite3.IntegrityError:  # the id: the one constraint a valid schedule can break
            raise Duplicate from None

    def _stored_ids(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), _COUNTS_AT_ONCE):
            chunk = ids[start : start + _COUNTS_AT_ONCE]
            rows = self._db.read(f"SELECT id FROM schedules WHERE id IN ({_marks(chunk)})", chunk)
            found.update(row[0] for row in rows)
        return found

    def _schedule_body(self, schedule_id: str) -> Body | None:
        rows = self._db.read(
            "SELECT CAST(body AS BLOB) FROM schedules WHERE id = ?", (schedule_id,)
        )
        return rows[0][0] if rows else None

    def _version_of(self, tx: sqlite3.Connection, schedule_id: str) -> int | None:
        row = tx.execute("SELECT version FROM schedules WHERE id = ?", (schedule_id,)).fetchone()
        return None if row is None else int(row[0])

    def _write_schedules(self, tx: sqlite3.Connection, writes: Sequence[Write]) -> None:
        advanced, replaced = [], []
        for write in writes:
            schedule = write.schedule
            row = (
                schedule.status._value_,
                _micros(schedule.due_at),
                schedule.version,
                self._encode(schedule),
                write.finished,
                schedule.id,
                write.expected_version,
            )
            if _keeps_keys(write):
                advanced.append(row)
            else:
                replaced.append((schedule.owner, schedule.agent_id, schedule.name or "", *row))
        written = 0
        for sql, rows in ((_ADVANCE, advanced), (_REPLACE, replaced)):
            if rows:
                written += tx.executemany(sql, rows).rowcount
        if written != len(writes):
            raise ConflictError("a schedule was written by someone else meanwhile")

    def _select_due(
        self, tx: sqlite3.Connection, now: datetime, limit: int
    ) -> builtins.list[tuple[bytes, Body, int]]:
        return tx.execute(
            f"SELECT {self._id_and_body}, finished_runs FROM schedules WHERE status = 'active' "
            "AND next_run_at IS NOT NULL AND next_run_at <= ? ORDER BY next_run_at, id LIMIT ?",
            (_micros(now), limit),
        ).fetchall()

    def _activities(
        self, tx: sqlite3.Connection, schedule_ids: Sequence[str]
    ) -> builtins.list[tuple[str, int, int]]:
        return tx.execute(
            "SELECT schedule_id, COUNT(*), COALESCE(SUM(started_at IS NULL), 0) FROM runs "
            f"WHERE schedule_id IN ({_marks(schedule_ids)}) "
            "AND (status = 'running' OR lease_until IS NOT NULL) GROUP BY schedule_id",
            schedule_ids,
        ).fetchall()

    def _take_off_due(self, tx: sqlite3.Connection, raw_id: bytes) -> None:
        tx.execute("UPDATE schedules SET next_run_at = NULL WHERE " + _by_id(raw_id))

    def _schedules_for_update(
        self, tx: sqlite3.Connection, schedule_ids: Collection[str]
    ) -> dict[str, Locked]:
        # One writer at a time holds the file: nothing to lock.
        ordered = sorted(schedule_ids)
        rows = tx.execute(
            "SELECT id, CAST(body AS BLOB), EXISTS (SELECT 1 FROM runs WHERE "
            "runs.schedule_id = schedules.id AND status = 'running' AND started_at IS NULL), "
            f"finished_runs FROM schedules WHERE id IN ({_marks(ordered)})",
            ordered,
        )
        return {row[0]: Locked(row[1], bool(row[2]), row[3]) for row in rows}

    # -- runs ------------------------------------------------------------------

    def _insert_runs(
        self, tx: sqlite3.Connection, runs: Sequence[Run], lease_until: datetime | None
    ) -> None:
        lease = _micros(lease_until)
        try:
            tx.executemany(
                _INSERT_RUN,
                [
                    (
                        run.id,
                        run.schedule_id,
                        run.trigger._value_,
                        _micros(run.scheduled_for),
                        run.attempt,
                        run.status._value_,
                        _micros(run.started_at),
                        lease if run.status is _RUNNING and run.started_at is not None else None,
                        to_json(run),
                    )
                    for run in runs
                ],
            )
        except sqlite3.IntegrityError:
            raise Duplicate from None

    def _write_finished(
        self, tx: sqlite3.Connection, finishing: Sequence[Finishing], lease_until: datetime | None
    ) -> set[str]:
        ids = [item.run.id for item in finishing]
        running = {
            row[0]
            for row in tx.execute(
                f"SELECT id FROM runs WHERE id IN ({_marks(ids)}) AND status = 'running'", ids
            )
        }
        lease = _micros(lease_until)
        tx.executemany(
            _WRITE_RUN,
            [
                (
                    item.run.status._value_,
                    _micros(item.run.started_at),
                    to_json(item.run),
                    lease if item.occupied else None,
                    item.run.id,
                )
                for item in finishing
                if item.run.id in running
            ],
        )
        return running

    def _waiting_runs(
        self, tx: sqlite3.Connection, schedule_id: str
    ) -> builtins.list[tuple[bytes, Body]]:
        return tx.execute(
            f"SELECT {self._id_and_body} FROM runs WHERE schedule_id = ? "
            "AND status = 'running' AND started_at IS NULL ORDER BY seq",
            (schedule_id,),
        ).fetchall()

    def _start_run(self, tx: sqlite3.Connection, run: Run, lease_until: datetime | None) -> None:
        tx.execute(
            _WRITE_RUN,
            (
                run.status._value_,
                _micros(run.started_at),
                to_json(run),
                _micros(lease_until),
                run.id,
            ),
        )

    def _fail_run(self, tx: sqlite3.Connection, raw_id: bytes) -> str | None:
        row = tx.execute("SELECT status FROM runs WHERE " + _by_id(raw_id)).fetchone()
        if row is None:
            return None
        tx.execute("UPDATE runs SET status = 'failed', lease_until = NULL WHERE " + _by_id(raw_id))
        return str(row[0])

    def _add_finished(self, tx: sqlite3.Connection, counts: Sequence[tuple[str, int]]) -> None:
        tx.executemany(
            "UPDATE schedules SET finished_runs = finished_runs + ? WHERE id = ?",
            [(count, schedule_id) for schedule_id, count in counts],
        )

    def _finished_counts(
        self, tx: sqlite3.Connection, schedule_ids: Sequence[str]
    ) -> builtins.list[tuple[str, int]]:
        return tx.execute(
            f"SELECT id, finished_runs FROM schedules WHERE id IN ({_marks(schedule_ids)})",
            schedule_ids,
        ).fetchall()

    def _drop_oldest(self, tx: sqlite3.Connection, excess: Sequence[tuple[str, int]]) -> None:
        for schedule_id, count in excess:
            deleted = tx.execute(
                "DELETE FROM runs WHERE seq IN (SELECT seq FROM runs WHERE schedule_id = ? "
                "AND status != 'running' AND lease_until IS NULL ORDER BY seq LIMIT ?)",
                (schedule_id, count),
            ).rowcount
            tx.execute(
                "UPDATE schedules SET finished_runs = finished_runs - ? WHERE id = ?",
                (deleted, schedule_id),
            )

    def _schedule_of_run(self, tx: sqlite3.Connection, run_id: str) -> str | None:
        row = tx.execute("SELECT schedule_id FROM runs WHERE id = ?", (run_id,)).fetchone()
        return None if row is None else str(row[0])

    def _release(self, tx: sqlite3.Connection, run_id: str) -> bool:
        return (
            tx.execute(
                "UPDATE runs SET lease_until = NULL WHERE id = ? AND status != 'running' "
                "AND lease_until IS NOT NULL",
                (run_id,),
            ).rowcount
            == 1
        )

    def _renew(self, tx: sqlite3.Connection, run_ids: Sequence[str], until: datetime) -> None:
        tx.executemany(
            "UPDATE runs SET lease_until = ? WHERE id = ? AND lease_until IS NOT NULL",
            [(_micros(until), run_id) for run_id in run_ids],
        )

    def _expired(self, now: datetime, limit: int) -> builtins.list[tuple[bytes, Body, bytes]]:
        return self._db.read(
            f"SELECT {self._id_and_body}, CAST(schedule_id AS BLOB) FROM runs "
            "WHERE lease_until IS NOT NULL AND lease_until < ? ORDER BY lease_until LIMIT ?",
            (_micros(now), limit),
        )

    def _run_body(self, run_id: str) -> Body | None:
        rows = self._db.read("SELECT CAST(body AS BLOB) FROM runs WHERE id = ?", (run_id,))
        return rows[0][0] if rows else None

    def _runs_of(self, schedule_id: str, limit: int) -> builtins.list[tuple[bytes, Body]]:
        return self._db.read(
            f"SELECT {self._id_and_body} FROM runs WHERE schedule_id = ? ORDER BY seq DESC LIMIT ?",
            (schedule_id, limit),
        )
