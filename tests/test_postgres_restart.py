"""PostgresStore across restarts of the PostgreSQL server itself.

The test makes a throwaway cluster of its own (initdb and pg_ctl, in a
temporary directory, on a free port; as the `postgres` OS user when run as
root, since initdb refuses root), restarts it between ticks, cleanly and as
a crash, and stops it for a while: each such tick is a `StoreError` that
says what happened, the store recovers by itself, and every fire runs once.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from support.environment import ONE_AT_A_TIME, need

from agentsched import Cron, InlineExecutor, RunContext, RunStatus, Scheduler, StoreError
from agentsched.stores.postgres import PostgresStore
from agentsched.testing import FakeClock

pytestmark = ONE_AT_A_TIME

UTC = timezone.utc
T0 = datetime(2026, 1, 5, 8, 59, tzinfo=UTC)
NINE = datetime(2026, 1, 5, 9, tzinfo=UTC)
HOUR = timedelta(hours=1)
WAIT = 30.0  # seconds a test may wait for the loop before failing
TICK_ATTEMPTS = 20  # a tick after a restart may fail until the pool has reconnected


def _binaries() -> Path | None:
    """The directory of initdb and pg_ctl (Debian's versioned one, or on PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path and shutil.which("pg_ctl") else None


def _version(path: str) -> int:
    part = Path(path).parent.parent.name
    return int(part) if part.isdigit() else 0


class Cluster:
    """A PostgreSQL cluster in a temporary directory, started and stopped at will."""

    def __init__(self, binaries: Path, directory: Path, port: int, user: list[str]) -> None:
        self.binaries, self.directory, self.port, self._user = binaries, directory, port, user
        self.data = directory / "data"
        self.dsn = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def _run(self, *args: str) -> None:
        subprocess.run(
            [*self._user, *args], check=True, capture_output=True, timeout=120, cwd=self.directory
        )

    def init(self) -> None:
        self._run(
            str(self.binaries / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(self.binaries / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.directory / "server.log"),
            "-w",
            "-o",
            options,
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.binaries / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    binaries = _binaries()
    need(binaries is not None, "no initdb/pg_ctl here (Debian: apt-get install postgresql)")
    assert binaries is not None
    user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            need(False, "running as root and there is no 'postgres' user to run initdb as")
        need(shutil.which("runuser") is not None, "running as root and there is no runuser")
        user = ["runuser", "-u", "postgres", "--"]
    directory = Path(tempfile.mkdtemp(prefix="agentsched-pg-"))
    if user:
        shutil.chown(directory, "postgres", "postgres")
    made = Cluster(binaries, directory, _free_port(), user)
    try:
        made.init()
        made.start()
        yield made
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # stopped already
            made.stop("immediate")
        shutil.rmtree(directory, ignore_errors=True)


def _tick_until_it_works(sched: Scheduler, now: datetime) -> list[StoreError]:
    """Tick as the scheduler's loop would after a failure: again, until it works."""
    failures: list[StoreError] = []
    for _ in range(TICK_ATTEMPTS):
        try:
            sched.tick(now=now)
        except StoreError as exc:
            failures.append(exc)
            continue
        return failures
    raise AssertionError(f"no tick worked after {TICK_ATTEMPTS} tries: {failures[-1]}")


def test_restarts_and_downtime_between_ticks_lose_and_repeat_nothing(cluster: Cluster) -> None:
    calls: list[tuple[str, datetime | None]] = []
    store = PostgresStore(cluster.dsn, timeout=timedelta(seconds=2))
    sched = Scheduler(
        store=store,
        handler=lambda ctx: calls.append((ctx.schedule.id, ctx.scheduled_for)),
        executor=InlineExecutor(),
        clock=FakeClock(T0),
    )
    made = [
        sched.create(agent_id="bot", schedule=Cron("0 * * * *"), input="go", name=f"s{n}")
        for n in range(3)
    ]
    assert len(sched.tick(now=NINE)) == 3

    cluster.stop("fast")  # a clean restart
    cluster.start()
    _tick_until_it_works(sched, NINE + HOUR)

    cluster.stop("fast")  # down for a while: ticks fail, saying why
    with pytest.raises(StoreError) as info:
        sched.tick(now=NINE + 2 * HOUR)
    assert "PostgreSQL database 'postgres'" in str(info.value)
    assert "no database connection within 2s" in str(info.value)
    cluster.start()
    _tick_until_it_works(sched, NINE + 2 * HOUR)

    cluster.stop("immediate")  # a crash: the server recovers from its log
    cluster.start()
    _tick_until_it_works(sched, NINE + 3 * HOUR)

    expected = {(s.id, NINE + k * HOUR) for s in made for k in range(4)}
    assert Counter(calls) == Counter(expected)  # each fire handled once, none lost
    for s in made:
        runs = sched.runs(s.id)
        fires = sorted(r.scheduled_for for r in runs if r.scheduled_for is not None)
        assert fires == [NINE + k * HOUR for k in range(4)]
        assert all(r.status is RunStatus.SUCCEEDED for r in runs)
        assert sched.get(s.id).run_count == 4
    store.close()


def test_a_running_scheduler_rides_out_a_restart(cluster: Cluster) -> None:
    clock = FakeClock(T0)
    fired: list[datetime | None] = []
    arrived = threading.Semaphore(0)

    def handler(ctx: RunContext) -> None:
        fired.append(ctx.scheduled_for)
        arrived.release()

    store = PostgresStore(cluster.dsn, timeout=timedelta(seconds=2))
    woken = threading.Semaphore(0)
    stop_watching = store.watch(woken.release)
    sched = Scheduler(store=store, handler=handler, clock=clock)
    sched.create(agent_id="bot", schedule=Cron("0 * * * *"), input="go")
    sched.start()
    try:
        clock.set(NINE)
        assert arrived.acquire(timeout=WAIT)
        while woken.acquire(blocking=False):
            pass
        cluster.stop("fast")
        cluster.start()
        # the listener lost its connection: it reconnects, and calls back once for
        # whatever it may have missed
        assert woken.acquire(timeout=WAIT), "the listener did not come back"
        clock.set(NINE + HOUR)
        assert arrived.acquire(timeout=WAIT), "the loop did not fire after the restart"
    finally:
        sched.stop()
        stop_watching()
        store.close()
    assert fired == [NINE, NINE + HOUR]
