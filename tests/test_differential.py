"""Differential tests against croniter and cronsim, away from DST (UTC).

Only the syntax all three share is generated. Known disagreements with
DESIGN.md are pinned in `test_documented_disagreements` and described in
docs/dst.md.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from cron_reference import CronShape, cron_shapes
from croniter import croniter
from cronsim import CronSim
from hypothesis import assume, given
from hypothesis import strategies as st

from agentsched import Cron

UTC = timezone.utc
STARTS = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
)


def ours(expression: str, start: datetime, n: int) -> list[datetime]:
    spec, t, out = Cron(expression), start, []
    for _ in range(n):
        t = spec.next_after(t)
        assert t is not None
        out.append(t)
    return out


def shared_by_croniter(shape: CronShape) -> bool:
    # croniter ORs the day fields even when one begins with '*/' (Vixie ANDs them)
    dom, dow = shape.fields[2], shape.fields[4]
    star_led = dom.startswith("*/") or dow.startswith("*/")
    specials = shape.dom_nearest or shape.dow_last or "?" in shape.expression or "W" in dom
    return not star_led and not specials and not has_one_value_range(shape)


def has_one_value_range(shape: CronShape) -> bool:
    """croniter reads "3-3" as "*"; cronsim reads "6-6/1" as "6/1" (see below)."""
    return re.search(r"\b(\w+)-\1\b", shape.expression) is not None


def shared_by_cronsim(shape: CronShape) -> bool:
    return not (shape.dom_nearest or "?" in shape.expression or has_one_value_range(shape))


@given(cron_shapes(), STARTS)
def test_agrees_with_croniter(shape: CronShape, start: datetime) -> None:
    assume(shared_by_croniter(shape))
    it = croniter(shape.expression, start)
    theirs = [it.get_next(datetime) for _ in range(8)]
    assert ours(shape.expression, start, 8) == theirs


@given(cron_shapes(), STARTS)
def test_agrees_with_cronsim(shape: CronShape, start: datetime) -> None:
    assume(shared_by_cronsim(shape))
    it = CronSim(shape.expression, start)
    theirs = [next(it) for _ in range(8)]
    assert ours(shape.expression, start, 8) == theirs


def test_documented_disagreements() -> None:
    from zoneinfo import ZoneInfo

    ny, lhi = ZoneInfo("America/New_York"), ZoneInfo("Australia/Lord_Howe")
    # 1. croniter fires a fixed-time job twice in a fall-back hour; DESIGN.md: once.
    start = datetime(2025, 11, 1, 12, tzinfo=UTC)
    it = croniter("30 1 * * *", start.astimezone(ny))
    theirs = [it.get_next(datetime).astimezone(UTC) for _ in range(2)]
    assert theirs == [
        datetime(2025, 11, 2, 5, 30, tzinfo=UTC),
        datetime(2025, 11, 2, 6, 30, tzinfo=UTC),
    ]
    assert Cron("30 1 * * *", "America/New_York").next_after(theirs[0]) == datetime(
        2025, 11, 3, 6, 30, tzinfo=UTC
    )
    # 2. croniter ORs "*/2" with a weekday; Vixie cron (and we) AND them.
    jan1 = datetime(2026, 1, 1, tzinfo=UTC)
    assert croniter("0 0 */2 * fri", jan1).get_next(datetime) == datetime(2026, 1, 2, tzinfo=UTC)
    assert ours("0 0 */2 * fri", jan1, 1) == [datetime(2026, 1, 9, tzinfo=UTC)]
    # 3. croniter reads a one-value range as "*": "3-3" in the month field fires in January.
    assert croniter("* * * 3-3 *", jan1).get_next(datetime) == datetime(
        2026, 1, 1, 0, 1, tzinfo=UTC
    )
    assert ours("* * * 3-3 *", jan1, 1) == [datetime(2026, 3, 1, tzinfo=UTC)]
    # ... and cronsim reads "6-6/1" as "6/1", firing every hour from 06:00.
    sim = CronSim("0 6-6/1 * * *", jan1)
    assert [next(sim) for _ in range(2)][1] == datetime(2026, 1, 1, 7, tzinfo=UTC)
    assert ours("0 6-6/1 * * *", jan1, 2)[1] == datetime(2026, 1, 2, 6, tzinfo=UTC)
    # 4. cronsim skips 03:00 on Lord Howe's fall-back day, a wall time that occurs once.
    start = datetime(2025, 4, 5, 12, tzinfo=UTC)
    sim = CronSim("0 */3 * * *", start.astimezone(lhi))
    assert [next(sim).astimezone(UTC) for _ in range(2)] == [
        datetime(2025, 4, 5, 13, tzinfo=UTC),
        datetime(2025, 4, 5, 19, 30, tzinfo=UTC),
    ]
    assert ours("0 */3 * * *", start, 0) == []
    assert Cron("0 */3 * * *", "Australia/Lord_Howe").next_after(
        datetime(2025, 4, 5, 13, tzinfo=UTC)
    ) == datetime(2025, 4, 5, 16, 30, tzinfo=UTC)
