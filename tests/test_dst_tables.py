"""Hand-written DST tables: the expected UTC instants, spelled out.

Each row: zone, expression, start (UTC), the next fires (UTC). The comments
give the local wall times and which rule of docs/dst.md applies.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from agentsched import Cron, Once, RRule


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


TABLE = [
    # New York 2025: spring forward Mar 9 02:00 EST -> 03:00 EDT (07:00Z).
    # Fixed-time 02:30 does not exist: fires once at the first instant after the gap.
    (
        "America/New_York",
        "30 2 * * *",
        "2025-03-08T00:00",
        ["2025-03-08T07:30", "2025-03-09T07:00", "2025-03-10T06:30"],
    ),
    # Both 02:00 and 02:30 are in the gap: they collapse into one firing.
    (
        "America/New_York",
        "0,30 2 * * *",
        "2025-03-08T12:00",
        ["2025-03-09T07:00", "2025-03-10T06:00", "2025-03-10T06:30"],
    ),
    # Wildcard hourly follows the clock: 02:00 does not exist and does not fire.
    (
        "America/New_York",
        "0 * * * *",
        "2025-03-09T04:30",
        ["2025-03-09T05:00", "2025-03-09T06:00", "2025-03-09T07:00", "2025-03-09T08:00"],
    ),
    # Fall back Nov 2 02:00 EDT -> 01:00 EST (06:00Z): 01:30 occurs twice.
    # Fixed-time: first occurrence only (01:30 EDT = 05:30Z).
    (
        "America/New_York",
        "30 1 * * *",
        "2025-11-01T12:00",
        ["2025-11-02T05:30", "2025-11-03T06:30"],
    ),
    # Wildcard (minute starts with '*'): both occurrences fire.
    (
        "America/New_York",
        "*/30 1 * * *",
        "2025-11-02T04:00",
        [
            "2025-11-02T05:00",
            "2025-11-02T05:30",
            "2025-11-02T06:00",
            "2025-11-02T06:30",
            "2025-11-03T06:00",
        ],
    ),
    # A yearly wildcard whose next match is re-exposed by the fall-back just ahead.
    (
        "America/New_York",
        "*/30 1 2 11 *",
        "2025-11-02T05:45",
        ["2025-11-02T06:00", "2025-11-02T06:30", "2026-11-02T06:00"],
    ),
    # London 2025: Mar 30 01:00 GMT -> 02:00 BST (01:00Z); Oct 26 02:00 BST -> 01:00 GMT.
    (
        "Europe/London",
        "30 1 * * *",
        "2025-03-29T00:00",
        ["2025-03-29T01:30", "2025-03-30T01:00", "2025-03-31T00:30"],
    ),
    ("Europe/London", "30 1 * * *", "2025-10-25T12:00", ["2025-10-26T00:30", "2025-10-27T01:30"]),
    (
        "Europe/London",
        "*/20 1 * * *",
        "2025-10-25T23:59",
        [
            "2025-10-26T00:00",
            "2025-10-26T00:20",
            "2025-10-26T00:40",
            "2025-10-26T01:00",
            "2025-10-26T01:20",
            "2025-10-26T01:40",
        ],
    ),
    # Lord Howe: a 30-minute shift. Apr 6 2025 02:00 (+11) -> 01:30 (+10:30) at 15:00Z.
    (
        "Australia/Lord_Howe",
        "45 1 * * *",
        "2025-04-05T12:00",
        ["2025-04-05T14:45", "2025-04-06T15:15"],
    ),
    (
        "Australia/Lord_Howe",
        "*/15 1 * * *",
        "2025-04-05T13:59",
        [
            "2025-04-05T14:00",
            "2025-04-05T14:15",
            "2025-04-05T14:30",
            "2025-04-05T14:45",
            "2025-04-05T15:00",
            "2025-04-05T15:15",
            "2025-04-06T14:30",
        ],
    ),
    # 03:00 local is unique on the transition day and must fire (cronsim misses it).
    (
        "Australia/Lord_Howe",
        "0 */3 * * *",
        "2025-04-05T12:00",
        ["2025-04-05T13:00", "2025-04-05T16:30", "2025-04-05T19:30"],
    ),
    # Oct 5 2025 02:00 (+10:30) -> 02:30 (+11) at 15:30Z: 02:15 is in the gap.
    (
        "Australia/Lord_Howe",
        "15 2 * * *",
        "2025-10-03T12:00",
        ["2025-10-03T15:45", "2025-10-04T15:30", "2025-10-05T15:15"],
    ),
    (
        "Australia/Lord_Howe",
        "0 */3 * * *",
        "2025-10-04T13:00",
        ["2025-10-04T13:30", "2025-10-04T16:00", "2025-10-04T19:00"],
    ),
    # Chatham: +12:45 / +13:45, switching at 02:45 standard time.
    # Sep 28 2025 02:45 -> 03:45 (14:00Z Sep 27): 03:00 is in the gap.
    (
        "Pacific/Chatham",
        "0 3 * * *",
        "2025-09-26T00:00",
        ["2025-09-26T14:15", "2025-09-27T14:00", "2025-09-28T13:15"],
    ),
    # Apr 6 2025 03:45 -> 02:45 (14:00Z Apr 5): 03:00 repeats; first occurrence only.
    ("Pacific/Chatham", "0 3 * * *", "2025-04-04T14:00", ["2025-04-05T13:15", "2025-04-06T14:15"]),
    (
        "Pacific/Chatham",
        "0 * * * *",
        "2025-04-05T12:00",
        ["2025-04-05T12:15", "2025-04-05T13:15", "2025-04-05T14:15", "2025-04-05T15:15"],
    ),
    # Sao Paulo: last DST began Nov 4 2018 00:00 -> 01:00 (03:00Z), ended Feb 17 2019
    # 00:00 -> Feb 16 23:00 (02:00Z). Since 2019 the zone has no DST.
    (
        "America/Sao_Paulo",
        "30 0 * * *",
        "2018-11-02T12:00",
        ["2018-11-03T03:30", "2018-11-04T03:00", "2018-11-05T02:30"],
    ),
    (
        "America/Sao_Paulo",
        "30 23 * * *",
        "2019-02-15T12:00",
        ["2019-02-16T01:30", "2019-02-17T01:30", "2019-02-18T02:30"],
    ),
    (
        "America/Sao_Paulo",
        "0 0 * * *",
        "2019-11-02T12:00",
        ["2019-11-03T03:00", "2019-11-04T03:00"],
    ),
    (
        "America/Sao_Paulo",
        "0 * * * *",
        "2018-11-04T01:30",
        ["2018-11-04T02:00", "2018-11-04T03:00", "2018-11-04T04:00"],
    ),
]


@pytest.mark.parametrize(
    ("zone", "expression", "start", "expected"), TABLE, ids=[f"{z}:{e}:{s}" for z, e, s, _ in TABLE]
)
def test_dst_table(zone: str, expression: str, start: str, expected: list[str]) -> None:
    spec = Cron(expression, zone)
    fires = []
    t = utc(start)
    for _ in expected:
        found = spec.next_after(t)
        assert found is not None
        t = found
        fires.append(t)
    assert fires == [utc(e) for e in expected]


@pytest.mark.parametrize(
    ("zone", "wall", "expected"),
    [
        ("America/New_York", "2025-03-09T02:30", "2025-03-09T07:00"),  # gap: end of gap
        ("America/New_York", "2025-11-02T01:30", "2025-11-02T05:30"),  # repeated: first
        ("Australia/Lord_Howe", "2025-10-05T02:15", "2025-10-04T15:30"),
        ("Pacific/Chatham", "2025-04-06T03:00", "2025-04-05T13:15"),
        ("Europe/Paris", "2026-01-05T14:00", "2026-01-05T13:00"),
    ],
)
def test_once_wall_time_follows_fixed_time_rule(zone: str, wall: str, expected: str) -> None:
    assert Once(datetime.fromisoformat(wall), zone).run_at == utc(expected)


def test_rrule_wall_times_follow_fixed_time_rule() -> None:
    spec = RRule("FREQ=DAILY", datetime(2025, 3, 7, 2, 30), "America/New_York")
    t = utc("2025-03-07T00:00")
    fires = []
    for _ in range(4):
        found = spec.next_after(t)
        assert found is not None
        t = found
        fires.append(t)
    assert fires == [
        utc(x)
        for x in ["2025-03-07T07:30", "2025-03-08T07:30", "2025-03-09T07:00", "2025-03-10T06:30"]
    ]
    fall = RRule("FREQ=HOURLY;BYHOUR=0,1,2", datetime(2025, 11, 1), "America/New_York")
    t, fires = utc("2025-11-02T03:30"), []
    for _ in range(4):
        found = fall.next_after(t)
        assert found is not None
        t = found
        fires.append(t)
    # 01:00 repeats: an RRULE fires it once, at the first occurrence.
    assert fires == [
        utc(x)
        for x in ["2025-11-02T04:00", "2025-11-02T05:00", "2025-11-02T07:00", "2025-11-03T05:00"]
    ]
