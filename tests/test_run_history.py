"""Run history: bounded by `keep_runs` in every store, tracebacks kept with failures."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from support.firing import claim_and_die
from support.matrix import Factory, Stores

from agentsched import (
    Cron,
    Overlap,
    RunContext,
    RunStatus,
    ValidationError,
)
from agentsched.model import MAX_TRACEBACK
from agentsched.stores.base import Store
from agentsched.testing import FakeClock

UTC = timezone.utc
T0 = datetime(2026, 1, 5, 8, 59, tzinfo=UTC)
NINE = datetime(2026, 1, 5, 9, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def _scheduler(make: Factory, store: Store, handler: Callable[[RunContext], object]) -> Any:
    return make(handler, store=store, clock=FakeClock(T0))


@pytest.mark.parametrize("keep", [1, 3, 10])
def test_a_schedule_never_holds_more_than_keep_runs_finished_runs(make: Factory, keep: int) -> None:
    sched = _scheduler(make, make.store(keep_runs=keep), lambda ctx: "ok")
    s = sched.create(agent_id="bot", schedule=Cron("* * * * *"), input="go")
    other = sched.create(agent_id="bot", schedule=Cron("*/2 * * * *"), input="go")
    for minute in range(40):
        sched.tick(now=NINE + minute * MINUTE)
        for schedule_id in (s.id, other.id):
            runs = sched.runs(schedule_id, limit=1000)
            assert len(runs) <= keep
        newest = sched.runs(s.id, limit=1000)
        expected = [NINE + (minute - k) * MINUTE for k in range(min(keep, minute + 1))]
        assert [r.scheduled_for for r in newest] == expected
    assert sched.get(s.id).run_count == 40  # counters keep counting what was pruned


def test_keep_runs_none_keeps_everything(make: Factory) -> None:
    sched = _scheduler(make, make.store(keep_runs=None), lambda ctx: None)
    s = sched.create(agent_id="bot", schedule=Cron("* * * * *"), input="go")
    for minute in range(30):
        sched.tick(now=NINE + minute * MINUTE)
    assert len(sched.runs(s.id, limit=1000)) == 30


def test_running_runs_are_never_pruned_and_skips_count_as_finished(make: Factory) -> None:
    """A SKIP schedule whose first run never finishes: only skipped records come and go."""
    store = make.store(keep_runs=3)
    sched = _scheduler(make, store, lambda ctx: None)
    s = sched.create(agent_id="bot", schedule=Cron("* * * * *"), input="go", overlap=Overlap.SKIP)
    first = claim_and_die(store, NINE, timedelta(hours=1))  # started and never finished
    for minute in range(1, 10):
        claim_and_die(store, NINE + minute * MINUTE, timedelta(hours=1))
    runs = store.runs(s.id, limit=100)
    assert [r.status for r in runs] == [RunStatus.SKIPPED] * 3 + [RunStatus.RUNNING]
    assert runs[-1].id == first[0].id
    assert [r.scheduled_for for r in runs[:3]] == [NINE + m * MINUTE for m in (9, 8, 7)]


@pytest.mark.parametrize("bad", [0, -1, True, "10", 1.5])
def test_keep_runs_is_validated(stores: Stores, bad: object) -> None:
    with pytest.raises(ValidationError) as info:
        stores(keep_runs=bad)
    assert info.value.field == "keep_runs"


# -- tracebacks --------------------------------------------------------------------


def _broken_agent(ctx: RunContext) -> None:
    data: dict[str, str] = {}
    print(data["missing"])


def test_a_failed_run_keeps_the_one_line_error_and_the_traceback(make: Factory) -> None:
    sched = _scheduler(make, make.store(), _broken_agent)
    s = sched.create(agent_id="bot", schedule=Cron("0 9 * * *"), input="go")
    (run,) = sched.tick(now=NINE)
    assert run.status is RunStatus.FAILED and run.error == "KeyError: 'missing'"
    assert run.traceback is not None
    assert "_broken_agent" in run.traceback and "test_run_history.py" in run.traceback
    assert run.traceback.rstrip().endswith("KeyError: 'missing'")
    assert sched.runs(s.id) == [run] and run.to_dict()["traceback"] == run.traceback


def test_tracebacks_are_bounded_keeping_the_end(make: Factory) -> None:
    def huge(ctx: RunContext) -> None:
        raise RuntimeError("bottom " + "y" * 30_000 + " end")

    sched = _scheduler(make, make.store(), huge)
    sched.create(agent_id="bot", schedule=Cron("0 9 * * *"), input="go")
    (run,) = sched.tick(now=NINE)
    assert run.traceback is not None and len(run.traceback) <= MAX_TRACEBACK
    assert run.traceback.startswith("[... earlier lines cut]")
    assert run.traceback.rstrip().endswith("y end")
