"""Several processes tick one store (a SQLite file, a PostgreSQL schema) while being
SIGKILLed at random moments.

Afterwards every (schedule, fire time) has exactly one run record, every
handler call is for a distinct fire, nothing is left running after a final
pass, and a SQLite file passes PRAGMA integrity_check. Seeded; a hang fails the test.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from support import postgres
from support.environment import ONE_AT_A_TIME
from support.waiting import DEADLINE

from agentsched import Cron, InlineExecutor, Interval, RunStatus, Scheduler, Status
from agentsched.model import RunTrigger
from agentsched.model.specs import Spec
from agentsched.stores.urls import store_from_url
from agentsched.testing import FakeClock

pytestmark = ONE_AT_A_TIME

UTC = timezone.utc
START = datetime(2026, 3, 28, 22, tzinfo=UTC)  # across Paris's spring-forward night
STEP = timedelta(minutes=2)
STEPS = 120
WORKER = Path(__file__).with_name("support") / "crash_worker.py"
WORKERS = 3
KILLS = 14


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Where the workers meet: a SQLite file, or a PostgreSQL schema of the test's own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'agents.db'}"
        return
    postgres.require()
    schema = postgres.new_schema()
    yield postgres.url(schema)
    postgres.drop_schema(schema)


def spawn(url: str, log: Path, seed: int) -> subprocess.Popen[bytes]:
    errors = log.with_name(f"worker-{seed}.err")
    with errors.open("wb") as stderr:
        return subprocess.Popen(
            [
                sys.executable,
                str(WORKER),
                url,
                str(log),
                START.isoformat(),
                str(STEPS),
                str(int(STEP.total_seconds())),
                str(seed),
            ],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


@pytest.mark.parametrize("seed", [7, 2026])
def test_kill_storm_loses_and_doubles_nothing(tmp_path: Path, store_url: str, seed: int) -> None:
    rng = random.Random(seed)
    log = tmp_path / "handler.log"
    last = START + STEP * (STEPS - 1)
    setup = Scheduler(
        store=store_from_url(store_url),
        handler=lambda ctx: None,
        executor=InlineExecutor(),
        clock=FakeClock(START),
    )
    specs: list[Spec] = [
        Cron("*/5 * * * *"),
        Cron("*/7 * * * *"),
        Cron("30 2 * * *", "Europe/Paris"),
        Cron("*/10 1-3 * * *", "Europe/Paris"),
        Cron("0 * * * *"),
        Interval(timedelta(minutes=9)),
        Cron("*/3 * * * *"),
        Cron("15,45 * * * *"),
    ]
    created = [
        setup.create(agent_id="bot", schedule=spec, input="go", end_at=last) for spec in specs
    ]
    setup.store.close()

    workers = [spawn(store_url, log, rng.randrange(10**6)) for _ in range(WORKERS)]
    kills = 0
    while kills < KILLS and any(w.poll() is None for w in workers):
        time.sleep(rng.uniform(0.02, 0.25))  # the next kill lands at a random moment
        alive = [i for i, w in enumerate(workers) if w.poll() is None]
        if alive:
            victim = rng.choice(alive)
            os.kill(workers[victim].pid, signal.SIGKILL)
            workers[victim].wait()
            kills += 1
            workers[victim] = spawn(store_url, log, rng.randrange(10**6))
    for w in workers:
        w.wait(timeout=DEADLINE)  # a worker that hangs fails the test rather than the suite
        assert w.returncode == 0, "\n".join(p.read_text() for p in tmp_path.glob("*.err"))
    assert kills > 0

    # a final pass after every lease has run out: no new fires (end_at), only the sweep
    final = Scheduler(
        store=store_from_url(store_url),
        handler=lambda ctx: None,
        executor=InlineExecutor(),
        clock=FakeClock(last + timedelta(hours=1)),
    )
    final.tick()

    handled = [line.split() for line in log.read_text().splitlines()]
    assert len({run_id for run_id, _, _ in handled}) == len(handled), (
        "a handler ran twice for one run"
    )
    fires = Counter((schedule_id, when) for _, schedule_id, when in handled)
    assert max(fires.values()) == 1, "a handler ran twice for one fire"

    for schedule in created:
        expected = []
        t = schedule.schedule.next_after(schedule.created_at)
        while t is not None and t <= last:
            expected.append(t)
            t = schedule.schedule.next_after(t)
        runs = [
            r
            for r in final.store.runs(schedule.id, limit=10_000)
            if r.trigger is RunTrigger.SCHEDULE
        ]
        stamps = [r.scheduled_for for r in runs]
        assert len(stamps) == len(set(stamps))
        assert set(stamps) <= set(expected)
        assert sum(r.coalesced for r in runs) == len(expected), schedule.schedule
        assert all(r.status is not RunStatus.RUNNING for r in runs)
        interrupted = [r for r in runs if r.error and r.error.startswith("interrupted")]
        assert all(r.status is RunStatus.FAILED for r in interrupted)
        assert final.get(schedule.id).status is Status.COMPLETED

    all_runs = [r for s in created for r in final.store.runs(s.id, limit=10_000)]
    interrupted_count = sum(bool(r.error and r.error.startswith("interrupted")) for r in all_runs)
    print(
        f"{store_url.partition(':')[0]} seed {seed}: {kills} kills, "
        f"{len(handled)} handler calls, {len(all_runs)} runs, "
        f"{interrupted_count} interrupted, "
        f"{sum(r.status is RunStatus.MISSED for r in all_runs)} missed, "
        f"{sum(r.coalesced > 1 for r in all_runs)} coalesced"
    )
    # every handler call belongs to a recorded run
    assert all(final.store.get_run(run_id) is not None for run_id, _, _ in handled)
    final.store.close()
    if store_url.startswith("sqlite:///"):
        conn = sqlite3.connect(store_url[len("sqlite:///") :])
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        finally:
            conn.close()
