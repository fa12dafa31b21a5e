"""A brute-force reference for cron firing, written independently of the engine.

Expressions are generated from a structured description (`CronShape`) so the
reference knows their meaning without parsing. Firing is decided by scanning
UTC minutes one by one and applying the rules of docs/dst.md literally.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cache
from zoneinfo import ZoneInfo

from hypothesis import assume
from hypothesis import strategies as st

MINUTE = timedelta(minutes=1)
DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
MONTH_NAMES = [m.lower() for m in calendar.month_abbr]


@dataclass
class CronShape:
    fields: list[str]
    minutes: set[int]
    hours: set[int]
    months: set[int]
    dom_values: set[int] = field(default_factory=set)
    dom_last: bool = False
    dom_nearest: set[int] = field(default_factory=set)
    dow_values: set[int] = field(default_factory=set)  # Sunday = 0
    dow_last: set[int] = field(default_factory=set)
    dow_nth: set[tuple[int, int]] = field(default_factory=set)

    @property
    def expression(self) -> str:
        return " ".join(self.fields)

    @property
    def fixed_time(self) -> bool:
        return not (self.fields[0].startswith("*") or self.fields[1].startswith("*"))

    def _dom_matches(self, day: datetime) -> bool:
        length = calendar.monthrange(day.year, day.month)[1]
        if day.day in self.dom_values or (self.dom_last and day.day == length):
            return True
        for n in self.dom_nearest:
            if n > length:
                continue
            # the weekday of this month closest to day n
            weekdays = [
                d for d in range(1, length + 1) if calendar.weekday(day.year, day.month, d) < 5
            ]
            best = min(weekdays, key=lambda d: abs(d - n))
            if best == day.day:
                return True
        return False

    def _dow_matches(self, day: datetime) -> bool:
        weekday = (day.weekday() + 1) % 7
        length = calendar.monthrange(day.year, day.month)[1]
        if weekday in self.dow_values:
            return True
        if weekday in self.dow_last and day.day + 7 > length:
            return True
        return (weekday, (day.day - 1) // 7 + 1) in self.dow_nth

    def matches(self, wall: datetime) -> bool:
        if wall.minute not in self.minutes or wall.hour not in self.hours:
            return False
        if wall.month not in self.months:
            return False
        dom_star = self.fields[2][0] in "*?"
        dow_star = self.fields[4][0] in "*?"
        dom = self._dom_matches(wall)
        dow = self._dow_matches(wall)
        # Vixie cron: a star-led day field makes the day test an AND.
        if dom_star or dow_star:
            return dom and dow
        return dom or dow


def reference_fires(
    shape: CronShape, zone: ZoneInfo, start: datetime, end: datetime
) -> list[datetime]:
    """Every fire instant in (start, end], by scanning UTC minutes literally."""
    fires = []
    u = start.astimezone(timezone.utc).replace(second=0, microsecond=0) + MINUTE
    while u <= end:
        wall = u.astimezone(zone)
        local = wall.replace(tzinfo=None)
        if shape.fixed_time:
            # first occurrence of a matching wall time
            fire = shape.matches(local) and wall.fold == 0
            # wall times skipped by a spring-forward jump just before u
            skipped = (u - MINUTE).astimezone(zone).replace(tzinfo=None) + MINUTE
            while not fire and skipped < local:
                fire = shape.matches(skipped)
                skipped += MINUTE
        else:
            fire = shape.matches(local)
        if fire:
            fires.append(u)
        u += MINUTE
    return fires


def utc_fires(shape: CronShape, start: datetime, n: int) -> list[datetime]:
    """The first `n` fires after `start` in UTC, where no wall time repeats or is skipped:
    every day in turn, and on a day that matches, its times in order."""
    times = sorted((hour, minute) for hour in shape.hours for minute in shape.minutes)
    day = start.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    end = day + timedelta(days=366 * 100)  # every shape generated fires within a century
    fires: list[datetime] = []
    while len(fires) < n:
        assert day < end, f"{shape.expression!r} does not fire {n} times in a century"
        if shape.matches(day.replace(hour=times[0][0], minute=times[0][1])):
            later = (day.replace(hour=h, minute=m) for h, m in times)
            fires.extend(t for t in later if t > start)
        day += timedelta(days=1)
    return fires[:n]


@cache
def transitions(zone_name: str, year: int) -> tuple[datetime, ...]:
    """Offset changes in a UTC year, to the minute, found by an hourly scan."""
    zone = ZoneInfo(zone_name)
    found = []
    t = datetime(year, 1, 1, tzinfo=timezone.utc)
    end = datetime(year + 1, 1, 1, tzinfo=timezone.utc)
    offset = t.astimezone(zone).utcoffset()
    while t < end:
        nxt = t + timedelta(hours=1)
        new = nxt.astimezone(zone).utcoffset()
        if new != offset:
            m = t
            while m.astimezone(zone).utcoffset() == offset:
                m += MINUTE
            found.append(m)
            offset = new
        t = nxt
    return tuple(found)


# --- hypothesis strategies for expressions -------------------------------------


@st.composite
def _numeric_field(
    draw: st.DrawFn, low: int, high: int, star_ok: bool = True
) -> tuple[str, set[int]]:
    kind = draw(st.sampled_from(["star", "step", "value", "range", "range_step", "list"]))
    if kind == "star" and star_ok:
        return "*", set(range(low, high + 1))
    if kind == "step" and star_ok:
        s = draw(st.integers(2, max(2, (high - low + 1) // 2)))
        return f"*/{s}", set(range(low, high + 1, s))
    if kind in ("range", "range_step"):
        a = draw(st.integers(low, high))
        b = draw(st.integers(a, high))
        if kind == "range_step":
            s = draw(st.integers(1, max(1, b - a + 1)))
            return f"{a}-{b}/{s}", set(range(a, b + 1, s))
        return f"{a}-{b}", set(range(a, b + 1))
    if kind == "list":
        values = draw(st.lists(st.integers(low, high), min_size=2, max_size=4, unique=True))
        return ",".join(map(str, values)), set(values)
    v = draw(st.integers(low, high))
    return str(v), {v}


# Hours and minutes near typical transition times make DST cases common.
_NEAR_HOURS = st.sampled_from(["0", "1", "2", "3", "1-3", "0,2", "2,3", "1,2,3", "23", "0-4/2"])
_NEAR_MINUTES = st.sampled_from(["0", "30", "45", "15", "0,30", "10-40/10", "*/15", "*/20", "59"])


@st.composite
def cron_shapes(draw: st.DrawFn, hours_hint: tuple[int, ...] = ()) -> CronShape:
    """Random expressions; `hours_hint` biases the hour field toward those hours."""
    if draw(st.booleans()):
        minute_text = draw(_NEAR_MINUTES)
        minutes = _expand(minute_text, 0, 59)
    else:
        minute_text, minutes = draw(_numeric_field(0, 59))
    hour_kind = draw(st.integers(0, 3))
    if hours_hint and hour_kind < 2:
        a, b = draw(st.sampled_from(hours_hint)), draw(st.sampled_from(hours_hint))
        a, b = min(a, b), max(a, b)
        hour_text = draw(st.sampled_from([str(a), f"{a}-{b}", f"{a},{b}" if a != b else str(b)]))
        hours = _expand(hour_text, 0, 23)
    elif hour_kind == 2:
        hour_text = draw(_NEAR_HOURS)
        hours = _expand(hour_text, 0, 23)
    else:
        hour_text, hours = draw(_numeric_field(0, 23))
    month_kind = draw(st.sampled_from(["star", "star", "star", "names", "numeric"]))
    if month_kind == "star":
        month_text, months = "*", set(range(1, 13))
    elif month_kind == "names":
        a = draw(st.integers(1, 12))
        b = draw(st.integers(a, 12))
        month_text, months = f"{MONTH_NAMES[a]}-{MONTH_NAMES[b]}", set(range(a, b + 1))
    else:
        month_text, months = draw(_numeric_field(1, 12))
    shape = CronShape([minute_text, hour_text, "*", month_text, "*"], minutes, hours, months)
    day_kind = draw(
        st.sampled_from(["stars", "stars", "stars", "stars", "dom", "dow", "both", "special"])
    )
    shape.dom_values = set(range(1, 32))
    shape.dow_values = set(range(7))
    if day_kind in ("dom", "both"):
        text, values = draw(_numeric_field(1, 31, star_ok=day_kind == "dom"))
        shape.fields[2], shape.dom_values = text, values
    if day_kind in ("dow", "both"):
        if draw(st.booleans()):
            a = draw(st.integers(0, 6))
            b = draw(st.integers(a, 6))
            shape.fields[4], shape.dow_values = (
                f"{DAY_NAMES[a]}-{DAY_NAMES[b]}",
                set(range(a, b + 1)),
            )
        else:
            text, values = draw(_numeric_field(0, 6, star_ok=day_kind == "dow"))
            shape.fields[4], shape.dow_values = text, values
    if day_kind == "special":
        which = draw(st.sampled_from(["L", "W", "nL", "nth", "mix"]))
        shape.dom_values, shape.dow_values = set(), set()
        if which == "L":
            shape.fields[2], shape.dom_last = "L", True
            shape.dow_values = set(range(7))
        elif which == "W":
            n = draw(st.integers(1, 31))
            shape.fields[2], shape.dom_nearest = f"{n}W", {n}
            shape.dow_values = set(range(7))
        elif which == "nL":
            d = draw(st.integers(0, 6))
            shape.fields[4], shape.dow_last = f"{d}L", {d}
            shape.dom_values = set(range(1, 32))
        elif which == "nth":
            d, k = draw(st.integers(0, 6)), draw(st.integers(1, 5))
            shape.fields[4], shape.dow_nth = f"{DAY_NAMES[d]}#{k}", {(d, k)}
            shape.dom_values = set(range(1, 32))
        else:  # both restricted: OR of "L,15" and "5L"
            shape.fields[2], shape.dom_last, shape.dom_values = "15,L", True, {15}
            shape.fields[4], shape.dow_last = "5L", {5}
    # Days past the end of every chosen month never match ("31W nov", "31 apr-jun"): such
    # an expression can never fire and is refused, which tests of errors cover.
    longest = max(calendar.monthrange(2024, month)[1] for month in shape.months)
    if shape.fields[4] == "*" and shape.fields[2] != "*" and not shape.dom_last:
        assume(min(shape.dom_values | shape.dom_nearest) <= longest)
    return shape


def _expand(text: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        body, _, step = part.partition("/")
        if body == "*":
            a, b = low, high
        elif "-" in body:
            a, b = map(int, body.split("-"))
        else:
            a = b = int(body)
        values.update(range(a, b + 1, int(step) if step else 1))
    return values


DST_ZONES = [
    "America/New_York",
    "Europe/London",
    "Europe/Paris",
    "Europe/Dublin",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "America/Sao_Paulo",
    "America/Santiago",
    "America/St_Johns",
    "Asia/Tehran",
    "Africa/Casablanca",
    "Australia/Adelaide",
    "Pacific/Apia",
    "Asia/Kolkata",
]


@st.composite
def cases(draw: st.DrawFn) -> tuple[CronShape, str, datetime, datetime]:
    """An expression, a zone and a 3-day window, usually straddling a transition.

    The hour field often names the local hours around the transition, so that
    repeated and skipped wall times are actually matched.
    """
    zone = draw(st.sampled_from(DST_ZONES))
    year = draw(st.integers(1995, 2040))
    found = transitions(zone, year)
    if found and draw(st.integers(0, 4)) > 0:
        center = draw(st.sampled_from(found))
    else:
        center = datetime(year, 1, 1, tzinfo=timezone.utc) + timedelta(
            days=draw(st.integers(0, 364))
        )
    start = center - timedelta(
        minutes=draw(st.one_of(st.integers(-90, 0), st.integers(0, 3 * 24 * 60))),
        seconds=draw(st.integers(0, 59)),
    )
    local = ZoneInfo(zone)
    hint = tuple(
        sorted({(center + timedelta(minutes=m)).astimezone(local).hour for m in (-61, -1, 0, 59)})
    )
    shape = draw(cron_shapes(hint))
    if draw(st.integers(0, 3)) == 0:
        # a yearly expression pinned to the transition's local date
        day = center.astimezone(local)
        shape.fields[2:5] = [str(day.day), str(day.month), "*"]
        shape.dom_values, shape.dom_last, shape.dom_nearest = {day.day}, False, set()
        shape.dow_values, shape.dow_last, shape.dow_nth = set(range(7)), set(), set()
        shape.months = {day.month}
    return shape, zone, start, start + timedelta(days=3)


def _offset(instant: datetime, zone: ZoneInfo) -> timedelta:
    """The UTC offset of `zone` at `instant`."""
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None
    return offset


@st.composite
def cases_inside_repeated_hour(draw: st.DrawFn) -> tuple[CronShape, str, datetime, datetime]:
    """Windows that start during the second pass of a fall-back's repeated wall times."""
    zone = draw(st.sampled_from([z for z in DST_ZONES if z != "Asia/Kolkata"]))
    local = ZoneInfo(zone)
    year = draw(st.integers(1995, 2040))
    folds = [t for t in transitions(zone, year) if _offset(t - MINUTE, local) > _offset(t, local)]
    if not folds:
        year, folds = 2025, [t for t in transitions("Europe/London", 2025) if t.month == 10]
        zone, local = "Europe/London", ZoneInfo("Europe/London")
    center = draw(st.sampled_from(folds))
    repeated = _offset(center - MINUTE, local) - _offset(center, local)
    start = center + timedelta(
        minutes=draw(st.integers(0, int(repeated.total_seconds() // 60))),
        seconds=draw(st.integers(0, 59)),
    )
    hint = tuple(sorted({(center + timedelta(minutes=m)).astimezone(local).hour for m in (0, 59)}))
    shape = draw(cron_shapes(hint))
    return shape, zone, start, start + timedelta(days=1)
