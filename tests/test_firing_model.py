"""Random schedule lifecycles with ticks: every due fire has exactly one run record.

The model keeps, per schedule, the stretches of time during which it was live
(active) with the spec it had then, and the last tick inside each stretch.
A fire time is due when a tick at or after it happened inside its stretch;
each such fire must be accounted for by exactly one scheduled run record
(ran, coalesced, missed or skipped), and no run may stand for any other time.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import attrs
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule
from support.matrix import Factory, Stores

from agentsched import Cron, Interval, Once, RunContext, Status
from agentsched.model import RunTrigger
from agentsched.model.specs import Spec
from agentsched.testing import FakeClock

UTC = timezone.utc
START = datetime(2026, 3, 27, 22, tzinfo=UTC)  # Paris and London change clocks two days later


@attrs.define
class Stretch:
    spec: Spec
    start: datetime
    end: datetime | None = None
    last_tick: datetime | None = None

    def due_fires(self) -> list[datetime]:
        fires: list[datetime] = []
        if self.last_tick is None:
            return fires
        t = self.spec.next_after(self.start)
        while t is not None and t <= self.last_tick:
            fires.append(t)
            t = self.spec.next_after(t)
        return fires


SPECS = st.sampled_from(
    [
        Cron("*/20 * * * *"),
        Cron("30 2 * * *", "Europe/Paris"),
        Cron("*/30 1 * * *", "Europe/London"),
        Cron("0 9 * * mon-fri", "Europe/Paris"),
        Interval(timedelta(minutes=50)),
        Once(START + timedelta(hours=7)),
    ]
)


class FiringModel(RuleBasedStateMachine):
    """The model against a scheduler of one store and one shell of the family (a
    subclass each)."""

    ids = Bundle("ids")
    store_kind, shell = "memory", "sync"

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock(START)
        self.calls = 0
        self.directory = Path(tempfile.mkdtemp(prefix="agentsched-firing-"))
        self.stores = Stores(self.store_kind, self.directory)
        self.family = Factory(self.stores, self.shell)
        self.scheduler = self.family(self.handle, clock=self.clock)
        self.stretches: dict[str, list[Stretch]] = {}

    def teardown(self) -> None:
        try:
            self.family.close()
            self.stores.close()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def handle(self, ctx: RunContext) -> None:
        self.calls += 1

    def _open(self, schedule_id: str) -> Stretch | None:
        stretches = self.stretches[schedule_id]
        return stretches[-1] if stretches and stretches[-1].end is None else None

    def _close(self, schedule_id: str) -> None:
        stretch = self._open(schedule_id)
        if stretch is not None:
            stretch.end = self.clock.now()

    def _reopen_if_active(self, schedule_id: str) -> None:
        record = self.scheduler.get(schedule_id, include_deleted=True)
        if record.status is Status.ACTIVE and self._open(schedule_id) is None:
            self.stretches[schedule_id].append(Stretch(record.schedule, self.clock.now()))

    @rule(target=ids, spec=SPECS, catchup=st.sampled_from([0, 30, 3600]))
    def create(self, spec: Spec, catchup: int) -> str:
        record = self.scheduler.create(
            agent_id="a", schedule=spec, input="go", catchup_window=timedelta(minutes=catchup)
        )
        self.stretches[record.id] = []
        self._reopen_if_active(record.id)
        return record.id

    @rule(schedule_id=ids)
    def pause(self, schedule_id: str) -> None:
        record = self.scheduler.get(schedule_id, include_deleted=True)
        if record.status in (Status.ACTIVE, Status.PAUSED):
            self.scheduler.pause(schedule_id)
            self._close(schedule_id)

    @rule(schedule_id=ids)
    def resume(self, schedule_id: str) -> None:
        if self.scheduler.get(schedule_id, include_deleted=True).status is Status.PAUSED:
            self.scheduler.resume(schedule_id)
            self._reopen_if_active(schedule_id)

    @rule(schedule_id=ids, spec=SPECS)
    def update(self, schedule_id: str, spec: Spec) -> None:
        before = self.scheduler.get(schedule_id, include_deleted=True)
        if before.status is Status.DELETED:
            return
        after = self.scheduler.update(schedule_id, schedule=spec)
        if after.version != before.version:  # the same spec again is a no-op
            self._close(schedule_id)
            self._reopen_if_active(schedule_id)

    @rule(schedule_id=ids)
    def delete(self, schedule_id: str) -> None:
        if self.scheduler.get(schedule_id, include_deleted=True).status is not Status.DELETED:
            self.scheduler.delete(schedule_id)
            self._close(schedule_id)

    @rule(minutes=st.integers(0, 36 * 60))
    def advance(self, minutes: int) -> None:
        self.clock.advance(timedelta(minutes=minutes))

    @rule()
    def tick(self) -> None:
        self.scheduler.tick()
        for stretches in self.stretches.values():
            if stretches and stretches[-1].end is None:
                stretches[-1].last_tick = self.clock.now()

    @invariant()
    def every_due_fire_has_exactly_one_run(self) -> None:
        for schedule_id, stretches in self.stretches.items():
            due = [f for s in stretches for f in s.due_fires()]
            runs = [
                r
                for r in self.scheduler.runs(schedule_id, limit=1000)
                if r.trigger is RunTrigger.SCHEDULE
            ]
            assert sum(r.coalesced for r in runs) == len(due)
            stamps = [r.scheduled_for for r in runs]
            assert len(stamps) == len(set(stamps))
            assert set(stamps) <= set(due)


class SQLiteFiringModel(FiringModel):
    store_kind = "sqlite"


class PostgresFiringModel(FiringModel):
    store_kind = "postgres"


class AsyncFiringModel(FiringModel):
    shell = "async"


TestFiringModel = FiringModel.TestCase
TestSQLiteFiringModel = SQLiteFiringModel.TestCase
TestPostgresFiringModel = PostgresFiringModel.TestCase
TestAsyncFiringModel = AsyncFiringModel.TestCase
# The model is the store's and the shell's as much as memory's; their examples cost ten
# to a hundred times more, so fewer of them keep each test to a few seconds in CI.
TestSQLiteFiringModel.settings = settings(max_examples=100)
TestAsyncFiringModel.settings = settings(max_examples=100)
TestPostgresFiringModel.settings = settings(max_examples=30)
