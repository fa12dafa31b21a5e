"""Specs in words, as the dashboard shows them: exact for common shapes, quoted otherwise."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentsched import Cron, Interval, Once, RRule
from agentsched.timing.cron import cron_fields
from agentsched.web.describe import describe

UTC = timezone.utc


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("0 9 * * mon-fri", "every weekday at 09:00 Europe/Paris"),
        ("30 9,17 * * 1-5", "every weekday at 09:30 and 17:30 Europe/Paris"),
        ("0 9 * * sat,sun", "every Saturday and Sunday at 09:00 Europe/Paris"),
        ("0 9 * * 0", "every Sunday at 09:00 Europe/Paris"),
        ("0 9 1,15 * *", "on days 1 and 15 of the month at 09:00 Europe/Paris"),
        ("0 9 1 * mon", "on day 1 of the month or every Monday at 09:00 Europe/Paris"),
        ("0 0 1,15 1,7 *", "on days 1 and 15 of January and July at 00:00 Europe/Paris"),
        ("0 9 * 6 1-5", "every weekday in June at 09:00 Europe/Paris"),
        ("@yearly", "on day 1 of January at 00:00 Europe/Paris"),
        ("@weekly", "every Sunday at 00:00 Europe/Paris"),
        ("0 */6 * * *", "every day at 00:00, 06:00, 12:00 and 18:00 Europe/Paris"),
        ("* * * * *", "every minute"),
        ("*/15 * * * *", "every 15 minutes"),
        ("5/15 * * * *", "every 15 minutes from :05"),
        ("@hourly", "every hour at :00"),
        ("*/7 * * * *", "every 7 minutes from :00 to :56 of each hour, 00:00 to 23:56"),
        ("0 */2 * * *", "every 2 hours from 00:00 to 22:00, every day (Europe/Paris)"),
        ("0 9-17 * * 1-5", "every hour from 09:00 to 17:00, every weekday (Europe/Paris)"),
        (
            "*/15 9-17 * * 1-5",
            "every 15 minutes from 09:00 to 17:45, every weekday (Europe/Paris)",
        ),
        ("* 9 * * *", "every minute from 09:00 to 09:59, every day (Europe/Paris)"),
        # Not plain: quoted rather than guessed.
        ("0 9 L * *", "cron “0 9 L * *” (Europe/Paris)"),
        ("0 9 15W * *", "cron “0 9 15W * *” (Europe/Paris)"),
        ("0 9 * * 1#2", "cron “0 9 * * 1#2” (Europe/Paris)"),
        ("0 9 */2 * mon", "cron “0 9 */2 * mon” (Europe/Paris)"),
        ("1,2,3,5,8,13,21 * * * *", "cron “1,2,3,5,8,13,21 * * * *” (Europe/Paris)"),
    ],
)
def test_cron_in_words(expression: str, words: str) -> None:
    assert describe(Cron(expression, "Europe/Paris", hash_key="k")) == words


def test_hashed_fields_read_as_the_values_they_fire_at() -> None:
    spec = Cron("H 9 * * *", "UTC", hash_key="sched_2")
    first = spec.next_after(datetime(2026, 1, 1, tzinfo=UTC))
    assert first is not None
    assert describe(spec) == f"every day at {first:%H:%M} UTC"


def test_other_specs_in_words() -> None:
    assert describe(Once(datetime(2026, 1, 5, 14, 0), "Europe/Paris")) == (
        "once, at 2026-01-05 14:00 Europe/Paris"
    )
    every = {
        90 * 60: "90 minutes",
        3600: "hour",
        2 * 86400: "2 days",
        1: "second",
        1.5: "1.5 seconds",
    }
    for seconds, words in every.items():
        assert describe(Interval(timedelta(seconds=seconds))) == f"every {words}"
    start = datetime(2026, 1, 5, 9)
    rules = {
        "FREQ=WEEKLY;BYDAY=MO,WE": "every Monday and Wednesday at 09:00 Europe/Paris",
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TU,WE,TH,FR": (
            "every 2 weeks on Monday to Friday at 09:00 Europe/Paris"
        ),
        "FREQ=WEEKLY": "every Monday at 09:00 Europe/Paris",
        "FREQ=DAILY;COUNT=10": "every day at 09:00 Europe/Paris, 10 times from 2026-01-05",
        "FREQ=DAILY;UNTIL=20261231T000000Z": (
            "every day at 09:00 Europe/Paris, until 2026-12-31 00:00 UTC"
        ),
        "FREQ=MONTHLY": "on day 5 of every month at 09:00 Europe/Paris",
        "FREQ=YEARLY": "every year on 5 January at 09:00 Europe/Paris",
        "FREQ=MONTHLY;BYDAY=1MO": "rule “FREQ=MONTHLY;BYDAY=1MO” from {start}",
        "FREQ=DAILY;BYHOUR=9,17": "rule “FREQ=DAILY;BYHOUR=9,17” from {start}",
    }
    for rule, words in rules.items():
        expected = words.format(start="2026-01-05 09:00 (Europe/Paris)")
        assert describe(RRule(rule, start, "Europe/Paris")) == expected


def test_cron_fields_are_the_parsed_fields() -> None:
    minute, hour, dom, month, dow = cron_fields("*/20 9-10 L * mon,fri")
    assert minute.values == {0, 20, 40} and minute.star
    assert hour.values == {9, 10} and not hour.star
    assert dom.special and not dom.values
    assert len(month.values) == 12
    assert dow.values == {1, 5} and not dow.special


# -- honesty: what a description claims about a day is what fires that day ----------

_DAY = datetime(2026, 1, 7, tzinfo=UTC)  # any day: the day fields below are all `*`


def _field(low: int, high: int) -> st.SearchStrategy[str]:
    value = st.integers(low, high)
    return st.one_of(
        st.just("*"),
        value.map(str),
        st.integers(1, high).map(lambda n: f"*/{n}"),
        st.lists(value, min_size=2, max_size=4, unique=True).map(lambda v: ",".join(map(str, v))),
        st.tuples(value, value).map(lambda p: f"{min(p)}-{max(p)}"),
        st.tuples(value, value, st.integers(1, 9)).map(
            lambda p: f"{min(p[:2])}-{max(p[:2])}/{p[2]}"
        ),
    )


def _fires_on(spec: Cron, day: datetime) -> list[str]:
    times: list[str] = []
    t = day - timedelta(seconds=1)
    while (found := spec.next_after(t)) is not None and found < day + timedelta(days=1):
        times.append(f"{found:%H:%M}")
        t = found
    return times


def _claimed(words: str) -> list[str] | None:
    """The times of day a description of a `* * *`-days expression claims, or None if it
    quotes the expression."""
    every_minutes = re.fullmatch(r"every (\d+ )?minutes?(?: from :(\d\d))?", words)
    if every_minutes:
        step, first = int(every_minutes[1] or 1), int(every_minutes[2] or 0)
        return [f"{h:02d}:{m:02d}" for h in range(24) for m in range(first, 60, step)]
    if hourly := re.fullmatch(r"every hour at :(\d\d)", words):
        return [f"{h:02d}:{hourly[1]}" for h in range(24)]
    if listed := re.fullmatch(r"every day at (.*) UTC", words):
        return re.findall(r"\d\d:\d\d", listed[1])
    spans = re.fullmatch(
        r"every (?:(\d+) )?(minute|minutes|hour|hours) from (\d\d):(\d\d) to (\d\d):(\d\d)"
        r", every day \(UTC\)",
        words,
    )
    if spans:
        size = 60 if spans[2].startswith("hour") else 1
        step = int(spans[1] or 1) * size
        start = int(spans[3]) * 60 + int(spans[4])
        end = int(spans[5]) * 60 + int(spans[6])
        return [f"{t // 60:02d}:{t % 60:02d}" for t in range(start, end + 1, step)]
    if words.startswith("every ") and "of each hour" in words:
        parts = re.fullmatch(
            r"every (\d+) minutes from :(\d\d) to :(\d\d) of each hour, (\d\d):\d\d to (\d\d):\d\d"
            r"(?:, every day \(UTC\))?",
            words,
        )
        assert parts, words
        step, first, last, h0, h1 = (int(p) for p in parts.groups())
        return [f"{h:02d}:{m:02d}" for h in range(h0, h1 + 1) for m in range(first, last + 1, step)]
    assert words.startswith("cron “"), words
    return None


@given(minute=_field(0, 59), hour=_field(0, 23))
def test_a_description_claims_exactly_the_fires_of_a_day(minute: str, hour: str) -> None:
    spec = Cron(f"{minute} {hour} * * *", "UTC", hash_key="k")
    claimed = _claimed(describe(spec))
    if claimed is not None:
        assert claimed == _fires_on(spec, _DAY), describe(spec)
