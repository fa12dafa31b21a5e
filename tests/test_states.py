"""The state machine: the table of docs/concepts.md, and random sequences against a model
(through a `Scheduler` on a `MemoryStore`: the rules are the subject; CRUD on every
store and shell is test_crud.py's)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from agentsched import (
    Cron,
    Interval,
    InvalidTransition,
    Once,
    Schedule,
    ScheduleNotFound,
    Scheduler,
    Status,
    ValidationError,
)
from agentsched.rules import states
from agentsched.testing import FakeClock

UTC = timezone.utc
NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)


def schedule_of(status: Status = Status.ACTIVE, **changes: Any) -> Schedule:
    fields: dict[str, Any] = {
        "id": "sched_1",
        "agent_id": "a",
        "schedule": Cron("0 9 * * *"),
        "input": "x",
        "status": status,
        "created_at": NOW,
        "updated_at": NOW,
        "next_run_at": NOW + timedelta(hours=21) if status is Status.ACTIVE else None,
    }
    fields.update(changes)
    return Schedule(**fields)


LATER = NOW + timedelta(hours=1)


def test_pause_table() -> None:
    paused = states.pause(schedule_of(), LATER)
    assert (paused.status, paused.paused_at, paused.next_run_at, paused.version) == (
        Status.PAUSED,
        LATER,
        None,
        2,
    )
    assert paused.updated_at == LATER
    assert states.pause(paused, LATER) is paused
    with pytest.raises(InvalidTransition):
        states.pause(schedule_of(Status.COMPLETED), LATER)
    with pytest.raises(ScheduleNotFound):
        states.pause(schedule_of(Status.DELETED), LATER)


def test_resume_table_recomputes_from_now_without_backfill() -> None:
    paused = schedule_of(Status.PAUSED, paused_at=NOW)
    much_later = NOW + timedelta(days=3, hours=1)
    resumed = states.resume(paused, much_later)
    assert resumed.status is Status.ACTIVE and resumed.paused_at is None
    assert resumed.next_run_at == datetime(2026, 1, 9, 9, tzinfo=UTC)
    active = schedule_of()
    assert states.resume(active, LATER) is active
    with pytest.raises(InvalidTransition):
        states.resume(schedule_of(Status.COMPLETED), LATER)
    with pytest.raises(ScheduleNotFound):
        states.resume(schedule_of(Status.DELETED), LATER)
    gone = states.resume(schedule_of(Status.PAUSED, schedule=Once(NOW)), LATER)
    assert gone.status is Status.COMPLETED and gone.next_run_at is None


def test_exhaustion_and_delete_table() -> None:
    """The one exhaustion rule: no next fire, `max_runs` reached or past `end_at`."""
    assert states.moved_on(schedule_of(), None) == {"status": Status.COMPLETED, "next_run_at": None}
    assert states.moved_on(schedule_of(), LATER) == {"status": Status.ACTIVE, "next_run_at": LATER}
    fresh = schedule_of(next_run_at=None)
    assert states.activate(fresh, NOW).next_run_at == states.next_fire_for(fresh, NOW)
    for exhausted in (
        schedule_of(schedule=Once(NOW)),
        schedule_of(max_runs=2, run_count=2),
        schedule_of(end_at=NOW + timedelta(minutes=1)),
    ):
        assert states.next_fire_for(exhausted, NOW) is None
        done = states.activate(exhausted, NOW)
        assert done.status is Status.COMPLETED and done.next_run_at is None
    for status in (Status.ACTIVE, Status.PAUSED, Status.COMPLETED):
        deleted = states.delete(schedule_of(status), LATER)
        assert (
            deleted.status is Status.DELETED
            and deleted.deleted_at == LATER
            and deleted.next_run_at is None
        )
    with pytest.raises(ScheduleNotFound):
        states.delete(schedule_of(Status.DELETED), LATER)


def test_update_table() -> None:
    hourly = Cron("0 * * * *", hash_key="k")
    active = states.update(schedule_of(), LATER, {"schedule": hourly})
    assert active.status is Status.ACTIVE and active.next_run_at == datetime(
        2026, 1, 5, 14, tzinfo=UTC
    )
    past = states.update(schedule_of(), LATER, {"schedule": Once(NOW)})
    assert past.status is Status.COMPLETED and past.next_run_at is None
    paused = states.update(schedule_of(Status.PAUSED), LATER, {"schedule": hourly})
    assert paused.status is Status.PAUSED and paused.next_run_at is None
    revived = states.update(schedule_of(Status.COMPLETED), LATER, {"schedule": hourly})
    assert revived.status is Status.ACTIVE and revived.next_run_at is not None
    still = states.update(schedule_of(Status.COMPLETED), LATER, {"name": "renamed"})
    assert still.status is Status.COMPLETED and still.version == 2
    with pytest.raises(ScheduleNotFound):
        states.update(schedule_of(Status.DELETED), LATER, {"name": "x"})
    unchanged = schedule_of()
    assert states.update(unchanged, LATER, {"input": "x"}) is unchanged
    for bad in ("status", "version", "id", "run_count", "owner", "nonsense"):
        with pytest.raises(ValidationError) as info:
            states.update(schedule_of(), LATER, {bad: 1})
        assert info.value.field == bad
    with pytest.raises(ValidationError) as info:
        states.update(schedule_of(), LATER, {"name": ""})
    assert info.value.field == "name"


def test_max_runs_and_end_at_bound_the_next_fire() -> None:
    assert states.next_fire_for(schedule_of(max_runs=3, run_count=3), NOW) is None
    assert states.next_fire_for(schedule_of(end_at=NOW + timedelta(hours=1)), NOW) is None
    assert states.next_fire_for(schedule_of(end_at=NOW + timedelta(days=1)), NOW) == datetime(
        2026, 1, 6, 9, tzinfo=UTC
    )


SPECS = st.sampled_from(
    [
        Cron("*/30 * * * *"),
        Cron("0 9 * * mon-fri", "Europe/Paris"),
        Cron("H * * * *"),
        Interval(timedelta(minutes=90)),
        Once(NOW + timedelta(hours=5)),
        Once(NOW - timedelta(hours=5)),
    ]
)


class ScheduleLifecycle(RuleBasedStateMachine):
    """Random create/pause/resume/update/delete/advance against a reference model."""

    ids = Bundle("ids")

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock(NOW)
        self.scheduler = Scheduler(clock=self.clock)
        self.expected: dict[str, Status] = {}
        self.versions: dict[str, int] = {}

    def _fires(self, schedule_id: str) -> bool:
        record = self.scheduler.get(schedule_id, include_deleted=True)
        return states.next_fire_for(record, self.clock.now()) is not None

    def _check(self, schedule_id: str, outcome: Any) -> None:
        record = self.scheduler.get(schedule_id, include_deleted=True)
        assert record.status is self.expected[schedule_id]
        assert record.version >= self.versions[schedule_id]
        self.versions[schedule_id] = record.version

    @rule(target=ids, spec=SPECS, owner=st.sampled_from([None, "alice"]))
    def create(self, spec: Any, owner: str | None) -> str:
        record = self.scheduler.create(agent_id="agent", schedule=spec, input="go", owner=owner)
        fires = record.schedule.next_after(self.clock.now()) is not None
        self.expected[record.id] = Status.ACTIVE if fires else Status.COMPLETED
        self.versions[record.id] = record.version
        return record.id

    @rule(schedule_id=ids)
    def pause(self, schedule_id: str) -> None:
        before = self.expected[schedule_id]
        if before is Status.DELETED:
            with pytest.raises(ScheduleNotFound):
                self.scheduler.pause(schedule_id)
        elif before is Status.COMPLETED:
            with pytest.raises(InvalidTransition):
                self.scheduler.pause(schedule_id)
        else:
            self.expected[schedule_id] = Status.PAUSED
            self.scheduler.pause(schedule_id)
        self._check(schedule_id, None)

    @rule(schedule_id=ids)
    def resume(self, schedule_id: str) -> None:
        before = self.expected[schedule_id]
        if before is Status.DELETED:
            with pytest.raises(ScheduleNotFound):
                self.scheduler.resume(schedule_id)
        elif before is Status.COMPLETED:
            with pytest.raises(InvalidTransition):
                self.scheduler.resume(schedule_id)
        else:
            if before is Status.PAUSED:
                self.expected[schedule_id] = (
                    Status.ACTIVE if self._fires(schedule_id) else Status.COMPLETED
                )
            self.scheduler.resume(schedule_id)
        self._check(schedule_id, None)

    @rule(schedule_id=ids, spec=SPECS)
    def update(self, schedule_id: str, spec: Any) -> None:
        before = self.expected[schedule_id]
        if before is Status.DELETED:
            with pytest.raises(ScheduleNotFound):
                self.scheduler.update(schedule_id, schedule=spec)
            return
        version = self.scheduler.get(schedule_id).version
        updated = self.scheduler.update(schedule_id, schedule=spec)
        if updated.version == version:
            return  # the same spec again: a no-op that keeps the pending next_run_at
        if before is not Status.PAUSED:
            self.expected[schedule_id] = (
                Status.ACTIVE if updated.next_run_at is not None else Status.COMPLETED
            )
            assert (updated.next_run_at is not None) == self._fires(schedule_id)
        self._check(schedule_id, None)

    @rule(schedule_id=ids)
    def delete(self, schedule_id: str) -> None:
        if self.expected[schedule_id] is Status.DELETED:
            with pytest.raises(ScheduleNotFound):
                self.scheduler.delete(schedule_id)
        else:
            self.expected[schedule_id] = Status.DELETED
            self.scheduler.delete(schedule_id)
            with pytest.raises(ScheduleNotFound):
                self.scheduler.get(schedule_id)
        self._check(schedule_id, None)

    @rule(minutes=st.integers(0, 3 * 24 * 60))
    def advance(self, minutes: int) -> None:
        self.clock.advance(timedelta(minutes=minutes))

    @invariant()
    def records_agree_with_the_model(self) -> None:
        for schedule_id, status in self.expected.items():
            record = self.scheduler.get(schedule_id, include_deleted=True)
            assert record.status is status
            if status is Status.ACTIVE:
                assert record.next_run_at is not None and record.next_run_at > record.updated_at
            else:
                assert record.next_run_at is None
            if status is Status.DELETED:
                assert record.deleted_at is not None
        listed = {s.id for s in self.scheduler.list(limit=1000)}
        assert listed == {i for i, s in self.expected.items() if s is not Status.DELETED}


TestScheduleLifecycle = ScheduleLifecycle.TestCase
