"""Specs at the ends of the calendar: years 1 and 9999, in zones east and west of UTC.

Instants a caller passes are bounded to 1970-9999 (a `ValidationError` naming the
field otherwise), and a computation that would leave `datetime`'s range answers
None or a `ValidationError`: never a raw `OverflowError`. Within the bounds,
`next_after` is the true next fire, checked against brute force.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from itertools import islice
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr
from hypothesis import given, settings
from hypothesis import strategies as st
from support.cron_reference import CronShape, cron_shapes
from support.web import Web

from agentsched import Cron, Interval, Once, RRule, ValidationError
from agentsched.cli import main
from agentsched.errors import AgentschedError
from agentsched.model.specs import Spec, spec_from_dict

UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LAST = datetime.max.replace(tzinfo=UTC)
MINUTE = timedelta(minutes=1)
# East and west of UTC as far as zones go, with and without DST at the ends.
ZONES = [
    "UTC",
    "Pacific/Kiritimati",
    "Etc/GMT-14",
    "Asia/Tokyo",
    "Australia/Lord_Howe",
    "America/St_Johns",
    "America/New_York",
    "Pacific/Pago_Pago",
    "Etc/GMT+12",
]
OFFSETS = st.integers(-86399, 86399).map(lambda s: timezone(timedelta(seconds=s)))
TZINFOS = st.one_of(st.just(UTC), OFFSETS, st.sampled_from(ZONES).map(ZoneInfo))
RULES = [
    "FREQ=DAILY",
    "FREQ=HOURLY;INTERVAL=5",
    "FREQ=MINUTELY;INTERVAL=37",
    "FREQ=WEEKLY;BYDAY=MO,SA",
    "FREQ=MONTHLY;BYMONTHDAY=-1",
    "FREQ=YEARLY",
    "FREQ=SECONDLY;INTERVAL=7919",
]


def near_the_ends(tzinfos: st.SearchStrategy[object] = TZINFOS) -> st.SearchStrategy[datetime]:
    """Wall times within five days of either end of `datetime`, naive or in any zone."""
    low = st.datetimes(datetime(1, 1, 1), datetime(1, 1, 6))
    high = st.datetimes(datetime(9999, 12, 26), datetime.max)
    near_1970 = st.datetimes(datetime(1969, 12, 28), datetime(1970, 1, 5))
    return st.one_of(low, high, near_1970).flatmap(
        lambda wall: st.one_of(st.just(wall), tzinfos.map(lambda z: wall.replace(tzinfo=z)))  # type: ignore[arg-type]
    )


def in_bounds(value: datetime) -> bool:
    """Whether an aware datetime's instant is within 1970-9999 (UTC)."""
    elapsed = value - EPOCH
    return timedelta(0) <= elapsed <= LAST - EPOCH


def outcome(call: Callable[[], object]) -> object:
    """What `call` returns, or the agentsched error it raises (any other error fails)."""
    try:
        return call()
    except AgentschedError as exc:
        return exc


def until_text(value: datetime) -> str:
    return value.strftime("%Y%m%dT%H%M%S").zfill(15) + ("Z" if value.tzinfo else "")


@st.composite
def specs_near_the_ends(draw: st.DrawFn) -> tuple[Callable[[], Spec], str | None]:
    """A spec built from values near the ends, and the field that must be refused if
    its instant is out of bounds (None when the value is a wall time)."""
    zone = draw(st.sampled_from(ZONES))
    when = draw(near_the_ends())
    kind = draw(st.sampled_from(["cron", "once", "interval", "rrule", "until"]))
    if kind == "cron":
        expression = draw(st.sampled_from(["* * * * *", "0 0 * * *", "59 23 31 12 *", "0 0 1 1 *"]))
        return (lambda: Cron(expression, zone)), None
    if kind == "once":
        return (lambda: Once(when, zone)), "run_at" if when.tzinfo else None
    if kind == "interval":
        every = draw(st.timedeltas(timedelta(seconds=1), timedelta(days=366)))
        return (lambda: Interval(every, when)), "start_at" if when.tzinfo else None
    rule = draw(st.sampled_from(RULES))
    if kind == "until":
        start = datetime(1970, 1, 1) if when.year < 5000 else datetime(9999, 12, 1)
        text = f"{rule};UNTIL={until_text(when.replace(tzinfo=UTC) if when.tzinfo else when)}"
        return (lambda: RRule(text, start, zone)), None
    return (lambda: RRule(rule, when, zone)), None


@settings(max_examples=150)
@given(specs_near_the_ends(), st.lists(near_the_ends(), min_size=1, max_size=4))
def test_the_ends_of_the_calendar_give_answers_or_validation_errors(
    case: tuple[Callable[[], Spec], str | None], afters: list[datetime]
) -> None:
    make, instant_field = case
    try:
        spec = make()
    except ValidationError as exc:
        assert exc.field in {"run_at", "start_at", "dtstart", "rrule", "timezone"}
        return
    if instant_field is not None:
        given_value = spec.run_at if isinstance(spec, Once) else spec.start_at  # type: ignore[union-attr]
        assert given_value is not None and in_bounds(given_value)
    assert spec_from_dict(spec.to_dict()) == spec
    for after in afters:
        answer = outcome(lambda after=after: spec.next_after(after))  # type: ignore[misc]
        if after.tzinfo is None:
            assert isinstance(answer, ValidationError) and answer.field == "after"
        elif not in_bounds(after):
            assert isinstance(answer, ValidationError) and answer.field == "after"
            assert "1970-9999" in str(answer)
        else:
            assert answer is None or (
                isinstance(answer, datetime) and answer.tzinfo is UTC and answer > after
            )


@pytest.mark.parametrize("zone", ["America/New_York", "Etc/GMT+12", "Asia/Tokyo", "UTC"])
@pytest.mark.parametrize(
    "until", ["00010101T000000Z", "00010102T000000Z", "00010101", "19691231T235959Z"]
)
def test_an_until_before_1970_is_refused_in_every_zone(zone: str, until: str) -> None:
    """Once a raw OverflowError west of UTC (the web API answered 500)."""
    with pytest.raises(ValidationError, match="UNTIL must be in 1970-9999") as info:
        RRule(f"FREQ=DAILY;UNTIL={until}", datetime(2020, 1, 1), zone)
    assert info.value.field == "rrule"


def test_an_until_near_year_1_is_a_422_on_the_web_and_one_line_on_the_command_line(
    web: Web, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """End to end, where a raw OverflowError was a 500 from the web API and an
    "unexpected" error from the command line."""
    rule = "FREQ=DAILY;UNTIL=00010101T000000Z"
    spec = {"type": "rrule", "rrule": rule, "dtstart": "2026-01-05T09:00:00"}
    spec["timezone"] = "America/New_York"
    answer = web.client.post("/api/v1/agents/bot/schedules", json={"schedule": spec, "input": "go"})
    assert answer.status_code == 422  # the API's answer to a ValidationError
    assert answer.json()["error"]["field"] == "schedule.rrule"
    assert "UNTIL must be in 1970-9999" in answer.json()["error"]["message"]
    argv = ["--db", f"sqlite:///{tmp_path / 'a.db'}", "add", "--agent", "a", "--input", "x"]
    argv += ["--rrule", rule, "--dtstart", "2026-01-05T09:00", "--tz", "America/New_York"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("agentsched: error: ") and err.count("\n") == 1
    assert "UNTIL must be in 1970-9999" in err


@pytest.mark.parametrize(
    "after",
    [
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))),
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(1970, 1, 1, 5, tzinfo=timezone(timedelta(hours=6))),
        datetime.max.replace(tzinfo=timezone(timedelta(hours=-1))),
    ],
)
def test_an_after_outside_1970_to_9999_is_refused_by_every_spec(after: datetime) -> None:
    """Once `Cron("0 0 * * *").next_after(year 1)` skipped two days."""
    for spec in (
        Cron("0 0 * * *"),
        Once(datetime(2030, 1, 1, tzinfo=UTC)),
        Interval(timedelta(hours=1), datetime(2030, 1, 1, tzinfo=UTC)),
        RRule("FREQ=DAILY", datetime(2030, 1, 1)),
    ):
        with pytest.raises(ValidationError, match="'after' must be in 1970-9999") as info:
            spec.next_after(after)
        assert info.value.field == "after"


def test_the_bounds_themselves_are_answered() -> None:
    assert Cron("0 0 * * *").next_after(EPOCH) == datetime(1970, 1, 2, tzinfo=UTC)
    assert Cron("0 0 * * *", "Pacific/Kiritimati").next_after(EPOCH) == datetime(
        1970, 1, 1, 10, 40, tzinfo=UTC
    )
    assert Cron("* * * * *").next_after(LAST) is None
    assert Interval(timedelta(seconds=1)).next_after(LAST) is None
    daily = Interval(timedelta(days=1), EPOCH)
    assert daily.next_after(LAST - timedelta(days=1)) == datetime(9999, 12, 31, tzinfo=UTC)
    assert daily.next_after(datetime(9999, 12, 31, tzinfo=UTC)) is None


# -- the true next fire, by brute force ---------------------------------------------------


def local(instant: datetime, zone: ZoneInfo) -> datetime | None:
    """The wall time of an instant, or None past the end of `datetime` (east of UTC)."""
    try:
        return instant.astimezone(zone)
    except OverflowError:
        return None


def cron_reference(shape: CronShape, zone: ZoneInfo, after: datetime, end: datetime) -> datetime:
    """The first fire in (after, end] by scanning UTC minutes (DST rules applied
    literally, as in `cron_reference.reference_fires`), or `end` itself if none."""
    u = after.replace(second=0, microsecond=0) + MINUTE
    while u <= end:
        wall = local(u, zone)
        if wall is None:
            return end
        naive = wall.replace(tzinfo=None)
        if shape.fixed_time:
            fire = shape.matches(naive) and wall.fold == 0
            before = local(u - MINUTE, zone)
            skipped = naive if before is None else before.replace(tzinfo=None) + MINUTE
            while not fire and skipped < naive:
                fire = shape.matches(skipped)
                skipped += MINUTE
        else:
            fire = shape.matches(naive)
        if fire:
            return u
        if end - u < MINUTE:
            break
        u += MINUTE
    return end


UTC_AFTER_NEAR_THE_ENDS = st.one_of(
    st.datetimes(datetime(1970, 1, 1), datetime(1970, 1, 3)),
    st.datetimes(datetime(9999, 12, 29), datetime(9999, 12, 31, 23, 59)),
).map(lambda wall: wall.replace(tzinfo=UTC))


@settings(max_examples=60)
@given(cron_shapes(), st.sampled_from(ZONES), UTC_AFTER_NEAR_THE_ENDS)
def test_cron_answers_the_true_next_fire_near_both_ends(
    shape: CronShape, zone: str, after: datetime
) -> None:
    end = min(after, LAST - timedelta(days=1)) + timedelta(days=1)
    expected = cron_reference(shape, ZoneInfo(zone), after, end)
    found = Cron(shape.expression, zone).next_after(after)
    if expected < end:
        assert found == expected
    else:
        assert found is None or found >= end


def first_instant(wall: datetime, zone: ZoneInfo) -> datetime | None:
    """The fixed-time rule by brute force: the first instant whose wall time is at or
    after `wall` (its first occurrence, or the end of a spring-forward gap); None
    when that instant is past the end of `datetime`."""
    try:
        later = wall.replace(tzinfo=zone).astimezone(UTC)
    except OverflowError:
        return None
    if later.astimezone(zone).replace(tzinfo=None) == wall:
        return later
    earlier = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)  # in a gap: a bracket
    while later - earlier > timedelta(seconds=1):
        middle = earlier + (later - earlier) / 2
        if middle.astimezone(zone).replace(tzinfo=None) >= wall:
            later = middle
        else:
            earlier = middle
    return later.replace(microsecond=0) + timedelta(seconds=bool(later.microsecond))


@settings(max_examples=80)
@given(
    st.sampled_from(RULES),
    st.sampled_from(ZONES),
    st.one_of(
        st.datetimes(datetime(1970, 1, 1), datetime(1970, 1, 2)),
        st.datetimes(datetime(9999, 12, 20), datetime(9999, 12, 30)),
    ),
    st.timedeltas(timedelta(0), timedelta(days=3)),
)
def test_rrule_answers_the_true_next_fire_near_both_ends(
    rule: str, zone: str, dtstart: datetime, later: timedelta
) -> None:
    dtstart = dtstart.replace(microsecond=0)
    base = dtstart.replace(tzinfo=UTC) - timedelta(days=1)
    after = max(base + later if later < LAST - base else LAST, EPOCH)
    walls = reference_walls(rule, dtstart)
    instants = [first_instant(wall, ZoneInfo(zone)) for wall in walls]
    expected = min((t for t in instants if t is not None and t > after), default=None)
    try:
        spec = RRule(rule, dtstart, zone)
    except ValidationError as exc:  # it never fires before the end of the calendar
        assert "never fires" in str(exc)
        assert not any(instants)
        return
    assert spec.next_after(after) == expected


def reference_walls(rule: str, dtstart: datetime) -> list[datetime]:
    """dateutil's first occurrences (a week past 9999-12-31 it cannot build: they end)."""
    walls: list[datetime] = []
    with contextlib.suppress(ValueError):
        walls.extend(islice(rrulestr(rule, dtstart=dtstart), 200))
    return walls
