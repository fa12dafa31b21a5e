"""Stable ids and `ensure()`: a schedule declared by the app at every start is created
once, changed only where it differs, keeps its history and phase, and one racing
declaration of many processes wins."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from support import postgres
from support.environment import ONE_AT_A_TIME
from support.matrix import Factory

from agentsched import (
    ConflictError,
    Cron,
    Interval,
    RunContext,
    RunResult,
    ValidationError,
)
from agentsched.stores.urls import store_from_url
from agentsched.testing import FakeClock

UTC = timezone.utc
T0 = datetime(2026, 1, 5, 8, 59, tzinfo=UTC)
NINE = datetime(2026, 1, 5, 9, tzinfo=UTC)


def ok(ctx: RunContext) -> str:
    return f"{ctx.schedule.agent_id} ok"


def test_create_with_a_chosen_id_and_conflicts(make: Factory) -> None:
    sched = make(ok, clock=FakeClock(T0))
    s = sched.create(id="daily-summary", agent_id="bot", schedule=Cron("0 9 * * *"), input="go")
    assert s.id == "daily-summary" and sched.get("daily-summary") == s
    with pytest.raises(ConflictError):
        sched.create(id="daily-summary", agent_id="bot", schedule=Cron("0 9 * * *"), input="x")
    sched.delete("daily-summary")
    with pytest.raises(ConflictError):  # deleted ids are never reused
        sched.create(id="daily-summary", agent_id="bot", schedule=Cron("0 9 * * *"), input="x")


@pytest.mark.parametrize("bad", ["", "has space", "é", "a/b", "x" * 129, 7])
def test_bad_ids_are_validation_errors(make: Factory, bad: object) -> None:
    sched = make(ok, clock=FakeClock(T0))
    with pytest.raises(ValidationError) as info:
        sched.create(id=bad, agent_id="bot", schedule=Cron("0 9 * * *"), input="go")  # type: ignore[arg-type]
    assert info.value.field == "id"
    assert sched.list(include_deleted=True) == []


def test_ensure_creates_then_changes_only_what_differs_keeping_history(make: Factory) -> None:
    clock = FakeClock(T0)
    sched = make(lambda ctx: RunResult(response_id=f"resp_{ctx.run_id}"), clock=clock)
    declared: dict[str, Any] = {
        "id": "summary",
        "agent_id": "bot",
        "schedule": Cron("0 * * * *"),
        "input": "summarise",
        "stateful": True,
        "previous_response_id": "resp_seed",
    }
    first = sched.ensure(**declared)
    assert first.id == "summary" and first.version == 1
    (run,) = sched.tick(now=NINE)
    after_run = sched.get("summary")
    assert after_run.previous_response_id == f"resp_{run.id}"
    again = sched.ensure(**declared)  # an app restart: nothing differs, nothing is written
    assert again == after_run
    changed = sched.ensure(**{**declared, "input": "summarise briefly", "name": "summary"})
    assert (changed.input, changed.name) == ("summarise briefly", "summary")
    assert changed.version == after_run.version + 1
    assert changed.run_count == 1 and changed.previous_response_id == f"resp_{run.id}"
    assert [r.id for r in sched.runs("summary")] == [run.id]
    reverted = sched.ensure(**declared)  # left out means default: the name goes again
    assert reverted.name is None and reverted.input == "summarise"


def test_ensure_keeps_an_intervals_phase_across_restarts(make: Factory) -> None:
    """An app restarted every 4 hours still fires its 6-hourly schedule, on time."""
    clock = FakeClock(T0)
    store = make.store()
    fired: list[datetime | None] = []
    for restart in range(6):  # a new scheduler every 4 hours, ticking every 30 minutes
        clock.set(T0 + timedelta(hours=4 * restart))
        sched = make(lambda ctx: fired.append(ctx.scheduled_for), clock=clock, store=store)
        s = sched.ensure(
            id="six-hourly", agent_id="bot", schedule=Interval(timedelta(hours=6)), input="go"
        )
        assert s.next_run_at is not None
        assert (s.next_run_at - T0) % timedelta(hours=6) == timedelta(0)
        for half_hour in range(8):
            sched.tick(now=T0 + timedelta(hours=4 * restart, minutes=30 * half_hour))
    assert fired == [T0 + timedelta(hours=6 * k) for k in (1, 2, 3)]


def test_ensure_refuses_a_deleted_or_another_owners_id(make: Factory) -> None:
    sched = make(ok, clock=FakeClock(T0))
    base: dict[str, Any] = {"agent_id": "bot", "schedule": Cron("0 9 * * *"), "input": "go"}
    sched.ensure(id="mine", owner="alice", **base)
    with pytest.raises(ConflictError, match="owner"):
        sched.ensure(id="mine", owner="bob", **base)
    sched.ensure(id="gone", **base)
    sched.delete("gone")
    with pytest.raises(ConflictError, match="deleted"):
        sched.ensure(id="gone", **base)


_RACER = textwrap.dedent(
    """
    import sys, time
    from datetime import timedelta
    from agentsched import Interval, Scheduler
    url, start, name = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    sched = Scheduler.from_url(url)
    while time.time() < start:
        pass
    s = sched.ensure(id="declared", agent_id="bot", input="go",
                     schedule=Interval(timedelta(hours=6)), name=name)
    print(s.version)
    """
)


@ONE_AT_A_TIME
@pytest.mark.parametrize("store_kind", ["sqlite", "postgres"])  # the stores processes share
def test_ensure_raced_by_four_processes_makes_one_schedule(store_kind: str, tmp_path: Path) -> None:
    for round_number in range(3):
        if store_kind == "sqlite":
            url = f"sqlite:///{tmp_path / f'race-{round_number}.db'}"
        else:
            postgres.require()
            url = postgres.url(postgres.new_schema())
        store_from_url(url).close()  # made before the race: the race is ensure's
        start = time.time() + 0.5
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _RACER, url, str(start), "same name"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        outputs = [p.communicate(timeout=60) for p in procs]
        assert [p.returncode for p in procs] == [0] * 4, outputs
        store = store_from_url(url)
        try:
            (only,) = store.list(include_deleted=True)
        finally:
            store.close()
        assert only.id == "declared" and only.version == 1  # created once, never rewritten
