"""Cron syntax: what parses, what it means, and a grid of what must not parse."""

from __future__ import annotations

import contextlib
import time
from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentsched import Cron, InvalidCronExpression, UnknownTimezone, ValidationError

START = datetime(2026, 1, 1, tzinfo=timezone.utc)  # a Thursday


def fires(
    expression: str, n: int = 5, start: datetime = START, hash_key: str | None = None
) -> list[str]:
    spec = Cron(expression, hash_key=hash_key)
    out, t = [], start
    for _ in range(n):
        t = spec.next_after(t)
        assert t is not None
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


def test_hash_is_stable_spread_and_in_range() -> None:
    a = fires("H H * * *", 2, hash_key="sched_a")
    assert a == fires("H H * * *", 2, hash_key="sched_a")
    minutes = {
        Cron("H * * * *", hash_key=f"sched_{i}").next_after(START).minute for i in range(200)
    }
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
        (0, "*/61"),
        (1, "*/25"),
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
def test_never_firing_is_rejected_quickly(expression: str) -> None:
    began = time.perf_counter()
    with pytest.raises(InvalidCronExpression, match="never fire"):
        Cron(expression)
    assert time.perf_counter() - began < 1.0


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
