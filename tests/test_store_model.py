"""Every store against a plain-dict model, driven by random operations.

Adds (fresh and duplicate ids), updates (current and stale versions),
claims at random instants, run inserts (fresh and duplicate fire times);
after every step `get`, `list`, `next_due_at` and the runs must agree with
the model.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import attrs
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from support.matrix import Stores

from agentsched import ConflictError, Cron, RunStatus, Schedule, Status
from agentsched.model import Activity, Run

UTC = timezone.utc
BASE = datetime(2026, 1, 5, tzinfo=UTC)
NAMES = st.sampled_from([None, "alpha", "beta", "gamma", "beta"])
STATUSES = st.sampled_from(
    [Status.ACTIVE, Status.ACTIVE, Status.PAUSED, Status.COMPLETED, Status.DELETED]
)
OFFSETS = st.integers(0, 48 * 60)


def schedule_of(n: int, name: str | None, status: Status, minutes: int) -> Schedule:
    active = status is Status.ACTIVE
    return Schedule(
        id=f"sched_{n:05d}",
        agent_id=f"agent_{n % 3}",
        owner=("alice", "bob")[n % 2],
        name=name,
        status=status,
        schedule=Cron("0 9 * * *"),
        input="go",
        next_run_at=BASE + timedelta(minutes=minutes) if active else None,
        deleted_at=BASE if status is Status.DELETED else None,
        created_at=BASE,
        updated_at=BASE,
    )


def advance(schedule: Schedule, activity: Activity) -> tuple[Schedule, list[Run]]:
    assert schedule.next_run_at is not None
    run = Run(
        id=f"run_{schedule.id}_{schedule.version}",
        schedule_id=schedule.id,
        agent_id=schedule.agent_id,
        status=RunStatus.SKIPPED,
        scheduled_for=schedule.next_run_at,
        finished_at=schedule.next_run_at,
    )
    moved = attrs.evolve(
        schedule, next_run_at=schedule.next_run_at + timedelta(days=1), version=schedule.version + 1
    )
    return moved, [run]


class StoreModel(RuleBasedStateMachine):
    kind = "memory"

    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="agentsched-model-"))
        self.stores = Stores(self.kind, self.directory)
        self.store = self.stores()
        self.model: dict[str, Schedule] = {}
        self.runs: dict[str, list[str]] = {}
        self.fired: set[tuple[str, datetime | None]] = set()
        self.count = 0

    def teardown(self) -> None:
        self.stores.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    @rule(name=NAMES, status=STATUSES, minutes=OFFSETS)
    def add(self, name: str | None, status: Status, minutes: int) -> None:
        schedule = schedule_of(self.count, name, status, minutes)
        self.count += 1
        self.store.add(schedule)
        self.model[schedule.id] = schedule

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def add_duplicate(self, data: st.DataObject) -> None:
        existing = data.draw(st.sampled_from(sorted(self.model)))
        with pytest.raises(ConflictError):
            self.store.add(attrs.evolve(self.model[existing], name="dup"))

    @precondition(lambda self: self.model)
    @rule(data=st.data(), name=NAMES, minutes=OFFSETS, stale=st.booleans())
    def update(self, data: st.DataObject, name: str | None, minutes: int, stale: bool) -> None:
        current = self.model[data.draw(st.sampled_from(sorted(self.model)))]
        moved = attrs.evolve(
            current,
            name=name,
            version=current.version + 1,
            next_run_at=BASE + timedelta(minutes=minutes) if current.next_run_at else None,
        )
        if stale:
            with pytest.raises(ConflictError):
                self.store.update(moved, expected_version=current.version - 1)
        else:
            self.store.update(moved, expected_version=current.version)
            self.model[current.id] = moved

    @rule(minutes=OFFSETS, limit=st.integers(1, 5))
    def claim(self, minutes: int, limit: int) -> None:
        now = BASE + timedelta(minutes=minutes)
        due = sorted(
            (
                s
                for s in self.model.values()
                if s.status is Status.ACTIVE and s.next_run_at and s.next_run_at <= now
            ),
            key=lambda s: (s.next_run_at, s.id),
        )[:limit]
        # a fire time that already has a run is refused (one run per fire)
        expected = [s.id for s in due if (s.id, s.next_run_at) not in self.fired]
        claims = self.store.claim_due(now, advance, limit=limit)
        assert sorted(s.id for s, _ in claims) == sorted(expected)
        for schedule, runs in claims:
            self.model[schedule.id] = schedule
            self.runs.setdefault(schedule.id, []).extend(r.id for r in runs)
            self.fired.update((r.schedule_id, r.scheduled_for) for r in runs)

    @invariant()
    def agrees(self) -> None:
        for schedule_id, schedule in self.model.items():
            assert self.store.get(schedule_id) == schedule
            assert [r.id for r in self.store.runs(schedule_id, limit=1000)] == list(
                reversed(self.runs.get(schedule_id, []))
            )
        visible = sorted(
            (s for s in self.model.values() if s.status is not Status.DELETED),
            key=lambda s: (s.name or "", s.id),
        )
        assert self.store.list(limit=1000) == visible
        assert self.store.list(owner="alice", limit=1000) == [
            s for s in visible if s.owner == "alice"
        ]
        due = [
            s.next_run_at
            for s in self.model.values()
            if s.status is Status.ACTIVE and s.next_run_at
        ]
        assert self.store.next_due_at() == (min(due) if due else None)


class SQLiteStoreModel(StoreModel):
    kind = "sqlite"


class PostgresStoreModel(StoreModel):
    kind = "postgres"


TestMemoryStoreModel = StoreModel.TestCase
TestSQLiteStoreModel = SQLiteStoreModel.TestCase
TestPostgresStoreModel = PostgresStoreModel.TestCase
# An example costs a query per read of every step: the CI profile's 300 took most of a
# minute on PostgreSQL and many seconds on SQLite; these take a few seconds.
TestSQLiteStoreModel.settings = settings(max_examples=100)
TestPostgresStoreModel.settings = settings(max_examples=30)


MACHINES = {"memory": StoreModel, "sqlite": SQLiteStoreModel, "postgres": PostgresStoreModel}


def test_a_schedule_due_again_at_an_instant_whose_ids_were_all_claimed(store_kind: str) -> None:
    """The instant's id list is empty but still indexed when a schedule becomes due at it
    again: claiming both then takes both, by id (MemoryStore raised IndexError)."""
    machine = MACHINES[store_kind]()
    try:
        machine.add(name=None, status=Status.ACTIVE, minutes=0)
        machine.claim(minutes=0, limit=1)
        machine.add(name=None, status=Status.ACTIVE, minutes=0)
        first = machine.model["sched_00000"]
        machine.store.update(
            attrs.evolve(first, next_run_at=BASE, version=first.version + 1),
            expected_version=first.version,
        )
        machine.model[first.id] = attrs.evolve(first, next_run_at=BASE, version=first.version + 1)
        machine.claim(minutes=0, limit=2)
        machine.agrees()
    finally:
        machine.teardown()
