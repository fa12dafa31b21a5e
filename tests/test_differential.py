"""Our cron answers beside croniter's and cronsim's.

Our answers are checked against the brute-force reference (`cron_reference`);
the peers are second opinions, never the judge. Where a peer differs from us,
docs/dst.md says so ("How others differ"), and each of its statements is a
`Claim` below, checked against the installed release. A peer that no longer
behaves as the page says is reported as an xfail naming the line to update,
never a failure: a peer fixing a bug changes nothing of ours. The property
tests compare the syntax each peer shares with us, away from DST (UTC); a
disagreement there that the page does not describe is reported the same way,
provided we agree with the reference (otherwise the test fails: the fault is
ours).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter  # type: ignore[import-untyped]
from cronsim import CronSim
from hypothesis import assume, given
from hypothesis import strategies as st
from support.cron_reference import CronShape, cron_shapes, utc_fires

from agentsched import Cron

UTC = timezone.utc
DST_MD = Path(__file__).resolve().parent.parent / "docs" / "dst.md"
STARTS = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
)
FIRES = 8  # compared per expression in the property tests

Fires = tuple[datetime, ...]


def ours(expression: str, start: datetime, n: int, zone: str = "UTC") -> Fires:
    spec, t, out = Cron(expression, zone), start, []
    for _ in range(n):
        found = spec.next_after(t)
        assert found is not None
        out.append(found)
        t = found
    return tuple(out)


def peer_fires(peer: str, expression: str, start: datetime, n: int) -> Fires | None:
    """The peer's first `n` fires after `start` (aware; the peer works in its zone), in UTC;
    None when the peer refuses the expression."""
    try:
        if peer == "croniter":
            it = croniter(expression, start)
            found = [it.get_next(datetime) for _ in range(n)]
        else:
            sim = CronSim(expression, start)
            found = [next(sim) for _ in range(n)]
    except Exception:  # each peer has its own errors, and any of them is a refusal
        return None
    return tuple(t.astimezone(UTC) for t in found)


def shown(fires: Fires | None) -> str:
    if fires is None:
        return "a refusal"
    return ", ".join(f"{t:%Y-%m-%d %H:%M}Z" for t in fires)


# -- what docs/dst.md says of each peer ----------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """One statement of docs/dst.md's "How others differ" table about a peer: the words in
    the peer's row, the expression that shows them, the peer's fires as the page describes
    them (None: it refuses the expression), and ours."""

    name: str
    peer: str
    says: str
    expression: str
    zone: str
    after: datetime
    theirs: Fires | None
    ours: Fires


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


NEW_YORK_FALL_BACK = utc(2025, 11, 1, 12)  # 2 Nov 2025: 02:00 EDT becomes 01:00 EST (06:00Z)
NEW_YORK_SPRING_FORWARD = utc(2025, 3, 8, 12)  # 9 Mar 2025: 02:00 EST becomes 03:00 EDT
JAN_1 = utc(2026, 1, 1)
ONCE_AT_01_30 = (utc(2025, 11, 2, 5, 30), utc(2025, 11, 3, 6, 30))
GAP_END = (utc(2025, 3, 9, 7), utc(2025, 3, 10, 6, 30))
BOTH_PASSES = tuple(utc(2025, 11, 2, h, m) for h, m in ((5, 0), (5, 30), (6, 0), (6, 30)))

CLAIMS = [
    Claim(
        "croniter-fires-a-repeated-wall-time-twice",
        "croniter",
        "**twice**: `30 1 * * *` fires at 05:30Z and 06:30Z on 2 Nov 2025 (New York)",
        "30 1 * * *",
        "America/New_York",
        NEW_YORK_FALL_BACK,
        (utc(2025, 11, 2, 5, 30), utc(2025, 11, 2, 6, 30)),
        ONCE_AT_01_30,
    ),
    *(
        Claim(
            f"{peer}-fires-a-skipped-wall-time-at-the-gap-end",
            peer,
            "at the end of the gap",
            "30 2 * * *",
            "America/New_York",
            NEW_YORK_SPRING_FORWARD,
            GAP_END,
            GAP_END,
        )
        for peer in ("croniter", "cronsim")
    ),
    *(
        Claim(
            f"{peer}-wildcards-follow-the-clock",
            peer,
            "follows the clock",
            "*/30 1 * * *",
            "America/New_York",
            utc(2025, 11, 2, 4, 59),
            BOTH_PASSES,
            BOTH_PASSES,
        )
        for peer in ("croniter", "cronsim")
    ),
    Claim(
        "croniter-ors-a-step-with-a-weekday",
        "croniter",
        "ORs `*/2` with a weekday (`0 0 */2 * fri` fires on Jan 2, a Friday, and every odd day)",
        "0 0 */2 * fri",
        "UTC",
        JAN_1,
        (utc(2026, 1, 2), utc(2026, 1, 3), utc(2026, 1, 5)),
        (utc(2026, 1, 9), utc(2026, 1, 23), utc(2026, 2, 13)),
    ),
    *(
        Claim(
            f"croniter-reads-{text}-as-a-star",
            "croniter",
            f"`{text}`",
            expression,
            "UTC",
            JAN_1,
            theirs,
            mine,
        )
        for text, expression, theirs, mine in (
            (
                "3-3",
                "* * * 3-3 *",
                (utc(2026, 1, 1, 0, 1), utc(2026, 1, 1, 0, 2)),
                (utc(2026, 3, 1), utc(2026, 3, 1, 0, 1)),
            ),
            (
                "mar-mar",
                "* * * mar-mar *",
                (utc(2026, 1, 1, 0, 1), utc(2026, 1, 1, 0, 2)),
                (utc(2026, 3, 1), utc(2026, 3, 1, 0, 1)),
            ),
            (
                "6-6/1",
                "0 6-6/1 * * *",
                (utc(2026, 1, 1, 1), utc(2026, 1, 1, 2)),
                (utc(2026, 1, 1, 6), utc(2026, 1, 2, 6)),
            ),
        )
    ),
    Claim(
        "croniter-fires-31W-in-shorter-months",
        "croniter",
        "`31W` fires in months shorter than 31 days, on their last weekday",
        "0 0 31W * *",
        "UTC",
        JAN_1,
        (utc(2026, 1, 30), utc(2026, 2, 27), utc(2026, 3, 31)),
        (utc(2026, 1, 30), utc(2026, 3, 31), utc(2026, 5, 29)),
    ),
    Claim(
        "croniter-refuses-5L",
        "croniter",
        "no `5L` or `LW`",
        "0 0 * * 5L",
        "UTC",
        JAN_1,
        None,
        (utc(2026, 1, 30), utc(2026, 2, 27), utc(2026, 3, 27)),
    ),
    Claim(
        "croniter-refuses-LW",
        "croniter",
        "no `5L` or `LW`",
        "0 0 LW * *",
        "UTC",
        JAN_1,
        None,
        (utc(2026, 1, 30), utc(2026, 2, 27), utc(2026, 3, 31)),
    ),
    Claim(
        "cronsim-fires-a-repeated-wall-time-once",
        "cronsim",
        "| once |",
        "30 1 * * *",
        "America/New_York",
        NEW_YORK_FALL_BACK,
        ONCE_AT_01_30,
        ONCE_AT_01_30,
    ),
    Claim(
        "cronsim-skips-03:00-on-lord-howe-fall-back-day",
        "cronsim",
        "**skips 03:00 on Lord Howe's fall-back day** (`0 */3 * * *` jumps from 00:00 to 06:00"
        " on 6 Apr 2025)",
        "0 */3 * * *",
        "Australia/Lord_Howe",
        utc(2025, 4, 5, 12),
        (utc(2025, 4, 5, 13), utc(2025, 4, 5, 19, 30)),
        (utc(2025, 4, 5, 13), utc(2025, 4, 5, 16, 30)),
    ),
    *(
        Claim(
            f"cronsim-refuses-{text}",
            "cronsim",
            "no `W`, `?` or `fri-sun`",
            expression,
            "UTC",
            JAN_1,
            None,
            mine,
        )
        for text, expression, mine in (
            ("W", "0 0 15W * *", (utc(2026, 1, 15), utc(2026, 2, 16), utc(2026, 3, 16))),
            ("?", "0 0 ? * *", (utc(2026, 1, 2), utc(2026, 1, 3), utc(2026, 1, 4))),
            (
                "fri-sun",
                "0 10 * * fri-sun",
                (utc(2026, 1, 2, 10), utc(2026, 1, 3, 10), utc(2026, 1, 4, 10)),
            ),
        )
    ),
]


def row_line(peer: str) -> int:
    """The line of docs/dst.md's table row for `peer` (1-based)."""
    rows = [
        number
        for number, line in enumerate(DST_MD.read_text().splitlines(), 1)
        if line.startswith(f"| **{peer}**")
    ]
    assert len(rows) == 1, f"docs/dst.md should have one table row for {peer}"
    return rows[0]


def stale(claim: Claim, theirs: Fires | None, installed: str, line: int) -> str | None:
    """What to change in docs/dst.md when the peer's answer is not the one the page gives
    (None: the page is right)."""
    if theirs == claim.theirs:
        return None
    return (
        f"docs/dst.md:{line}: the {claim.peer} row says {claim.says!r}, but {claim.peer} "
        f"{installed} gives {shown(theirs)} for {claim.expression!r} after "
        f"{claim.after:%Y-%m-%d %H:%M}Z in {claim.zone}, not {shown(claim.theirs)}: "
        "update that line"
    )


@pytest.mark.parametrize("claim", CLAIMS, ids=[c.name for c in CLAIMS])
def test_what_dst_md_says_of_each_peer(claim: Claim) -> None:
    line = row_line(claim.peer)
    assert claim.says in DST_MD.read_text().splitlines()[line - 1]
    n = len(claim.ours)
    assert ours(claim.expression, claim.after, n, claim.zone) == claim.ours
    local = claim.after.astimezone(ZoneInfo(claim.zone))
    theirs = peer_fires(claim.peer, claim.expression, local, len(claim.theirs or claim.ours))
    report = stale(claim, theirs, version(claim.peer), line)
    if report is not None:
        pytest.xfail(report)


CRONSIM_ONE_VALUE_RANGE = Claim(
    "cronsim-reads-6-6/1-as-6/1",
    "cronsim",
    "reads `6-6/1` as `6/1` (every hour from 06:00)",
    "0 6-6/1 * * *",
    "UTC",
    JAN_1,
    (utc(2026, 1, 1, 6), utc(2026, 1, 1, 7)),
    (utc(2026, 1, 1, 6), utc(2026, 1, 2, 6)),
)


def test_a_bug_the_peer_fixed_is_a_line_to_update_not_a_failure() -> None:
    """cronsim 2.9 reads "6-6/1" as 6 o'clock, as we do; the page once said otherwise."""
    report = stale(CRONSIM_ONE_VALUE_RANGE, CRONSIM_ONE_VALUE_RANGE.ours, "2.9", 104)
    assert report == (
        "docs/dst.md:104: the cronsim row says 'reads `6-6/1` as `6/1` (every hour from "
        "06:00)', but cronsim 2.9 gives 2026-01-01 06:00Z, 2026-01-02 06:00Z for "
        "'0 6-6/1 * * *' after 2026-01-01 00:00Z in UTC, not 2026-01-01 06:00Z, "
        "2026-01-01 07:00Z: update that line"
    )


ANSWERS = st.none() | st.lists(STARTS, max_size=4).map(lambda fires: tuple(sorted(fires)))


@given(st.sampled_from([*CLAIMS, CRONSIM_ONE_VALUE_RANGE]), ANSWERS, st.integers(1, 500))
def test_any_answer_of_a_peer_is_judged_without_failing(
    claim: Claim, theirs: Fires | None, line: int
) -> None:
    report = stale(claim, theirs, "9.9", line)
    if theirs == claim.theirs:
        assert report is None
    else:
        assert report is not None
        assert report.startswith(f"docs/dst.md:{line}: ")
        assert report.endswith("update that line")


# -- the syntax each peer shares with us -------------------------------------------------


def has_one_value_range(shape: CronShape) -> bool:
    return re.search(r"\b(\w+)-\1\b", shape.expression) is not None


def shared_by_croniter(shape: CronShape) -> bool:
    """All but what docs/dst.md says croniter reads otherwise: a day field led by `*/` beside
    a restricted one (ORed), one-value ranges, `nW` for a day some month lacks, `5L`."""
    dom, dow = shape.fields[2], shape.fields[4]
    ored = (dom.startswith("*/") and dow != "*") or (dow.startswith("*/") and dom != "*")
    short_month_w = any(day > 28 for day in shape.dom_nearest)
    return not (ored or has_one_value_range(shape) or short_month_w or shape.dow_last)


def shared_by_cronsim(shape: CronShape) -> bool:
    """All but what docs/dst.md says cronsim refuses: `W` and `?`."""
    return not (shape.dom_nearest or "?" in shape.expression)


def compare_with(peer: str, shared: Callable[[CronShape], bool]) -> None:
    """Ours against the reference over random expressions (a failure if they differ), and the
    peer against both: its disagreements, where the page says nothing, are reported."""
    found: list[str] = []

    @given(cron_shapes(), STARTS)
    def compare(shape: CronShape, start: datetime) -> None:
        assume(shared(shape))
        mine = ours(shape.expression, start, FIRES)
        assert mine == tuple(utc_fires(shape, start, FIRES)), shape.expression
        theirs = peer_fires(peer, shape.expression, start, FIRES)
        if theirs != mine and len(found) < 3:
            found.append(
                f"{shape.expression!r} after {start:%Y-%m-%d %H:%M:%S}Z: {peer} "
                f"{shown(theirs and theirs[:3])}, we and the reference {shown(mine[:3])}"
            )

    compare()
    if found:
        pytest.xfail(
            f"{peer} {version(peer)} differs where docs/dst.md says nothing "
            f"(describe it there, with a Claim here): {'; '.join(found)}"
        )


def test_agrees_with_croniter() -> None:
    compare_with("croniter", shared_by_croniter)


def test_agrees_with_cronsim() -> None:
    compare_with("cronsim", shared_by_cronsim)
