"""Time zones: loading, offset transitions, and the DST walk.

Instants are whole seconds since the Unix epoch (UTC). Wall times are whole
seconds since 1970-01-01 00:00 *local*, so `wall = instant + offset`. Calendar
specs only say which wall times match (`next_wall`); `walk` turns that into
instants by applying the DST rules of docs/dst.md segment by segment, where a
segment is a stretch of instants with one UTC offset.

A zone's transitions come exactly from its TZif file (`tzif`), found where
`zoneinfo` finds it. A file that cannot be read or parsed here falls back to
probing `zoneinfo` once a day and bisecting to the second; that cannot see
two transitions less than a day apart that cancel out, which no zone of the
tz database has. Either way they are cached per zone in windows of about
three years, built at a window's second query: the first is answered straight
from the file's listed transitions when it can be.
"""

from __future__ import annotations

import difflib
import struct
import zoneinfo
from bisect import bisect_right
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Protocol

from ..errors import UnknownTimezone
from .tzif import DAY, EPOCH_ORDINAL, Transition, parse_tzif, read_tzif

__all__ = [
    "DAY",
    "EPOCH",
    "EPOCH_ORDINAL",
    "MAX_INSTANT",
    "MIN_INSTANT",
    "CountingPattern",
    "ZoneTable",
    "check_zone",
    "count_fires",
    "from_instant",
    "load_zone",
    "walk",
    "zone_table",
]

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
ONE_SECOND = timedelta(seconds=1)
MIN_INSTANT = (date(1, 1, 3).toordinal() - EPOCH_ORDINAL) * DAY
# The end of year 9999 in UTC (exclusive): instants before it fit in a datetime.
MAX_INSTANT = (date.max.toordinal() + 1 - EPOCH_ORDINAL) * DAY
# Probing `zoneinfo` converts datetimes, so it stays two days inside their range.
_PROBE_MAX = MAX_INSTANT - 2 * DAY

_BUCKET_BITS = 25  # 2**25 s is about 388 days
_BUCKET = 1 << _BUCKET_BITS
_MAX_ZONE_NAME = 255

NextWall = Callable[[int], "int | None"]
"""`next_wall(lo)`: the first matching wall time `>= lo`, or None if none ever matches."""


class CountingPattern(Protocol):
    """Wall times a pattern matches, counted without stepping through them."""

    def count_walls(self, lo: int, hi: int) -> int:
        """How many matching wall times lie in `[lo, hi)`."""
        ...

    def last_wall(self, lo: int, hi: int) -> int | None:
        """The last matching wall time in `[lo, hi)`, or None."""
        ...


@lru_cache(maxsize=1024)
def _load(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


@lru_cache(maxsize=1)
def _known_names() -> tuple[dict[str, str], dict[str, str]]:
    """Every zone name `zoneinfo` lists, by its case-folded form, and by its case-folded
    last part where only one zone ends that way (read once, on the first error)."""
    names = sorted(zoneinfo.available_timezones())
    by_name = {name.casefold(): name for name in names}
    by_city: dict[str, str] = {}
    for name in names:
        city = name.rpartition("/")[2].casefold()
        by_city[city] = "" if city in by_city else name
    return by_name, {city: name for city, name in by_city.items() if name}


def _suggestion(name: object) -> str | None:
    """The known zone an unknown name most likely meant: the same name in other case
    (`europe/paris`), with spaces for underscores, a city alone (`Tokyo`), or a close
    spelling (difflib)."""
    if not isinstance(name, str) or not name.strip() or len(name) > _MAX_ZONE_NAME:
        return None
    by_name, by_city = _known_names()
    folded = name.strip().replace(" ", "_").casefold()
    found = by_name.get(folded) or by_city.get(folded)
    if found is None:
        close = difflib.get_close_matches(folded, by_name, n=1, cutoff=0.8)
        found = by_name[close[0]] if close else None
    return None if found == name else found


def _unknown(name: object, field: str) -> UnknownTimezone:
    return UnknownTimezone(name, field, _suggestion(name))


def _check_name(name: object, field: str) -> str:
    if not isinstance(name, str) or not name or len(name) > _MAX_ZONE_NAME:
        raise _unknown(name, field)
    return name


def load_zone(name: object, field: str = "timezone") -> zoneinfo.ZoneInfo:
    """The `ZoneInfo` for an IANA name, or `UnknownTimezone` naming `field` (with the
    known name it resembles, if any)."""
    name = _check_name(name, field)
    try:
        return _load(name)
    except Exception as exc:  # zoneinfo raises KeyError, ValueError or OSError subclasses
        raise _unknown(name, field) from exc


def check_zone(name: object, field: str = "timezone") -> None:
    """`UnknownTimezone` naming `field` unless `load_zone` would accept the name.

    Builds the zone's table rather than a `ZoneInfo`: a TZif file that reads
    and parses here is one `zoneinfo` accepts too, and the table is what a
    spec needs next. Other names go to `zoneinfo`, as in `load_zone`.
    """
    name = _check_name(name, field)
    try:
        _table(name)
    except Exception as exc:  # zoneinfo's, on the fallback path
        raise _unknown(name, field) from exc


_RECENT_INSTANTS: dict[int, datetime] = {}
_RECENT_LIMIT = 4096


def from_instant(instant: int) -> datetime:
    """The aware UTC datetime for whole seconds since the epoch.

    Recent answers are shared (a datetime is immutable): schedules on the same
    cron line fire at the same instants, and one object, hashed once, serves
    all of them (cheaper to make, to compare, to use as a key, and to keep).
    """
    found = _RECENT_INSTANTS.get(instant)
    if found is None:
        if len(_RECENT_INSTANTS) >= _RECENT_LIMIT:
            _RECENT_INSTANTS.clear()
        found = _RECENT_INSTANTS[instant] = EPOCH + timedelta(seconds=instant)
    return found


class _Source(Protocol):
    """Where a `ZoneTable` gets a zone's offsets from."""

    def offset_at(self, instant: int) -> int: ...

    def listed_segment(self, instant: int) -> tuple[int, int, int, int] | None:
        """`ZoneTable.segment` from transitions the source holds ready, or None."""
        ...

    def transitions(self, lo: int, hi: int) -> list[Transition]:
        """The offset changes at instants in `[lo, hi)` (bucket-aligned), in order."""
        ...


class _ProbedZone:
    """Transitions found by probing `zoneinfo`, for zones whose file `tzif` cannot read.

    Probes once a day and bisects to the second where the offset changes,
    cached per bucket; misses two changes less than a day apart that cancel out.
    """

    def __init__(self, zone: zoneinfo.ZoneInfo) -> None:
        self._zone = zone
        self._buckets: dict[int, tuple[Transition, ...]] = {}

    def listed_segment(self, instant: int) -> None:
        """Nothing is ready before probing: every segment comes from `transitions`."""

    def offset_at(self, instant: int) -> int:
        instant = min(max(instant, MIN_INSTANT), _PROBE_MAX)
        offset = from_instant(instant).astimezone(self._zone).utcoffset()
        assert offset is not None
        return offset // ONE_SECOND

    def transitions(self, lo: int, hi: int) -> list[Transition]:
        return [
            tr
            for bucket in range(lo >> _BUCKET_BITS, hi >> _BUCKET_BITS)
            for tr in self._probe(bucket)
        ]

    def _probe(self, bucket: int) -> tuple[Transition, ...]:
        found = self._buckets.get(bucket)
        if found is not None:
            return found
        start = bucket << _BUCKET_BITS
        end = start + _BUCKET
        transitions: list[Transition] = []
        prev_t, prev_off = start, self.offset_at(start)
        t = start
        while t < end:
            t = min(t + DAY, end)
            off = self.offset_at(t)
            if off != prev_off:
                lo, hi = prev_t, t  # offset(lo) == prev_off, offset(hi) != prev_off
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    if self.offset_at(mid) == prev_off:
                        lo = mid
                    else:
                        hi = mid
                transitions.append((hi, prev_off, self.offset_at(hi)))
                # rescan from the transition in case a second one follows within the day
                t, off = hi, self.offset_at(hi)
            prev_t, prev_off = t, off
        result = tuple(transitions)
        self._buckets[bucket] = result
        return result


class ZoneTable:
    """The UTC-offset transitions of one zone, computed lazily and cached.

    Thread-safe without a lock: the caches only grow, each entry computed
    whole and then stored by one atomic operation (threads racing on an entry
    compute the same one).
    """

    def __init__(self, source: _Source) -> None:
        self._source = source
        self._windows: dict[int, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], int]] = {}
        self._queried: set[int] = set()  # buckets queried once, without a window

    def offset_at(self, instant: int) -> int:
        """UTC offset in seconds at an instant (clamped to the supported range)."""
        return self.segment(min(max(instant, MIN_INSTANT), MAX_INSTANT))[3]

    def _window(self, bucket: int) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], int]:
        """Transitions in buckets `bucket - 1` to `bucket + 1`, and the offset before them."""
        found = self._source.transitions((bucket - 1) << _BUCKET_BITS, (bucket + 2) << _BUCKET_BITS)
        if found:
            times, befores, afters = zip(*found, strict=True)
            window = (times, befores, afters, befores[0])
        else:
            window = ((), (), (), self._source.offset_at(bucket << _BUCKET_BITS))
        self._windows[bucket] = window
        return window

    def segment(self, instant: int) -> tuple[int, int, int, int]:
        """`(start, end, previous_offset, offset)` of the segment holding `instant`.

        `start` is the last transition at or before `instant` (or, with
        `previous_offset == offset`, an instant not after it), `end` the next transition
        after it (or the window's end, where the offset may stay the same).
        They come from windows of transitions cached per bucket, except at a
        bucket's first query, answered from the source's listed transitions
        when it has them: a zone is often loaded for a query or two, and a
        window costs more to build than one answer.
        """
        bucket = instant >> _BUCKET_BITS
        window = self._windows.get(bucket)
        if window is None:
            if bucket not in self._queried:
                self._queried.add(bucket)
                found = self._source.listed_segment(instant)
                if found is not None:
                    return found
            window = self._window(bucket)
        times, befores, afters, first = window
        i = bisect_right(times, instant)
        if i:
            start, previous, offset = times[i - 1], befores[i - 1], afters[i - 1]
        else:
            start = (bucket - 1) << _BUCKET_BITS
            offset = previous = first
        end = times[i] if i < len(times) else (bucket + 2) << _BUCKET_BITS
        return start, end, previous, offset


@lru_cache(maxsize=1024)
def _table(name: str) -> ZoneTable:
    """From the zone's TZif file, or else from probing `zoneinfo` (which raises if unknown)."""
    data = read_tzif(name)
    if data is not None:
        try:
            return ZoneTable(parse_tzif(data))
        except (ValueError, struct.error):
            pass  # zoneinfo may still read it
    return ZoneTable(_ProbedZone(_load(name)))


def zone_table(name: str) -> ZoneTable:
    """The shared, cached `ZoneTable` of a zone name (already validated)."""
    return _table(name)


def walk(table: ZoneTable, after: int, next_wall: NextWall, fixed: bool) -> int | None:
    """The first instant strictly after `after` at which a wall-time pattern fires.

    `next_wall(lo)` gives the first matching wall time `>= lo`, or None when
    nothing ever matches again. `fixed` selects the docs/dst.md rule for
    fixed-time expressions (a repeated wall time fires at its first occurrence
    only; matches inside a spring-forward gap collapse into one firing at the
    first instant after the gap); otherwise the wildcard rule (follow the
    clock: repeated wall times fire twice, gap wall times never). Returns None
    past year 9999.
    """
    while True:
        if after >= MAX_INSTANT:
            return None
        after = max(after, MIN_INSTANT)
        start, end, previous, offset = table.segment(after)
        lo = after + offset + 1
        if fixed and previous > offset:
            # Fixed-time rule: after a fall-back, wall times before start + previous
            # already fired during their first occurrence.
            lo = max(lo, start + previous)
        # Past this horizon a fall-back can no longer repeat wall times below
        # `lo` (offsets differ by less than two days), so every wall time still
        # to come is >= lo and none matches before the next candidate.
        horizon = after + 2 * DAY
        while True:
            wall = next_wall(lo)
            if wall is None:
                return None
            if wall < end + offset:
                found = wall - offset
                return found if found < MAX_INSTANT else None
            if end >= MAX_INSTANT:
                return None
            if end > horizon and wall - 2 * DAY > end:
                after = wall - 2 * DAY  # nothing fires before the candidate's neighbourhood
                break
            transition = end
            start, end, _, new_offset = table.segment(transition)
            if new_offset > offset:
                # Spring forward: wall times [transition + offset, transition + new_offset)
                # do not exist. `wall` is the first match at or after the gap's start;
                # fixed-time rule: a match inside the gap fires once, at the transition.
                if fixed and wall < transition + new_offset:
                    return transition
                lo = transition + new_offset
            elif new_offset < offset:
                # Fall back: wall times from transition + new_offset repeat. The
                # wildcard rule fires them again; the fixed-time rule skips them.
                lo = transition + (offset if fixed else new_offset)
            else:
                lo = transition + new_offset
            offset = new_offset


def count_fires(
    table: ZoneTable, after: int, until: int, pattern: CountingPattern, fixed: bool
) -> tuple[int, int | None]:
    """How many instants in `(after, until]` `walk` fires at, and the last of them.

    Counted segment by segment, each by `pattern.count_walls` over the segment's
    wall times, with the DST rules `walk` applies at each transition (the
    fixed-time rule's one fire for a spring-forward gap with matches in it, and
    its skipping of the wall times a fall-back repeats): the work grows with the
    number of transitions in the range, not with the number of fires.
    """
    until = min(until, MAX_INSTANT - 1)
    if until <= after:
        return 0, None
    after = max(after, MIN_INSTANT)
    start, end, previous, offset = table.segment(after)
    lo = after + offset + 1
    if fixed and previous > offset:
        lo = max(lo, start + previous)  # wall times the fall-back repeats fired before
    count = 0
    last: tuple[int, int, int] | int | None = None  # a segment's walls, or a gap's fire
    while True:
        hi = min(end, until + 1) + offset
        if lo < hi:
            found = pattern.count_walls(lo, hi)
            if found:
                count += found
                last = (lo, hi, offset)
        if end > until:
            break
        transition = end
        start, end, _, new_offset = table.segment(transition)
        if new_offset > offset:
            # Spring forward: the fixed-time rule fires once at the transition for
            # matches in the gap, and that fire stands for a match at its end too.
            gap = (max(lo, transition + offset), transition + new_offset)
            if fixed and pattern.count_walls(*gap):
                count += 1
                last = transition
                lo = transition + new_offset + 1
            else:
                lo = transition + new_offset
        elif new_offset < offset:
            lo = transition + (offset if fixed else new_offset)
        else:
            lo = transition + new_offset
        offset = new_offset
    if isinstance(last, tuple):
        wall_lo, wall_hi, wall_offset = last
        found_wall = pattern.last_wall(wall_lo, wall_hi)
        assert found_wall is not None
        return count, found_wall - wall_offset
    return count, last
