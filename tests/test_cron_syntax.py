"""Cron syntax: what parses, what it means, and a grid of what must not parse."""

from __future__ import annotations

import contextlib
import itertools
import re
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentsched import Cron, InvalidCronExpression, UnknownTimezone, ValidationError
from agentsched.timing.cron import CronPattern

START = datetime(2026, 1, 1, tzinfo=timezone.utc)  # a Thursday


def fires(
    expression: str, n: int = 5, start: datetime = START, hash_key: str | None = None
) -> list[str]:
    spec = Cron(expression, hash_key=hash_key)
    out, t = [], start
    for _ in range(n):
        found = spec.next_after(t)
        assert found is not None
        t = found
        out.append(t.strftime("%Y-%m-%d %H:%M %a"))
    return out


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("*/20 * * * *", ["2026-01-01 00:20 Thu", "2026-01-01 00:40 Thu", "2026-01-01 01:00 Thu"]),
        (
            "10-40/15 9 * * *",
            ["2026-01-01 09:10 Thu", "2026-01-01 09:25 Thu", "2026-01-01 09:40 Thu"],
        ),
        ("5/20 0 * * *", ["2026-01-01 00:05 Thu", "2026-01-01 00:25 Thu", "2026-01-01 00:45 Thu"]),
        (
            "0 9 * * mon-fri",
            ["2026-01-01 09:00 Thu", "2026-01-02 09:00 Fri", "2026-01-05 09:00 Mon"],
        ),
        (
            "0 9 * * MON,Wed",
            ["2026-01-05 09:00 Mon", "2026-01-07 09:00 Wed", "2026-01-12 09:00 Mon"],
        ),
        ("0 0 * * 7", ["2026-01-04 00:00 Sun", "2026-01-11 00:00 Sun", "2026-01-18 00:00 Sun"]),
        ("0 0 * * 0", ["2026-01-04 00:00 Sun", "2026-01-11 00:00 Sun", "2026-01-18 00:00 Sun"]),
        (
            "0 0 * * fri-sun",
            ["2026-01-02 00:00 Fri", "2026-01-03 00:00 Sat", "2026-01-04 00:00 Sun"],
        ),
        (
            "0 0 1 feb-mar ?",
            ["2026-02-01 00:00 Sun", "2026-03-01 00:00 Sun", "2027-02-01 00:00 Mon"],
        ),
        ("0 0 L * *", ["2026-01-31 00:00 Sat", "2026-02-28 00:00 Sat", "2026-03-31 00:00 Tue"]),
        ("0 0 LW * *", ["2026-01-30 00:00 Fri", "2026-02-27 00:00 Fri", "2026-03-31 00:00 Tue"]),
        ("0 0 * * 5L", ["2026-01-30 00:00 Fri", "2026-02-27 00:00 Fri", "2026-03-27 00:00 Fri"]),
        ("0 0 * * 1#2", ["2026-01-12 00:00 Mon", "2026-02-09 00:00 Mon", "2026-03-09 00:00 Mon"]),
        ("0 0 * * mon#5", ["2026-03-30 00:00 Mon", "2026-06-29 00:00 Mon", "2026-08-31 00:00 Mon"]),
        # 1W: Feb 1 2026 is a Sunday -> Monday the 2nd; Mar 1 is a Sunday too.
        ("0 0 1W * *", ["2026-02-02 00:00 Mon", "2026-03-02 00:00 Mon", "2026-04-01 00:00 Wed"]),
        # 31W: Jan 31 2026 is a Saturday -> Friday the 30th; short months have no 31st.
        ("0 0 31W * *", ["2026-01-30 00:00 Fri", "2026-03-31 00:00 Tue", "2026-05-29 00:00 Fri"]),
        # Vixie: both day fields restricted -> either matches.
        ("0 0 13 * fri", ["2026-01-02 00:00 Fri", "2026-01-09 00:00 Fri", "2026-01-13 00:00 Tue"]),
        # A day field beginning with '*' makes it an AND: odd days that are Fridays.
        ("0 0 */2 * fri", ["2026-01-09 00:00 Fri", "2026-01-23 00:00 Fri", "2026-02-13 00:00 Fri"]),
        ("@daily", ["2026-01-02 00:00 Fri", "2026-01-03 00:00 Sat", "2026-01-04 00:00 Sun"]),
        ("@hourly", ["2026-01-01 01:00 Thu", "2026-01-01 02:00 Thu", "2026-01-01 03:00 Thu"]),
        ("@weekly", ["2026-01-04 00:00 Sun", "2026-01-11 00:00 Sun", "2026-01-18 00:00 Sun"]),
        ("@monthly", ["2026-02-01 00:00 Sun", "2026-03-01 00:00 Sun", "2026-04-01 00:00 Wed"]),
        ("@yearly", ["2027-01-01 00:00 Fri", "2028-01-01 00:00 Sat", "2029-01-01 00:00 Mon"]),
        ("@annually", ["2027-01-01 00:00 Fri", "2028-01-01 00:00 Sat", "2029-01-01 00:00 Mon"]),
        ("@midnight", ["2026-01-02 00:00 Fri", "2026-01-03 00:00 Sat", "2026-01-04 00:00 Sun"]),
        ("0 0 29 2 *", ["2028-02-29 00:00 Tue", "2032-02-29 00:00 Sun", "2036-02-29 00:00 Fri"]),
        (
            "  0   12\t* *  *  ",
            ["2026-01-01 12:00 Thu", "2026-01-02 12:00 Fri", "2026-01-03 12:00 Sat"],
        ),
    ],
)
def test_syntax_means(expression: str, expected: list[str]) -> None:
    assert fires(expression, len(expected)) == expected


def test_strictly_after() -> None:
    spec = Cron("0 9 * * *")
    at_nine = datetime(2026, 1, 1, 9, tzinfo=timezone.utc)
    assert spec.next_after(at_nine) == datetime(2026, 1, 2, 9, tzinfo=timezone.utc)
    just_before = datetime(2026, 1, 1, 8, 59, 59, 999999, tzinfo=timezone.utc)
    assert spec.next_after(just_before) == at_nine


def _sequence(spec: Cron, start: datetime, n: int) -> list[datetime]:
    out: list[datetime] = []
    t: datetime | None = start
    for _ in range(n):
        assert t is not None
        found = spec.next_after(t)
        assert found is not None
        t = found
        out.append(t)
    return out


def _gaps(times: list[datetime]) -> set[timedelta]:
    return {b - a for a, b in itertools.pairwise(times)}


_KEYS = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=40)
_UTC_START = st.datetimes(
    min_value=datetime(1980, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(timezone.utc)
)


@given(_KEYS, _UTC_START)
def test_bare_h_in_minute_fires_once_a_day_or_hour(key: str, start: datetime) -> None:
    """Jenkins: a bare H is ONE value of its field, so `H 9 * * *` fires once a day."""
    daily = _sequence(Cron("H 9 * * *", hash_key=key), start, 40)
    assert _gaps(daily) == {timedelta(days=1)}
    assert {(t.hour, t.minute) for t in daily} == {(9, daily[0].minute)}
    twice = _sequence(Cron("H H * * *", hash_key=key), start, 40)
    assert _gaps(twice) == {timedelta(days=1)}
    hourly = _sequence(Cron("H * * * *", hash_key=key), start, 100)
    assert _gaps(hourly) == {timedelta(hours=1)}


@given(_KEYS, _UTC_START)
def test_bare_h_in_day_fields_fires_once_a_month_or_week(key: str, start: datetime) -> None:
    monthly = _sequence(Cron("0 0 H * *", hash_key=key), start, 30)
    assert len({t.day for t in monthly}) == 1 and monthly[0].day <= 28
    assert all(
        (b.year * 12 + b.month) - (a.year * 12 + a.month) == 1
        for a, b in itertools.pairwise(monthly)
    )
    weekly = _sequence(Cron("30 6 * * H", hash_key=key), start, 30)
    assert _gaps(weekly) == {timedelta(days=7)}
    yearly = _sequence(Cron("0 0 1 H *", hash_key=key), start, 10)
    assert {t.month for t in yearly} == {yearly[0].month}
    assert [b.year - a.year for a, b in itertools.pairwise(yearly)] == [1] * 9


@given(_KEYS, _UTC_START, st.sampled_from([2, 5, 7, 10, 15, 20, 30, 45, 59, 60, 100]))
def test_h_step_is_a_hashed_phase(key: str, start: datetime, step: int) -> None:
    """`H/n`: every n-th minute from a phase below n; the phase is the same every hour."""
    spec = Cron(f"H/{step} * * * *", hash_key=key)
    times = _sequence(spec, start, 3 * (60 // min(step, 60) + 1))
    phase = min(t.minute for t in times)
    expected = set(range(phase, 60, step))
    assert phase < min(step, 60)
    assert {t.minute for t in times} == expected
    per_hour: dict[tuple[int, int, int, int], int] = {}
    for t in times:
        key_hour = (t.year, t.month, t.day, t.hour)
        per_hour[key_hour] = per_hour.get(key_hour, 0) + 1
    full_hours = list(per_hour.values())[1:-1]  # the first and last hour may be partial
    assert all(count == len(expected) for count in full_hours)


@given(_KEYS, _UTC_START, st.integers(0, 50), st.integers(0, 9))
def test_h_range_picks_one_value_in_it(key: str, start: datetime, low: int, width: int) -> None:
    high = min(low + width, 59)
    spec = Cron(f"H({low}-{high}) 9 * * *", hash_key=key)
    times = _sequence(spec, start, 20)
    assert _gaps(times) == {timedelta(days=1)}
    (minute,) = {t.minute for t in times}
    assert low <= minute <= high


@given(_KEYS, _UTC_START, st.sampled_from([2, 3, 5, 10]))
def test_h_range_with_step(key: str, start: datetime, step: int) -> None:
    spec = Cron(f"H(10-40)/{step} 9 * * *", hash_key=key)
    times = _sequence(spec, start, 60)
    minutes = sorted({t.minute for t in times})
    assert minutes[0] - 10 < step and minutes[-1] <= 40
    assert all(b - a == step for a, b in itertools.pairwise(minutes))
    assert minutes == list(range(minutes[0], 41, step))


def test_h_is_stable_and_differs_between_keys() -> None:
    assert _sequence(Cron("H H * * *", hash_key="a"), START, 3) == _sequence(
        Cron("H H * * *", hash_key="a"), START, 3
    )
    minutes = {Cron("H 9 * * *", hash_key=f"sched_{i}").next_after(START) for i in range(200)}
    assert len(minutes) > 40


@pytest.mark.parametrize(
    ("expression", "gap"),
    [
        ("* * * * */10", timedelta(minutes=1)),  # Argo's docs: Sunday only
        ("*/100 * * * *", timedelta(hours=1)),  # minute 0 only
        ("0 */30 * * *", timedelta(days=1)),  # hour 0 only
        ("0 0 */40 * *", None),  # day 1 only
        ("0 0 1 */13 *", timedelta(days=365)),  # January only (2026-2027)
        ("0 0 * * 1/10", timedelta(days=7)),  # Monday only
        ("*/99999999999999999999 * * * *", timedelta(hours=1)),
    ],
)
def test_steps_larger_than_the_range_are_accepted(expression: str, gap: timedelta | None) -> None:
    times = _sequence(Cron(expression), START, 5)
    if expression.endswith("*/10"):
        assert all(t.weekday() == 6 for t in times)
    if gap is not None and expression != "* * * * */10":
        assert _gaps(times[:2]) == {gap}
    if expression.startswith("0 0 */40"):
        assert {t.day for t in times} == {1}


def test_never_firing_expressions_say_to_pause_instead() -> None:
    with pytest.raises(InvalidCronExpression, match="pause it"):
        Cron("0 0 31 2 *")


def test_hash_is_stable_spread_and_in_range() -> None:
    a = fires("H H * * *", 2, hash_key="sched_a")
    assert a == fires("H H * * *", 2, hash_key="sched_a")
    hashed = [Cron("H * * * *", hash_key=f"sched_{i}").next_after(START) for i in range(200)]
    minutes = {fire.minute for fire in hashed if fire is not None}
    assert len(minutes) > 40
    for i in range(50):
        spec = Cron("H(10-19) H/6 H * *", hash_key=f"k{i}")
        t = spec.next_after(START)
        assert t is not None and 10 <= t.minute <= 19 and t.hour < 6 and t.day <= 28


def test_hash_without_key_builds_but_does_not_fire() -> None:
    spec = Cron("H 9 * * *")  # Scheduler.create binds it to the schedule id
    with pytest.raises(ValidationError) as info:
        spec.next_after(START)
    assert info.value.field == "hash_key"
    assert Cron("H 9 * * *", hash_key="k").next_after(START) is not None


BAD_TOKENS = [
    "",
    "-",
    "/",
    "*/0",
    "1-",
    "-1",
    "a",
    "99",
    "1.5",
    "1-2-3",
    "5-1",
    "*/x",
    "1/",
    "\uff12",  # a non-ASCII digit
    "1,,2",
    "#",
    "L#",
    "1#0",
    "1#6",
    "H(5)",
    "H(a-b)",
    "100000000000000",
]
FIELDS = ["minute", "hour", "day-of-month", "month", "day-of-week"]


@pytest.mark.parametrize("token", BAD_TOKENS)
@pytest.mark.parametrize("position", range(5))
def test_bad_token_grid(position: int, token: str) -> None:
    parts = ["0", "0", "1", "1", "*"]
    parts[position] = token
    expression = " ".join(parts)
    if token == "":
        with pytest.raises(InvalidCronExpression, match="5 fields"):
            Cron(expression)
        return
    with pytest.raises(InvalidCronExpression) as info:
        Cron(expression, hash_key="k")
    assert info.value.cron_field == FIELDS[position]
    assert FIELDS[position] in str(info.value)
    assert repr(token) in str(info.value)
    assert info.value.field == "expression"


@pytest.mark.parametrize(
    ("position", "token"),
    [
        (0, "60"),
        (1, "24"),
        (2, "0"),
        (2, "32"),
        (3, "0"),
        (3, "13"),
        (4, "8"),
        (0, "mon"),
        (1, "jan"),
        (3, "sun"),
        (4, "jan"),
        (0, "L"),
        (1, "5L"),
        (2, "5L"),
        (3, "L"),
        (4, "L"),
        (4, "15W"),
        (0, "1W"),
        (2, "1#2"),
    ],
)
def test_out_of_range_and_misplaced_tokens(position: int, token: str) -> None:
    parts = ["0", "0", "1", "1", "*"]
    parts[position] = token
    with pytest.raises(InvalidCronExpression) as info:
        Cron(" ".join(parts))
    assert info.value.cron_field == FIELDS[position]


@pytest.mark.parametrize("expression", ["", "* * * *", "* * * * * *", "@reboot", "@every 5m"])
def test_wrong_shape(expression: str) -> None:
    with pytest.raises(InvalidCronExpression):
        Cron(expression)


@pytest.mark.parametrize(
    "expression",
    ["0 0 30 2 *", "0 0 31 4 *", "0 0 31 2,4,6,9,11 *", "0 0 30,31 feb *", "0 0 31W 2 *"],
)
def test_never_firing_is_rejected_after_a_bounded_search(
    expression: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The search counts the months it computes (the private `_compute_days`): its bound
    is the subject."""
    computed: list[tuple[int, int]] = []
    original = CronPattern._compute_days

    def counting(self: CronPattern, year: int, month: int) -> int:
        computed.append((year, month))
        return original(self, year, month)

    monkeypatch.setattr(CronPattern, "_compute_days", counting)
    with pytest.raises(InvalidCronExpression, match="never fire"):
        Cron(expression)
    assert len(computed) <= 28 * 12  # one 28-year calendar cycle at most


def test_rare_but_possible_is_accepted() -> None:
    # 2100 is not a leap year: after 2096 the next Feb 29 is in 2104.
    spec = Cron("0 0 29 2 *")
    assert spec.next_after(datetime(2097, 1, 1, tzinfo=timezone.utc)) == datetime(
        2104, 2, 29, tzinfo=timezone.utc
    )
    assert spec.next_after(datetime(9997, 1, 1, tzinfo=timezone.utc)) is None


def test_huge_and_wrong_types() -> None:
    with pytest.raises(InvalidCronExpression, match="characters"):
        Cron("* " * 10_000)
    with pytest.raises(InvalidCronExpression, match="string"):
        Cron(5)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="hash_key"):
        Cron("* * * * *", hash_key=3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "zone",
    [
        "Mars/Olympus",
        "",
        "../../etc/passwd",
        "/etc/localtime",
        "America",
        "x" * 5000,
        "UTC\x00",
        7,
        None,
    ],
)
def test_unknown_timezones(zone: object) -> None:
    with pytest.raises(UnknownTimezone) as info:
        Cron("* * * * *", zone)  # type: ignore[arg-type]
    assert info.value.field == "timezone"


def test_naive_after_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="after") as info:
        Cron("* * * * *").next_after(datetime(2026, 1, 1))
    assert info.value.field == "after"
    with pytest.raises(ValidationError, match="after"):
        Cron("* * * * *").next_after("2026-01-01")  # type: ignore[arg-type]


@given(st.text(max_size=80))
def test_fuzzed_text_only_raises_invalid_cron(text: str) -> None:
    with contextlib.suppress(InvalidCronExpression):
        Cron(text, hash_key="k")


_TOKEN = st.sampled_from(
    [
        "*",
        "?",
        "H",
        "L",
        "W",
        "#",
        "/",
        "-",
        ",",
        "0",
        "1",
        "5",
        "7",
        "12",
        "31",
        "59",
        "60",
        "mon",
        "jan",
        "fri",
        "LW",
        "(",
        ")",
        "H(1-5)",
    ]
)


@given(st.lists(st.lists(_TOKEN, min_size=1, max_size=5).map("".join), min_size=5, max_size=5))
def test_fuzzed_cron_like_tokens_only_raise_invalid_cron(fields: list[str]) -> None:
    try:
        spec = Cron(" ".join(fields), hash_key="k")
    except InvalidCronExpression:
        return
    t = spec.next_after(START)
    assert t is None or t > START


def _field_item(low: int, high: int) -> st.SearchStrategy[str]:
    """One list item of a numeric field: a value, a range, a stepped value or range, */n."""
    value = st.integers(low, high)
    step = st.integers(1, high + 1)
    ranges = st.tuples(value, value).map(sorted)
    return st.one_of(
        value.map(str),
        ranges.map(lambda r: f"{r[0]}-{r[1]}"),
        st.tuples(ranges, step).map(lambda c: f"{c[0][0]}-{c[0][1]}/{c[1]}"),
        st.tuples(value, step).map(lambda c: f"{c[0]}/{c[1]}"),
        step.map(lambda n: f"*/{n}"),
    )


NUMERIC_FIELDS = [
    _field_item(0, 59),
    _field_item(0, 23),
    _field_item(1, 31) | st.integers(1, 31).map(lambda n: f"{n}W"),
    _field_item(1, 12),
    _field_item(0, 7)
    | st.integers(0, 7).map(lambda n: f"{n}L")
    | st.tuples(st.integers(0, 7), st.integers(1, 5)).map(lambda c: f"{c[0]}#{c[1]}"),
]


def _outcome(expression: str) -> list[str] | str:
    try:
        return fires(expression, 12)
    except InvalidCronExpression as exc:
        return f"{exc.cron_field}: {exc}"


@given(
    st.tuples(*(st.lists(item, min_size=1, max_size=3).map(",".join) for item in NUMERIC_FIELDS)),
    st.lists(st.integers(0, 3), min_size=40, max_size=40),
)
def test_zero_padded_numbers_mean_what_the_plain_ones_mean(
    fields: tuple[str, ...], zeros: list[int]
) -> None:
    """Every number of every field (values, range ends, steps, nW, nL, n#k) may carry
    leading zeros, as cronie and cronsim allow: the expression fires exactly as the
    one without them, or fails in the same field."""
    plain = " ".join(fields)
    padding = iter(zeros * 10)
    padded = re.sub(r"\d+", lambda m: "0" * next(padding) + m.group(), plain)
    expected = _outcome(plain)
    found = _outcome(padded)
    if isinstance(expected, str):
        assert isinstance(found, str) and found.split(":")[0] == expected.split(":")[0]
    else:
        assert found == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("050 012 * * *", ["2026-01-01 12:50 Thu", "2026-01-02 12:50 Fri"]),
        ("007 0 * * 007", ["2026-01-04 00:07 Sun", "2026-01-11 00:07 Sun"]),
        ("0 0 001-005/002 * *", ["2026-01-03 00:00 Sat", "2026-01-05 00:00 Mon"]),
        ("*/05 * * * *", ["2026-01-01 00:05 Thu", "2026-01-01 00:10 Thu"]),
        ("0 0 * 002 *", ["2026-02-01 00:00 Sun", "2026-02-02 00:00 Mon"]),
        ("0 9 * * 01#002", ["2026-01-12 09:00 Mon", "2026-02-09 09:00 Mon"]),
        ("0 9 015W * *", ["2026-01-15 09:00 Thu", "2026-02-16 09:00 Mon"]),
        ("H(000-029)/010 9 * * *", ["2026-01-01 09:00 Thu", "2026-01-01 09:10 Thu"]),
    ],
)
def test_zero_padded_numbers_read_as_cronie_reads_them(
    expression: str, expected: list[str]
) -> None:
    assert fires(expression, 2, hash_key="k") == expected


@pytest.mark.parametrize(
    ("position", "token"),
    [(0, "060"), (0, "0000060"), (1, "024"), (2, "000"), (2, "032"), (3, "013"), (4, "008")],
)
def test_zero_padded_numbers_are_still_range_checked(position: int, token: str) -> None:
    parts = ["0", "0", "1", "1", "*"]
    parts[position] = token
    with pytest.raises(InvalidCronExpression, match="out of range") as info:
        Cron(" ".join(parts))
    assert info.value.cron_field == FIELDS[position]
    assert repr(token) in str(info.value)
