"""`agentsched next`: the fire times of every kind of spec, in local time and UTC, across
DST transitions and at the ends of the range."""

from __future__ import annotations

import io
import itertools
from contextlib import redirect_stdout
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.cli import (
    printed,
    printed_json,
)

from agentsched.cli import main

UTC = timezone.utc
FIRST, LAST = datetime(1970, 1, 1, 0, 1), datetime(9999, 12, 31, 23, 59)


AFTER = ["--after", "2026-03-27T00:00:00Z"]


def test_next_prints_local_and_utc(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["next", "0 9 * * mon-fri", "--tz", "Europe/Paris", "-n", "3", *AFTER]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "Fri 2026-03-27 09:00 CET (+0100)  2026-03-27T08:00:00Z",
        "Mon 2026-03-30 09:00 CEST (+0200)  2026-03-30T07:00:00Z",
        "Tue 2026-03-31 09:00 CEST (+0200)  2026-03-31T07:00:00Z",
    ]


def _next(capsys: pytest.CaptureFixture[str], *argv: str) -> list[datetime]:
    shown = printed_json(capsys, ["next", *argv])
    assert all(isinstance(t, str) and t.endswith("Z") for t in shown)
    times = [datetime.fromisoformat(t[:-1]).replace(tzinfo=UTC) for t in shown]
    assert all(a < b for a, b in itertools.pairwise(times))
    return times


def _utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


SPRING = "2026-03-28T00:00:00Z"  # Paris moves from +01:00 to +02:00 at 01:00Z on 2026-03-29


def test_next_cron_across_spring_forward(capsys: pytest.CaptureFixture[str]) -> None:
    times = _next(capsys, "30 2 * * *", "--tz", "Europe/Paris", "--after", SPRING, "-n", "3")
    # 02:30 does not exist on the 29th: it fires once, at the end of the gap (03:00 CEST)
    assert times == [_utc(2026, 3, 28, 1, 30), _utc(2026, 3, 29, 1), _utc(2026, 3, 30, 0, 30)]


def test_next_cron_across_fall_back(capsys: pytest.CaptureFixture[str]) -> None:
    after = "2026-10-25T00:00:00Z"
    times = _next(capsys, "*/30 * * * *", "--tz", "Europe/Paris", "--after", after, "-n", "4")
    assert [b - a for a, b in itertools.pairwise(times)] == [timedelta(minutes=30)] * 3


def test_next_every_across_spring_forward(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--every", "90m", "--start-at", "2026-03-29T00:00", "--tz", "Europe/Paris"]
    times = _next(capsys, *argv, "--after", SPRING, "-n", "4")
    assert times == [_utc(2026, 3, 28, 23) + timedelta(minutes=90 * k) for k in range(4)]
    lines = printed(capsys, ["next", *argv, "--after", SPRING, "-n", "4"]).splitlines()
    assert [line.split()[2:4] for line in lines] == [
        ["00:00", "CET"], ["01:30", "CET"], ["04:00", "CEST"], ["05:30", "CEST"],
    ]  # fmt: skip


def test_next_every_without_start_counts_from_after(capsys: pytest.CaptureFixture[str]) -> None:
    times = _next(capsys, "--every", "1h30m", "--after", SPRING, "-n", "2")
    assert times == [_utc(2026, 3, 28, 1, 30), _utc(2026, 3, 28, 3)]


def test_next_rrule_across_spring_forward(capsys: pytest.CaptureFixture[str]) -> None:
    rule = ["--rrule", "FREQ=DAILY", "--dtstart", "2026-03-27T02:30", "--tz", "Europe/Paris"]
    times = _next(capsys, *rule, "--after", SPRING, "-n", "3")
    assert times == [_utc(2026, 3, 28, 1, 30), _utc(2026, 3, 29, 1), _utc(2026, 3, 30, 0, 30)]


def test_next_once(capsys: pytest.CaptureFixture[str]) -> None:
    once = ["--once", "2026-03-29T02:30", "--tz", "Europe/Paris"]
    assert _next(capsys, *once, "--after", SPRING, "-n", "3") == [_utc(2026, 3, 29, 1)]
    assert _next(capsys, *once, "--after", "2026-04-01T00:00:00Z") == []
    out = printed(capsys, ["next", *once, "--after", "2026-04-01T00:00:00Z"])
    assert out == "no fire time after 2026-04-01T00:00:00Z\n"


def test_next_shows_seconds_when_there_are_some(capsys: pytest.CaptureFixture[str]) -> None:
    out = printed(capsys, ["next", "--every", "45s", "--after", SPRING, "-n", "2"])
    assert out.splitlines() == [
        "Sat 2026-03-28 00:00:45 UTC (+0000)  2026-03-28T00:00:45Z",
        "Sat 2026-03-28 00:01:30 UTC (+0000)  2026-03-28T00:01:30Z",
    ]


EAST_AND_WEST = ["Pacific/Kiritimati", "Pacific/Pago_Pago", "Pacific/Chatham", "Europe/Paris"]


@given(
    fire=st.one_of(
        st.datetimes(FIRST, LAST),
        st.datetimes(FIRST, FIRST + timedelta(days=1)),  # the edges, where zones cross them
        st.datetimes(LAST - timedelta(days=1), LAST),
    ),
    zone=st.sampled_from(EAST_AND_WEST),
)
def test_next_shows_a_fire_time_anywhere_in_range_in_any_zone(fire: datetime, zone: str) -> None:
    """The last hours of 9999 are year 10000 east of UTC (and the first of 1970 are 1969
    west of it): a local time Python cannot hold is said in words, the UTC one as ever."""
    instant = fire.replace(second=0, microsecond=0, tzinfo=timezone.utc)
    out = io.StringIO()
    with redirect_stdout(out):
        argv = ["next", "--once", f"{instant:%Y-%m-%dT%H:%MZ}", "--tz", zone]
        assert main([*argv, "--after", "1970-01-01T00:00:00Z"]) == 0
    (line,) = out.getvalue().splitlines()
    assert line.endswith(f"  {instant:%Y-%m-%dT%H:%M:%SZ}")


def test_the_last_minute_of_9999_east_of_utc(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["next", "--once", "9999-12-31T23:00Z", "--tz", "Pacific/Kiritimati"]
    assert main([*argv, "--after", "2026-01-01T00:00:00Z"]) == 0
    assert capsys.readouterr().out == (
        "after 9999-12-31 in Pacific/Kiritimati  9999-12-31T23:00:00Z\n"
    )
