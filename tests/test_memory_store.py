"""MemoryStore beyond the conformance suite: a bounded history, and a due index (by
instant) that follows every write, read here where it is the thing tested."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentsched import Cron, InlineExecutor, Interval, MemoryStore, Scheduler, ValidationError
from agentsched.model import Run, Schedule, Status, replace
from agentsched.testing import FakeClock


def test_memory_store_keeps_a_bounded_run_history() -> None:
    clock = FakeClock(datetime(2026, 1, 1, tzinfo=timezone.utc))
    store = MemoryStore(keep_runs=10)
    sched = Scheduler(store=store, handler=lambda ctx: None, executor=InlineExecutor(), clock=clock)
    s = sched.create(agent_id="a", input="x", schedule=Interval(timedelta(minutes=1)))
    for _ in range(50):
        clock.advance(timedelta(minutes=1))
        sched.tick()
    kept = store.runs(s.id, limit=1000)
    assert 10 <= len(kept) <= 20 and kept[0].scheduled_for == clock.now()
    assert sched.get(s.id).run_count == 50
    with pytest.raises(ValidationError):
        MemoryStore(keep_runs=0)


_BASE = datetime(2026, 1, 5, 9, tzinfo=timezone.utc)


@settings(max_examples=60, deadline=None)
@given(
    moves=st.lists(
        st.tuples(st.integers(0, 4), st.integers(0, 30), st.booleans()), min_size=100, max_size=300
    ),
    at=st.integers(0, 30),
    limit=st.integers(1, 6),
)
def test_memory_store_due_index_follows_every_write(
    moves: list[tuple[int, int, bool]], at: int, limit: int
) -> None:
    """Whatever writes supersede the due entries (a schedule moved again and again,
    paused, resumed, many schedules on one instant), the next due time and each claim
    are those of a scan of the schedules, in due order, each schedule once, and the
    index stays bounded (its size, the private `_due_ids`, is the thing measured)."""
    store = MemoryStore()
    maker = Scheduler(store=MemoryStore(), clock=FakeClock(_BASE))
    made = [maker.create(agent_id="a", schedule=Cron("0 9 * * *"), input="x") for _ in range(5)]
    for schedule in made:
        store.add(replace(schedule, next_run_at=_BASE))
    for index, minutes, active in moves:
        stored = store.get(made[index].id)
        assert stored is not None
        status = Status.ACTIVE if active else Status.PAUSED
        moved = replace(
            stored,
            next_run_at=_BASE + timedelta(minutes=minutes),
            status=status,
            version=stored.version + 1,
        )
        store.update(moved, stored.version)
    current = [
        (s.next_run_at, s.id)
        for s in store.list(limit=10)
        if s.status is Status.ACTIVE and s.next_run_at is not None
    ]
    assert store.next_due_at() == min((due for due, _ in current), default=None)
    now = _BASE + timedelta(minutes=at)
    due = sorted((at, schedule_id) for at, schedule_id in current if at <= now)

    claimed: list[Schedule] = []

    def claim_all(schedule: Schedule, _: object) -> tuple[Schedule, list[Run]]:
        claimed.append(schedule)
        return replace(schedule, next_run_at=None, status=Status.COMPLETED), []

    while batch := store.claim_due(now, claim_all, limit=limit):
        assert len(batch) <= limit
    assert sorted(s.id for s in claimed) == sorted(i for _, i in due)
    times = [s.next_run_at for s in claimed if s.next_run_at is not None]
    assert len(times) == len(claimed) and times == sorted(times)  # earliest first
    assert store._due_ids <= 2 * len(made) + 64 + 1


def test_memory_store_never_offers_a_schedule_whose_plan_raised_until_it_is_written() -> None:
    """A schedule whose plan raised is out of the due index until its next write, even
    when an earlier write left a second entry at the same instant (moved away and back):
    the plan is not tried again, and the next due time does not count it."""
    maker = Scheduler(store=MemoryStore(), clock=FakeClock(_BASE))
    made = maker.create(agent_id="a", schedule=Cron("0 9 * * *"), input="x")
    store = MemoryStore()
    store.add(replace(made, next_run_at=_BASE))
    for due in (_BASE + timedelta(minutes=5), _BASE):  # two entries at _BASE now
        stored = store.get(made.id)
        assert stored is not None
        store.update(replace(stored, next_run_at=due, version=stored.version + 1), stored.version)
    tried: list[str] = []

    def broken(schedule: Schedule, _: object) -> tuple[Schedule, list[Run]]:
        tried.append(schedule.id)
        raise ValueError("cannot plan")

    assert store.claim_due(_BASE, broken, limit=1) == []
    assert store.next_due_at() is None
    assert store.claim_due(_BASE, broken) == []
    assert tried == [made.id]
    stored = store.get(made.id)
    assert stored is not None
    store.update(replace(stored, version=stored.version + 1), stored.version)  # back in
    assert store.next_due_at() == _BASE
    assert store.claim_due(_BASE, broken) == []
    assert tried == [made.id, made.id]
