"""Scheduler CRUD: create, get, list, update, pause, resume, delete, upcoming, on every
store behind both shells."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from support.matrix import Factory

from agentsched import (
    ConflictError,
    Cron,
    Interval,
    Once,
    Overlap,
    Schedule,
    ScheduleNotFound,
    Status,
    ValidationError,
)
from agentsched.testing import FakeClock

UTC = timezone.utc
NOW = datetime(2026, 1, 5, 7, tzinfo=UTC)  # a Monday, 08:00 in Paris


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def sched(make: Factory, clock: FakeClock) -> Any:
    return make(clock=clock)


def create(sched: Any, **changes: Any) -> Schedule:
    fields: dict[str, Any] = {
        "agent_id": "support-bot",
        "schedule": Cron("0 9 * * mon-fri", "Europe/Paris"),
        "input": "Summarise yesterday's tickets",
        "name": "daily summary",
    }
    fields.update(changes)
    created: Schedule = sched.create(**fields)
    return created


def test_create_fills_in_the_record(sched: Any) -> None:
    s = create(
        sched,
        metadata={"team": "support"},
        owner="acme",
        overlap="allow_all",
        max_runs=3,
        timeout=timedelta(minutes=5),
    )
    assert re.fullmatch(r"sched_[A-Za-z0-9_-]{20}", s.id)
    assert s.status is Status.ACTIVE and s.version == 1
    assert s.next_run_at == datetime(2026, 1, 5, 8, tzinfo=UTC)  # 09:00 Paris
    assert s.created_at == s.updated_at == NOW
    assert s.overlap is Overlap.ALLOW_ALL and s.metadata == {"team": "support"}
    assert sched.get(s.id) == s


def test_ids_are_unique(sched: Any) -> None:
    assert len({create(sched).id for _ in range(200)}) == 200


def test_hash_is_seeded_with_the_schedule_id(sched: Any) -> None:
    a = create(sched, schedule=Cron("H 9 * * *"))
    b = create(sched, schedule=Cron("H 9 * * *"))
    assert isinstance(a.schedule, Cron) and a.schedule.hash_key == a.id
    assert a.next_run_at is not None and a.next_run_at.hour == 9
    minutes = {create(sched, schedule=Cron("H 9 * * *")).next_run_at.minute for _ in range(30)}  # type: ignore[union-attr]
    assert len(minutes) > 10 and b.schedule != a.schedule


def test_interval_is_anchored_at_creation(sched: Any, clock: FakeClock) -> None:
    s = create(sched, schedule=Interval(timedelta(minutes=90)))
    assert s.next_run_at == NOW + timedelta(minutes=90)
    assert isinstance(s.schedule, Interval) and s.schedule.start_at == NOW


def test_a_past_once_is_completed_at_creation(sched: Any) -> None:
    s = create(sched, schedule=Once(NOW - timedelta(hours=1)))
    assert s.status is Status.COMPLETED and s.next_run_at is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": ""}, "name"),
        ({"input": "x" * 20_001}, "input"),
        ({"agent_id": ""}, "agent_id"),
        ({"schedule": "0 9 * * *"}, "schedule"),
        ({"max_runs": 0}, "max_runs"),
        ({"overlap": "never"}, "overlap"),
        ({"metadata": {"k": 1}}, "metadata"),
        ({"end_at": datetime(2026, 1, 1)}, "end_at"),
    ],
)
def test_failed_validation_leaves_store_untouched(
    sched: Any, changes: dict[str, Any], field: str
) -> None:
    kept = create(sched)
    with pytest.raises(ValidationError) as info:
        create(sched, **changes)
    assert info.value.field == field
    assert sched.list() == [kept]


def test_owner_scoping_hides_other_owners(sched: Any) -> None:
    mine = create(sched, owner="alice")
    theirs = create(sched, owner="bob")
    assert sched.get(mine.id, owner="alice") == mine
    for call in (sched.get, sched.pause, sched.resume, sched.delete, sched.upcoming):
        with pytest.raises(ScheduleNotFound) as info:
            call(theirs.id, owner="alice")
        assert str(info.value) == str(ScheduleNotFound(theirs.id))  # same as a missing id
    with pytest.raises(ScheduleNotFound):
        sched.update(theirs.id, owner="alice", name="hijack")
    assert [s.id for s in sched.list(owner="alice")] == [mine.id]
    assert sched.get(theirs.id) == theirs  # no owner given: unscoped


def test_list_sorted_filtered_and_paged(sched: Any) -> None:
    made = [
        create(sched, name=n, agent_id=a)
        for n, a in [("b", "x"), ("a", "y"), ("c", "x"), ("a", "x"), ("d", "y")]
    ]
    listed = sched.list()
    assert [s.name for s in listed] == ["a", "a", "b", "c", "d"]
    assert [s.id for s in listed[:2]] == sorted(s.id for s in made if s.name == "a")
    assert [s.name for s in sched.list("x")] == ["a", "b", "c"]
    sched.pause(made[2].id)
    assert [s.name for s in sched.list(status="paused")] == ["c"]
    pages, after = [], None
    while True:
        page = sched.list(limit=2, after=after)
        if not page:
            break
        pages += page
        after = page[-1].id
    assert [s.id for s in pages] == [s.id for s in sched.list()]
    with pytest.raises(ValidationError):
        sched.list(limit=0)
    with pytest.raises(ValidationError):
        sched.list(status="sleeping")
    with pytest.raises(ValidationError) as info:  # the same meaning as in every store
        sched.list(after="sched_unknown")
    assert info.value.field == "after"


def test_update_is_a_patch_and_recomputes_timing(sched: Any, clock: FakeClock) -> None:
    s = create(sched)
    clock.advance(timedelta(minutes=5))
    renamed = sched.update(s.id, name="renamed", metadata={"a": "b"})
    assert (renamed.name, renamed.input, renamed.version) == ("renamed", s.input, 2)
    assert renamed.next_run_at == s.next_run_at and renamed.updated_at == NOW + timedelta(minutes=5)
    hourly = sched.update(s.id, schedule=Cron("0 * * * *"))
    assert hourly.next_run_at == datetime(2026, 1, 5, 8, tzinfo=UTC) and hourly.version == 3
    same = sched.update(s.id, name="renamed")
    assert same.version == 3
    with pytest.raises(ValidationError) as info:
        sched.update(s.id, status="paused")
    assert info.value.field == "status"
    with pytest.raises(ValidationError):
        sched.update(s.id, input="")
    assert sched.get(s.id) == hourly


def test_pause_resume_delete_round_trip(sched: Any, clock: FakeClock) -> None:
    s = create(sched)
    paused = sched.pause(s.id)
    assert paused.status is Status.PAUSED and paused.next_run_at is None
    assert sched.pause(s.id) == paused  # no-op
    clock.advance(timedelta(days=2))
    resumed = sched.resume(s.id)
    assert resumed.next_run_at == datetime(2026, 1, 7, 8, tzinfo=UTC)  # no back-fill
    deleted = sched.delete(s.id)
    assert deleted.status is Status.DELETED and deleted.deleted_at == clock.now()
    with pytest.raises(ScheduleNotFound):
        sched.get(s.id)
    assert sched.get(s.id, include_deleted=True) == deleted
    assert sched.list() == [] and sched.list(include_deleted=True) == [deleted]
    with pytest.raises(ScheduleNotFound):
        sched.delete(s.id)


def test_upcoming(sched: Any) -> None:
    s = create(sched, schedule=Cron("0 9 * * *"), max_runs=3)
    assert sched.upcoming(s.id, n=5) == [datetime(2026, 1, d, 9, tzinfo=UTC) for d in (5, 6, 7)]
    t = create(sched, schedule=Cron("0 9 * * *"), end_at=datetime(2026, 1, 6, 10, tzinfo=UTC))
    assert len(sched.upcoming(t.id, n=5)) == 2
    sched.pause(s.id)
    assert sched.upcoming(s.id, n=1) == [datetime(2026, 1, 5, 9, tzinfo=UTC)]
    with pytest.raises(ValidationError):
        sched.upcoming(s.id, n=0)


def test_writes_retry_on_a_concurrent_change(sched: Any) -> None:
    s = create(sched)
    store = sched.store
    real_update = store.update
    raced = {"done": False}

    def racing_update(schedule: Schedule, expected_version: int) -> None:
        if not raced["done"]:
            raced["done"] = True
            current = store.get(schedule.id)
            assert current is not None
            real_update(
                attrs.evolve(current, version=current.version + 1, run_count=7), current.version
            )
        real_update(schedule, expected_version)

    store.update = racing_update
    renamed = sched.update(s.id, name="after the race")
    assert renamed.run_count == 7 and renamed.name == "after the race" and renamed.version == 3


def test_conflicts_that_never_settle_surface(sched: Any) -> None:
    s = create(sched)

    def always_conflict(schedule: Schedule, expected_version: int) -> None:
        raise ConflictError("moved on")

    sched.store.update = always_conflict
    with pytest.raises(ConflictError):
        sched.pause(s.id)


def test_non_string_ids_are_validation_errors(sched: Any) -> None:
    with pytest.raises(ValidationError) as info:
        sched.get(42)
    assert info.value.field == "id"
