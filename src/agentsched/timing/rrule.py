"""RFC 5545 recurrence rules as a wall-time pattern for `zones.walk`, in bounded time.

dateutil generates the occurrences, but always from DTSTART: asked for the
next occurrence after some date, it replays every period in between
(`FREQ=SECONDLY` from 2025 needs more than a minute to answer for 2026).
`next_wall` never does that; its work does not depend on how far the query is
from DTSTART.

Jump. The periods of every frequency have fixed bounds (a year, a month, a
week starting on WKST, a day, an hour, a minute, a second), and dateutil visits
every INTERVAL-th of them counting from DTSTART's. The query's period, or the
next visited one, is found by arithmetic, and a copy of the rule re-based at
that period's start produces exactly the original occurrences from there on,
once every default that dateutil derives from DTSTART is written out
(`_explicit_parts`). A query never re-bases inside DTSTART's own period, which
may be partial (a WEEKLY rule's first week starts on DTSTART's day), so
BYSETPOS counts and the "not before DTSTART" rule are never disturbed.

Horizon. Occurrences can be sparse (`FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;
BYDAY=MO` fires every 28 years or so) and dateutil looks until year 9999
when a rule never fires again, so the search needs a hard stop. The Gregorian
calendar repeats exactly every 400 years (146097 days, a whole number of
weeks), so the re-based rule runs on the calendar shifted by whole 400-year
cycles to start in 9200-9599, and dateutil stops by itself at the end of
9999: each search covers at least `HORIZON_YEARS` (400) and at most 800 years.
A rule with INTERVAL=1 repeats every 400 years, so if it fires again at all it
does so within the horizon and the answer is exact. (Only a rule whose
INTERVAL makes it repeat more slowly could go 400 years without firing and
fire later; such a later occurrence is not found.) BYEASTER, a dateutil
extension outside RFC 5545, is refused because Easter does not repeat every
400 years.

Fixed periods. A SECONDLY to WEEKLY rule without day filters needs no
dateutil at all: its periods last a fixed number of seconds, the visited ones
start at the times of day `origin + k * INTERVAL` periods after midnight, which
repeat after a cycle of at most 86400 visits, and its times within a period
are a fixed list (`_Periodic`). Finding, counting and taking the last
occurrence of a range are arithmetic, exact and free of any horizon.

Days and times. Below DAILY, dateutil walks a rejected day unit by unit until
a time that BYHOUR/BYMINUTE allow (up to 86400 steps a day), which no horizon
makes affordable. Such a rule with day parts is searched as two rules that
never do that: its times (the rule without its day parts, `_Periodic`) on its
days (a DAILY rule with only those parts); see `_sources`. When INTERVAL does
not divide a day, a matching day may lack the rule's times; the search gives
up after `MAX_DAYS_WITHOUT_TIME` such days in a row, or past the horizon.

COUNT. A COUNT rule is the same rule with UNTIL at its COUNT-th occurrence.
That occurrence is found once, when the rule is compiled, and must come
within the horizon of DTSTART; a larger COUNT than `MAX_COUNT`, or one not
reached by then, is an error. A `_Periodic` rule finds it by bisecting counts;
the others step through at most `MAX_COUNT` occurrences, trying at most
`MAX_DAYS_TRIED` days in all (a COUNT whose occurrences are too rare among the
days its rule allows is refused, saying so), so that compiling costs about as
much as one search of the horizon. Queries then run like any UNTIL rule, and
no table of occurrences is kept (a bisectable list of up to MAX_COUNT
occurrences per rule would cost memory for nothing).

Compiling also checks that the rule fires within the horizon of DTSTART
(bounded like any query; obvious contradictions such as BYMONTH=2 with
BYMONTHDAY=30 are caught before that search), and limits a DAILY or coarser
rule to `MAX_TIMES_PER_DAY` times of day, so that expanding one period costs
at most 366 x 1440 candidates.
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_left
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from math import gcd, prod
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.rrule import DAILY, HOURLY, MINUTELY, MONTHLY, SECONDLY, WEEKLY, YEARLY
from dateutil.rrule import rrule as dateutil_rrule
from dateutil.rrule import weekday as dateutil_weekday

from ..errors import ValidationError, shorten
from .zones import DAY, MAX_INSTANT, ONE_SECOND

__all__ = [
    "HORIZON_YEARS",
    "MAX_COUNT",
    "MAX_DAYS_TRIED",
    "MAX_DAYS_WITHOUT_TIME",
    "MAX_TIMES_PER_DAY",
    "WALL_EPOCH",
    "RRulePattern",
    "compile_rrule",
    "wall_seconds",
]

WALL_EPOCH = datetime(1970, 1, 1)
HORIZON_YEARS = 400
MAX_COUNT = 1000
MAX_TIMES_PER_DAY = 1440
MAX_DAYS_WITHOUT_TIME = 1000
MAX_DAYS_TRIED = 10_000
MAX_RULE_LENGTH = 2000

_CYCLE_DAYS = 146097  # 400 Gregorian years: leap years and weekdays repeat
_CYCLE_SECONDS = _CYCLE_DAYS * DAY
_LAST_OFFSET_READ = datetime(9999, 12, 29)
_FIRST_YEAR = 1970
_LATEST_START_YEAR = 9599  # searches start in 9200-9599 and dateutil stops after 9999
_FREQUENCIES = {
    "YEARLY": YEARLY,
    "MONTHLY": MONTHLY,
    "WEEKLY": WEEKLY,
    "DAILY": DAILY,
    "HOURLY": HOURLY,
    "MINUTELY": MINUTELY,
    "SECONDLY": SECONDLY,
}
_UNIT_SECONDS = {HOURLY: 3600, MINUTELY: 60, SECONDLY: 1}
# A query at most a week and 8 occurrences past the last answer steps the cursor.
_CURSOR_REACH = 7 * DAY
_CURSOR_STEPS = 8
_WEEKDAYS = {"MO": 0, "TU": 1, "WE": 2, "TH": 3, "FR": 4, "SA": 5, "SU": 6}
# RFC 5545 section 3.3.10 value ranges: (dateutil keyword, low, high, may be negative).
# BYSECOND stops at 59: a leap second cannot be a datetime.
_LISTS = {
    "BYSECOND": ("bysecond", 0, 59, False),
    "BYMINUTE": ("byminute", 0, 59, False),
    "BYHOUR": ("byhour", 0, 23, False),
    "BYMONTHDAY": ("bymonthday", 1, 31, True),
    "BYYEARDAY": ("byyearday", 1, 366, True),
    "BYWEEKNO": ("byweekno", 1, 53, True),
    "BYMONTH": ("bymonth", 1, 12, False),
    "BYSETPOS": ("bysetpos", 1, 366, True),
}
# Parts that, when given, stop dateutil deriving the day from DTSTART ...
_DAY_PARTS = frozenset({"byweekno", "byyearday", "bymonthday", "byweekday"})
# ... and every part that selects days.
_DAY_FILTERS = _DAY_PARTS | {"bymonth"}
_LONGEST_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_NUMBER = re.compile(r"[+-]?\d{1,9}", re.ASCII)
_BYDAY = re.compile(r"([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)", re.ASCII)
_UNTIL = re.compile(r"(\d{8})(?:T(\d{6})(Z?))?", re.ASCII)


def wall_seconds(value: datetime) -> int:
    """Whole seconds since 1970-01-01 00:00 of a naive wall time."""
    return (value - WALL_EPOCH) // ONE_SECOND


class _Invalid(Exception):
    """A problem with one rule part; `compile_rrule` adds the rule text."""


def _number(name: str, text: str, low: int, high: int, signed: bool) -> int:
    if not _NUMBER.fullmatch(text) or (not signed and text[0] in "+-"):
        raise _Invalid(f"{name} must be whole numbers (got {shorten(text)})")
    value = int(text)
    if not low <= abs(value) <= high:
        negatives = f" or -{high}..-{low}" if signed else ""
        raise _Invalid(f"{name} must be within {low}..{high}{negatives} (got {value})")
    return value


def _weekday(text: str) -> dateutil_weekday:
    match = _BYDAY.fullmatch(text)
    if match is None:
        raise _Invalid(f"BYDAY values look like MO, +1MO or -1FR (got {shorten(text)})")
    count, day = match.groups()
    n = None if count is None else int(count)
    if n is not None and not 1 <= abs(n) <= 53:
        raise _Invalid(f"BYDAY counts must be within -53..53, without 0 (got {text})")
    return dateutil_weekday(_WEEKDAYS[day], n)


def _parse(text: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    """`(freq, dateutil keywords, raw COUNT/UNTIL)` of one RRULE value, or `_Invalid`."""
    raw: dict[str, str] = {}
    for item in text.split(";"):
        if not item.strip():
            continue
        name, equals, value = (piece.strip().upper() for piece in item.partition("="))
        if not equals or not value:
            raise _Invalid(f"{shorten(item)} is not NAME=VALUE")
        if name in raw:
            raise _Invalid(f"{name} is given twice")
        raw[name] = value
    if "FREQ" not in raw:
        raise _Invalid("FREQ is missing")
    freq = _FREQUENCIES.get(raw.pop("FREQ"))
    if freq is None:
        raise _Invalid(f"FREQ must be one of {', '.join(_FREQUENCIES)}")
    keywords: dict[str, Any] = {"freq": freq, "interval": 1, "wkst": 0}  # RFC 5545: WKST=MO
    limits: dict[str, str] = {name: raw.pop(name) for name in ("COUNT", "UNTIL") if name in raw}
    if len(limits) == 2:
        raise _Invalid("COUNT and UNTIL must not both be given (RFC 5545)")
    for name, value in raw.items():
        if name == "INTERVAL":
            keywords["interval"] = _number(name, value, 1, 999_999_999, False)
        elif name == "WKST":
            if value not in _WEEKDAYS:
                raise _Invalid(f"WKST must be a weekday, MO..SU (got {shorten(value)})")
            keywords["wkst"] = _WEEKDAYS[value]
        elif name == "BYDAY":
            keywords["byweekday"] = tuple(_weekday(v) for v in value.split(","))
        elif name in _LISTS:
            keyword, low, high, signed = _LISTS[name]
            keywords[keyword] = tuple(_number(name, v, low, high, signed) for v in value.split(","))
        elif name == "BYEASTER":
            raise _Invalid("BYEASTER is a dateutil extension, not RFC 5545")
        else:
            raise _Invalid(f"{shorten(name)} is not an RRULE part")
    return freq, keywords, limits


def _count(text: str) -> int:
    if not _NUMBER.fullmatch(text) or text[0] in "+-" or not 1 <= int(text) <= MAX_COUNT:
        raise _Invalid(
            f"COUNT must be a whole number from 1 to {MAX_COUNT} (got {shorten(text)}); "
            "for more, use UNTIL or the schedule's max_runs"
        )
    return int(text)


def _until_wall(text: str, zone: ZoneInfo) -> int:
    """UNTIL as wall seconds.

    A date means its midnight (as dateutil reads it); `...Z` is an instant, shown
    on the zone's clock (the RFC 5545 form for a zoned DTSTART); a date-time
    without `Z` is already a wall time.
    """
    match = _UNTIL.fullmatch(text)
    try:
        if match is None:
            raise ValueError
        day, time, utc = match.groups()
        value = datetime.strptime(day + (time or "000000"), "%Y%m%d%H%M%S")
    except ValueError:
        raise _Invalid(
            f"UNTIL must look like 20260131, 20260131T090000 or 20260131T090000Z (got {text})"
        ) from None
    if value.year < _FIRST_YEAR:  # instants and wall times are bounded to 1970-9999
        raise _Invalid(f"UNTIL must be in {_FIRST_YEAR}-9999 (got {text})")
    if utc:
        # Read the offset no later than 9999-12-29, as zones.ZoneTable.offset_at does:
        # later local times may not fit in a datetime, and the wall time may pass 9999.
        probe = min(value, _LAST_OFFSET_READ).replace(tzinfo=timezone.utc)
        offset = probe.astimezone(zone).utcoffset()
        assert offset is not None
        return wall_seconds(value) + offset // ONE_SECOND
    return wall_seconds(value)


def _explicit_parts(freq: int, parts: dict[str, Any], dtstart: datetime) -> dict[str, Any]:
    """The BYxxx parts with every default dateutil's `rrule.__init__` takes from DTSTART.

    A rule re-based at a later period start must not derive them from its new
    DTSTART. RFC 5545 3.3.10 lets missing day and time parts come from DTSTART;
    dateutil does it this way: with none of BYWEEKNO, BYYEARDAY, BYMONTHDAY and
    BYDAY, YEARLY fires on DTSTART's month (unless BYMONTH is given) and day of
    month, MONTHLY on its day of month, WEEKLY on its weekday; and a frequency
    coarser than an hour, minute or second fires at DTSTART's hour, minute or
    second. Frequencies at or below a unit get no default for it (HOURLY has no
    BYHOUR default).
    """
    parts = dict(parts)
    if not parts.keys() & _DAY_PARTS:
        if freq == YEARLY:
            parts.setdefault("bymonth", (dtstart.month,))
            parts["bymonthday"] = (dtstart.day,)
        elif freq == MONTHLY:
            parts["bymonthday"] = (dtstart.day,)
        elif freq == WEEKLY:
            parts["byweekday"] = (dateutil_weekday(dtstart.weekday()),)
    for unit, keyword, value in (
        (HOURLY, "byhour", dtstart.hour),
        (MINUTELY, "byminute", dtstart.minute),
        (SECONDLY, "bysecond", dtstart.second),
    ):
        if freq < unit:  # dateutil numbers frequencies from YEARLY=0 to SECONDLY=6
            parts.setdefault(keyword, (value,))
    return parts


def _check_shape(freq: int, parts: dict[str, Any]) -> None:
    """Refuse, without searching, rules that are too dense per period or obviously empty."""
    times_per_period = prod(
        len(set(parts[keyword]))
        for unit, keyword in ((HOURLY, "byhour"), (MINUTELY, "byminute"), (SECONDLY, "bysecond"))
        if freq < unit
    )
    if freq <= DAILY and times_per_period > MAX_TIMES_PER_DAY:
        raise _Invalid(
            f"BYHOUR x BYMINUTE x BYSECOND give {times_per_period} times a day; at most "
            f"{MAX_TIMES_PER_DAY} are allowed (use FREQ=MINUTELY or SECONDLY with BYHOUR)"
        )
    # From DAILY down, a period holds either nothing or the same times (dateutil's
    # timeset: BYMINUTE x BYSECOND for HOURLY, and so on): a BYSETPOS beyond their
    # number selects nothing in any period.
    positions = parts.get("bysetpos", ())
    if freq >= DAILY and positions and all(abs(p) > times_per_period for p in positions):
        raise _Invalid(f"BYSETPOS selects nothing: each period has {times_per_period} times")
    days = parts.get("bymonthday", ())
    longest = max(_LONGEST_MONTH[m - 1] for m in parts.get("bymonth", range(1, 13)))
    if days and all(abs(d) > longest for d in days):
        raise _Invalid("BYMONTHDAY never falls in BYMONTH")


def _generate(parts: dict[str, Any], start: datetime) -> Iterator[int]:
    """dateutil's occurrences from `start` on, as wall seconds, for 400 to 800 years.

    The rule runs on the calendar shifted by whole 400-year cycles so that it
    starts in 9200-9599, and dateutil stops by itself after 9999.
    """
    cycles = (_LATEST_START_YEAR - start.year) // 400
    shift = cycles * _CYCLE_SECONDS
    rule = dateutil_rrule(dtstart=start + timedelta(days=cycles * _CYCLE_DAYS), **parts)
    try:
        for occurrence in rule:
            yield wall_seconds(occurrence) - shift
    except ValueError:  # a weekly period running past 9999-12-31, whose dates it cannot build
        return


class _Occurrences:
    """The occurrences of one dateutil rule (DAILY or coarser), found from any point in
    bounded time.

    A small cursor remembers the last answer, so that the usual chain of
    queries (each one second after the previous occurrence, or a little later)
    costs a few steps of dateutil's generator instead of a new jump. Thread-safe.
    """

    def __init__(self, parts: dict[str, Any], dtstart: datetime) -> None:
        self._parts = parts
        self._dtstart = dtstart
        self._freq: int = parts["freq"]
        self._interval: int = parts["interval"]
        self._wkst: int = parts["wkst"]
        self._origin = self._period_index(dtstart)
        self._lock = threading.Lock()
        self._cursor: Iterator[int] = iter(())
        self._cursor_lo = MAX_INSTANT
        self._current: int | None = None

    def next_wall(self, lo: int) -> int | None:
        """The first occurrence `>= lo` within the horizon, or None; may lie past 9999."""
        if lo >= MAX_INSTANT:
            return None
        with self._lock:
            current = self._current
            if current is not None and self._cursor_lo <= lo <= current + _CURSOR_REACH:
                # Steps the cursor a little, where a jump would cost a new rule; a cursor
                # that ends has only run out of its own horizon, so then jump.
                for _ in range(_CURSOR_STEPS):
                    if current is None or current >= lo:
                        break
                    current = next(self._cursor, None)
                if current is not None and current >= lo:
                    self._cursor_lo, self._current = lo, current
                    return current
            start = self._start(lo)
            self._cursor = iter(()) if start is None else _generate(self._parts, start)
            current = next((wall for wall in self._cursor if wall >= lo), None)
            self._cursor_lo, self._current = lo, current
            return current

    def _start(self, lo: int) -> datetime | None:
        """Where generation starts to find the first occurrence `>= lo`.

        That is the visited period holding `lo` or the next visited one, or
        DTSTART while `lo` is in DTSTART's own period or before; None past 9999.
        """
        target = self._period_index(WALL_EPOCH + timedelta(seconds=lo))
        periods = -((self._origin - target) // self._interval)  # rounded up
        if periods <= 0:
            return self._dtstart
        try:
            return self._period_start(self._origin + periods * self._interval)
        except (ValueError, OverflowError):
            return None

    def _period_index(self, value: datetime) -> int:
        """The number of the period holding `value`; consecutive periods, consecutive numbers."""
        freq = self._freq
        if freq == YEARLY:
            return value.year
        if freq == MONTHLY:
            return value.year * 12 + value.month - 1
        day = value.toordinal()
        if freq == WEEKLY:
            return (day - 1 - self._wkst) // 7  # ordinal 1, 0001-01-01, is a Monday
        return day

    def _period_start(self, index: int) -> datetime:
        """The first instant of period `index`; ValueError or OverflowError past 9999."""
        freq = self._freq
        if freq == YEARLY:
            return datetime(index, 1, 1)
        if freq == MONTHLY:
            return datetime(index // 12, index % 12 + 1, 1)
        if freq == WEEKLY:
            return datetime.fromordinal(index * 7 + 1 + self._wkst)
        return datetime.fromordinal(index)


class _Periodic:
    """The occurrences of a rule whose periods all last `unit` seconds, by arithmetic.

    SECONDLY to WEEKLY rules without day filters: period p starts at wall second
    `phase + p * unit`, and dateutil visits periods `origin + k * interval`
    (k >= 0). A visited period is accepted when the time of day it starts at
    passes the filters at or above the frequency (BYHOUR for HOURLY; BYHOUR and
    BYMINUTE for MINUTELY; all three for SECONDLY: dateutil steps period by
    period until one passes), and then fires at `offsets` seconds into it: the
    times of the finer parts, as BYSETPOS selects them. Those times of day repeat
    every `cycle` visits, so one bit mask over a cycle says which visits are
    accepted, and finding, counting or taking the last occurrence in a range
    walks nothing. Nothing comes before `start` (DTSTART).
    """

    def __init__(self, parts: dict[str, Any], dtstart: datetime) -> None:
        freq: int = parts["freq"]
        self.unit = unit = _PERIOD_SECONDS[freq]
        self.interval: int = parts["interval"]
        self.start = start = wall_seconds(dtstart)
        # Weeks are counted from DTSTART's midnight: without BYDAY a WEEKLY rule fires on
        # DTSTART's weekday only, whatever WKST says; other periods from midnight.
        self.phase = (start - start % DAY) % unit if freq == WEEKLY else 0
        self.origin = (start - self.phase) // unit
        times = {0}
        for level, keyword, scale in _TIME_PARTS:
            if freq < level:  # a part finer than the frequency: times within a period
                times = {t + v * scale for t in times for v in set(parts[keyword])}
        offsets = sorted(times)
        positions = parts.get("bysetpos")
        if positions:
            # dateutil's BYSETPOS within one day's times: 1..n or -n..-1.
            offsets = sorted(
                {offsets[p - 1 if p > 0 else p] for p in positions if abs(p) <= len(offsets)}
            )
        self.offsets = tuple(offsets)
        residue = self.origin % (DAY // unit) if freq in _UNIT_SECONDS else 0
        self.cycle, self.accepted = _accepted_visits(
            freq,
            residue,
            self.interval,
            tuple(tuple(sorted(set(parts[k]))) if k in parts else () for _, k, _ in _TIME_PARTS),
        )

    def fires(self) -> bool:
        """Whether any period is ever accepted and has a time."""
        return bool(self.accepted and self.offsets)

    def _base(self, visit: int) -> int:
        return self.phase + (self.origin + visit * self.interval) * self.unit

    def _next_accepted(self, visit: int) -> int:
        j = visit % self.cycle
        later = self.accepted >> j
        if later:
            return visit + (later & -later).bit_length() - 1
        return visit - j + self.cycle + (self.accepted & -self.accepted).bit_length() - 1

    def _last_accepted(self, visit: int) -> int:
        """The last accepted visit `<= visit` (negative when there is none)."""
        j = visit % self.cycle
        earlier = self.accepted & ((2 << j) - 1)
        if earlier:
            return visit - j + earlier.bit_length() - 1
        return visit - j - self.cycle + self.accepted.bit_length() - 1

    def next_wall(self, lo: int) -> int | None:
        """The first occurrence `>= lo` (may lie past 9999), or None if there is none."""
        if not self.fires():
            return None
        lo = max(lo, self.start)
        period = (lo - self.phase) // self.unit
        visit = max(0, -((self.origin - period) // self.interval))  # first visit from there
        visit = self._next_accepted(visit)
        base = self._base(visit)
        i = bisect_left(self.offsets, lo - base)
        if i < len(self.offsets):
            return base + self.offsets[i]
        # Every time of that period is before lo: the next accepted one starts after it.
        return self._base(self._next_accepted(visit + 1)) + self.offsets[0]

    def _below(self, x: int) -> int:
        """How many occurrences come before wall second `x`."""
        if x <= self.start or not self.fires():
            return 0
        step = self.interval * self.unit
        visits = -((self._base(0) - x) // step)  # visits starting before x: 0 .. visits-1
        last = visits - 1
        whole, part = divmod(last, self.cycle)
        full = whole * self.accepted.bit_count() + (self.accepted & ((1 << part) - 1)).bit_count()
        count = full * len(self.offsets)
        if self.accepted >> part & 1:
            count += bisect_left(self.offsets, x - self._base(last))
        if self.accepted & 1:  # DTSTART's own period: nothing before DTSTART
            count -= bisect_left(self.offsets, min(self.start, x) - self._base(0))
        return count

    def count(self, lo: int, hi: int) -> int:
        """How many occurrences lie in `[lo, hi)`."""
        return max(0, self._below(hi) - self._below(lo))

    def last_wall(self, lo: int, hi: int) -> int | None:
        """The last occurrence in `[lo, hi)`, or None."""
        if hi <= max(lo, self.start) or not self.fires():
            return None
        period = (hi - 1 - self.phase) // self.unit
        visit = self._last_accepted((period - self.origin) // self.interval)
        for _ in range(2):  # the first accepted visit may have all its times at or after hi
            if visit < 0:
                return None
            base = self._base(visit)
            i = bisect_left(self.offsets, hi - base) - 1
            if i >= 0 and base + self.offsets[i] >= self.start:
                found = base + self.offsets[i]
                return found if found >= lo else None
            visit = self._last_accepted(visit - 1)
        return None


_PERIOD_SECONDS = {WEEKLY: 7 * DAY, DAILY: DAY, HOURLY: 3600, MINUTELY: 60, SECONDLY: 1}
_TIME_PARTS = ((HOURLY, "byhour", 3600), (MINUTELY, "byminute", 60), (SECONDLY, "bysecond", 1))
_BITS = bytes.maketrans(b"\x00\x01", b"01")


@lru_cache(maxsize=256)
def _accepted_visits(
    freq: int, first: int, interval: int, filters: tuple[tuple[int, ...], ...]
) -> tuple[int, int]:
    """`(cycle, mask)`: bit j of `mask` says whether visits j, j + cycle, ... are accepted.

    Below DAILY, visit k's period is the `(first + k * interval)`-th of its day (mod
    a day's periods), which repeats after `cycle` visits; the `filters` (BYHOUR,
    BYMINUTE, BYSECOND) at or above the frequency decide each. DAILY and WEEKLY
    periods start at midnight and are all accepted. Building the mask for SECONDLY
    with a filter takes one pass over a day's 86400 seconds (a few milliseconds,
    once per rule).
    """
    if freq not in _UNIT_SECONDS:
        return 1, 1
    unit = _UNIT_SECONDS[freq]
    hours, minutes, seconds = filters
    levels = [(24, hours)]
    if freq >= MINUTELY:
        levels.append((60, minutes))
    if freq == SECONDLY:
        levels.append((60, seconds))
    if not any(values for _, values in levels):
        return 1, 1
    # allowed[r]: whether period r of a day (r periods after midnight) passes the filters,
    # built from the finest level out: each coarser value holds a copy of the finer row.
    rows = [bytes(not values or v in values for v in range(size)) for size, values in levels]
    allowed = rows[-1]
    for row in reversed(rows[:-1]):
        allowed = b"".join(allowed if ok else bytes(len(allowed)) for ok in row)
    per_day = DAY // unit
    step = interval % per_day
    cycle = per_day // gcd(step, per_day)
    # The visits' residues r0, r0 + step, ... (mod a day), taken a pass at a time.
    visits = bytearray()
    residue = first
    while len(visits) < cycle:
        run = allowed[residue::step] if step else allowed[residue : residue + 1]
        visits += run
        residue += len(run) * step - per_day
    mask = int(bytes(visits[:cycle]).translate(_BITS)[::-1], 2)
    return cycle, mask


def _sources(
    parts: dict[str, Any], given: dict[str, Any], dtstart: datetime
) -> tuple[_Periodic | _Occurrences, _Occurrences | None]:
    """The rule's times, and for an HOURLY, MINUTELY or SECONDLY rule with day parts, its days.

    A SECONDLY to WEEKLY rule without day filters (none `given`, beside WEEKLY's
    default weekday) is `_Periodic`; MONTHLY, YEARLY and rules with day filters
    are dateutil's. Below DAILY, day filters are searched apart from the times:
    dateutil would step such a rule through every rejected day unit by unit until
    it reaches a time that BYHOUR/BYMINUTE allow (up to 86400 steps a day). It
    fires at the times of the same rule without its day parts (`_Periodic`), on
    the days of a DAILY rule with only those parts (dateutil filters days the same
    way at both frequencies, and drops BYDAY counts above MONTHLY in both).
    """
    freq = parts["freq"]
    day_parts = {key: value for key, value in parts.items() if key in _DAY_FILTERS}
    if freq in _PERIOD_SECONDS and not given.keys() & _DAY_FILTERS:
        return _Periodic(parts, dtstart), None
    if freq < HOURLY:
        return _Occurrences(parts, dtstart), None
    times = {key: value for key, value in parts.items() if key not in _DAY_FILTERS}
    days = {"freq": DAILY, "interval": 1, "wkst": parts["wkst"], **day_parts}
    days.update(byhour=(0,), byminute=(0,), bysecond=(0,))
    midnight = dtstart.replace(hour=0, minute=0, second=0)
    return _Periodic(times, dtstart), _Occurrences(days, midnight)


def _next(
    times: _Periodic | _Occurrences, days: _Occurrences | None, lo: int, tries: int
) -> tuple[int | None, int]:
    """The first occurrence `>= lo` of the rule `_sources` returned, or None; and how many
    days it tried. Days are tried within the horizon of `lo`, at most `tries` of them."""
    if days is None:
        return times.next_wall(lo), 1
    horizon = lo + _CYCLE_SECONDS
    for tried in range(1, tries + 1):
        day = days.next_wall(lo - lo % DAY)
        if day is None or day > horizon:
            return None, tried
        found = times.next_wall(max(lo, day))
        if found is None or found < day + DAY:
            return found, tried
        lo = found  # no time left on that day: try the day of the next time
    return None, tries


class RRulePattern:
    """`next_wall(lo)` over one compiled rule; safe to share between threads.

    `counts` says whether `count` and `last_wall` can answer (a SECONDLY to
    WEEKLY rule without day filters): then they count by arithmetic.
    """

    def __init__(
        self,
        rule: str,
        times: _Periodic | _Occurrences,
        days: _Occurrences | None,
        first: int,
        last: int,
    ) -> None:
        self.rule = rule
        self._times = times
        self._days = days
        self._first = first
        self._last = last
        self.counts = isinstance(times, _Periodic) and days is None

    def next_wall(self, lo: int) -> int | None:
        """The first occurrence whose wall time is `>= lo`, or None (also past year 9999)."""
        if lo <= self._first:
            return self._first
        if lo > self._last:
            return None
        found, _ = _next(self._times, self._days, lo, MAX_DAYS_WITHOUT_TIME)
        return found if found is not None and found <= self._last else None

    def count_walls(self, lo: int, hi: int) -> int:
        """How many occurrences have wall times in `[lo, hi)` (only when `counts`)."""
        assert isinstance(self._times, _Periodic)
        return self._times.count(max(lo, self._first), min(hi, self._last + 1))

    def last_wall(self, lo: int, hi: int) -> int | None:
        """The last occurrence with a wall time in `[lo, hi)`, or None (only when `counts`)."""
        assert isinstance(self._times, _Periodic)
        return self._times.last_wall(max(lo, self._first), min(hi, self._last + 1))


def compile_rrule(rule: object, dtstart: datetime, zone: ZoneInfo) -> RRulePattern:
    """Validate and compile one RRULE (`FREQ=...;...`, optionally `RRULE:`-prefixed).

    `dtstart` is a naive wall time (microseconds are dropped, as dateutil does),
    `zone` is only used to turn a UTC `UNTIL=...Z` into the zone's wall time.
    Every problem is a `ValidationError` naming the field `rrule`. Results are
    cached: every spec with the same text, start and zone shares one pattern.
    """
    if not isinstance(rule, str) or not rule.strip() or len(rule) > MAX_RULE_LENGTH:
        raise ValidationError(
            "rrule", f"'rrule' must be 1-{MAX_RULE_LENGTH} characters (got {shorten(rule)})"
        )
    return _compile(rule, dtstart.replace(microsecond=0), zone)


@lru_cache(maxsize=1024)
def _compile(rule: str, dtstart: datetime, zone: ZoneInfo) -> RRulePattern:
    text = rule.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    start = wall_seconds(dtstart)
    try:
        if "\n" in text or "\r" in text or ":" in text:
            raise _Invalid("it must be one RRULE line, without DTSTART")
        freq, keywords, limits = _parse(text)
        until = _until_wall(limits["UNTIL"], zone) if "UNTIL" in limits else None
        count = _count(limits["COUNT"]) if "COUNT" in limits else None
        parts = _explicit_parts(freq, keywords, dtstart)
        _check_shape(freq, parts)
        times, days = _sources(parts, keywords, dtstart)
        if isinstance(times, _Periodic) and not times.fires():
            raise ValueError(
                "its INTERVAL never reaches a time that BYHOUR, BYMINUTE and BYSECOND allow"
            )
        first, tried = _next(times, days, start, MAX_DAYS_WITHOUT_TIME)
    except _Invalid as exc:
        raise ValidationError(
            "rrule", f"'rrule' is not a valid RRULE: {exc} (got {shorten(rule)})"
        ) from None
    except ValueError as exc:  # dateutil's own checks
        raise ValidationError(
            "rrule", f"'rrule' can never fire: {exc} (got {shorten(rule)})"
        ) from None
    if first is None or first >= MAX_INSTANT:
        raise ValidationError(
            "rrule",
            f"'rrule' never fires within the search horizon ({HORIZON_YEARS} years) of dtstart "
            f"{dtstart.isoformat()} (got {shorten(rule)})",
        )
    last = MAX_INSTANT - 1 if until is None else min(until, MAX_INSTANT - 1)
    if first > last:
        raise ValidationError("rrule", f"'rrule' never fires before UNTIL (got {shorten(rule)})")
    if count is not None:
        nth = _nth(times, days, first=first, count=count, start=start, tried=tried, rule=rule)
        last = min(nth, last)
    return RRulePattern(text, times, days, first, last)


def _nth(
    times: _Periodic | _Occurrences,
    days: _Occurrences | None,
    *,
    first: int,
    count: int,
    start: int,
    tried: int,
    rule: str,
) -> int:
    """The COUNT-th occurrence (COUNT=n is UNTIL at it), which must come within the
    horizon of DTSTART and be found within `MAX_DAYS_TRIED` days tried in all."""
    if isinstance(times, _Periodic) and days is None:
        nth = _periodic_nth(times, first, count)
        if nth - start > _CYCLE_SECONDS:
            raise _count_not_reached(count, rule)
        return nth
    nth = first
    for _ in range(count - 1):
        if nth + 1 >= MAX_INSTANT:
            break  # the end of the calendar ends the rule before COUNT does
        found, days_tried = _next(times, days, nth + 1, MAX_DAYS_TRIED - tried)
        tried += days_tried
        if found is None and tried >= MAX_DAYS_TRIED:
            raise ValidationError(
                "rrule",
                f"'rrule' COUNT={count} cannot be checked in bounded work: its occurrences "
                f"are too sparse among the days it allows ({MAX_DAYS_TRIED} days tried); "
                f"use UNTIL or the schedule's max_runs (got {shorten(rule)})",
            )
        if found is None or found - start > _CYCLE_SECONDS:
            raise _count_not_reached(count, rule)
        nth = found
    return nth


def _periodic_nth(times: _Periodic, first: int, count: int) -> int:
    """The `count`-th occurrence from `first` (a bisection on wall seconds over counts,
    which `_Periodic` makes by arithmetic); past the horizon when it is that far."""
    lo, hi = first, first + 1  # count(first, lo) < count <= count(first, hi)
    while times.count(first, hi) < count:
        lo, hi = hi, first + 2 * (hi - first)
        if hi - first > 2 * _CYCLE_SECONDS:
            return hi
    while hi - lo > 1:
        middle = (lo + hi) // 2
        if times.count(first, middle) >= count:
            hi = middle
        else:
            lo = middle
    return lo


def _count_not_reached(count: int, rule: str) -> ValidationError:
    return ValidationError(
        "rrule",
        f"'rrule' does not reach COUNT={count} within {HORIZON_YEARS} years of "
        f"dtstart (got {shorten(rule)})",
    )
