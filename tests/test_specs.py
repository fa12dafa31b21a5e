"""Once, Interval and RRule specs, serialisation of all specs, and next_fire."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr
from hypothesis import given
from hypothesis import strategies as st

from agentsched import Cron, Interval, Once, RRule, UnknownTimezone, ValidationError, next_fire
from agentsched.specs import spec_from_dict

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


def test_rrule_weekly_in_paris() -> None:
    spec = RRule("FREQ=WEEKLY;BYDAY=MO,WE", datetime(2026, 1, 5, 9), "Europe/Paris")
    t, out = datetime(2026, 3, 20, tzinfo=UTC), []
    for _ in range(4):
        t = spec.next_after(t)
        assert t is not None
        out.append(t)
    # 09:00 Paris is 08:00Z in winter and 07:00Z after Mar 29.
    assert out == [
        datetime(2026, 3, 23, 8, tzinfo=UTC),
        datetime(2026, 3, 25, 8, tzinfo=UTC),
        datetime(2026, 3, 30, 7, tzinfo=UTC),
        datetime(2026, 4, 1, 7, tzinfo=UTC),
    ]


def test_rrule_count_and_until_exhaust() -> None:
    spec = RRule("RRULE:FREQ=DAILY;COUNT=2", datetime(2026, 1, 1, 9), "UTC")
    first = spec.next_after(datetime(2025, 1, 1, tzinfo=UTC))
    assert first is not None
    second = spec.next_after(first)
    assert second is not None and spec.next_after(second) is None
    # A UTC UNTIL (RFC 5545 form for a zoned DTSTART) is converted to local time.
    until = RRule("FREQ=DAILY;UNTIL=20260102T080000Z", datetime(2026, 1, 1, 9), "Europe/Paris")
    assert until.next_after(datetime(2026, 1, 1, 8, tzinfo=UTC)) == datetime(
        2026, 1, 2, 8, tzinfo=UTC
    )
    assert until.next_after(datetime(2026, 1, 2, 8, tzinfo=UTC)) is None


@given(
    st.sampled_from(
        [
            "FREQ=DAILY",
            "FREQ=WEEKLY;BYDAY=TU,FR",
            "FREQ=MONTHLY;BYMONTHDAY=-1",
            "FREQ=HOURLY;INTERVAL=5",
            "FREQ=MINUTELY;INTERVAL=37",
            "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
            "FREQ=MONTHLY;BYDAY=2MO;COUNT=20",
        ]
    ),
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)),
    st.lists(
        st.datetimes(min_value=datetime(2019, 1, 1), max_value=datetime(2032, 1, 1)),
        min_size=1,
        max_size=6,
    ),
)
def test_rrule_in_utc_matches_dateutil_in_any_query_order(
    rule: str, dtstart: datetime, queries: list[datetime]
) -> None:
    dtstart = dtstart.replace(microsecond=0)
    spec = RRule(rule, dtstart, "UTC")
    reference = rrulestr(rule, dtstart=dtstart)
    for q in queries:
        expected = reference.after(q, inc=False)
        got = spec.next_after(q.replace(tzinfo=UTC))
        assert got == (None if expected is None else expected.replace(tzinfo=UTC))


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ("FREQ=SOMETIMES", "rrule"),
        ("", "rrule"),
        ("FREQ=DAILY\nFREQ=WEEKLY", "rrule"),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30,31", "rrule"),
        ("DTSTART:20260101T000000", "rrule"),
        ("x" * 3000, "rrule"),
        ("FREQ=DAILY;BYHOUR=25", "rrule"),
    ],
)
def test_rrule_rejects(rule: str, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        RRule(rule, datetime(2026, 1, 1))
    assert info.value.field == field


def test_rrule_rejects_bad_dtstart_and_zone() -> None:
    with pytest.raises(ValidationError) as info:
        RRule("FREQ=DAILY", "2026-01-01")  # type: ignore[arg-type]
    assert info.value.field == "dtstart"
    with pytest.raises(UnknownTimezone):
        RRule("FREQ=DAILY", datetime(2026, 1, 1), "Nowhere/City")


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
