"""RRule: dateutil's own answers from anywhere, in bounded work, and what is refused."""

from __future__ import annotations

import itertools
import random
import threading
from bisect import bisect_right
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import NamedTuple
from zoneinfo import ZoneInfo

import pytest
from dateutil import rrule as dateutil_rrule
from dateutil.rrule import rrulestr
from hypothesis import given, settings
from hypothesis import strategies as st

from agentsched import RRule, UnknownTimezone, ValidationError
from agentsched.timing.rrule import (
    MAX_COUNT,
    MAX_DAYS_TRIED,
    RRulePattern,
    compile_rrule,
    wall_seconds,
)
from agentsched.timing.zones import DAY

UTC = timezone.utc
FIRST_AFTER = datetime(1970, 1, 1, tzinfo=UTC)  # `after` is bounded to 1970-9999
FREQS = ("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY", "SECONDLY")
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
# How far past DTSTART the property tests ask: far enough for many jumps, near
# enough that the reference (dateutil, which replays from DTSTART) stays quick.
REACH = {
    "YEARLY": timedelta(days=366 * 60),
    "MONTHLY": timedelta(days=366 * 30),
    "WEEKLY": timedelta(days=366 * 10),
    "DAILY": timedelta(days=366 * 3),
    "HOURLY": timedelta(days=60),
    "MINUTELY": timedelta(days=2),
    "SECONDLY": timedelta(minutes=40),
}
# Below DAILY, dateutil walks rejected days unit by unit: keep the reference's day
# parts dense there (the sparse ones are covered by the examples further down).
DAY_PARTS = {
    "MINUTELY": ("BYDAY", "BYMONTH"),
    "SECONDLY": ("BYDAY",),
}
ALL_DAY_PARTS = ("BYDAY", "BYMONTHDAY", "BYMONTH", "BYYEARDAY", "BYWEEKNO")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def fires(spec: RRule, after: datetime, n: int) -> list[datetime]:
    """`n` consecutive fires after `after` (fewer if the rule ends)."""
    out: list[datetime] = []
    for _ in range(n):
        found = spec.next_after(after)
        if found is None:
            break
        out.append(found)
        after = found
    return out


def expected_fires(reference: dateutil_rrule.rrulebase, after: datetime, n: int) -> list[datetime]:
    naive = after.astimezone(UTC).replace(tzinfo=None)
    return [t.replace(tzinfo=UTC) for t in itertools.islice(reference.xafter(naive), n)]


def _values(pool: list[object], most: int = 3) -> st.SearchStrategy[str]:
    values = st.lists(st.sampled_from(pool), min_size=1, max_size=most, unique=True)
    return values.map(lambda chosen: ",".join(str(v) for v in chosen))


BY_PARTS: dict[str, st.SearchStrategy[str]] = {
    "BYDAY": _values([*WEEKDAYS, "+1MO", "-1FR", "2TU", "-2SU", "1SA"]),
    "BYMONTHDAY": _values([1, 2, 10, 15, 28, 29, 30, 31, -1, -2, -10]),
    "BYMONTH": _values(list(range(1, 13)), 4),
    "BYYEARDAY": _values([1, 2, 60, 100, 200, 365, 366, -1, -100]),
    "BYWEEKNO": _values([1, 2, 10, 20, 52, 53, -1]),
    "BYHOUR": _values(list(range(24))),
    "BYMINUTE": _values([0, 1, 15, 30, 45, 59], 2),
    "BYSECOND": _values([0, 30, 59], 2),
    "BYSETPOS": _values([1, 2, 3, -1, -2], 2),
    "WKST": st.sampled_from(WEEKDAYS),
}


class Rule(NamedTuple):
    freq: str
    text: str
    dtstart: datetime
    occurrences: int | None  # COUNT
    until: datetime | None  # as dateutil reads it


@st.composite
def rules(draw: st.DrawFn) -> Rule:
    """A small random rule, with its parts in any order."""
    freq = draw(st.sampled_from(FREQS))
    parts = [f"FREQ={freq}"]
    if draw(st.booleans()):
        parts.append(f"INTERVAL={draw(st.integers(1, 4))}")
    day_parts = st.lists(
        st.sampled_from(DAY_PARTS.get(freq, ALL_DAY_PARTS)), max_size=2, unique=True
    )
    chosen = set(draw(day_parts))
    for name, values in BY_PARTS.items():
        if name in chosen or (name not in ALL_DAY_PARTS and draw(st.integers(0, 3)) == 0):
            parts.append(f"{name}={draw(values)}")
    dtstart = draw(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2030, 12, 31)))
    count = until = None
    limit = draw(st.sampled_from(["", "", "COUNT", "UNTIL", "UNTIL-Z", "UNTIL-DATE"]))
    if limit == "COUNT":
        count = draw(st.integers(1, 25))
        parts.append(f"COUNT={count}")
    elif limit:
        until = (dtstart + draw(st.timedeltas(timedelta(0), REACH[freq]))).replace(microsecond=0)
        form = {"UNTIL": "%Y%m%dT%H%M%S", "UNTIL-Z": "%Y%m%dT%H%M%SZ", "UNTIL-DATE": "%Y%m%d"}
        parts.append(f"UNTIL={until.strftime(form[limit])}")
        if limit == "UNTIL-DATE":
            until = until.replace(hour=0, minute=0, second=0)
    text = ";".join(draw(st.permutations(parts)))
    return Rule(freq, text, dtstart, count, until)


def dateutil_fires_soon(rule: Rule) -> bool:
    """Whether dateutil finds COUNT (or one) occurrences within 0-400 years.

    On the calendar shifted by whole 400-year cycles (which repeats it exactly)
    to start in 9600-9999, dateutil stops by itself after 9999.
    """
    years = 400 * ((9999 - rule.dtstart.year) // 400)
    core = [p for p in rule.text.split(";") if not p.startswith(("COUNT=", "UNTIL="))]
    if rule.until is not None and rule.until.year + years <= 9999:
        core.append(f"UNTIL={rule.until.replace(year=rule.until.year + years):%Y%m%dT%H%M%S}")
    shifted = rrulestr(";".join(core), dtstart=rule.dtstart.replace(year=rule.dtstart.year + years))
    wanted = rule.occurrences or 1
    try:
        return len(list(itertools.islice(shifted, wanted))) == wanted
    except ValueError:  # a weekly period past 9999-12-31, or an impossible time combination
        return False


@given(rules(), st.data())
def test_matches_dateutil_from_anywhere_in_any_order(rule: Rule, data: st.DataObject) -> None:
    try:
        # In UTC a `...Z` UNTIL is the same wall time; dateutil wants it without Z here.
        reference = rrulestr(rule.text.replace("Z", ""), dtstart=rule.dtstart)
    except ValueError:
        with pytest.raises(ValidationError) as refused:
            RRule(rule.text, rule.dtstart)
        assert refused.value.field == "rrule"
        return
    try:
        spec = RRule(rule.text, rule.dtstart)
    except ValidationError as exc:
        assert exc.field == "rrule"
        if "selects nothing" not in str(exc) and "never falls" not in str(exc):
            assert not dateutil_fires_soon(rule), str(exc)
        return
    offsets = st.timedeltas(-REACH[rule.freq] / 20, REACH[rule.freq])
    for offset in data.draw(st.lists(offsets, min_size=1, max_size=4), label="queries"):
        after = max((rule.dtstart + offset).replace(tzinfo=UTC), FIRST_AFTER)
        assert fires(spec, after, 5) == expected_fires(reference, after, 5), after


def test_rrule_weekly_in_paris() -> None:
    spec = RRule("FREQ=WEEKLY;BYDAY=MO,WE", datetime(2026, 1, 5, 9), "Europe/Paris")
    t, out = datetime(2026, 3, 20, tzinfo=UTC), []
    for _ in range(4):
        found = spec.next_after(t)
        assert found is not None
        t = found
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


def test_rrule_rejects_bad_dtstart_and_zone() -> None:
    with pytest.raises(ValidationError) as info:
        RRule("FREQ=DAILY", "2026-01-01")  # type: ignore[arg-type]
    assert info.value.field == "dtstart"
    with pytest.raises(UnknownTimezone):
        RRule("FREQ=DAILY", datetime(2026, 1, 1), "Nowhere/City")


# -- bounded work ------------------------------------------------------------


@pytest.fixture
def periods() -> Iterator[list[int]]:
    """Counts the periods dateutil expands: it builds one day set per period (in its
    private `_iterinfo`, the only place the work shows)."""
    count = [0]
    info = dateutil_rrule._iterinfo
    originals = {name: getattr(info, name) for name in ("ydayset", "mdayset", "wdayset", "ddayset")}

    def counting(original: Callable[..., object]) -> Callable[..., object]:
        def day_set(self: object, *args: int) -> object:
            count[0] += 1
            return original(self, *args)

        return day_set

    with pytest.MonkeyPatch.context() as patch:
        for name, original in originals.items():
            patch.setattr(info, name, counting(original))
        yield count


def periods_for(pattern: RRulePattern, after: datetime, counter: list[int]) -> int:
    before = counter[0]
    pattern.next_wall(wall_seconds(after) + 1)
    return counter[0] - before


DTSTART = datetime(2025, 1, 1, 9, 30, 15)
EVERY_MINUTE = ",".join(str(minute) for minute in range(60))
FIFTY_YEARS = timedelta(weeks=2609)  # whole weeks, so that weekdays line up


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=YEARLY",
        "FREQ=YEARLY;BYMONTH=3,9;BYDAY=-1FR",
        "FREQ=MONTHLY;INTERVAL=5;BYMONTHDAY=-1",
        "FREQ=WEEKLY;BYDAY=MO,FR;BYSETPOS=-1",
        "FREQ=DAILY;INTERVAL=3",
        "FREQ=HOURLY;INTERVAL=7",
        "FREQ=HOURLY;BYDAY=MO,TU,WE,TH,FR;BYHOUR=9,17",
        "FREQ=MINUTELY;INTERVAL=15",
        "FREQ=MINUTELY;BYHOUR=9;BYDAY=SA",
        "FREQ=SECONDLY",
        "FREQ=SECONDLY;INTERVAL=90;BYMONTH=1,7",
    ],
)
def test_work_does_not_grow_with_distance_from_dtstart(rule: str, periods: list[int]) -> None:
    pattern = compile_rrule(rule, DTSTART, ZoneInfo("UTC"))
    # Each query below moves backwards, so that it jumps rather than steps a cursor.
    far = periods_for(pattern, DTSTART + FIFTY_YEARS + timedelta(days=1), periods)
    near = periods_for(pattern, DTSTART + timedelta(days=1), periods)
    # Replaying from DTSTART, dateutil would expand from 50 (yearly) to 1.6e9 (secondly);
    # rules with periods of fixed length and no day filters expand none (arithmetic).
    assert far <= 5
    assert near <= 5


@pytest.mark.parametrize(
    ("rule", "most"),
    [
        # Feb 29 on a Monday: the next one is up to 40 years away; a day is a period.
        ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO", 40 * 366 + 3),
        # Feb 29: up to 8 years away; one day set per day searched, and a few for the times.
        ("FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=29", 8 * 366 + 3),
        ("FREQ=SECONDLY;BYHOUR=9;BYMONTH=2;BYMONTHDAY=29", 8 * 366 + 3),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO", 40 + 3),
    ],
)
def test_sparse_rules_cost_the_distance_to_the_next_occurrence(
    rule: str, most: int, periods: list[int]
) -> None:
    pattern = compile_rrule(rule, DTSTART, ZoneInfo("UTC"))
    for years in (50, 1, 160, 3, 30):
        assert periods_for(pattern, DTSTART + timedelta(days=365.25 * years), periods) <= most


def test_search_stops_at_the_horizon(periods: list[int]) -> None:
    # Never fires: found out at construction after one bounded search.
    with pytest.raises(ValidationError, match="never fires within the search horizon"):
        compile_rrule("FREQ=DAILY;BYMONTH=1;BYWEEKNO=20", DTSTART, ZoneInfo("UTC"))
    assert periods[0] <= 800 * 366


@pytest.mark.parametrize(
    ("rule", "dtstart", "count"),
    [
        ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO", datetime(1970, 1, 1), 5),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO", datetime(1970, 1, 1), 12),
        ("FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=29", datetime(2023, 5, 1), 3000),
        ("FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=TH", datetime(1970, 1, 1), 3),
        ("FREQ=HOURLY;INTERVAL=5;BYHOUR=3;BYMONTHDAY=13;BYDAY=FR", datetime(2024, 1, 1), 12),
        ("FREQ=YEARLY;INTERVAL=100;BYMONTH=2;BYMONTHDAY=29", datetime(2000, 2, 1), 5),
        ("FREQ=MONTHLY;BYDAY=5SU;BYMONTH=2", datetime(1970, 1, 1), 8),
    ],
)
def test_sparse_rules_match_dateutil(rule: str, dtstart: datetime, count: int) -> None:
    spec = RRule(rule, dtstart)
    expected = expected_fires(rrulestr(rule, dtstart=dtstart), dtstart.replace(tzinfo=UTC), count)
    assert len(expected) == count
    middle, rest = expected[count // 2], expected[count // 2 + 1 :]
    assert fires(spec, middle, len(rest)) == rest
    assert fires(spec, dtstart.replace(tzinfo=UTC), count) == expected  # backwards


@pytest.mark.parametrize(
    ("rule", "dtstart"),
    [
        # every default dateutil takes from DTSTART, asked for 100 years on
        ("FREQ=YEARLY", datetime(2024, 2, 29, 12, 30, 45)),
        ("FREQ=YEARLY;BYMONTH=3,4", datetime(2020, 1, 31, 1, 2, 3)),
        ("FREQ=MONTHLY", datetime(2020, 1, 31, 23, 59, 59)),
        ("FREQ=MONTHLY;BYMONTH=2,3", datetime(2020, 1, 30, 6)),
        ("FREQ=WEEKLY;INTERVAL=2;WKST=SU", datetime(2021, 6, 5, 7, 8, 9)),
        ("FREQ=WEEKLY;BYDAY=SU,MO;INTERVAL=3;WKST=TU;BYSETPOS=1", datetime(2021, 6, 5, 7)),
        ("FREQ=DAILY;BYHOUR=1,2", datetime(2021, 6, 5, 7, 8, 9)),
        ("FREQ=HOURLY;INTERVAL=5", datetime(2021, 6, 5, 7, 8, 9)),
        ("FREQ=HOURLY;BYMINUTE=0,30", datetime(2021, 6, 5, 7, 8, 9)),
        ("FREQ=MINUTELY;INTERVAL=7;BYHOUR=3", datetime(2021, 6, 5, 7, 8, 9)),
        ("FREQ=YEARLY;BYWEEKNO=1,53;BYDAY=MO", datetime(2020, 1, 1)),
        ("FREQ=YEARLY;BYYEARDAY=-1,60", datetime(2020, 1, 1, 5)),
    ],
)
def test_defaults_from_dtstart_hold_far_away(rule: str, dtstart: datetime) -> None:
    reference = rrulestr(rule, dtstart=dtstart)
    spec = RRule(rule, dtstart)
    after = dtstart.replace(tzinfo=UTC)
    # A few steps of dateutil's replay from a point reached by one jump of ours.
    skip = {"YEARLY": 90, "MONTHLY": 1000, "WEEKLY": 3000, "DAILY": 20000}
    freq = rule.split(";", maxsplit=1)[0].removeprefix("FREQ=")
    far = expected_fires(reference, after, skip.get(freq, 5000))[-1]
    assert fires(spec, far, 4) == expected_fires(reference, far, 4)
    assert fires(spec, after, 4) == expected_fires(reference, after, 4)


# -- what is refused ---------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("FREQ=SOMETIMES", "FREQ must be"),
        ("", "1-2000 characters"),
        ("   ", "1-2000 characters"),
        (42, "1-2000 characters"),
        ("x" * 3000, "1-2000 characters"),
        ("FREQ=DAILY\nFREQ=WEEKLY", "one RRULE line"),
        ("DTSTART:20260101T000000", "one RRULE line"),
        ("INTERVAL=2", "FREQ is missing"),
        ("FREQ=DAILY;FREQ=WEEKLY", "given twice"),
        ("FREQ=DAILY;INTERVAL", "NAME=VALUE"),
        ("FREQ=DAILY;BYFOO=1", "not an RRULE part"),
        ("FREQ=YEARLY;BYEASTER=0", "BYEASTER"),
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL must be within 1"),
        ("FREQ=DAILY;INTERVAL=-1", "whole numbers"),
        ("FREQ=DAILY;BYHOUR=25", "BYHOUR must be within 0..23"),
        ("FREQ=HOURLY;BYHOUR=24", "BYHOUR must be within 0..23"),
        ("FREQ=MINUTELY;BYSECOND=60", "BYSECOND must be within 0..59"),
        ("FREQ=MONTHLY;BYMONTHDAY=0", "BYMONTHDAY must be within 1..31 or -31..-1"),
        ("FREQ=MONTHLY;BYMONTHDAY=1.5", "whole numbers"),
        ("FREQ=YEARLY;BYMONTH=13", "BYMONTH must be within 1..12"),
        ("FREQ=YEARLY;BYWEEKNO=54", "BYWEEKNO"),
        ("FREQ=YEARLY;BYYEARDAY=367", "BYYEARDAY"),
        ("FREQ=MONTHLY;BYDAY=0MO", "BYDAY counts"),
        ("FREQ=MONTHLY;BYDAY=MONDAY", "BYDAY values"),
        ("FREQ=MONTHLY;BYDAY=MO;BYSETPOS=0", "BYSETPOS"),
        ("FREQ=WEEKLY;WKST=XX", "WKST"),
        ("FREQ=DAILY;COUNT=0", "COUNT must be"),
        (f"FREQ=DAILY;COUNT={MAX_COUNT + 1}", f"from 1 to {MAX_COUNT}"),
        ("FREQ=DAILY;COUNT=2;UNTIL=20270101T000000", "must not both be given"),
        ("FREQ=DAILY;UNTIL=2027-01-01", "UNTIL must look like"),
        ("FREQ=DAILY;UNTIL=20271301", "UNTIL must look like"),
        (
            f"FREQ=YEARLY;BYHOUR=0,1,2,3,4,5,6,7,8,9;BYMINUTE={EVERY_MINUTE};BYSECOND=0,30,59",
            "give 1800 times a day",
        ),
        # never fires
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30,31", "BYMONTHDAY never falls in BYMONTH"),
        ("FREQ=YEARLY;BYMONTH=2", "BYMONTHDAY never falls in BYMONTH"),  # DTSTART's day, the 31st
        ("FREQ=SECONDLY;BYSETPOS=2", "BYSETPOS selects nothing"),
        ("FREQ=DAILY;BYHOUR=9,10;BYSETPOS=3,-3", "BYSETPOS selects nothing"),
        ("FREQ=MONTHLY;BYDAY=6MO", "never fires within the search horizon"),
        ("FREQ=DAILY;BYMONTH=1;BYWEEKNO=20", "never fires within the search horizon"),
        ("FREQ=MINUTELY;BYMONTH=4;BYYEARDAY=1", "never fires within the search horizon"),
        ("FREQ=WEEKLY;BYMONTHDAY=1,2;BYDAY=MO;BYSETPOS=2", "never fires within the search horizon"),
        (
            "FREQ=HOURLY;INTERVAL=168;BYDAY=TU",
            "never fires within the search horizon",
        ),  # DTSTART: Sunday
        ("FREQ=HOURLY;INTERVAL=2;BYHOUR=2", "can never fire"),  # DTSTART's hour is odd
        ("FREQ=MINUTELY;INTERVAL=120;BYHOUR=2", "can never fire"),
        ("FREQ=DAILY;UNTIL=20231231T080000", "never fires before UNTIL"),
        ("FREQ=YEARLY;INTERVAL=100;COUNT=6", "does not reach COUNT=6 within 400 years"),
    ],
)
def test_refuses(rule: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        RRule(rule, datetime(2023, 12, 31, 9), "Europe/Paris")  # type: ignore[arg-type]
    assert info.value.field == "rrule"


@pytest.mark.parametrize(
    "dtstart",
    [datetime(1969, 12, 31, 23), datetime(10, 1, 1), datetime(9999, 12, 31, 23, tzinfo=UTC)],
)
def test_refuses_dtstart_outside_the_years_of_instants(dtstart: datetime) -> None:
    with pytest.raises(ValidationError, match="1970-9999") as info:
        RRule("FREQ=DAILY", dtstart, "Asia/Tokyo")
    assert info.value.field == "dtstart"


def test_accepts_what_it_normalises() -> None:
    spec = RRule("  rrule:freq=weekly;byday=mo,we;;wkst=su ", datetime(2026, 1, 5, 9, 0, 0, 5))
    assert spec.rule == "freq=weekly;byday=mo,we;;wkst=su"
    assert spec.next_after(utc("2026-01-05T09:00")) == utc("2026-01-07T09:00")
    assert RRule.from_dict(spec.to_dict()) == spec


# -- the end of the calendar -------------------------------------------------


def test_never_overflows_near_year_9999() -> None:
    yearly = RRule("FREQ=YEARLY", datetime(9999, 1, 1, 12))
    assert yearly.next_after(utc("9000-06-01T00:00")) == utc("9999-01-01T12:00")
    assert yearly.next_after(utc("9999-01-01T12:00")) is None
    # Fires go on to the last second of year 9999 in UTC, and stop there.
    daily = RRule("FREQ=DAILY;COUNT=40", datetime(9999, 12, 1), "Pacific/Kiritimati")
    last = fires(daily, utc("9999-11-01T00:00"), 40)[-1]
    assert last == utc("9999-12-30T10:00")  # 9999-12-31 00:00 at +14; a day later is year 10000
    for rule in ["FREQ=WEEKLY;BYDAY=SA,SU", "FREQ=MONTHLY;BYMONTHDAY=1,31", "FREQ=SECONDLY"]:
        spec = RRule(rule, datetime(9999, 12, 1))
        assert spec.next_after(utc("9999-12-31T23:59:59")) is None
    secondly = RRule("FREQ=SECONDLY", datetime(9999, 12, 1))
    assert fires(secondly, utc("9999-12-31T23:59:57"), 3) == [
        utc("9999-12-31T23:59:58"),
        utc("9999-12-31T23:59:59"),
    ]
    tokyo = RRule("FREQ=HOURLY;UNTIL=99991231T235959Z", datetime(9999, 12, 1), "Asia/Tokyo")
    assert tokyo.next_after(utc("9999-12-20T00:00")) == utc("9999-12-20T00:00") + timedelta(hours=1)
    with pytest.raises(ValidationError, match="never fires"):
        RRule("FREQ=YEARLY;BYMONTH=1", datetime(9999, 6, 1))


# -- sharing ------------------------------------------------------------------


def test_one_spec_answers_many_threads_in_any_order() -> None:
    rule, dtstart = "FREQ=HOURLY;INTERVAL=5;BYDAY=MO,TH;BYMINUTE=10,40", datetime(2025, 1, 1, 3)
    spec = RRule(rule, dtstart)
    end = datetime(2027, 1, 1)
    reference = rrulestr(rule, dtstart=dtstart)
    occurrences = list(reference.between(dtstart, end + timedelta(days=30), inc=True))
    rng = random.Random(7)
    queries = [dtstart + (end - dtstart) * rng.random() for _ in range(300)]

    def expected(query: datetime) -> datetime:
        return occurrences[bisect_right(occurrences, query)].replace(tzinfo=UTC)

    wrong: list[datetime] = []

    def ask(seed: int) -> None:
        order = queries[:]
        random.Random(seed).shuffle(order)
        for query in order:
            if spec.next_after(query.replace(tzinfo=UTC)) != expected(query):
                wrong.append(query)

    threads = [threading.Thread(target=ask, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []


# -- rules of fixed-length periods, by arithmetic ---------------------------------------

FIXED_FREQS = ("WEEKLY", "DAILY", "HOURLY", "MINUTELY", "SECONDLY")
# Intervals that divide a day, and some that drift across days (the times of day of
# period starts then cycle through many values before they repeat).
INTERVALS = (1, 2, 3, 5, 7, 24, 60, 61, 90, 1439, 1441, 3600, 86399, 86401)


@st.composite
def fixed_period_rules(draw: st.DrawFn) -> tuple[str, datetime]:
    """SECONDLY to WEEKLY rules without day filters: time filters, BYSETPOS, INTERVAL."""
    freq = draw(st.sampled_from(FIXED_FREQS))
    parts = [f"FREQ={freq}", f"INTERVAL={draw(st.sampled_from(INTERVALS))}"]
    for name in ("BYHOUR", "BYMINUTE", "BYSECOND"):
        if draw(st.integers(0, 2)) == 0:
            parts.append(f"{name}={draw(BY_PARTS[name])}")
    if draw(st.integers(0, 3)) == 0:
        # Positions every period has: dateutil, the reference, never ends a rule that
        # selects nothing (it searches period by period to year 9999).
        parts.append(f"BYSETPOS={draw(_values([1, -1]))}")
    if freq == "WEEKLY" and draw(st.booleans()):
        parts.append(f"WKST={draw(st.sampled_from(WEEKDAYS))}")
    dtstart = draw(st.datetimes(datetime(1970, 1, 1), datetime(2100, 1, 1))).replace(microsecond=0)
    return ";".join(parts), dtstart


def reference_walls(rule: str, dtstart: datetime, n: int) -> list[int] | None:
    """dateutil's first `n` occurrences as wall seconds, or None if it fails on the rule
    (BYHOUR or BYMINUTE that INTERVAL never reaches: a ValueError, or for HOURLY a
    TypeError)."""
    try:
        return [wall_seconds(t) for t in itertools.islice(rrulestr(rule, dtstart=dtstart), n)]
    except (ValueError, TypeError):
        return None


@settings(max_examples=100)
@given(fixed_period_rules(), st.data())
def test_fixed_period_rules_are_dateutils_by_arithmetic(
    case: tuple[str, datetime], data: st.DataObject
) -> None:
    """Whole sequences from DTSTART and from anywhere, counts and last occurrences of any
    range, without dateutil: exactly what dateutil enumerates."""
    rule, dtstart = case
    expected = reference_walls(rule, dtstart, 60)
    try:
        pattern = compile_rrule(rule, dtstart, ZoneInfo("UTC"))
    except ValidationError as exc:
        assert expected in (None, []) or "never" in str(exc), str(exc)
        return
    assert expected and pattern.counts
    chain = [pattern.next_wall(wall_seconds(dtstart))]
    while len(chain) < len(expected):
        chain.append(pattern.next_wall(chain[-1] + 1))  # type: ignore[operator]
    assert chain == expected
    span = expected[-1] - expected[0]
    for _ in range(3):
        lo = expected[0] + data.draw(st.integers(-DAY, span), label="lo")
        hi = lo + data.draw(st.integers(0, span), label="width")
        inside = [t for t in expected if lo <= t < hi]
        if hi <= expected[-1]:  # within what the reference listed
            assert pattern.count_walls(lo, hi) == len(inside)
            assert pattern.last_wall(lo, hi) == (inside[-1] if inside else None)
        later = [t for t in expected if t >= lo]
        if later:
            assert pattern.next_wall(lo) == later[0]


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=MINUTELY;COUNT=1000;BYMONTH=2;BYMONTHDAY=29",
        "FREQ=SECONDLY;COUNT=1000;BYMONTH=2;BYMONTHDAY=29;BYHOUR=3",
        "FREQ=SECONDLY;COUNT=1000;BYMONTH=2;BYMONTHDAY=29;BYHOUR=0;BYMINUTE=0,1,2,3,4,5,6,7,8,9",
        "FREQ=SECONDLY;COUNT=40;BYHOUR=9;BYMINUTE=0;BYSECOND=0",
        "FREQ=HOURLY;INTERVAL=25;COUNT=1000;BYDAY=MO",
        "FREQ=MINUTELY;INTERVAL=1441;COUNT=50;BYMONTHDAY=1,15;BYHOUR=9",
    ],
)
def test_count_rules_with_sparse_days_end_at_dateutils_last(rule: str, periods: list[int]) -> None:
    """Constructions that once took seconds: the COUNT-th occurrence is dateutil's, found
    with day sets for at most the horizon's days (times cost none: arithmetic)."""
    dtstart = datetime(2028, 2, 28, 23, 59, 1)  # dateutil, the reference, crawls to Feb 29
    spec = RRule(rule, dtstart)
    count = int(rule.split("COUNT=")[1].split(";", maxsplit=1)[0])
    last = list(rrulestr(rule, dtstart=dtstart))[-1]
    assert len(fires(spec, FIRST_AFTER, count + 1)) == count
    assert spec.next_after(last.replace(tzinfo=UTC) - timedelta(seconds=1)) == last.replace(
        tzinfo=UTC
    )
    assert spec.next_after(last.replace(tzinfo=UTC)) is None
    assert periods[0] <= 2 * 146097 + MAX_DAYS_TRIED


def test_count_that_tries_too_many_days_is_refused() -> None:
    """A COUNT whose occurrences are rare among the days its rule allows cannot be
    checked in bounded work: refused, saying why. Every 25 hours, at 09:00 or 21:00,
    on the 1st, 11th or 21st: the times land on those days now and then."""
    rule = "FREQ=HOURLY;INTERVAL=25;COUNT=1000;BYMONTHDAY=1,11,21;BYHOUR=9,21"
    with pytest.raises(ValidationError, match="cannot be checked in bounded work") as info:
        RRule(rule, datetime(2026, 1, 1, 9))
    assert info.value.field == "rrule"
    assert f"{MAX_DAYS_TRIED} days tried" in str(info.value)
    assert "use UNTIL or the schedule's max_runs" in str(info.value)
