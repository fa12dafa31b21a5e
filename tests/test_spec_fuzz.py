"""Specs under arbitrary input: every failure is an agentsched error naming a field.

One hypothesis test per constructor and decoder (`Cron`, `RRule`, `Interval`,
`Once`, `spec_from_dict`) and one for `next_after`/`count_fires` on any valid
spec: arbitrary text (lone surrogates, NUL, huge strings), deeply nested lists
and dicts, wrong types, extreme datetimes and timedeltas, any zone. Nothing but
an `AgentschedError` may come out; what is built round-trips through its dict.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentsched import Cron, Interval, Once, RRule, ValidationError
from agentsched.errors import AgentschedError
from agentsched.model.specs import Spec, spec_from_dict


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (nested(100_000), "schedule"),
        ({"type": 10**5000}, "schedule.type"),
        ({"type": "interval", "every_seconds": 10**5000}, "every_seconds"),
        ({"type": "cron", "expression": nested(100_000)}, "expression"),
    ],
    ids=["deep", "huge-type", "huge-every", "deep-expression"],
)
def test_deep_or_huge_values_are_validation_errors(data: object, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        spec_from_dict(data)
    assert info.value.field == field


# -- arbitrary values ----------------------------------------------------------------------

# Every code point, lone surrogates and NUL included.
ANY_TEXT = st.text(
    st.characters(min_codepoint=0, max_codepoint=0x10FFFF, categories=None), max_size=60
)
HUGE_TEXT = st.sampled_from(["0", "*", "\x00", "\ud800", "FREQ=DAILY;", "a"]).flatmap(
    lambda piece: st.integers(1_000, 200_000).map(lambda n: piece * n)
)
TEXT = ANY_TEXT | HUGE_TEXT
ODD_ZONES = [
    "UTC",
    "Europe/Paris",
    "europe/paris",
    "Factory",
    "posixrules",
    "EST5EDT",
    "Etc/GMT-14",
    "Etc/GMT+12",
    "Pacific/Kiritimati",
    "Australia/Lord_Howe",
    "right/UTC",
    "posix/Europe/Paris",
    "Europe//Paris",
    "../../etc/passwd",
    "/etc/localtime",
    "UTC\x00",
    "\ud800",
    "",
    "America",
    "zone.tab",
]
ZONE_NAMES = st.sampled_from(sorted(zoneinfo.available_timezones())) | st.sampled_from(ODD_ZONES)
ZONES = (
    ZONE_NAMES
    | TEXT
    | ZONE_NAMES.filter(lambda z: z in zoneinfo.available_timezones()).map(ZoneInfo)
)
TZINFOS = (
    st.just(timezone.utc)
    | st.integers(-86399, 86399).map(lambda s: timezone(timedelta(seconds=s)))
    | st.sampled_from(["UTC", "Pacific/Kiritimati", "Etc/GMT+12", "America/New_York"]).map(ZoneInfo)
)
DATETIMES = st.datetimes(timezones=st.none() | TZINFOS) | st.sampled_from(
    [datetime.min, datetime.max]
).flatmap(lambda d: st.none().map(lambda _: d) | TZINFOS.map(lambda z: d.replace(tzinfo=z)))
TIMEDELTAS = st.timedeltas() | st.sampled_from([timedelta.min, timedelta.max, timedelta(0)])
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([2**63, -(2**63) - 1])
    | st.integers(4500, 6000).map(lambda digits: 10**digits)  # too long for str()
    | st.floats()
    | TEXT
    | st.binary(max_size=20)
)
JSON_LIKE = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(TEXT | st.integers(), children, max_size=4)
    ),
    max_leaves=12,
) | st.integers(1_000, 50_000).map(nested)
ANYTHING = JSON_LIKE | DATETIMES | TIMEDELTAS | ZONES


def built(constructor: Any, *args: object) -> Spec | None:
    """The spec `constructor(*args)` builds, or None if it refuses them with an agentsched
    error (any other exception fails the test)."""
    try:
        spec: Spec = constructor(*args)
    except AgentschedError:
        return None
    assert spec_from_dict(spec.to_dict()) == spec
    return spec


# -- constructors and decoders -----------------------------------------------------------------


def _cron_text() -> st.SearchStrategy[str]:
    token = st.sampled_from(["*", "H", "L", "W", "#", "/", "-", ",", "?", "0", "05", "7"])
    field = st.lists(token | st.integers(0, 99).map(str), min_size=1, max_size=4).map("".join)
    return st.lists(field, min_size=4, max_size=6).map(" ".join) | st.sampled_from(
        ["@daily", "@hourly", "@reboot", "* * * * *", "0 9 * * mon-fri", "H H * * *"]
    )


@given(_cron_text() | ANYTHING, ZONES | ANYTHING, st.none() | TEXT | ANYTHING)
def test_cron_takes_anything(expression: Any, zone: Any, hash_key: Any) -> None:
    built(Cron, expression, zone, hash_key)


def _rrule_text() -> st.SearchStrategy[str]:
    name = st.sampled_from(
        [
            "FREQ",
            "INTERVAL",
            "COUNT",
            "UNTIL",
            "BYDAY",
            "BYHOUR",
            "BYMINUTE",
            "BYSECOND",
            "BYMONTHDAY",
            "BYMONTH",
            "BYYEARDAY",
            "BYWEEKNO",
            "BYSETPOS",
            "WKST",
            "BYEASTER",
        ]
    )
    value = st.sampled_from(
        [
            "DAILY",
            "SECONDLY",
            "YEARLY",
            "MO",
            "-1FR",
            "0",
            "1",
            "-1",
            "53",
            "366",
            "99999999999",
            "00010101T000000Z",
            "99991231T235959Z",
            "20260101",
            "1,2,3",
            "",
        ]
    )
    part = st.tuples(name, value).map("=".join)
    return st.lists(part, min_size=1, max_size=5).map(";".join)


@settings(max_examples=150)
@given(_rrule_text() | ANYTHING, DATETIMES | ANYTHING, ZONES | ANYTHING)
def test_rrule_takes_anything(rule: Any, dtstart: Any, zone: Any) -> None:
    built(RRule, rule, dtstart, zone)


@given(TIMEDELTAS | ANYTHING, st.none() | DATETIMES | ANYTHING)
def test_interval_takes_anything(every: Any, start_at: Any) -> None:
    built(Interval, every, start_at)


@given(DATETIMES | ANYTHING, ZONES | ANYTHING)
def test_once_takes_anything(run_at: Any, zone: Any) -> None:
    built(Once, run_at, zone)


SPEC_FIELDS = st.sampled_from(
    [
        "type",
        "expression",
        "timezone",
        "hash_key",
        "run_at",
        "every_seconds",
        "start_at",
        "rrule",
        "dtstart",
    ]
)
SPEC_VALUES = (
    st.sampled_from(["cron", "once", "interval", "rrule"])
    | st.sampled_from(["0 9 * * *", "FREQ=DAILY", "2026-01-01T00:00:00Z", "Europe/Paris"])
    | st.sampled_from(["0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00", "1e309"])
    | DATETIMES.map(lambda d: d.isoformat())
    | JSON_LIKE
)


@given(JSON_LIKE | st.dictionaries(SPEC_FIELDS, SPEC_VALUES, max_size=5))
def test_spec_from_dict_takes_anything_json_like(data: Any) -> None:
    built(spec_from_dict, data)


# -- next_after and count_fires on any valid spec -------------------------------------------

VALID_SPECS = st.one_of(
    st.builds(
        Cron,
        st.sampled_from(["* * * * *", "0 0 * * *", "59 23 31 12 *", "0 0 29 2 *", "H H * * *"]),
        ZONE_NAMES.filter(lambda z: z in zoneinfo.available_timezones()),
        st.just("key"),
    ),
    st.builds(
        RRule,
        st.sampled_from(["FREQ=SECONDLY", "FREQ=DAILY;BYDAY=MO", "FREQ=YEARLY;COUNT=3"]),
        st.datetimes(datetime(1970, 1, 2), datetime(9999, 12, 1)),
        st.sampled_from(["UTC", "Pacific/Kiritimati", "Etc/GMT+12", "America/New_York"]),
    ),
    st.builds(
        Interval,
        st.timedeltas(timedelta(seconds=1), timedelta(days=366)),
        st.none() | st.datetimes(datetime(1970, 1, 1), datetime(9999, 12, 31), timezones=TZINFOS),
    ),
    st.builds(Once, st.datetimes(datetime(1970, 1, 2), datetime(9999, 12, 30), timezones=TZINFOS)),
)


@settings(max_examples=150)
@given(VALID_SPECS, st.lists(DATETIMES | ANYTHING, min_size=1, max_size=3))
def test_next_after_and_count_fires_take_any_after(spec: Spec, instants: list[Any]) -> None:
    """Any aware `after` (or anything else): an answer or an agentsched error."""
    for after in instants:
        try:
            found = spec.next_after(after)
        except AgentschedError:
            continue
        assert found is None or (found > after and found.tzinfo is timezone.utc)
        for until in instants:
            try:
                counted = spec.count_fires(after, until)
            except AgentschedError:
                continue
            assert counted is None or counted[0] >= 0
