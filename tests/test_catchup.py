"""Catch-up after downtime: what a claim finds due, counted without stepping through
the fires, against a brute-force walk over every one of them.

The rule (docs/firing.md): fires older than `catchup_window` are one `missed` run
standing for all of them, fires within it one run for the latest of them, and the
schedule moves to its first fire not due yet. A claim learns all of it from
`due_fires`, whose work must not grow with the downtime.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from support.cron_reference import CronShape, cases
from support.firing import Recorder
from support.matrix import Factory

from agentsched import Cron, Interval, Once, RRule, RunStatus
from agentsched.model import Schedule, Status, jitter_offset
from agentsched.model.specs import Spec
from agentsched.rules import claims as claim_rules
from agentsched.rules.claims import CATCHUP_WALK_LIMIT, DueFires, due_fires
from agentsched.testing import FakeClock, schedules

UTC = timezone.utc
T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
DST_ZONES = ["Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Pacific/Chatham"]


def walked(schedule: Schedule, now: datetime) -> DueFires:
    """The reference: every fire from `next_run_at`, one `next_after` at a time, as a
    claim found them before catch-up was counted."""
    fires: list[datetime] = []
    t = schedule.next_run_at
    not_due = None
    while t is not None:
        if schedule.end_at is not None and t > schedule.end_at:
            break
        jitter = schedule.jitter
        if (t + jitter_offset(schedule.id, t, jitter) if jitter else t) > now:
            not_due = t
            break
        fires.append(t)
        t = schedule.schedule.next_after(t)
    split = bisect_left(fires, now - schedule.catchup_window)
    missed, recent = fires[:split], fires[split:]
    return DueFires(
        len(missed),
        missed[-1] if missed else None,
        len(recent),
        recent[-1] if recent else None,
        not_due,
    )


def counts(spec: Spec) -> bool:
    """Whether the spec counts its fires (else a claim walks, at most a limit of them)."""
    return spec.count_fires(T0, T0) is not None


@st.composite
def specs_and_downtimes(draw: st.DrawFn) -> tuple[Spec, datetime, timedelta]:
    """A spec, an instant to start from, and a downtime long enough for many fires but
    short enough for the brute-force walk; often across DST transitions."""
    kind = draw(st.sampled_from(["interval", "cron", "rrule", "rrule-days", "once"]))
    event(kind)
    if kind == "cron":
        shape: CronShape
        shape, zone, start, _ = draw(cases())
        return Cron(shape.expression, zone, "key"), start, timedelta(days=3)
    if kind == "interval":
        every = draw(
            st.sampled_from([timedelta(seconds=s) for s in (1, 7, 90, 3600, 86400)])
            | st.timedeltas(timedelta(seconds=1), timedelta(days=2))
        )
        start_at = draw(st.none() | st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1)))
        interval = Interval(every, None if start_at is None else start_at.replace(tzinfo=UTC))
        return interval, T0, every * 3000
    if kind == "once":
        run_at = draw(st.datetimes(datetime(2026, 1, 1), datetime(2026, 2, 1)))
        return Once(run_at.replace(tzinfo=UTC)), T0 - timedelta(days=10), timedelta(days=60)
    zone = draw(st.sampled_from(["UTC", *DST_ZONES]))
    # Local dates around the 2025-2026 transitions of these zones.
    dtstart = draw(
        st.sampled_from([datetime(2025, 3, 27), datetime(2025, 10, 23), datetime(2026, 4, 2)])
    ) + timedelta(minutes=draw(st.integers(0, 14 * 24 * 60)), seconds=draw(st.integers(0, 59)))
    if kind == "rrule":
        freq, reach = draw(
            st.sampled_from(
                [
                    ("SECONDLY", timedelta(hours=1)),
                    ("MINUTELY", timedelta(days=3)),
                    ("HOURLY", timedelta(days=200)),
                    ("DAILY", timedelta(days=3000)),
                    ("WEEKLY", timedelta(days=20000)),
                ]
            )
        )
        parts = [f"FREQ={freq}", f"INTERVAL={draw(st.sampled_from([1, 1, 2, 7, 25, 61]))}"]
        if draw(st.booleans()):
            parts.append(f"BYHOUR={draw(st.sampled_from(['0,1,2,3', '2', '1,13', '9']))}")
        if draw(st.booleans()) and freq != "SECONDLY":
            parts.append(f"BYMINUTE={draw(st.sampled_from(['0', '0,30', '15,45']))}")
        rule = ";".join(parts)
    else:
        rule = draw(
            st.sampled_from(
                [
                    "FREQ=HOURLY;BYDAY=MO,WE",
                    "FREQ=MINUTELY;INTERVAL=7;BYDAY=SA;BYHOUR=1,2,3",
                    "FREQ=DAILY;BYMONTHDAY=1,15,-1",
                    "FREQ=MONTHLY;BYDAY=-1SU;BYHOUR=2;BYMINUTE=30",
                ]
            )
        )
        reach = timedelta(days=60)
    try:
        spec = RRule(rule, dtstart, zone)
    except ValueError:  # a rule whose INTERVAL never reaches its BYHOUR
        spec = RRule("FREQ=HOURLY", dtstart, zone)
    start = dtstart.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC) - timedelta(hours=1)
    return spec, start, reach


@st.composite
def catch_ups(draw: st.DrawFn) -> tuple[Schedule, list[datetime]]:
    """An active schedule at its next fire, and the instants of a few claims after it."""
    spec, start, reach = draw(specs_and_downtimes())
    t0 = spec.next_after(start)
    if t0 is None:
        t0 = start
    downtimes = st.timedeltas(timedelta(0), reach) | st.just(timedelta(0))
    claims = sorted(t0 + draw(downtimes) for _ in range(draw(st.integers(1, 3))))
    changes: dict[str, Any] = {
        "status": Status.ACTIVE,
        "schedule": spec,
        "next_run_at": t0,
        "catchup_window": draw(
            st.sampled_from([timedelta(0), timedelta(hours=1)])
            | st.timedeltas(timedelta(0), min(reach / 2, timedelta(days=366)))
        ),
        "jitter": draw(
            st.none() | st.sampled_from([timedelta(0), timedelta(seconds=5), timedelta(hours=2)])
        ),
        "end_at": draw(st.none() | st.just(t0 + draw(st.timedeltas(timedelta(0), reach)))),
        "max_runs": None,
    }
    return attrs.evolve(draw(schedules()), **changes), claims


@settings(max_examples=150)
@given(catch_ups())
def test_counted_catch_up_is_the_walk_over_every_fire(
    case: tuple[Schedule, list[datetime]],
) -> None:
    """Over whole sequences of claims after random downtimes (across DST transitions
    in several zones, with jitter and end_at): what each claim finds due is exactly
    what walking every fire finds, wherever the spec counts; and where it walks, up to
    its limit, the same, with counts beyond the limit as lower bounds."""
    schedule, claims = case
    exact = counts(schedule.schedule)
    for now in claims:
        if schedule.next_run_at is None:
            break
        found = due_fires(schedule, now)
        expected = walked(schedule, now)
        if exact or max(expected.missed, expected.recent) < CATCHUP_WALK_LIMIT:
            assert found == expected
        else:
            assert found._replace(missed=0, recent=0) == expected._replace(missed=0, recent=0)
            for counted, real in ((found.missed, expected.missed), (found.recent, expected.recent)):
                assert min(real, CATCHUP_WALK_LIMIT) <= counted <= real
        schedule = attrs.evolve(schedule, next_run_at=found.not_due)  # the claim moves it on


@st.composite
def walked_specs(draw: st.DrawFn) -> tuple[Schedule, list[datetime]]:
    """RRULEs that only `next_after` can step through, with many fires due."""
    rule = draw(st.sampled_from(["FREQ=MINUTELY;BYDAY=MO,WE", "FREQ=SECONDLY;BYDAY=TU;BYHOUR=9"]))
    zone = draw(st.sampled_from(["UTC", *DST_ZONES]))
    spec = RRule(
        rule, datetime(2025, 10, 20) + timedelta(minutes=draw(st.integers(0, 20000))), zone
    )
    t0 = spec.next_after(datetime(2025, 10, 19, tzinfo=UTC))
    assert t0 is not None
    claims = sorted(t0 + draw(st.timedeltas(timedelta(0), timedelta(days=9))) for _ in range(2))
    schedule = attrs.evolve(
        draw(schedules()),
        status=Status.ACTIVE,
        schedule=spec,
        next_run_at=t0,
        catchup_window=draw(st.timedeltas(timedelta(0), timedelta(days=4))),
        jitter=None,
        end_at=None,
        max_runs=None,
    )
    return schedule, claims


@settings(max_examples=25)
@given(walked_specs())
def test_a_walk_past_its_limit_counts_a_lower_bound_and_finds_the_last_fire(
    case: tuple[Schedule, list[datetime]],
) -> None:
    """With the limit lowered so that the walk over every fire stays affordable: past
    it, the count is at least the limit and at most the truth, and the latest fire
    of each side (the runs' `scheduled_for`) and the next fire are exact."""
    schedule, claims = case
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(claim_rules, "CATCHUP_WALK_LIMIT", 50)
        for now in claims:
            found = due_fires(schedule, now)
            expected = walked(schedule, now)
            assert found._replace(missed=0, recent=0) == expected._replace(missed=0, recent=0)
            for counted, real in ((found.missed, expected.missed), (found.recent, expected.recent)):
                assert min(real, 50) <= counted <= real
            schedule = attrs.evolve(schedule, next_run_at=found.not_due)


@settings(max_examples=150)
@given(cases(), st.integers(0, 3 * 24 * 60), st.booleans())
def test_cron_counts_the_fires_next_after_steps_through(
    case: tuple[CronShape, str, datetime, datetime], minutes: int, far: bool
) -> None:
    """Counted by days and masks, with the DST rules at each transition: the same fires,
    and the same last one, as stepping with `next_after` (windows across the real
    transitions of fourteen zones; sparse expressions over months)."""
    shape, zone, start, _ = case
    spec = Cron(shape.expression, zone)
    until = (
        start
        + timedelta(minutes=minutes, seconds=30)
        + (timedelta(days=70) if far else timedelta(0))
    )
    fires: list[datetime] = []
    t = spec.next_after(start)
    while t is not None and t <= until and len(fires) <= 20_000:
        fires.append(t)
        t = spec.next_after(t)
    if len(fires) > 20_000:
        return  # too many for the reference
    assert spec.count_fires(start, until) == (len(fires), fires[-1] if fires else None)


# -- slow claims of old, and work that does not grow with the downtime ------------------


@pytest.fixture
def steps(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts the calls a claim makes to specs: `next_after` and `count_fires`."""
    calls = [0]
    for spec_type in (Cron, Once, Interval, RRule):
        for name in ("next_after", "count_fires"):
            original = getattr(spec_type, name)

            def counting(*args: Any, original: Any = original) -> Any:
                calls[0] += 1
                return original(*args)

            monkeypatch.setattr(spec_type, name, counting)
    yield calls


DOWNTIMES = [timedelta(hours=1), timedelta(days=1), timedelta(days=7), timedelta(days=366)]


def schedule_at(spec: Spec, t0: datetime) -> Schedule:
    return Schedule(
        id="sched_catchup",
        agent_id="agent",
        schedule=spec,
        input="go",
        status=Status.ACTIVE,
        next_run_at=t0,
        created_at=t0,
        updated_at=t0,
    )


@pytest.mark.parametrize("down", DOWNTIMES, ids=lambda d: f"{d.days}d{d.seconds // 3600}h")
def test_a_secondly_rrule_after_any_downtime_costs_a_few_steps(
    down: timedelta, steps: list[int]
) -> None:
    """Once seconds for one tick after 7 days down (every fire stepped through, in the
    claim's write transaction): now counted, exactly, in a few steps."""
    spec = RRule("FREQ=SECONDLY", T0.replace(tzinfo=None))
    due = due_fires(schedule_at(spec, T0), T0 + down)
    seconds = int(down.total_seconds())
    assert due == DueFires(
        seconds - 3600 if seconds > 3600 else 0,
        T0 + down - timedelta(hours=1, seconds=1) if seconds > 3600 else None,
        min(seconds, 3600) + 1,
        T0 + down,
        T0 + down + timedelta(seconds=1),
    )
    assert steps[0] <= 4


@pytest.mark.parametrize(
    "spec",
    [
        Interval(timedelta(seconds=1), T0),
        Cron("* * * * *", "Europe/Paris"),
        Cron("0 9 * * *", "America/New_York"),
        RRule("FREQ=MINUTELY;INTERVAL=7;BYHOUR=9,10", T0.replace(tzinfo=None), "Europe/Paris"),
    ],
    ids=["every second", "every minute", "daily", "rrule minutely"],
)
def test_the_work_of_a_claim_does_not_grow_with_the_downtime(spec: Spec, steps: list[int]) -> None:
    """An every-second Interval after 30 days took several seconds: every spec that
    counts makes the same few steps after an hour or a year, and counts exactly."""
    t0 = spec.next_after(T0 - timedelta(seconds=1))
    assert t0 is not None
    made = []
    for down in DOWNTIMES:
        steps[0] = 0
        found = due_fires(schedule_at(spec, t0), t0 + down)
        made.append(steps[0])
        if down <= timedelta(days=7):
            assert found == walked(schedule_at(spec, t0), t0 + down)
    assert max(made) <= 4


def test_interval_counts_by_division() -> None:
    every = Interval(timedelta(seconds=1), T0)
    due = due_fires(schedule_at(every, T0), T0 + timedelta(days=30))
    assert due.missed == 30 * 86400 - 3600
    assert due.recent == 3601
    assert due.not_due == T0 + timedelta(days=30, seconds=1)


# -- through a scheduler, on every store and shell -----------------------------------


def test_catch_up_coalesces_recent_fires_and_records_older_ones_as_one_missed_run(
    make: Factory,
) -> None:
    clock = FakeClock(T0 - MINUTE)
    sched = make(Recorder(), clock=clock)
    s = sched.create(
        agent_id="bot", schedule=Cron("*/10 * * * *"), input="go", catchup_window=timedelta(hours=1)
    )
    clock.set(T0 + timedelta(hours=3, minutes=4))  # down from 08:59 to 12:04
    runs = sched.tick()
    missed, ran = runs
    # fires 09:00 ... 12:00 are 19; those at or after 11:04 (11:10 ... 12:00) are recent: 6
    assert (missed.status, missed.coalesced, missed.scheduled_for) == (
        RunStatus.MISSED,
        13,
        datetime(2026, 1, 5, 11, 0, tzinfo=UTC),
    )
    assert (ran.status, ran.coalesced, ran.scheduled_for) == (
        RunStatus.SUCCEEDED,
        6,
        datetime(2026, 1, 5, 12, 0, tzinfo=UTC),
    )
    after = sched.get(s.id)
    assert after.next_run_at == datetime(2026, 1, 5, 12, 10, tzinfo=UTC) and after.run_count == 1


def test_catch_up_window_zero_records_late_fires_as_missed(make: Factory) -> None:
    sched = make(Recorder(), clock=FakeClock(T0 - MINUTE))
    sched.create(
        agent_id="bot", schedule=Cron("0 9 * * *"), input="go", catchup_window=timedelta(0)
    )
    assert [r.status for r in sched.tick(now=T0)] == [RunStatus.SUCCEEDED]
    assert [r.status for r in sched.tick(now=T0 + timedelta(days=1, seconds=1))] == [
        RunStatus.MISSED
    ]
