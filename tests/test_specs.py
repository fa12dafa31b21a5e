"""Once and Interval specs, serialisation of all specs, and next_fire (RRule: test_rrule.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentsched import Cron, Interval, Once, RRule, ValidationError, next_fire
from agentsched.model.specs import spec_from_dict

UTC = timezone.utc
T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)


def test_once_fires_once() -> None:
    spec = Once(T0)
    assert spec.next_after(T0 - timedelta(seconds=1)) == T0
    assert spec.next_after(T0) is None
    assert next_fire(spec, T0 - timedelta(days=365)) == T0


def test_once_aware_input_is_stored_in_utc() -> None:
    paris = datetime(2026, 1, 5, 14, tzinfo=ZoneInfo("Europe/Paris"))
    spec = Once(paris, "Europe/Paris")
    assert spec.run_at == datetime(2026, 1, 5, 13, tzinfo=UTC)
    assert spec.run_at.tzinfo is UTC
    assert spec.to_dict() == {
        "type": "once",
        "run_at": "2026-01-05T13:00:00Z",
        "timezone": "Europe/Paris",
    }


def test_once_round_trip_keeps_microseconds() -> None:
    spec = Once(datetime(2026, 1, 5, 14, 0, 0, 250, tzinfo=UTC))
    assert Once.from_dict(spec.to_dict()) == spec


@given(
    st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=366)),
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
)
def test_interval_fires_on_its_phase(every: timedelta, start: datetime, after: datetime) -> None:
    spec = Interval(every, start)
    t = spec.next_after(after)
    assert t is not None and t > after
    k, remainder = divmod(t - start, every)
    assert remainder == timedelta(0) and k >= 0
    assert t - every <= after or t == start


def test_interval_without_anchor_adds_every() -> None:
    assert Interval(timedelta(minutes=90)).next_after(T0) == T0 + timedelta(minutes=90)


@pytest.mark.parametrize(
    "every",
    [
        timedelta(0),
        timedelta(milliseconds=999),
        timedelta(seconds=-5),
        timedelta(days=366, microseconds=1),
        timedelta.max,
        60,
        "1h",
        None,
    ],
)
def test_interval_rejects_bad_every(every: object) -> None:
    with pytest.raises(ValidationError) as info:
        Interval(every)  # type: ignore[arg-type]
    assert info.value.field == "every"


def test_interval_rejects_naive_start() -> None:
    with pytest.raises(ValidationError) as info:
        Interval(timedelta(hours=1), datetime(2026, 1, 1))
    assert info.value.field == "start_at"


def test_interval_past_year_9999_is_exhaustion() -> None:
    spec = Interval(timedelta(days=366), datetime(9990, 1, 1, tzinfo=UTC))
    assert spec.next_after(datetime(9999, 12, 30, tzinfo=UTC)) is None


SPECS = [
    Cron("0 9 * * mon-fri", "Europe/Paris"),
    Cron("H 9 * * *", "UTC", hash_key="sched_1"),
    Once(T0, "Europe/Paris"),
    Interval(timedelta(minutes=90), T0),
    Interval(timedelta(seconds=1.5)),
    RRule("FREQ=WEEKLY;BYDAY=MO,WE", datetime(2026, 1, 5, 9), "Europe/Paris"),
]


@pytest.mark.parametrize("spec", SPECS, ids=repr)
def test_round_trip(spec: Cron | Once | Interval | RRule) -> None:
    data = spec.to_dict()
    assert data["type"] == spec.type
    assert spec_from_dict(data) == spec
    assert type(spec).from_dict(data) == spec


def test_documented_shapes() -> None:
    assert Cron("0 9 * * *", "Europe/Paris").to_dict() == {
        "type": "cron",
        "expression": "0 9 * * *",
        "timezone": "Europe/Paris",
    }
    assert Interval(timedelta(minutes=90), T0).to_dict() == {
        "type": "interval",
        "every_seconds": 5400,
        "start_at": "2026-01-05T09:00:00Z",
    }
    assert RRule("FREQ=WEEKLY;BYDAY=MO,WE", datetime(2026, 1, 5, 9), "Europe/Paris").to_dict() == {
        "type": "rrule",
        "rrule": "FREQ=WEEKLY;BYDAY=MO,WE",
        "dtstart": "2026-01-05T09:00:00",
        "timezone": "Europe/Paris",
    }


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (None, "schedule"),
        ([], "schedule"),
        ({}, "schedule.type"),
        ({"type": "weekly"}, "schedule.type"),
        ({"type": "cron"}, "expression"),
        ({"type": "cron", "expression": "* * * * *", "timezone": "X/Y"}, "timezone"),
        ({"type": "once", "run_at": "2026-01-05T09:00:00"}, "run_at"),
        ({"type": "once", "run_at": 5}, "run_at"),
        ({"type": "once", "run_at": "yesterday"}, "run_at"),
        ({"type": "interval", "every_seconds": "60"}, "every_seconds"),
        ({"type": "interval", "every_seconds": True}, "every_seconds"),
        ({"type": "interval", "every_seconds": 1e300}, "every_seconds"),
        ({"type": "interval", "every_seconds": 0}, "every"),
        ({"type": "rrule", "rrule": "FREQ=DAILY", "dtstart": 3}, "dtstart"),
        ({"type": "rrule", "rrule": "FREQ=DAILY", "dtstart": "soon"}, "dtstart"),
    ],
)
def test_from_dict_rejects_malformed(data: object, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        spec_from_dict(data)
    assert info.value.field == field


def test_next_fire_rejects_non_specs() -> None:
    with pytest.raises(ValidationError):
        next_fire("0 9 * * *", T0)  # type: ignore[arg-type]


def test_specs_are_frozen_and_hashable() -> None:
    spec = Cron("0 9 * * *")
    with pytest.raises(AttributeError):
        spec.expression = "x"  # type: ignore[misc]
    assert len({Cron("0 9 * * *"), Cron("0 9 * * *")}) == 1
