"""What every store holds at the limits of a record, and what it says of a taken id."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from support.matrix import Stores

from agentsched import (
    ConflictError,
    Cron,
    Once,
    Retry,
    Run,
    RunStatus,
    Schedule,
    ValidationError,
)
from agentsched._instants import LAST_INSTANT
from agentsched.model import MAX_ATTEMPTS, MAX_COUNT, PendingRetry
from agentsched.stores.base import Store

UTC = timezone.utc
T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)


def _schedule(schedule_id: str = "daily-summary", **changes: object) -> Schedule:
    fields: dict[str, Any] = {
        "agent_id": "a",
        "schedule": Cron("0 9 * * *"),
        "input": "go",
        "created_at": T0,
        "updated_at": T0,
        "next_run_at": T0,
    }
    return Schedule(id=schedule_id, **{**fields, **changes})


def test_every_whole_number_and_instant_at_its_limit_is_stored_exactly(store: Store) -> None:
    """The largest values the records allow survive every store (64-bit integers, the
    last microsecond of year 9999), read back as written."""
    largest = _schedule(
        max_runs=MAX_COUNT,
        pause_after_failures=MAX_COUNT,
        run_count=MAX_COUNT,
        failure_count=MAX_COUNT,
        version=MAX_COUNT,
        retry=Retry(MAX_ATTEMPTS, timedelta(days=366), timedelta(days=366)),
        jitter=timedelta(days=366),
        pending_retry=PendingRetry(MAX_ATTEMPTS, LAST_INSTANT, LAST_INSTANT),
        next_run_at=LAST_INSTANT - timedelta(seconds=1),  # jittered past the last instant
    )
    store.add(largest)
    assert store.get(largest.id) == largest
    assert store.next_due_at() == largest.due_at == LAST_INSTANT
    run = Run(
        id="run_1",
        schedule_id=largest.id,
        agent_id="a",
        status=RunStatus.RUNNING,
        scheduled_for=LAST_INSTANT,
        started_at=LAST_INSTANT,
        attempt=MAX_ATTEMPTS,
        coalesced=MAX_COUNT,
    )
    store.add_run(run, lease_until=LAST_INSTANT)
    assert store.get_run(run.id) == run
    assert store.expired_runs(LAST_INSTANT) == []


def test_a_taken_id_is_named(store: Store) -> None:
    store.add(_schedule())
    deleted = attrs.evolve(_schedule("gone"), status="deleted", deleted_at=T0, next_run_at=None)
    store.add(deleted)
    for taken in ("daily-summary", "gone"):
        with pytest.raises(ConflictError) as info:
            store.add(_schedule(taken, schedule=Once(T0)))
        assert str(info.value) == f"a schedule with id {taken!r} exists already"
    assert store.get("daily-summary") == _schedule()


@pytest.mark.parametrize("store_kind", ["sqlite", "postgres"])  # the stores with add_many
@pytest.mark.parametrize(
    ("batch", "taken"),
    [
        (["fresh-1", "daily-summary", "fresh-2"], "daily-summary"),
        (["fresh-1", "fresh-2", "fresh-1"], "fresh-1"),
    ],
)
def test_a_batch_with_a_taken_id_names_it_and_adds_none(
    store: Any, batch: list[str], taken: str
) -> None:
    store.add(_schedule())
    with pytest.raises(ConflictError) as info:
        store.add_many([_schedule(schedule_id) for schedule_id in batch])
    assert str(info.value) == f"a schedule with id {taken!r} exists already"
    assert [s.id for s in store.list()] == ["daily-summary"]


@pytest.mark.parametrize("keep_runs", [0, -1, MAX_COUNT + 1, 10**40, True, 2.0, "5"])
def test_keep_runs_beyond_its_bounds_is_refused(stores: Stores, keep_runs: object) -> None:
    with pytest.raises(ValidationError) as info:
        stores(keep_runs=keep_runs)
    assert info.value.field == "keep_runs"
