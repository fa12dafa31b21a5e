"""Specs in words for the dashboard: "every weekday at 09:00 Europe/Paris".

A wrong description is worse than none, so each describer handles the
common shapes exactly and quotes the spec itself for anything else. Cron
fields come from the parser that fires them (`cron_fields`), so `H` reads as
the minute it really is and a step that does not divide the hour is listed,
never rounded to "every 7 minutes".
"""

from __future__ import annotations

import calendar
import itertools
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

from ..model.specs import Cron, Interval, Once, RRule, Spec
from ..timing.cron import CronField, cron_fields
from ..timing.zones import load_zone

__all__ = ["describe", "local_time", "span", "wall_time"]

_WEEKDAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_RRULE_DAYS = {"SU": 0, "MO": 1, "TU": 2, "WE": 3, "TH": 4, "FR": 5, "SA": 6}
_MAX_LISTED = 6


def describe(spec: Spec) -> str:
    """One line saying when `spec` fires."""
    if isinstance(spec, Cron):
        return _cron(spec)
    if isinstance(spec, Once):
        return f"once, at {local_time(spec.run_at, spec.timezone)}"
    if isinstance(spec, Interval):
        return f"every {span(spec.every).removeprefix('1 ')}"  # "every hour"
    return _rrule(spec)


def wall_time(instant: datetime, zone: str) -> datetime:
    """`instant` as a wall time in `zone`, or in UTC when that wall time is past the
    calendar's end: 9999-12-31 23:00 UTC is in year 10000 in Tokyo, which no
    `datetime` holds. Every time a page shows goes through here."""
    try:
        return instant.astimezone(load_zone(zone))
    except OverflowError:
        return instant.astimezone(timezone.utc)


def local_time(instant: datetime, zone: str) -> str:
    """`2026-01-05 09:00 Europe/Paris`: an instant as a wall time in `zone` (UTC past
    the calendar's end there, and then named so)."""
    local = wall_time(instant, zone)
    seconds = f":{local:%S}" if local.second else ""
    shown_zone = zone if local.tzinfo is not timezone.utc else "UTC"
    return f"{local:%Y-%m-%d %H:%M}{seconds} {shown_zone}"


def span(delta: timedelta) -> str:
    """`90 minutes`, `1 hour`, `2 days`, `1.5 seconds`: in the largest whole unit."""
    seconds = delta.total_seconds()
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds:g} second{'' if seconds == 1 else 's'}"


def _join(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def _progression(values: frozenset[int]) -> tuple[int, int, int] | None:
    """(first, last, step) if the values are evenly spaced (step 1 for a single value)."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0], ordered[0], 1
    step = ordered[1] - ordered[0]
    if any(b - a != step for a, b in itertools.pairwise(ordered)):
        return None
    return ordered[0], ordered[-1], step


def _clock(hour: int, minute: int) -> str:
    return f"{hour:02d}:{minute:02d}"


def _cron(spec: Cron) -> str:
    quoted = f"cron “{spec.expression}” ({spec.timezone})"
    minute, hour, dom, month, dow = cron_fields(spec.expression, spec.hash_key)
    days = _cron_days(dom, dow)
    if days is None:
        return quoted
    if len(month.values) < 12:
        names = _join([calendar.month_name[m] for m in sorted(month.values)])
        if days.endswith(" of the month"):  # "on day 1 of January and July"
            days = days.removesuffix("the month") + names
        else:
            days = f"{days or 'every day'} in {names}"
    times = sorted((h, m) for h in hour.values for m in minute.values)
    if len(times) <= _MAX_LISTED:
        return f"{days or 'every day'} at {_join([_clock(h, m) for h, m in times])} {spec.timezone}"
    often = _cron_frequency(minute.values, hour.values)
    if often is None:
        return quoted
    if not days and len(hour.values) == 24:
        return often  # the zone changes nothing but DST hours: not worth the words
    return f"{often}, {days or 'every day'} ({spec.timezone})"


def _cron_frequency(minutes: frozenset[int], hours: frozenset[int]) -> str | None:
    """More than a handful of times a day: as a frequency, or None if irregular."""
    every_hour = len(hours) == 24
    if len(minutes) == 60:
        if every_hour:
            return "every minute"
        span = _progression(hours)
        if span is None or span[2] != 1:
            return None
        return f"every minute from {_clock(span[0], 0)} to {_clock(span[1], 59)}"
    if len(minutes) == 1:
        (at,) = minutes
        if every_hour:
            return f"every hour at :{at:02d}"
        span = _progression(hours)
        if span is None:
            return None
        first, last, step = span
        unit = "every hour" if step == 1 else f"every {step} hours"
        return f"{unit} from {_clock(first, at)} to {_clock(last, at)}"
    span = _progression(minutes)
    if span is None:
        return None
    first, last, step = span
    # Through the whole hour, and the same spacing across its end.
    even = first < step and last + step >= 60 and 60 % step == 0
    if every_hour and even:
        return f"every {step} minutes" + (f" from :{first:02d}" if first else "")
    hour_span = (0, 23, 1) if every_hour else _progression(hours)
    if hour_span is None or hour_span[2] != 1:
        return None
    begin, end = _clock(hour_span[0], first), _clock(hour_span[1], last)
    if even:
        return f"every {step} minutes from {begin} to {end}"
    return f"every {step} minutes from :{first:02d} to :{last:02d} of each hour, {begin} to {end}"


def _weekdays(values: frozenset[int]) -> str:
    """`every weekday`, `every Monday and Wednesday` (weeks start on Monday)."""
    if values == frozenset(range(1, 6)):
        return "every weekday"
    return f"every {_weekday_names(values)}"


def _weekday_names(values: frozenset[int]) -> str:
    if values == frozenset(range(1, 6)):
        return "Monday to Friday"
    return _join([_WEEKDAYS[d] for d in sorted(values, key=lambda d: (d + 6) % 7)])


def _month_days(values: frozenset[int]) -> str:
    ordered = [str(d) for d in sorted(values)]
    return f"on day{'s' if len(ordered) > 1 else ''} {_join(ordered)} of the month"


def _cron_days(dom: CronField, dow: CronField) -> str | None:
    """The days phrase ("" for every day), or None when it is not a plain one.

    Vixie cron: when either day field begins with `*` a day must match both;
    otherwise it may match either.
    """
    if dom.special or dow.special:
        return None
    all_dom, all_dow = len(dom.values) == 31, len(dow.values) == 7
    if dom.star or dow.star:
        if all_dom and all_dow:
            return ""
        if all_dom:
            return _weekdays(dow.values)
        if all_dow:
            return _month_days(dom.values)
        return None
    if all_dom or all_dow:
        return ""
    return f"{_month_days(dom.values)} or {_weekdays(dow.values)}"


def _rrule(spec: RRule) -> str:
    """The plain FREQ/INTERVAL/BYDAY/COUNT/UNTIL rules; anything else is quoted."""
    start = spec.dtstart
    quoted = f"rule “{spec.rule}” from {start:%Y-%m-%d %H:%M} ({spec.timezone})"
    parts: dict[str, str] = {}
    for part in spec.rule.upper().split(";"):
        key, _, value = part.partition("=")
        parts[key.strip()] = value.strip()
    if not parts.keys() <= {"FREQ", "INTERVAL", "BYDAY", "COUNT", "UNTIL", "WKST"}:
        return quoted
    interval = parts.get("INTERVAL", "1")
    byday = [d for d in parts.get("BYDAY", "").split(",") if d]
    if not interval.isdigit() or int(interval) < 1 or any(d not in _RRULE_DAYS for d in byday):
        return quoted
    n = int(interval)
    at = f"at {start:%H:%M}{f':{start:%S}' if start.second else ''} {spec.timezone}"
    freq = parts.get("FREQ")
    if byday and freq != "WEEKLY":
        return quoted
    if freq == "DAILY":
        text = f"every {'day' if n == 1 else f'{n} days'} {at}"
    elif freq == "WEEKLY":
        days = frozenset(_RRULE_DAYS[d] for d in byday) or frozenset({(start.weekday() + 1) % 7})
        if n == 1:
            text = f"{_weekdays(days)} {at}"
        else:
            text = f"every {n} weeks on {_weekday_names(days)} {at}"
    elif freq == "MONTHLY":
        text = f"on day {start.day} of every {'month' if n == 1 else f'{n} months'} {at}"
    elif freq == "YEARLY" and n == 1:
        text = f"every year on {start.day} {calendar.month_name[start.month]} {at}"
    else:
        return quoted
    if "COUNT" in parts:
        text += f", {parts['COUNT']} times from {start:%Y-%m-%d}"
    if "UNTIL" in parts:
        until = _until(parts["UNTIL"])
        if until is None:
            return quoted
        text += f", until {until}"
    return text


def _until(text: str) -> str | None:
    for layout in ("%Y%m%dT%H%M%SZ", "%Y%m%dT%H%M%S", "%Y%m%d"):
        try:
            parsed = datetime.strptime(text, layout)
        except ValueError:
            continue
        if layout.endswith("Z"):
            return f"{parsed.replace(tzinfo=timezone.utc):%Y-%m-%d %H:%M} UTC"
        return f"{parsed:%Y-%m-%d}" if layout == "%Y%m%d" else f"{parsed:%Y-%m-%d %H:%M}"
    return None
