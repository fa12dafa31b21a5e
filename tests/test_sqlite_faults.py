"""SQLiteStore under faults: corrupt rows, a full disk, a read-only file, garbage, races.

Each test checks the two promises: the healthy schedules keep firing exactly
once, and nothing already stored is lost or half-written.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from support.environment import ONE_AT_A_TIME, mounted_tmpfs, remount_read_only
from support.firing import claim_and_die

from agentsched import (
    Cron,
    InlineExecutor,
    Interval,
    Overlap,
    RunContext,
    RunStatus,
    Schedule,
    Scheduler,
    SQLiteStore,
    StoreError,
)
from agentsched.cli import main
from agentsched.stores.sqlite.schema import SCHEMA_VERSION
from agentsched.testing import FakeClock

UTC = timezone.utc
T0 = datetime(2026, 1, 5, 8, 59, tzinfo=UTC)
NINE = datetime(2026, 1, 5, 9, tzinfo=UTC)


def _scheduler(path: Path, handler: Callable[[RunContext], object] | None = None) -> Scheduler:
    return Scheduler(
        store=SQLiteStore(path),
        handler=handler or (lambda ctx: "ok"),
        executor=InlineExecutor(),
        clock=FakeClock(T0),
    )


def _hourly(sched: Scheduler, name: str, **changes: object) -> Schedule:
    fields: dict[str, object] = {
        "agent_id": "bot",
        "schedule": Cron("0 * * * *"),
        "input": "go",
        "name": name,
    }
    fields.update(changes)
    return sched.create(**fields)  # type: ignore[arg-type]


def _sql(path: Path, statement: str, *params: object) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        with conn:
            return conn.execute(statement, params).fetchall()
    finally:
        conn.close()


def _raw_body(path: Path, table: str, row_id: str) -> bytes:
    (row,) = _sql(path, f"SELECT CAST(body AS BLOB) FROM {table} WHERE id = ?", row_id)
    assert isinstance(row[0], bytes)
    return row[0]


# -- corrupt schedule rows -------------------------------------------------------------

CORRUPTIONS: dict[str, Callable[[Path, Schedule], object]] = {
    "invalid UTF-8": lambda p, s: _sql(
        p, "UPDATE schedules SET body = CAST(X'7b22ff22' AS TEXT) WHERE id = ?", s.id
    ),
    "not JSON": lambda p, s: _sql(p, "UPDATE schedules SET body = '{not json' WHERE id = ?", s.id),
    "another id": lambda p, s: _sql(
        p,
        "UPDATE schedules SET body = replace(body, ?, 'sched_someone_else') WHERE id = ?",
        s.id,
        s.id,
    ),
    "bad field": lambda p, s: _sql(
        p,
        "UPDATE schedules SET body = replace(body, '\"active\"', '\"zombie\"') WHERE id = ?",
        s.id,
    ),
    "unbound H": lambda p, s: _sql(
        p,
        "UPDATE schedules SET body = replace(replace(body, '\"0 * * * *\"', '\"H * * * *\"'), "
        "',\"hash_key\":\"' || id || '\"', '') WHERE id = ?",
        s.id,
    ),
    "JSON null": lambda p, s: _sql(p, "UPDATE schedules SET body = 'null' WHERE id = ?", s.id),
    "deep JSON": lambda p, s: _sql(
        p, "UPDATE schedules SET body = ? WHERE id = ?", "[" * 100_000 + "]" * 100_000, s.id
    ),
}


DECODABLE = {"unbound H"}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_a_corrupt_schedule_never_stops_the_others(tmp_path: Path, corruption: str) -> None:
    path = tmp_path / "agents.db"
    sched = _scheduler(path)
    healthy = [_hourly(sched, f"good {n}") for n in range(3)]
    bad = _hourly(sched, "bad")
    CORRUPTIONS[corruption](path, bad)
    stored = _raw_body(path, "schedules", bad.id)
    for hour in range(4):
        runs = sched.tick(now=NINE + timedelta(hours=hour))
        assert sorted(r.schedule_id for r in runs) == sorted(s.id for s in healthy)
        assert all(r.status is RunStatus.SUCCEEDED for r in runs)
    for s in healthy:
        assert [r.scheduled_for for r in sched.runs(s.id)] == [
            NINE + timedelta(hours=h) for h in range(3, -1, -1)
        ]
    listed = sorted(s.id for s in sched.list())
    if corruption in DECODABLE:  # a readable record that cannot fire: shown, not fired
        assert listed == sorted([bad.id, *(s.id for s in healthy)])
        assert sched.runs(bad.id) == []
    else:
        assert listed == sorted(s.id for s in healthy)
        with pytest.raises(StoreError, match=bad.id):
            sched.get(bad.id)
    assert _raw_body(path, "schedules", bad.id) == stored  # never rewritten


def test_a_corrupt_id_column_never_stops_the_others(tmp_path: Path) -> None:
    path = tmp_path / "agents.db"
    sched = _scheduler(path)
    good = _hourly(sched, "good")
    bad = _hourly(sched, "bad")
    _sql(path, "UPDATE schedules SET id = CAST(X'ff00ff' AS TEXT) WHERE id = ?", bad.id)
    assert [r.schedule_id for r in sched.tick(now=NINE)] == [good.id]
    assert [s.id for s in sched.list()] == [good.id]
    assert [r.schedule_id for r in sched.tick(now=NINE + timedelta(hours=1))] == [good.id]


def test_a_repaired_schedule_fires_again_after_its_next_write(tmp_path: Path) -> None:
    path = tmp_path / "agents.db"
    sched = _scheduler(path)
    s = _hourly(sched, "flaky row")
    good_body = _raw_body(path, "schedules", s.id)
    _sql(path, "UPDATE schedules SET body = 'garbage' WHERE id = ?", s.id)
    assert sched.tick(now=NINE) == []
    _sql(path, "UPDATE schedules SET body = ? WHERE id = ?", good_body.decode(), s.id)
    assert sched.tick(now=NINE + timedelta(hours=1)) == []  # out of the due list still
    sched.update(s.id, name="repaired")  # any write puts it back
    (run,) = sched.tick(now=NINE + timedelta(hours=1))
    assert run.schedule_id == s.id and run.status is RunStatus.SUCCEEDED


# -- corrupt run rows ------------------------------------------------------------------


def test_corrupt_runs_are_skipped_by_runs_and_named_by_get_run(tmp_path: Path) -> None:
    path = tmp_path / "agents.db"
    sched = _scheduler(path)
    s = _hourly(sched, "s")
    first, second = sched.tick(now=NINE)[0], sched.tick(now=NINE + timedelta(hours=1))[0]
    _sql(path, "UPDATE runs SET body = CAST(X'ff' AS TEXT) WHERE id = ?", first.id)
    assert [r.id for r in sched.runs(s.id)] == [second.id]
    with pytest.raises(StoreError, match=first.id):
        sched.store.get_run(first.id)


def test_a_corrupt_expired_run_does_not_stop_the_sweep_or_firing(tmp_path: Path) -> None:
    path = tmp_path / "agents.db"
    clock = FakeClock(T0)
    calls: list[str] = []
    store = SQLiteStore(path)
    dead = Scheduler(store=store, handler=lambda ctx: None, clock=clock, lease=timedelta(minutes=1))
    orphaned = [_hourly(dead, f"orphan {n}") for n in range(2)]
    written = claim_and_die(store, NINE, timedelta(minutes=1))  # claimed, then died
    assert len(written) == 2
    _sql(path, "UPDATE runs SET body = 'garbage' WHERE id = ?", written[0].id)
    survivor = Scheduler(
        store=SQLiteStore(path),
        handler=lambda ctx: calls.append(ctx.schedule.id),
        executor=InlineExecutor(),
        clock=clock,
        lease=timedelta(minutes=1),
    )
    healthy = _hourly(survivor, "healthy", schedule=Cron("*/5 * * * *"))
    for minutes in (5, 10, 15):
        survivor.tick(now=NINE + timedelta(minutes=minutes))
    assert calls == [healthy.id] * 3
    intact = survivor.store.get_run(written[1].id)
    assert intact is not None and intact.status is RunStatus.FAILED
    assert intact.error is not None and intact.error.startswith("interrupted")
    assert _sql(path, "SELECT status FROM runs WHERE id = ?", written[0].id) == [("failed",)]
    assert {s.id for s in orphaned} <= {s.id for s in survivor.list()}


def test_a_corrupt_buffered_run_is_set_aside_and_the_finish_recorded(tmp_path: Path) -> None:
    path = tmp_path / "agents.db"
    release = threading.Event()
    clock = FakeClock(T0)
    sched = Scheduler(
        store=SQLiteStore(path),
        handler=lambda ctx: "done" if release.wait(5) else "timed out",
        clock=clock,
    )
    s = _hourly(sched, "buffered", overlap=Overlap.BUFFER_ONE)
    (running,) = sched.tick(now=NINE)
    (buffered,) = sched.tick(now=NINE + timedelta(hours=1))
    assert buffered.started_at is None
    _sql(path, "UPDATE runs SET body = 'garbage' WHERE id = ?", buffered.id)
    release.set()
    sched.stop()
    finished = sched.store.get_run(running.id)
    assert finished is not None and finished.status is RunStatus.SUCCEEDED
    assert _sql(path, "SELECT status FROM runs WHERE id = ?", buffered.id) == [("failed",)]
    assert sched.get(s.id).run_count == 2


# -- the disk ------------------------------------------------------------------------


def _fill(directory: Path) -> Path:
    filler = directory / "filler"
    with filler.open("wb") as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError:
            pass
    return filler


@ONE_AT_A_TIME
def test_a_full_disk_is_a_clear_store_error_and_nothing_is_half_written(tmp_path: Path) -> None:
    with mounted_tmpfs(tmp_path / "disk", "2m") as disk:
        path = disk / "agents.db"
        sched = _scheduler(path)
        kept = [_hourly(sched, f"kept {n}") for n in range(5)]
        sched.tick(now=NINE)
        before = [sched.get(s.id) for s in kept]
        filler = _fill(disk)
        with pytest.raises(StoreError, match="disk is full") as info:
            for n in range(200):  # each write needs new pages sooner or later
                _hourly(sched, f"more {n}", input="x" * 5000)
        assert "cannot rollback" not in str(info.value)
        with pytest.raises(StoreError, match="disk is full"):
            for hour in range(1, 50):
                sched.tick(now=NINE + timedelta(hours=hour))
        filler.unlink()
        assert [sched.get(s.id).id for s in kept] == [s.id for s in kept]
        assert _sql(path, "PRAGMA integrity_check") == [("ok",)]
        # every fire is accounted for: one run per fire time, counts that agree
        for s in kept:
            current = sched.get(s.id)
            runs = sched.runs(s.id, limit=100)
            assert current.run_count == len(runs) >= before[0].run_count
            assert len({r.scheduled_for for r in runs}) == len(runs)
        sched.tick(now=NINE + timedelta(hours=60))  # and it works again
        assert all(sched.get(s.id).last_run_at == NINE + timedelta(hours=60) for s in kept)


@ONE_AT_A_TIME
def test_a_read_only_file_serves_reads_and_refuses_writes(tmp_path: Path) -> None:
    with mounted_tmpfs(tmp_path / "disk", "4m") as disk:
        path = disk / "agents.db"
        sched = _scheduler(path)
        s = _hourly(sched, "kept")
        sched.tick(now=NINE)
        sched.store.close()
        remount_read_only(disk)
        store = SQLiteStore(path)
        assert store.read_only
        assert [x.id for x in store.list()] == [s.id]
        assert len(store.runs(s.id)) == 1
        with pytest.raises(StoreError, match="read-only"):
            store.add(s)
        reader = Scheduler(store=store, handler=lambda ctx: None, executor=InlineExecutor())
        with pytest.raises(StoreError, match="read-only"):
            reader.pause(s.id)
        store.close()
        url = f"sqlite:///{path}"
        for argv in (["list"], ["show", s.id], ["runs", s.id]):
            assert main(["--db", url, *argv]) == 0
        assert main(["--db", url, "pause", s.id]) == 2


def test_a_read_only_directory_without_wal_files_is_read(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root can write a chmod-ed directory; the tmpfs test covers root")
    path = tmp_path / "ro" / "agents.db"
    path.parent.mkdir()
    sched = _scheduler(path)
    s = _hourly(sched, "kept")
    sched.store.close()
    path.parent.chmod(0o555)
    try:
        store = SQLiteStore(path)
        assert store.read_only and [x.id for x in store.list()] == [s.id]
    finally:
        path.parent.chmod(0o755)


def test_garbage_files_are_clear_errors(tmp_path: Path) -> None:
    path = tmp_path / "agents.db"
    path.write_bytes(os.urandom(8192))
    with pytest.raises(StoreError, match="not a SQLite database"):
        SQLiteStore(path)
    truncated = tmp_path / "truncated.db"
    sched = _scheduler(truncated)
    for n in range(50):
        _hourly(sched, f"s{n}", input="x" * 2000)
    sched.store.close()
    data = truncated.read_bytes()
    truncated.write_bytes(data[:4096] + os.urandom(len(data) - 4096))
    with pytest.raises(StoreError, match=r"truncated\.db"):
        store = SQLiteStore(truncated)
        store.list(limit=1000)


# -- several openers -------------------------------------------------------------------

_OPENER = textwrap.dedent(
    """
    import sys, time
    from agentsched import SQLiteStore
    path, start = sys.argv[1], float(sys.argv[2])
    while time.time() < start:
        pass
    SQLiteStore(path).close()
    """
)


@ONE_AT_A_TIME
def test_many_processes_opening_a_new_file_at_once(tmp_path: Path) -> None:
    for round_number in range(8):
        path = tmp_path / f"new-{round_number}.db"
        start = time.time() + 0.5
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _OPENER, str(path), str(start)],
                stderr=subprocess.PIPE,
            )
            for _ in range(4)
        ]
        errors = [p.communicate(timeout=60)[1].decode() for p in procs]
        assert [p.returncode for p in procs] == [0] * 4, errors
        assert _sql(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]


def test_many_threads_opening_a_new_file_at_once(tmp_path: Path) -> None:
    for round_number in range(10):
        path = tmp_path / f"threads-{round_number}.db"
        barrier = threading.Barrier(4)
        failures: list[BaseException] = []

        def open_it(
            target: Path = path,
            gate: threading.Barrier = barrier,
            seen: list[BaseException] = failures,
        ) -> None:
            gate.wait()
            try:
                SQLiteStore(target).close()
            except BaseException as exc:
                seen.append(exc)

        threads = [threading.Thread(target=open_it) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert failures == []


def test_an_interval_schedule_keeps_firing_past_a_deleted_run_table_row(tmp_path: Path) -> None:
    """A run row deleted by hand (a user pruning history) changes nothing for firing."""
    path = tmp_path / "agents.db"
    sched = _scheduler(path)
    s = _hourly(sched, "every 5 minutes", schedule=Interval(timedelta(minutes=5), T0))
    runs = [sched.tick(now=T0 + timedelta(minutes=5 * k)) for k in range(1, 4)]
    _sql(path, "DELETE FROM runs WHERE id = ?", runs[0][0].id)
    assert len(sched.tick(now=T0 + timedelta(minutes=20))) == 1
    assert sched.get(s.id).run_count == 4


@pytest.mark.parametrize(
    ("name", "says"),
    [("x" * 300 + ".db", "too long"), ("a\x00b.db", "NUL"), ("file/inside.db", "does not exist")],
)
def test_impossible_paths_are_clear_store_errors(tmp_path: Path, name: str, says: str) -> None:
    (tmp_path / "file").write_text("a file, not a directory")
    with pytest.raises(StoreError, match=says):
        SQLiteStore(tmp_path / name)
