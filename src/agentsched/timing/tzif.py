"""TZif files (RFC 8536): a zone's exact UTC-offset transitions.

`read_tzif(name)` finds a zone's file where `zoneinfo` finds it, and
`parse_tzif(data)` turns it into a `TzifZone`: the transitions listed in the
file, then those of the POSIX TZ rule in its footer, computed year by year on
demand up to year 9999. Offsets and instants are whole seconds, as the file
stores them, so historical offsets such as Paris's LMT (+00:09:21) stay exact.
Reading a tz database file is the only I/O here (as in `zoneinfo` itself).

Two readings follow `zoneinfo` rather than the letter of RFC 8536, so that
both agree: before the first transition the offset is that of the first
standard-time type (RFC 8536 says type 0; `zic` writes files where the two
are the same), and leap-second records are skipped. Footer days of the `Jn`
and `n` forms follow POSIX; no zone in the tz database uses them, and
`zoneinfo` reads them a day off (`n`, and `J59` in leap years).
"""

from __future__ import annotations

import calendar
import importlib
import operator
import os
import re
import struct
import zoneinfo
from bisect import bisect_left, bisect_right
from datetime import date
from typing import NamedTuple

__all__ = ["DAY", "EPOCH_ORDINAL", "Transition", "TzifZone", "parse_tzif", "read_tzif"]

DAY = 86400
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()

Transition = tuple[int, int, int]
"""`(instant, offset before, offset after)`."""

# RFC 8536 section 3.1: magic, version, 15 unused octets, then the counts
# isutcnt, isstdcnt, leapcnt, timecnt, typecnt and charcnt.
_HEADER = struct.Struct(">4sc15x6L")
# RFC 8536 section 3.2: a utoff "SHOULD" lie in (-25 h, 26 h); `walk` relies on it.
_MIN_UTOFF, _MAX_UTOFF = -89999, 93599
# RFC 8536 section 3.3: "std offset [dst [offset],start[/time],end[/time]]", where
# a date is Jn, n or Mm.w.d, with section 3.3.1's rule times of -167 to 167 hours.
# The pattern holds the ranges of Mm.w.d (m 1-12, w 1-5, d 0-6), the only form of
# date in the tz database, so that matching checks them and the dates are read
# only when used; Jn (1-365) and n (0-365) are checked after matching.
_NAME = r"(?:[A-Za-z]{3,}|<[A-Za-z0-9+-]{3,}>)"
_HMS = r"[+-]?\d{1,3}(?::\d{2}){0,2}"
_DATE = rf"(?:J(\d{{1,3}})|(\d{{1,3}})|M(0?[1-9]|1[0-2])\.([1-5])\.([0-6]))(?:/({_HMS}))?"
_MAX_RULE_TIME = 168 * 3600  # exclusive
_TZ_STRING = re.compile(rf"{_NAME}({_HMS})(?:({_NAME})({_HMS})?,{_DATE},{_DATE})?")
_MONTH_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_MAX_FILE = 1 << 16  # TZif files of the tz database are a few kilobytes
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0)  # Windows reads text unless told
_LONG_AGO = -(1 << 62)  # before any instant: where the footer rule applies without transitions


def read_tzif(name: str) -> bytes | None:
    """The bytes of a zone's TZif file, or None if not found here.

    Searched like `zoneinfo` does, so that both read the same file: each
    directory of `zoneinfo.TZPATH` (regular files only), then the `tzdata`
    package. Names `zoneinfo` would refuse as keys (absolute, or with empty,
    `.` or `..` parts), names with a backslash or a colon (no zone has one)
    and files too large to be TZif are left to `zoneinfo`.
    """
    # An absolute name has an empty first part (or, on Windows, a drive or a backslash).
    parts = name.split("/")
    if "\\" in name or ":" in name or "" in parts or "." in parts or ".." in parts:
        return None
    for directory in zoneinfo.TZPATH:
        path = f"{directory}/{name}"
        if os.path.isfile(path):
            return _read(path)
    try:
        tzdata = importlib.import_module("tzdata")
    except ImportError:
        return None
    # Installed as a directory, the package is read in place: importing
    # importlib.resources would cost milliseconds. A zipped one needs it.
    directory = os.path.join(os.path.dirname(tzdata.__file__ or ""), "zoneinfo")
    if os.path.isdir(directory):
        path = f"{directory}/{name}"
        return _read(path) if os.path.isfile(path) else None
    try:
        from importlib.resources import files

        return files("tzdata.zoneinfo").joinpath(name).read_bytes()
    except (OSError, ValueError):  # no such file, a NUL in the name
        return None


def _read(path: str) -> bytes | None:
    """The file's bytes, or None if it cannot be read or is too large.

    Plain system calls: a buffered file object would make four more.
    """
    try:
        descriptor = os.open(path, _READ_FLAGS)
    except OSError:
        return None
    try:
        data = os.read(descriptor, _MAX_FILE + 1)
    except OSError:
        return None
    finally:
        os.close(descriptor)
    return data if len(data) <= _MAX_FILE else None


def _seconds(text: str) -> int:
    """`[+-]hh[:mm[:ss]]` in seconds."""
    if ":" not in text:  # whole hours, as most are: `int` reads the sign too
        return int(text) * 3600
    sign = -1 if text.startswith("-") else 1
    hours, minutes, seconds = ([*text.lstrip("+-").split(":"), "0", "0"])[:3]
    return sign * (int(hours) * 3600 + int(minutes) * 60 + int(seconds))


def _year(instant: int) -> int:
    """The UTC year of an instant, within 1-9999."""
    ordinal = min(max(instant // DAY + EPOCH_ORDINAL, 1), date.max.toordinal())
    return date.fromordinal(ordinal).year


class _RuleDate(NamedTuple):
    """One date of a TZ rule: `Jn`, `n` or `Mm.w.d`, and its time of day in seconds."""

    form: str  # "J", "n" or "M"
    number: int  # the day for J and n, the month for M
    week: int
    weekday: int  # 0 is Sunday
    time: int

    @classmethod
    def from_groups(cls, groups: tuple[str | None, ...]) -> _RuleDate:
        """From the `_DATE` groups of a checked footer: Jn, n, or m, w, d of Mm.w.d,
        then the time."""
        julian, zero_based, month, week, weekday, time = groups
        seconds = 7200 if time is None else _seconds(time)  # POSIX: 02:00 by default
        if month is not None:
            return cls("M", int(month), int(week or 0), int(weekday or 0), seconds)
        if julian is not None:
            return cls("J", int(julian), 0, 0, seconds)
        return cls("n", int(zero_based or 0), 0, 0, seconds)

    def local_seconds(self, year: int) -> int:
        """Local wall seconds since 1970-01-01 at which the rule fires in `year`."""
        if self.form == "M":
            # An ordinal modulo 7 is the weekday counted from Sunday, as in POSIX.
            first = date(year, self.number, 1).toordinal()
            days = first + (self.weekday - first) % 7 + 7 * (self.week - 1)
            length = _MONTH_DAYS[self.number] + (self.number == 2 and calendar.isleap(year))
            if days >= first + length:  # week 5 is the month's last such weekday
                days -= 7
        elif self.form == "J":  # 1-365, February 29 never counted
            days = date(year, 1, 1).toordinal() + self.number - 1
            days += self.number >= 60 and calendar.isleap(year)
        else:  # 0-365, February 29 counted
            days = date(year, 1, 1).toordinal() + self.number
        return (days - EPOCH_ORDINAL) * DAY + self.time


class _DstRule:
    """A footer's daylight-saving rule: two offsets and the dates that switch them.

    The dates are read from the footer's groups on first use: files of the tz
    database list transitions until 2037, and queries before then never use them.
    """

    def __init__(self, std: int, dst: int, dates: tuple[str | None, ...]) -> None:
        self.std = std
        self.dst = dst
        self._dates = dates  # the groups of two `_DATE`s, already checked
        self._switches: tuple[_RuleDate, _RuleDate] | None = None

    def _rule_dates(self) -> tuple[_RuleDate, _RuleDate]:
        """The start and end of DST (computed twice at worst if threads race: both agree)."""
        switches = self._switches
        if switches is None:
            start = _RuleDate.from_groups(self._dates[:6])
            switches = self._switches = start, _RuleDate.from_groups(self._dates[6:])
        return switches

    def _changes(self, lo: int, hi: int) -> tuple[int, list[tuple[int, int]]]:
        """The offset first in force, then `(instant, new offset)` for each change.

        Covers the rule years around `[lo, hi)`. A year's switches lie within
        about eight days of it (rule times reach 167 hours), so starting two
        years early settles the offset in force at `lo`.
        """
        # POSIX: a rule time is local time in the offset in force before the switch.
        # At one instant the later year's switch, then the start of DST, decides:
        # equal start and end mean DST all year, as zoneinfo reads them.
        start, end = self._rule_dates()
        events = sorted(
            event
            for year in range(max(_year(lo) - 2, 1), min(_year(hi) + 1, 9999) + 1)
            for event in (
                (end.local_seconds(year) - self.dst, year, 0, self.std),
                (start.local_seconds(year) - self.std, year, 1, self.dst),
            )
        )
        first = self.std if events[0][3] == self.dst else self.dst  # before the first switch
        changes: list[tuple[int, int]] = []
        previous = first
        for i, (instant, _, _, offset) in enumerate(events):
            if i + 1 < len(events) and events[i + 1][0] == instant:
                continue
            if offset != previous:
                changes.append((instant, offset))
                previous = offset
        return first, changes

    def transitions(self, lo: int, hi: int) -> list[Transition]:
        previous, changes = self._changes(lo, hi)
        found: list[Transition] = []
        for instant, offset in changes:
            if lo <= instant < hi:
                found.append((instant, previous, offset))
            previous = offset
        return found

    def offset_at(self, instant: int) -> int:
        offset, changes = self._changes(instant, instant)
        for changed_at, new_offset in changes:
            if changed_at > instant:
                break
            offset = new_offset
        return offset


class TzifZone:
    """A zone's UTC-offset transitions, exactly as its TZif file defines them."""

    def __init__(
        self,
        times: tuple[int, ...],
        indices: bytes,
        utoffs: tuple[int, ...],
        *,
        before: int,
        rule: _DstRule | None,
        after: int,
    ) -> None:
        self._times = times  # transition instants, strictly increasing
        self._indices = indices  # the type of each transition
        self._utoffs = utoffs  # the UTC offset of each type
        self._before = before  # offset before the first transition
        self._last = times[-1] if times else _LONG_AGO
        self._rule = rule  # after the last transition: this rule, or the offset `after`
        self._after = after

    def offset_at(self, instant: int) -> int:
        if instant > self._last:
            return self._after if self._rule is None else self._rule.offset_at(instant)
        i = bisect_right(self._times, instant)
        return self._utoffs[self._indices[i - 1]] if i else self._before

    def listed_segment(self, instant: int) -> tuple[int, int, int, int] | None:
        """`(start, end, previous offset, offset)` of the segment holding `instant`, read
        from the listed transitions alone; None if it reaches the last one, after which
        the footer decides. With no change before it, `start` is `instant` itself.
        """
        times, indices, utoffs = self._times, self._indices, self._utoffs
        i = bisect_right(times, instant)  # times[i - 1] <= instant < times[i]
        offset = utoffs[indices[i - 1]] if i else self._before
        # Transitions that change only the abbreviation or the DST flag are skipped.
        end = i
        while end < len(times) and utoffs[indices[end]] == offset:
            end += 1
        if end == len(times):
            return None
        for start in range(i - 1, -1, -1):
            previous = utoffs[indices[start - 1]] if start else self._before
            if previous != offset:
                return times[start], times[end], previous, offset
        return instant, times[end], offset, offset

    def transitions(self, lo: int, hi: int) -> list[Transition]:
        """The changes of UTC offset at instants in `[lo, hi)`, in order."""
        times, indices, utoffs = self._times, self._indices, self._utoffs
        i, j = bisect_left(times, lo), bisect_left(times, hi)
        previous = utoffs[indices[i - 1]] if i else self._before
        found: list[Transition] = []
        for k in range(i, j):
            offset = utoffs[indices[k]]
            if offset != previous:  # not a change of abbreviation or DST flag alone
                found.append((times[k], previous, offset))
                previous = offset
        # RFC 8536 section 3.3: the footer governs the instants after the last
        # transition; it must agree with it, and if it does not, it wins from
        # the next second on, as in `zoneinfo`.
        junction = self._last + 1
        if lo <= junction < hi:
            offset = self.offset_at(junction)
            if offset != previous:
                found.append((junction, previous, offset))
        if self._rule is not None and hi > junction + 1:
            found += self._rule.transitions(max(lo, junction + 1), hi)
        return found


def parse_tzif(data: bytes) -> TzifZone:
    """The zone a TZif file describes; ValueError or struct.error if it is malformed."""
    magic, version, *counts = _HEADER.unpack_from(data)
    position, time_size = _HEADER.size, 4
    if magic == b"TZif" and version != b"\0":
        # RFC 8536 section 3.2: version 2+ files repeat the header and data with
        # 64-bit times after the version 1 data block, which is skipped.
        isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt = counts
        position += timecnt * 5 + typecnt * 6 + charcnt + leapcnt * 8 + isstdcnt + isutcnt
        magic, _, *counts = _HEADER.unpack_from(data, position)
        position, time_size = position + _HEADER.size, 8
    if magic != b"TZif":
        raise ValueError("not a TZif file")
    isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt = counts
    # RFC 8536 section 3.2: transition times, their type indices, then the
    # ttinfo records (utoff, isdst, abbreviation index), the abbreviations,
    # leap-second records and the standard/wall and UT/local indicators. The
    # times and the records are unpacked at once, stepping over the indices,
    # which stay bytes.
    layout = f">{timecnt}{'q' if time_size == 8 else 'l'}{timecnt}x{'lBx' * typecnt}"
    values = struct.unpack_from(layout, data, position)
    times, utoffs, isdst = values[:timecnt], values[timecnt::2], values[timecnt + 1 :: 2]
    position += timecnt * time_size
    indices = data[position : position + timecnt]
    position += timecnt + typecnt * 6 + charcnt + leapcnt * (time_size + 4) + isstdcnt + isutcnt
    if not typecnt or max(indices, default=0) >= typecnt:
        raise ValueError("bad local time types")
    if not _MIN_UTOFF <= min(utoffs) <= max(utoffs) <= _MAX_UTOFF:
        raise ValueError("UTC offset out of range")
    if not all(map(operator.lt, times, times[1:])):
        raise ValueError("transition times out of order")
    footer = ""
    if version != b"\0":
        # RFC 8536 section 3.3: the footer is a TZ string between two newlines.
        if data[position : position + 1] != b"\n":
            raise ValueError("no footer")
        footer = data[position + 1 : data.index(b"\n", position + 1)].decode("ascii")
    if footer:
        rule, after = _parse_footer(footer)
    else:
        rule, after = None, utoffs[indices[-1]] if timecnt else utoffs[-1]
    before = utoffs[isdst.index(0) if 0 in isdst else 0]  # zoneinfo: the first standard time
    return TzifZone(times, indices, utoffs, before=before, rule=rule, after=after)


def _parse_footer(text: str) -> tuple[_DstRule | None, int]:
    """A footer TZ string's DST rule (None if it has none) and standard offset."""
    match = _TZ_STRING.fullmatch(text)
    if match is None:
        raise ValueError(f"unsupported TZ string {text!r}")
    groups = match.groups()
    std = -_seconds(groups[0])  # POSIX offsets count west of Greenwich
    dst = std + 3600 if groups[2] is None else -_seconds(groups[2])
    if not _MIN_UTOFF <= min(std, dst) <= max(std, dst) <= _MAX_UTOFF:
        raise ValueError(f"TZ string offset out of range: {text!r}")
    if groups[1] is None:
        return None, std
    for julian, zero_based, _, _, _, time in groups[3:9], groups[9:15]:
        if (
            (julian is not None and not 1 <= int(julian) <= 365)
            or (zero_based is not None and int(zero_based) > 365)
            or (time is not None and abs(_seconds(time)) >= _MAX_RULE_TIME)
        ):
            raise ValueError(f"TZ rule date out of range: {text!r}")
    return _DstRule(std, dst, groups[3:]), std
