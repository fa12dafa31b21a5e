"""The store contract as pytest tests: `StoreConformance` and, for stores that keep records
as stored text, `CorruptRowConformance` (see `agentsched.testing`).

Needs nothing but agentsched: it uses plain asserts, no pytest or hypothesis
imports, so that a user's own store can be checked in any test setup.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone

import attrs

from ..errors import ConflictError, ScheduleNotFound, StoreError, ValidationError
from ..model import Activity, Run, RunStatus, RunTrigger, Schedule, Status
from ..model.specs import Cron, Interval, Once, RRule, Spec
from ..stores.base import Finish, Finishing, Store

__all__ = ["CorruptRowConformance", "StoreConformance"]


def _schedule(n: int, **changes: object) -> Schedule:
    base = datetime(2026, 1, 5, 9, tzinfo=timezone.utc)
    fields: dict[str, object] = {
        "id": f"sched_{n:04d}",
        "agent_id": "agent",
        "name": f"schedule {n:04d}",
        "schedule": Cron("0 9 * * *"),
        "input": "do it",
        "next_run_at": base + timedelta(minutes=n),
        "created_at": base,
        "updated_at": base,
    }
    fields.update(changes)
    return Schedule(**fields)  # type: ignore[arg-type]


def _run(schedule: Schedule, run_id: str, when: datetime | None = None, **changes: object) -> Run:
    fields: dict[str, object] = {
        "id": run_id,
        "schedule_id": schedule.id,
        "agent_id": schedule.agent_id,
        "status": RunStatus.RUNNING,
        "scheduled_for": when if when is not None else schedule.next_run_at,
    }
    fields.update(changes)
    return Run(**fields)  # type: ignore[arg-type]


def _advance(schedule: Schedule, activity: Activity) -> tuple[Schedule, list[Run]]:
    """A plan that fires once and moves the schedule a day ahead."""
    assert schedule.next_run_at is not None
    run = _run(schedule, f"run_{schedule.id}_{schedule.next_run_at:%Y%m%d%H%M}")
    moved = attrs.evolve(
        schedule,
        next_run_at=schedule.next_run_at + timedelta(days=1),
        version=schedule.version + 1,
        run_count=schedule.run_count + 1,
    )
    return moved, [run]


NOON = datetime(2026, 1, 5, 12, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@contextlib.contextmanager
def _errors_logged() -> Iterator[list[str]]:
    """The messages the `agentsched` logger logs at ERROR or above meanwhile."""
    messages: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    handler = Keep(logging.ERROR)
    logger = logging.getLogger("agentsched")
    logger.addHandler(handler)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)


def _refused(call: Callable[[], object], error: type[Exception], naming: str) -> None:
    """`call()` raises `error`, and its message names `naming`."""
    try:
        call()
    except error as exc:
        assert naming in str(exc), exc
    else:
        raise AssertionError(f"expected {error.__name__} naming {naming}")


class StoreConformance:
    """The store contract as pytest tests; subclass and provide a `store` fixture."""

    def test_is_a_store(self, store: Store) -> None:
        assert isinstance(store, Store)

    def test_add_then_get_returns_equal_record(self, store: Store) -> None:
        schedule = _schedule(1, metadata={"team": "support"}, owner="alice")
        store.add(schedule)
        assert store.get(schedule.id) == schedule
        assert store.get("sched_missing") is None

    def test_add_duplicate_id_conflicts(self, store: Store) -> None:
        store.add(_schedule(1))
        try:
            store.add(_schedule(1, name="other"))
        except ConflictError:
            pass
        else:
            raise AssertionError("adding an existing id must raise ConflictError")
        assert store.get("sched_0001") == _schedule(1)

    def test_every_spec_kind_round_trips(self, store: Store) -> None:
        kinds: list[Spec] = [
            Cron("0 9 * * mon-fri", "Europe/Paris", hash_key="k"),
            Once(NOON, "Asia/Tokyo"),
            Interval(timedelta(minutes=90), NOON),
            RRule("FREQ=WEEKLY;BYDAY=MO", datetime(2026, 1, 5, 9), "America/New_York"),
        ]
        for n, spec in enumerate(kinds):
            store.add(_schedule(n, schedule=spec, timeout=timedelta(seconds=30), end_at=NOON))
            assert store.get(f"sched_{n:04d}") == _schedule(
                n, schedule=spec, timeout=timedelta(seconds=30), end_at=NOON
            )

    def test_update_checks_version(self, store: Store) -> None:
        first = _schedule(1)
        store.add(first)
        second = attrs.evolve(first, name="renamed", version=2)
        store.update(second, expected_version=1)
        assert store.get(first.id) == second
        try:
            store.update(attrs.evolve(first, name="stale", version=2), expected_version=1)
        except ConflictError:
            pass
        else:
            raise AssertionError("a stale write must raise ConflictError")
        assert store.get(first.id) == second

    def test_update_of_missing_schedule_is_not_found(self, store: Store) -> None:
        try:
            store.update(_schedule(9), expected_version=1)
        except ScheduleNotFound:
            pass
        else:
            raise AssertionError("updating a missing schedule must raise ScheduleNotFound")

    def test_list_sorts_by_name_then_id_and_pages(self, store: Store) -> None:
        for n, name in enumerate(["b", "a", None, "b", "c"]):
            store.add(_schedule(n, name=name))
        listed = store.list()
        assert [(s.name, s.id) for s in listed] == sorted(
            [(s.name, s.id) for s in listed], key=lambda p: (p[0] or "", p[1])
        )
        assert listed[0].name is None
        page1 = store.list(limit=2)
        page2 = store.list(limit=2, after=page1[-1].id)
        page3 = store.list(limit=2, after=page2[-1].id)
        assert page1 + page2 + page3 == listed

    def test_list_filters(self, store: Store) -> None:
        store.add(_schedule(1, agent_id="a", owner="alice"))
        store.add(_schedule(2, agent_id="b", owner="alice", status=Status.PAUSED))
        store.add(_schedule(3, agent_id="a", owner="bob"))
        store.add(_schedule(4, agent_id="a", status=Status.DELETED, deleted_at=NOON))
        assert [s.id for s in store.list(agent_id="a")] == ["sched_0001", "sched_0003"]
        assert [s.id for s in store.list(owner="alice")] == ["sched_0001", "sched_0002"]
        assert [s.id for s in store.list(status=Status.PAUSED)] == ["sched_0002"]
        assert [s.id for s in store.list(status=Status.DELETED)] == ["sched_0004"]
        assert len(store.list(include_deleted=True)) == 4
        assert len(store.list()) == 3

    def test_claim_due_takes_only_due_active_schedules_earliest_first(self, store: Store) -> None:
        store.add(_schedule(1, next_run_at=NOON - timedelta(hours=1)))
        store.add(_schedule(2, next_run_at=NOON - timedelta(hours=2)))
        store.add(_schedule(3, next_run_at=NOON + timedelta(minutes=1)))
        store.add(_schedule(4, next_run_at=NOON - timedelta(hours=3), status=Status.PAUSED))
        store.add(_schedule(5, next_run_at=None))
        claims = store.claim_due(NOON, _advance)
        assert [s.id for s, _ in claims] == ["sched_0002", "sched_0001"]
        for schedule, runs in claims:
            assert store.get(schedule.id) == schedule
            assert store.runs(schedule.id) == runs
        assert store.claim_due(NOON, _advance) == []

    def test_schedules_due_at_one_instant_are_claimed_by_id(self, store: Store) -> None:
        """Earliest first and, at one instant, by id, whatever the order they were added
        in: a claim with a limit takes the same schedules from every store."""
        added = [
            ("sched_zeta", NOON - HOUR),
            ("sched_bravo", NOON),
            ("sched_alpha", NOON - HOUR),
            ("sched_echo", NOON),
            ("sched_mike", NOON - HOUR),
        ]
        for n, (schedule_id, due) in enumerate(added):
            store.add(_schedule(n, id=schedule_id, next_run_at=due))
        claimed = [[s.id for s, _ in store.claim_due(NOON, _advance, limit=n)] for n in (1, 2, 3)]
        assert claimed == [
            ["sched_alpha"],
            ["sched_mike", "sched_zeta"],
            ["sched_bravo", "sched_echo"],
        ]

    def test_claim_due_respects_limit_and_plan_refusals(self, store: Store) -> None:
        for n in range(5):
            store.add(_schedule(n, next_run_at=NOON - timedelta(minutes=10 - n)))
        assert len(store.claim_due(NOON, _advance, limit=2)) == 2
        assert store.claim_due(NOON, lambda s, a: None) == []
        assert len(store.claim_due(NOON, _advance)) == 3

    def test_claim_due_refuses_a_duplicate_run(self, store: Store) -> None:
        schedule = _schedule(1, next_run_at=NOON)
        store.add(schedule)
        store.add_run(_run(schedule, "run_first"))
        assert store.claim_due(NOON, _advance) == []
        assert store.get(schedule.id) == schedule

    def test_concurrent_claims_never_double_fire(self, store: Store) -> None:
        for n in range(40):
            store.add(_schedule(n, next_run_at=NOON - timedelta(seconds=n)))
        results: list[list[tuple[Schedule, list[Run]]]] = []
        barrier = threading.Barrier(4)

        def claim() -> None:
            barrier.wait()
            results.append(store.claim_due(NOON, _advance, limit=1000))

        threads = [threading.Thread(target=claim) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        claimed = [s.id for result in results for s, _ in result]
        assert sorted(claimed) == sorted(f"sched_{n:04d}" for n in range(40))

    def test_runs_newest_first_and_finishable(self, store: Store) -> None:
        schedule = _schedule(1)
        store.add(schedule)
        for n in range(5):
            store.add_run(_run(schedule, f"run_{n}", NOON + timedelta(minutes=n), started_at=NOON))
        assert [r.id for r in store.runs(schedule.id)] == [f"run_{n}" for n in range(4, -1, -1)]
        assert [r.id for r in store.runs(schedule.id, limit=2)] == ["run_4", "run_3"]
        done = attrs.evolve(
            store.runs(schedule.id)[0], status=RunStatus.SUCCEEDED, output="ok", finished_at=NOON
        )
        assert _finish(store, done, lambda s: s) == (schedule, None)
        assert store.get_run("run_4") == done
        assert store.get_run("run_missing") is None

    def test_duplicate_scheduled_run_conflicts_but_manual_runs_do_not(self, store: Store) -> None:
        schedule = _schedule(1)
        store.add(schedule)
        store.add_run(_run(schedule, "run_a", NOON))
        try:
            store.add_run(_run(schedule, "run_b", NOON))
        except ConflictError:
            pass
        else:
            raise AssertionError("a second scheduled run for one fire time must conflict")
        store.add_run(_run(schedule, "run_c", NOON, trigger=RunTrigger.MANUAL))
        store.add_run(_run(schedule, "run_d", NOON, trigger=RunTrigger.MANUAL))
        assert len(store.runs(schedule.id)) == 3

    def test_next_due_at(self, store: Store) -> None:
        assert store.next_due_at() is None
        store.add(_schedule(1, next_run_at=NOON + timedelta(hours=2)))
        store.add(_schedule(2, next_run_at=NOON + timedelta(hours=1)))
        store.add(_schedule(3, next_run_at=NOON, status=Status.PAUSED))
        assert store.next_due_at() == NOON + timedelta(hours=1)
        second = store.get("sched_0002")
        assert second is not None
        store.update(attrs.evolve(second, status=Status.PAUSED, version=2), expected_version=1)
        assert store.next_due_at() == NOON + timedelta(hours=2)

    def test_list_with_unknown_cursor_is_a_validation_error(self, store: Store) -> None:
        try:
            store.list(after="sched_nope")
        except ValidationError as exc:
            assert exc.field == "after"
        else:
            raise AssertionError("an unknown cursor must raise ValidationError")

    def test_claim_plans_see_unfinished_runs(self, store: Store) -> None:
        schedule = _schedule(1, next_run_at=NOON)
        store.add(schedule)
        store.add_run(_run(schedule, "run_started", NOON - timedelta(days=1), started_at=NOON))
        store.add_run(_run(schedule, "run_waiting", NOON - timedelta(hours=1)))
        store.add_run(_run(schedule, "run_done", NOON - timedelta(days=2), status=RunStatus.FAILED))
        seen: list[Activity] = []

        def plan(s: Schedule, activity: Activity) -> None:
            seen.append(activity)

        store.claim_due(NOON, plan)
        assert seen == [Activity(running=1, waiting=1)]

    def test_finishing_updates_run_and_schedule_and_starts_the_buffered_run(
        self, store: Store
    ) -> None:
        schedule = _schedule(1)
        store.add(schedule)
        first = _run(schedule, "run_first", NOON, started_at=NOON)
        store.add_run(first)
        store.add_run(_run(schedule, "run_buffered", NOON + timedelta(hours=1)))
        done = attrs.evolve(
            first, status=RunStatus.SUCCEEDED, finished_at=NOON + timedelta(hours=2)
        )

        def count(s: Schedule) -> Schedule:
            return attrs.evolve(s, run_count=s.run_count + 1, version=s.version + 1)

        finished = _finish(store, done, count)
        assert finished is not None
        after, started = finished
        assert after is not None and after.run_count == 1 and store.get(schedule.id) == after
        assert started is not None and started.id == "run_buffered"
        assert started.started_at == done.finished_at
        assert store.get_run("run_buffered") == started
        assert store.get_run("run_first") == done
        # a second finish of the same run changes nothing
        assert _finish(store, attrs.evolve(done, status=RunStatus.FAILED), count) is None
        assert store.get_run("run_first") == done and store.get(schedule.id) == after
        assert _finish(store, attrs.evolve(done, id="run_missing"), count) is None

    def test_finish_runs_takes_a_batch_in_order(self, store: Store) -> None:
        schedules = [_schedule(n) for n in range(3)]
        runs = []
        for schedule in schedules:
            store.add(schedule)
            run = _run(schedule, f"run_{schedule.id}", NOON, started_at=NOON)
            store.add_run(run)
            runs.append(attrs.evolve(run, status=RunStatus.SUCCEEDED, finished_at=NOON))

        def bump(s: Schedule) -> Schedule:
            return attrs.evolve(s, failure_count=7, version=s.version + 1)

        def broken(s: Schedule) -> Schedule:
            raise RuntimeError("this schedule cannot take it")

        results = store.finish_runs(
            [Finishing(runs[0], bump), Finishing(runs[1], broken), Finishing(runs[2], bump)]
        )
        assert [r is not None for r in results] == [True, True, True]
        assert [store.get_run(r.id) for r in runs] == runs  # every run recorded
        failures = [store.get(s.id).failure_count for s in schedules]  # type: ignore[union-attr]
        assert failures == [7, 0, 7]  # the schedule whose update raised is left alone

    def test_a_batch_folds_runs_of_one_schedule_in_turn_and_skips_finished_runs(
        self, store: Store
    ) -> None:
        both, other, late = (_schedule(n) for n in range(3))
        for schedule in (both, other, late):
            store.add(schedule)
        started = {
            run_id: _run(schedule, run_id, NOON - timedelta(minutes=m), started_at=NOON)
            for m, (schedule, run_id) in enumerate(
                [(both, "run_a1"), (other, "run_b"), (both, "run_a2"), (late, "run_c")]
            )
        }
        for run in started.values():
            store.add_run(run, lease_until=NOON + HOUR)
        ended = {
            run_id: attrs.evolve(run, status=RunStatus.SUCCEEDED, finished_at=NOON + HOUR)
            for run_id, run in started.items()
        }
        (timed_out,) = store.finish_runs(  # finished before the batch comes (a timeout)
            [Finishing(attrs.evolve(ended["run_c"], status=RunStatus.FAILED), lambda s: s)]
        )
        assert timed_out is not None

        def count(s: Schedule) -> Schedule:
            return attrs.evolve(s, run_count=s.run_count + 1, version=s.version + 1)

        batch = [Finishing(ended[run_id], count) for run_id in started]
        results = store.finish_runs(batch, NOON + 2 * HOUR)
        assert results[3] is None  # run_c was finished already: nothing changes
        assert [r is not None and r[0] is not None and r[0].run_count for r in results[:3]] == [
            1,
            1,
            2,  # folded onto the first run's result
        ]
        assert store.get(both.id) == results[2][0]  # type: ignore[index]
        assert store.get(other.id) == results[1][0]  # type: ignore[index]
        assert store.get(late.id) == late
        assert [store.get_run(run_id) for run_id in ("run_a1", "run_b", "run_a2")] == [
            ended["run_a1"],
            ended["run_b"],
            ended["run_a2"],
        ]
        assert store.get_run("run_c") == attrs.evolve(ended["run_c"], status=RunStatus.FAILED)
        assert store.expired_runs(NOON + 3 * HOUR) == []  # no lease left behind
        assert store.finish_runs(batch) == [None, None, None, None]  # only once

    def test_an_occupied_run_keeps_its_slot_until_released(self, store: Store) -> None:
        schedule = _schedule(1, next_run_at=NOON)
        store.add(schedule)
        first = _run(schedule, "run_first", NOON - timedelta(hours=1), started_at=NOON)
        store.add_run(first, lease_until=NOON + timedelta(minutes=5))
        store.add_run(_run(schedule, "run_buffered", NOON - timedelta(minutes=30)))
        timed_out = attrs.evolve(first, status=RunStatus.FAILED, finished_at=NOON)
        result = _finish(
            store, timed_out, lambda s: s, lease_until=NOON + timedelta(minutes=5), occupied=True
        )
        assert result == (schedule, None)  # finished, and nothing buffered starts yet
        assert store.get_run("run_first") == timed_out
        seen: list[Activity] = []
        store.claim_due(NOON, lambda s, a: seen.append(a))
        assert seen == [Activity(running=1, waiting=1)]  # still occupies the schedule
        store.renew_leases(["run_first"], NOON + timedelta(minutes=10))
        assert store.expired_runs(NOON + timedelta(minutes=9)) == []
        assert [r.id for r in store.expired_runs(NOON + timedelta(minutes=11))] == ["run_first"]
        released = store.release_run("run_first", NOON + timedelta(minutes=2), NOON + HOUR)
        assert released is not None and released[1] is not None
        assert released[1].id == "run_buffered"
        assert released[1].started_at == NOON + timedelta(minutes=2)
        assert store.release_run("run_first", NOON, NOON + HOUR) is None  # only once
        assert [r.id for r in store.expired_runs(NOON + HOUR - timedelta(seconds=1))] == []
        assert store.get_run("run_first") == timed_out  # the record itself is unchanged

    def test_a_plan_that_raises_does_not_stop_the_others(self, store: Store) -> None:
        for n in range(3):
            store.add(_schedule(n, next_run_at=NOON - timedelta(minutes=3 - n)))

        def plan(s: Schedule, activity: Activity) -> tuple[Schedule, list[Run]]:
            if s.id == "sched_0001":
                raise RuntimeError("this one cannot be planned")
            return _advance(s, activity)

        claimed = store.claim_due(NOON, plan)
        assert [s.id for s, _ in claimed] == ["sched_0000", "sched_0002"]
        assert store.claim_due(NOON, plan) == []  # and it is not offered again
        again = store.get("sched_0001")
        assert again is not None
        store.update(attrs.evolve(again, version=2), expected_version=1)
        assert [s.id for s, _ in store.claim_due(NOON, _advance)] == ["sched_0001"]

    def test_a_schedule_whose_plan_raises_is_reported_and_not_due_until_written(
        self, store: Store
    ) -> None:
        bad = _schedule(0, next_run_at=NOON - 2 * HOUR)  # due first
        others = [_schedule(n, next_run_at=NOON - HOUR) for n in (1, 2)]
        for schedule in (bad, *others):
            store.add(schedule)
        tried: list[str] = []

        def plan(s: Schedule, activity: Activity) -> tuple[Schedule, list[Run]]:
            tried.append(s.id)
            if s.id == bad.id:
                raise RuntimeError("this one cannot be planned")
            return _advance(s, activity)

        with _errors_logged() as logged:
            claimed = store.claim_due(NOON, plan)
        assert [s.id for s, _ in claimed] == [s.id for s in others]
        assert any(bad.id in message for message in logged), logged  # reported
        assert store.next_due_at() == NOON - HOUR + DAY  # the others', not its own
        again = store.claim_due(NOON + DAY, plan)
        assert [s.id for s, _ in again] == [s.id for s in others]
        assert tried == [bad.id, *[s.id for s in others] * 2]  # not tried again
        assert store.get(bad.id) == bad  # its record is left as it is
        store.update(attrs.evolve(bad, version=2), expected_version=1)  # written again
        assert store.next_due_at() == NOON - 2 * HOUR
        assert [s.id for s, _ in store.claim_due(NOON + DAY, _advance)] == [bad.id]

    def test_leases_expire_unless_renewed(self, store: Store) -> None:
        schedule = _schedule(1, next_run_at=NOON)
        store.add(schedule)
        (claim,) = store.claim_due(
            NOON, lambda s, a: _advance_started(s), lease_until=NOON + timedelta(minutes=5)
        )
        (run,) = claim[1]
        store.add_run(
            _run(schedule, "run_manual", NOON, trigger=RunTrigger.MANUAL, started_at=NOON),
            lease_until=NOON + timedelta(minutes=1),
        )
        store.add_run(_run(schedule, "run_waiting", NOON + timedelta(hours=1)))
        assert store.expired_runs(NOON + timedelta(minutes=4)) == [store.get_run("run_manual")]
        store.renew_leases([run.id, "run_manual"], NOON + timedelta(minutes=10))
        assert store.expired_runs(NOON + timedelta(minutes=9)) == []
        late = store.expired_runs(NOON + timedelta(minutes=11))
        assert sorted(r.id for r in late) == sorted([run.id, "run_manual"])  # never the waiting one
        done = attrs.evolve(run, status=RunStatus.FAILED, finished_at=NOON + timedelta(minutes=11))
        finished = _finish(store, done, lambda s: s, lease_until=NOON + timedelta(minutes=20))
        assert finished is not None and finished[1] is not None
        assert [r.id for r in store.expired_runs(NOON + timedelta(minutes=15))] == ["run_manual"]
        assert {r.id for r in store.expired_runs(NOON + timedelta(minutes=21))} == {
            "run_manual",
            "run_waiting",
        }


def _finish(
    store: Store,
    run: Run,
    update: Callable[[Schedule], Schedule],
    lease_until: datetime | None = None,
    occupied: bool = False,
) -> Finish | None:
    (result,) = store.finish_runs([Finishing(run, update, occupied)], lease_until)
    return result


def _advance_started(schedule: Schedule) -> tuple[Schedule, list[Run]]:
    moved, runs = _advance(schedule, Activity())
    return moved, [attrs.evolve(r, started_at=NOON) for r in runs]


Record = Schedule | Run

# Stored texts that are not the record they stand for (given it, and another record):
# garbage, another id's record, a field the model refuses, JSON null, and JSON nested
# deeper than any decoder recurses.
_BAD_BODIES: dict[str, Callable[[Record, Record], str]] = {
    "not JSON": lambda record, other: "{not json",
    "another id": lambda record, other: json.dumps(other.to_dict()),
    "bad field": lambda record, other: json.dumps({**record.to_dict(), "status": "zombie"}),
    "JSON null": lambda record, other: "null",
    "deep JSON": lambda record, other: "[" * 100_000 + "]" * 100_000,
}


class CorruptRowConformance:
    """Rows a store cannot read back, for stores that keep each record as stored text
    (both SQL stores here; a user's own too). Subclass it with a `store` fixture and a
    `spoil` fixture: a function `spoil(kind, row_id, body)` that replaces the stored
    text of the schedule (`kind` "schedule") or run (`kind` "run") with that id by
    `body`, behind the store's back, as a hand edit or a damaged disk would.

    Such a row never stops the others: `get` and `get_run` raise a `StoreError`
    naming it, `list` and `runs` skip it, a claim reports a corrupt schedule and
    leaves it out of the due list until it is written again, a lease sweep or a
    buffered start that meets a corrupt run takes it out of the running set, and
    outcomes are recorded whatever their schedule's row holds.
    """

    def test_a_corrupt_schedule_is_named_skipped_and_not_due_until_written(
        self, store: Store, spoil: Callable[[str, str, str], None]
    ) -> None:
        healthy = [_schedule(n, next_run_at=NOON - HOUR) for n in range(2)]
        for schedule in healthy:
            store.add(schedule)
        bad: dict[str, Schedule] = {}
        for n, bad_body in enumerate(_BAD_BODIES.values(), start=10):
            schedule = _schedule(n, next_run_at=NOON - 2 * HOUR)  # due before the others
            store.add(schedule)
            spoil("schedule", schedule.id, bad_body(schedule, healthy[0]))
            bad[schedule.id] = schedule
        for schedule_id in bad:
            _refused(functools.partial(store.get, schedule_id), StoreError, schedule_id)
        assert store.list() == healthy
        planned: list[str] = []

        def plan(s: Schedule, activity: Activity) -> tuple[Schedule, list[Run]]:
            planned.append(s.id)
            return _advance(s, activity)

        with _errors_logged() as logged:
            claimed = store.claim_due(NOON, plan)
        assert [s.id for s, _ in claimed] == planned == [s.id for s in healthy]
        for schedule_id in bad:  # each reported
            assert any(schedule_id in message for message in logged), (schedule_id, logged)
        assert store.next_due_at() == NOON - HOUR + DAY  # the healthy ones', not theirs
        assert [s.id for s, _ in store.claim_due(NOON + DAY, _advance)] == list(planned)
        for schedule in bad.values():  # written again, each is itself and due again
            store.update(attrs.evolve(schedule, version=2), expected_version=1)
        assert store.next_due_at() == NOON - 2 * HOUR
        assert [s.id for s, _ in store.claim_due(NOON + DAY, _advance)] == sorted(bad)

    def test_corrupt_runs_are_named_and_skipped(
        self, store: Store, spoil: Callable[[str, str, str], None]
    ) -> None:
        schedule = _schedule(1)
        store.add(schedule)
        runs = [
            _run(schedule, f"run_{n}", NOON + timedelta(minutes=n), status=RunStatus.SKIPPED)
            for n in range(6)
        ]
        for run in runs:
            store.add_run(run)
        for run, bad_body in zip(runs, _BAD_BODIES.values(), strict=False):
            spoil("run", run.id, bad_body(run, runs[5]))
        assert store.runs(schedule.id) == [runs[5]]
        for run in runs[:5]:
            _refused(functools.partial(store.get_run, run.id), StoreError, run.id)

    def test_a_corrupt_run_whose_lease_ran_out_is_set_aside(
        self, store: Store, spoil: Callable[[str, str, str], None]
    ) -> None:
        schedule = _schedule(1, next_run_at=NOON)
        store.add(schedule)
        good = _run(schedule, "run_good", NOON - HOUR, started_at=NOON - HOUR)
        bad = _run(schedule, "run_bad", NOON - 2 * HOUR, started_at=NOON - 2 * HOUR)
        store.add_run(good, lease_until=NOON - timedelta(minutes=5))
        store.add_run(bad, lease_until=NOON - timedelta(minutes=10))
        spoil("run", bad.id, "garbage")
        with _errors_logged() as logged:
            assert store.expired_runs(NOON) == [good]
        assert any(bad.id in message for message in logged), logged
        assert store.expired_runs(NOON) == [good]  # no longer leased
        seen: list[Activity] = []
        store.claim_due(NOON, lambda s, a: seen.append(a))
        assert seen == [Activity(running=1)]  # nor occupying its schedule
        failed = attrs.evolve(bad, status=RunStatus.FAILED, finished_at=NOON)
        assert _finish(store, failed, lambda s: s) is None  # nor running

    def test_a_corrupt_buffered_run_is_set_aside_and_the_next_one_starts(
        self, store: Store, spoil: Callable[[str, str, str], None]
    ) -> None:
        for n, occupied in ((1, False), (2, True)):  # finished, or timed out and released
            schedule = _schedule(n, next_run_at=NOON)
            store.add(schedule)
            first = _run(schedule, f"run_first_{n}", NOON - 3 * HOUR, started_at=NOON)
            store.add_run(first, lease_until=NOON + HOUR)
            for m, run_id in enumerate([f"run_bad_{n}", f"run_next_{n}"]):
                store.add_run(_run(schedule, run_id, NOON - (2 - m) * HOUR))  # buffered
            spoil("run", f"run_bad_{n}", "{not json")
            done = attrs.evolve(first, status=RunStatus.FAILED, finished_at=NOON)
            with _errors_logged() as logged:
                result = _finish(store, done, lambda s: s, NOON + HOUR, occupied)
                if occupied:
                    assert result == (schedule, None)
                    result = store.release_run(first.id, NOON, NOON + HOUR)
            assert result is not None and result[1] is not None
            assert result[1].id == f"run_next_{n}" and result[1].started_at == NOON
            assert any(f"run_bad_{n}" in message for message in logged), logged
            assert store.get_run(first.id) == done
        seen: list[Activity] = []
        store.claim_due(NOON, lambda s, a: seen.append(a))
        assert seen == [Activity(running=1)] * 2  # the next ones run, nothing waits

    def test_outcomes_are_recorded_whatever_their_rows_hold(
        self, store: Store, spoil: Callable[[str, str, str], None]
    ) -> None:
        spoiled, healthy = _schedule(1), _schedule(2)
        started = [_run(s, f"run_{s.id}", NOON, started_at=NOON) for s in (spoiled, healthy)]
        for schedule, run in zip((spoiled, healthy), started, strict=True):
            store.add(schedule)
            store.add_run(run, lease_until=NOON + HOUR)
        spoil("schedule", spoiled.id, "{not json")
        spoil("run", started[1].id, "{not json")  # an outcome replaces its row whole
        done = [attrs.evolve(r, status=RunStatus.SUCCEEDED, finished_at=NOON) for r in started]

        def count(s: Schedule) -> Schedule:
            return attrs.evolve(s, run_count=s.run_count + 1, version=s.version + 1)

        with _errors_logged() as logged:
            results = store.finish_runs([Finishing(run, count) for run in done])
        assert results == [(None, None), (count(healthy), None)]
        assert any(spoiled.id in message for message in logged), logged
        assert [store.get_run(run.id) for run in done] == done
        assert store.get(healthy.id) == count(healthy)
        _refused(lambda: store.get(spoiled.id), StoreError, spoiled.id)  # left as it is
        assert store.expired_runs(NOON + DAY) == []  # no lease left behind
