"""Cron expressions: parsing into bit masks, and matching wall times fast.

`compile_cron(expression, hash_key)` returns a `CronPattern` whose
`next_wall(lo)` finds the first matching local minute at or after `lo` by
shifting per-field masks (bit v set when value v is allowed) and per-month
day masks: the lowest bit left gives the next allowed value, so nothing steps
minute by minute. Masks take a few integer operations to build, where lookup
tables would take a pass over each field's values, and a pattern is often
compiled for one query. DST is not handled here: `zones.walk` does it.
"""

from __future__ import annotations

import calendar
import hashlib
from datetime import date
from functools import lru_cache
from typing import NamedTuple

from ..errors import InvalidCronExpression, shorten
from .zones import DAY, EPOCH_ORDINAL

__all__ = ["CronField", "CronPattern", "compile_cron", "cron_fields"]

MAX_EXPRESSION_LENGTH = 1000

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

FIELD_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week")
_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
# Jenkins' convention: a hashed day of month stays within 1-28 so it exists every month.
_HASH_BOUNDS = ((0, 59), (0, 23), (1, 28), (1, 12), (0, 6))
_MONTH_NAMES = {name.lower(): i for i, name in enumerate(calendar.month_abbr) if name}
_DAY_NAMES = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
_DOM, _MONTH, _DOW = 2, 3, 4  # indices of the day-of-month, month and day-of-week fields
_DAY_CACHE_LIMIT = 4096
_WEEKDAYS = 0x7F  # day-of-week masks hold bits 0-6, Sunday 0
# Each field's mask for `*`: minutes 0-59, hours 0-23, days 1-31, months 1-12, weekdays 0-6.
_ALL = ((1 << 60) - 1, (1 << 24) - 1, (1 << 32) - 2, (1 << 13) - 2, _WEEKDAYS)
_EVERY_MONTH = (1 << 29) - 2  # days 1-28
# A 7-bit weekday pattern times this repeats it over five weeks, enough for any month.
_WEEKLY = sum(1 << 7 * week for week in range(5))
_LAST_ORDINAL = date.max.toordinal()
_MONTH_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_WALL_END = (_LAST_ORDINAL + 1 - EPOCH_ORDINAL) * DAY  # the end of 9999-12-31, local time


class _Bad(Exception):
    """A token-level problem; `compile_cron` adds the field and expression."""


class _Field:
    """One parsed field: a mask of plain values plus the special day forms.

    The defaults live on the class, so that the usual field (no special form)
    is built by setting its mask alone.
    """

    values = 0  # bit v set when v is allowed; day-of-week folded to 0-6
    last_day = False  # L
    last_weekday_of_month = False  # LW
    nearest_weekday: frozenset[int] = frozenset()  # 15W
    last_weekday: frozenset[int] = frozenset()  # 5L: last Friday
    nth_weekday: frozenset[tuple[int, int]] = frozenset()  # 1#2: second Monday
    hashed = False  # uses H


def _number(token: str, index: int) -> int:
    text = token.lower()
    if index == _MONTH and text in _MONTH_NAMES:
        return _MONTH_NAMES[text]
    if index == _DOW and text in _DAY_NAMES:
        return _DAY_NAMES[text]
    if not text.isdigit() or not text.isascii():
        raise _Bad(f"{token!r} is not a valid value")
    # Leading zeros are decimal digits, as cronie and cronsim read them: 050 is 50.
    digits = text.lstrip("0") or "0"
    low, high = _BOUNDS[index]
    if len(digits) > 2 or not low <= int(digits) <= high:
        raise _Bad(f"{token!r} is out of range {low}-{high}")
    return int(digits)


def _hash_value(hash_key: str, index: int, modulus: int) -> int:
    digest = hashlib.sha256(f"{hash_key}\x00{FIELD_NAMES[index]}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % modulus


def _run(first: int, last: int, step: int) -> int:
    """The mask of first, first + step, ... up to `last`."""
    if step == 1:
        return (2 << last) - (1 << first)
    count = (last - first) // step + 1
    if count == 1:  # one value, however large the step (no huge shift below)
        return 1 << first
    # A geometric series in powers of 2**step.
    return ((1 << step * count) - 1) // ((1 << step) - 1) << first


def _bits(body: str, index: int, hash_key: str, step: int | None) -> int:
    """The mask of a `*`, `H`, `H(a-b)`, `a` or `a-b` body and its step, if any."""
    low, high = _BOUNDS[index]
    if index == _DOW:
        high = 6
    if body in ("*", "?"):
        return _run(low, high, step or 1)
    if body == "H" or (body.startswith("H(") and body.endswith(")")):
        if body == "H":
            low, high = _HASH_BOUNDS[index]
        else:
            parts = body[2:-1].split("-")
            if len(parts) != 2:
                raise _Bad(f"{body!r} must look like H(a-b)")
            low, high = _number(parts[0], index), _number(parts[1], index)
            if low > high:
                raise _Bad(f"{body!r} has its range reversed")
        if step is None:
            # Jenkins: a bare H (or H(a-b)) is ONE value of the range, not a run of them.
            return 1 << (low + _hash_value(hash_key, index, high - low + 1))
        # H/n, H(a-b)/n: every n-th value from a hashed phase. A step larger than the
        # range keeps the phase inside it, so the field still has its one value.
        phase = _hash_value(hash_key, index, min(step, high - low + 1))
        return _run(low + phase, high, step)
    if "-" in body:
        first_text, _, last_text = body.partition("-")
        first, last = _number(first_text, index), _number(last_text, index)
        if index == _DOW and last == 0 and first > 0:
            last = 7  # "fri-sun": Sunday closes the week
        if first > last:
            raise _Bad(f"range {body!r} runs backwards")
        return _run(first, last, step or 1)
    first = _number(body, index)
    if step is None:
        return 1 << first
    # "a/step" means from a to the field's maximum, as in Vixie cron's extensions
    return _run(first, _BOUNDS[index][1], step)


def _parse_item(item: str, index: int, field: _Field, hash_key: str) -> None:
    if not item:
        raise _Bad("empty list element")
    upper = item.upper()
    if index == _DOM:
        if upper == "L":
            field.last_day = True
            return
        if upper == "LW":
            field.last_weekday_of_month = True
            return
        if upper.endswith("W") and len(upper) > 1:
            field.nearest_weekday |= {_number(item[:-1], index)}
            return
    if index == _DOW:
        if upper.endswith("L") and len(upper) > 1:
            field.last_weekday |= {_number(item[:-1], index) % 7}
            return
        if "#" in item:
            day_text, _, nth_text = item.partition("#")
            if not nth_text.isdigit() or not nth_text.isascii() or not 1 <= int(nth_text) <= 5:
                raise _Bad(f"{item!r}: the number after '#' must be 1-5")
            field.nth_weekday |= {(_number(day_text, index) % 7, int(nth_text))}
            return
    body, slash, step_text = item.partition("/")
    step: int | None = None
    if slash:
        if not step_text.isdigit() or not step_text.isascii():
            raise _Bad(f"{item!r} has an invalid step {step_text!r}")
        # Vixie cron and cronie take any step >= 1, even one larger than the field's
        # range (`*/10` in day-of-week is Sunday only); so do we.
        step = int(step_text)
        if step < 1:
            raise _Bad(f"{item!r} has step 0 (a step is a whole number >= 1)")
    body = "H" + body[1:] if body[:1] == "h" else body
    field.hashed = field.hashed or body.startswith("H")
    mask = _bits(body, index, hash_key, step)
    field.values |= (mask | mask >> 7) & _WEEKDAYS if index == _DOW else mask


def _parse_field(text: str, index: int, hash_key: str) -> _Field:
    field = _Field()
    # `*` and a single number, most fields, skip the general path.
    if text in {"*", "?"}:
        field.values = _ALL[index]
    elif text.isdigit():
        value = _number(text, index)
        field.values = 1 << (value % 7 if index == _DOW else value)
    else:
        for item in text.split(","):
            _parse_item(item, index, field, hash_key)
    return field


def _values(mask: int) -> frozenset[int]:
    """The values whose bits a mask sets."""
    return frozenset(v for v in range(mask.bit_length()) if mask >> v & 1)


class CronPattern:
    """A compiled cron expression. Immutable after construction; thread-safe."""

    def __init__(self, expression: str, texts: list[str], fields: list[_Field]) -> None:
        self.expression = expression
        minute, hour, dom, month, dow = fields
        # A field beginning with `*` or `?` is unrestricted for cronie's and Vixie's rules.
        minute_text, hour_text, dom_text, _, dow_text = texts
        self.fixed_time = not (minute_text[0] in "*?" or hour_text[0] in "*?")
        self.uses_hash = minute.hashed or hour.hashed or dom.hashed or month.hashed or dow.hashed
        self._minutes = minute.values
        self._hours = hour.values
        self._months = month.values
        self._first_minute = (minute.values & -minute.values).bit_length() - 1
        first_hour = (hour.values & -hour.values).bit_length() - 1
        self._first_time = first_hour * 3600 + self._first_minute * 60
        self._last_minute = minute.values.bit_length() - 1
        self._last_time_of_day = (hour.values.bit_length() - 1) * 3600 + self._last_minute * 60
        self._per_day = hour.values.bit_count() * minute.values.bit_count()
        self._dom = dom
        self._dow = dow
        # Vixie cron: if either day field begins with '*' the day must match both
        # (an unrestricted one matches everything); otherwise either may match.
        self._days_and = dom_text[0] in "*?" or dow_text[0] in "*?"
        self._days: dict[int, int] = {}

    def day_mask(self, year: int, month: int) -> int:
        """Bit d set for each day d of `year`-`month` on which the expression may fire.

        Cached without a lock: each operation on the dict is atomic, and threads
        racing at the size limit at worst empty it twice.
        """
        key = year * 16 + month
        days = self._days.get(key)
        if days is None:
            days = self._compute_days(year, month)
            if len(self._days) >= _DAY_CACHE_LIMIT:
                self._days.clear()
            self._days[key] = days
        return days

    def _compute_days(self, year: int, month: int) -> int:
        first = date(year, month, 1).toordinal()
        length = _MONTH_DAYS[month] + (month == 2 and calendar.isleap(year))
        in_month = (1 << (length + 1)) - 2
        first_weekday = first % 7  # cron's weekday, Sunday 0: ordinal 1 is a Monday
        dom = self._dom
        dom_mask = dom.values & in_month
        if dom.last_day:
            dom_mask |= 1 << length
        if dom.last_weekday_of_month:
            last_weekday = (first_weekday + length - 1) % 7
            dom_mask |= 1 << (length - {0: 2, 6: 1}.get(last_weekday, 0))
        for n in dom.nearest_weekday:
            if n <= length:
                dom_mask |= 1 << self._nearest_weekday(n, length, first_weekday)
        dow = self._dow
        # Turn the weekdays so that bit j stands for day j + 1, then repeat weekly.
        week = (dow.values >> first_weekday | dow.values << (7 - first_weekday)) & _WEEKDAYS
        dow_mask = (week * _WEEKLY << 1) & in_month
        for weekday in dow.last_weekday:
            dow_mask |= 1 << (length - (first_weekday + length - 1 - weekday) % 7)
        for weekday, nth in dow.nth_weekday:
            d = 1 + (weekday - first_weekday) % 7 + 7 * (nth - 1)
            if d <= length:
                dow_mask |= 1 << d
        return dom_mask & dow_mask if self._days_and else dom_mask | dow_mask

    @staticmethod
    def _nearest_weekday(n: int, length: int, first_weekday: int) -> int:
        """`nW`: the weekday nearest to day n, never leaving the month (Quartz rule)."""
        weekday = (first_weekday + n - 1) % 7
        if weekday == 6:  # Saturday: Friday before, or Monday after the 1st
            return n - 1 if n > 1 else n + 2
        if weekday == 0:  # Sunday: Monday after, or Friday before the last day
            return n + 1 if n < length else n - 2
        return n

    def can_fire(self) -> bool:
        """Whether any day ever matches.

        Most expressions match days of every month, which their fields show at
        once (days 1-28, L and LW exist in every month, and so do all weekdays
        and the last of each); the others are searched. Day sets depend only on
        the month, its length and the weekday of its first day; 2000-2027 is a
        full 28-year cycle holding every combination.
        """
        dom, dow = self._dom, self._dow
        every_dom = dom.values & _EVERY_MONTH or dom.last_day or dom.last_weekday_of_month
        every_dow = dow.values or dow.last_weekday
        if self._days_and:
            # Each day must match both fields: enough if one allows every day.
            if (dom.values == _ALL[_DOM] and every_dow) or (dow.values == _WEEKDAYS and every_dom):
                return True
        elif every_dom or every_dow:
            return True
        for year in range(2000, 2028):
            for month in range(1, 13):
                if self._months >> month & 1 and self.day_mask(year, month):
                    return True
        return False

    def next_wall(self, lo: int) -> int | None:
        """The first matching wall minute `>= lo`, or None after year 9999."""
        lo += -lo % 60
        day_number, seconds = divmod(lo, DAY)
        if day_number + EPOCH_ORDINAL > _LAST_ORDINAL:
            return None
        today = date.fromordinal(day_number + EPOCH_ORDINAL)
        year, month = today.year, today.month
        # Bit k: whether the day k days from today matches, within this month.
        days = self.day_mask(year, month) >> today.day if self._months >> month & 1 else 0
        if days & 1:
            hour = seconds // 3600
            hours = self._hours >> hour  # bit k: hour + k
            if hours & 1:
                minutes = self._minutes >> seconds % 3600 // 60  # bit k: k minutes from lo
                if minutes:
                    return lo + ((minutes & -minutes).bit_length() - 1) * 60
                hours ^= 1
            if hours:
                next_hour = hour + (hours & -hours).bit_length() - 1
                return lo - seconds + next_hour * 3600 + self._first_minute * 60
        days >>= 1  # bit k: k + 1 days from today
        if days:
            return (day_number + (days & -days).bit_length()) * DAY + self._first_time
        # Later months: the first matching day at the first matching time.
        while True:
            month += 1
            if month == 13:
                year, month = year + 1, 1
                if year > 9999:
                    return None
            if self._months >> month & 1:
                days = self.day_mask(year, month)
                if days:
                    break
        first_day = date(year, month, 1).toordinal() - EPOCH_ORDINAL
        return (first_day + (days & -days).bit_length() - 2) * DAY + self._first_time

    def count_walls(self, lo: int, hi: int) -> int:
        """How many matching wall minutes lie in `[lo, hi)` (none after year 9999).

        Whole days count by the day masks, a month at a time; the partial days at
        either end by the hour and minute masks: nothing is stepped through.
        """
        hi = min(hi, _WALL_END)
        if hi <= lo:
            return 0
        first_day, first_second = divmod(lo, DAY)
        last_day, last_second = divmod(hi, DAY)
        if first_day == last_day:
            times = self._times_before(last_second) - self._times_before(first_second)
            return times if self._matches(first_day) else 0
        count = self._matching_days(first_day + 1, last_day) * self._per_day
        if self._matches(first_day):
            count += self._per_day - self._times_before(first_second)
        if last_second and self._matches(last_day):
            count += self._times_before(last_second)
        return count

    def last_wall(self, lo: int, hi: int) -> int | None:
        """The last matching wall minute in `[lo, hi)`, or None."""
        hi = min(hi, _WALL_END)
        if hi <= lo:
            return None
        day_number, second = divmod((hi - 1) // 60 * 60, DAY)
        found = self._last_time(second) if self._matches(day_number) else None
        if found is not None:
            found += day_number * DAY
        else:
            day = self._last_day_before(day_number, lo // DAY)
            found = None if day is None else day * DAY + self._last_time_of_day
        return found if found is not None and found >= lo else None

    def _times_before(self, second: int) -> int:
        """How many matching times of day come before `second` (0-86400) past midnight."""
        hour, minute = divmod(-(-second // 60), 60)
        count = (self._hours & ((1 << hour) - 1)).bit_count() * self._minutes.bit_count()
        if self._hours >> hour & 1:
            count += (self._minutes & ((1 << minute) - 1)).bit_count()
        return count

    def _last_time(self, second: int) -> int | None:
        """The last matching time of day at or before `second` past midnight, or None."""
        hour, rest = divmod(second, 3600)
        if self._hours >> hour & 1:
            minutes = self._minutes & ((2 << rest // 60) - 1)
            if minutes:
                return hour * 3600 + (minutes.bit_length() - 1) * 60
        hours = self._hours & ((1 << hour) - 1)
        if hours:
            return (hours.bit_length() - 1) * 3600 + self._last_minute * 60
        return None

    def _matches(self, day_number: int) -> bool:
        """Whether the expression fires on a day (days since 1970-01-01)."""
        today = date.fromordinal(day_number + EPOCH_ORDINAL)
        return bool(
            self._months >> today.month & 1
            and self.day_mask(today.year, today.month) >> today.day & 1
        )

    def _matching_days(self, first: int, stop: int) -> int:
        """How many days in `[first, stop)` the expression fires on, a month at a time."""
        count = 0
        while first < stop:
            today = date.fromordinal(first + EPOCH_ORDINAL)
            year, month = today.year, today.month
            length = _MONTH_DAYS[month] + (month == 2 and calendar.isleap(year))
            span = min(stop - first, length - today.day + 1)  # to the month's end at most
            if self._months >> month & 1:
                days = self.day_mask(year, month) >> today.day
                count += (days & ((1 << span) - 1)).bit_count()
            first += span
        return count

    def _last_day_before(self, day_number: int, floor: int) -> int | None:
        """The last day the expression fires on before `day_number`, not before `floor`."""
        today = date.fromordinal(day_number + EPOCH_ORDINAL)
        year, month = today.year, today.month
        below = (1 << today.day) - 1  # days of this month before today
        month_start = day_number - today.day + 1
        while month_start + (below.bit_length() - 1) > floor:
            if self._months >> month & 1:
                days = self.day_mask(year, month) & below
                if days:
                    found = month_start + days.bit_length() - 2
                    return found if found >= floor else None
            month -= 1
            if month == 0:
                year, month = year - 1, 12
                if year < 1:
                    return None
            length = _MONTH_DAYS[month] + (month == 2 and calendar.isleap(year))
            month_start -= length
            below = (2 << length) - 1
        return None


def _split(expression: str) -> list[str]:
    text = expression.strip()
    if text.startswith("@"):
        macro = MACROS.get(text.lower())
        if macro is None:
            raise InvalidCronExpression(
                f"unknown macro {shorten(text)} (known: {', '.join(MACROS)})"
            )
        text = macro
    parts = text.split()
    if len(parts) != 5:
        raise InvalidCronExpression(
            f"cron expression {shorten(expression)} must have 5 fields "
            f"(minute hour day-of-month month day-of-week), got {len(parts)}"
        )
    return parts


def compile_cron(expression: str, hash_key: str | None = None) -> CronPattern:
    """Parse and check a cron expression; cached, so repeating it is cheap.

    Without a `hash_key`, `H` fields are computed from an empty key; callers
    check `uses_hash` and refuse to fire such a pattern.

    Raises `InvalidCronExpression` naming the field and the bad token, or
    saying the expression can never fire.
    """
    # Checked before the cache, which would fail on an unhashable value first.
    if not isinstance(expression, str):
        raise InvalidCronExpression(f"'expression' must be a string (got {shorten(expression)})")
    return _compile(expression, hash_key)


@lru_cache(maxsize=4096)
def _compile(expression: str, hash_key: str | None) -> CronPattern:
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise InvalidCronExpression(
            f"cron expression is {len(expression)} characters long "
            f"(at most {MAX_EXPRESSION_LENGTH})"
        )
    parts = _split(expression)
    fields: list[_Field] = []
    for index, text in enumerate(parts):
        try:
            fields.append(_parse_field(text, index, hash_key or ""))
        except _Bad as exc:
            raise InvalidCronExpression(
                f"{FIELD_NAMES[index]} field {text!r}: {exc} (in {shorten(expression)})",
                cron_field=FIELD_NAMES[index],
            ) from None
    pattern = CronPattern(expression, parts, fields)
    if not pattern.can_fire():
        raise InvalidCronExpression(
            f"cron expression {shorten(expression)} can never fire "
            "(no month has a day that matches); to stop a schedule firing, pause it"
        )
    return pattern


class CronField(NamedTuple):
    """One field of an expression as the matcher reads it (for describing it in words)."""

    values: frozenset[int]  # plain values; day-of-week as 0-6, Sunday 0
    special: bool  # also L, LW, nW, nL or n#k days, which `values` does not list
    star: bool  # begins with `*` or `?`: unrestricted for Vixie's day-of-month/week rule


def cron_fields(expression: str, hash_key: str | None = None) -> tuple[CronField, ...]:
    """The five fields of a valid expression (`H` resolved with `hash_key`), parsed by
    the same code that fires it, so that a description can never disagree with it."""
    compile_cron(expression, hash_key)  # raises InvalidCronExpression like Cron(...) would
    parts = _split(expression)
    return tuple(
        CronField(
            _values(field.values),
            bool(
                field.last_day
                or field.last_weekday_of_month
                or field.nearest_weekday
                or field.last_weekday
                or field.nth_weekday
            ),
            text[0] in "*?",
        )
        for field, text in (
            (_parse_field(text, index, hash_key or ""), text) for index, text in enumerate(parts)
        )
    )
