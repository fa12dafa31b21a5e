"""The engine against the brute-force reference, around real DST transitions."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from support.cron_reference import CronShape, cases, cases_inside_repeated_hour, reference_fires

from agentsched import Cron


def engine_fires(shape: CronShape, zone: str, start: datetime, end: datetime) -> list[datetime]:
    spec = Cron(shape.expression, zone)
    fires = []
    t = spec.next_after(start)
    while t is not None and t <= end:
        fires.append(t)
        t = spec.next_after(t)
    return fires


Case = tuple[CronShape, str, datetime, datetime]


@given(cases())
def test_chain_matches_reference(case: Case) -> None:
    shape, zone, start, end = case
    assert engine_fires(shape, zone, start, end) == reference_fires(
        shape, ZoneInfo(zone), start, end
    )


@given(cases_inside_repeated_hour())
def test_chain_from_inside_a_repeated_hour_matches_reference(case: Case) -> None:
    shape, zone, start, end = case
    assert engine_fires(shape, zone, start, end) == reference_fires(
        shape, ZoneInfo(zone), start, end
    )


@given(cases())
def test_fixed_and_wildcard_classification(case: Case) -> None:
    shape, zone, _, _ = case
    assert Cron(shape.expression, zone).fixed_time == shape.fixed_time


@given(cases())
def test_fire_times_strictly_increase_and_are_utc(case: Case) -> None:
    shape, zone, start, end = case
    fires = engine_fires(shape, zone, start, end)
    assert all(a < b for a, b in itertools.pairwise(fires))
    assert all(f.utcoffset() == timedelta(0) for f in fires)


def test_lord_howe_unique_wall_times_on_transition_days() -> None:
    """cronsim misses 03:00 local on these days; the reference and we do not."""
    zone = "Australia/Lord_Howe"
    shape = CronShape(["0", "*/3", "*", "*", "*"], {0}, set(range(0, 24, 3)), set(range(1, 13)))
    shape.dom_values, shape.dow_values = set(range(1, 32)), set(range(7))
    for day in (datetime(2025, 4, 6), datetime(2025, 10, 5)):
        start = day.replace(tzinfo=ZoneInfo(zone))
        end = start.replace(hour=23)
        fires = engine_fires(shape, zone, start, end)
        assert fires == reference_fires(shape, ZoneInfo(zone), start, end)
        assert [f.astimezone(ZoneInfo(zone)).hour for f in fires] == [3, 6, 9, 12, 15, 18, 21]
