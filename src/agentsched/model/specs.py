"""Schedule specs: when a schedule fires.

`Cron`, `Once`, `Interval` and `RRule` are frozen attrs classes validated on
construction. Each answers `next_after(after)`: the first fire instant
strictly after an aware `after`, as an aware UTC datetime, or None once the
spec is exhausted; and `count_fires(after, until)`: how many fires come
after `after` up to `until`, and the last of them, without stepping through
them (None from an RRULE that only `next_after` can step through). Instants
passed in are bounded to 1970-9999. Calendar specs match wall-clock time in
their IANA zone and follow the DST rules of `docs/dst.md`.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import attrs

from .._checks import check_duration, check_text
from .._instants import FIRST_INSTANT, format_instant, parse_instant, require_aware, require_instant
from ..errors import ValidationError, shorten
from ..timing.cron import CronPattern, compile_cron
from ..timing.rrule import RRulePattern, compile_rrule, wall_seconds
from ..timing.zones import (
    DAY,
    EPOCH,
    MAX_INSTANT,
    ZoneTable,
    check_zone,
    count_fires,
    from_instant,
    load_zone,
    walk,
    zone_table,
)

__all__ = [
    "SPEC_FIELDS",
    "SPEC_TYPES",
    "Cron",
    "Interval",
    "Once",
    "RRule",
    "Spec",
    "next_fire",
    "spec_from_dict",
]

_MAX_HASH_KEY = 256


def _seconds(value: object, field: str) -> int:
    """Whole seconds since the epoch of an aware instant in 1970-9999 (the hot path's
    check); a `ValidationError` naming `field` otherwise."""
    try:
        elapsed = value - EPOCH  # type: ignore[operator]
    except (TypeError, AttributeError):
        require_aware(value, field)  # raises the ValidationError naming the field
        raise
    # A timedelta keeps 0 <= seconds < 86400: this floors to whole seconds.
    instant: int = elapsed.days * DAY + elapsed.seconds
    if not 0 <= instant < MAX_INSTANT:
        # Instants are bounded to 1970-9999 (UTC) wherever a caller passes one.
        shown = value.isoformat() if isinstance(value, datetime) else shorten(value)
        raise ValidationError(field, f"{field!r} must be in 1970-9999 (got {shown})")
    return instant


def _instant(value: object, field: str) -> datetime:
    """`value` as an aware UTC datetime in 1970-9999, or a `ValidationError` naming it."""
    _seconds(value, field)
    return require_aware(value, field)


def _counted(count: int, last: int | None) -> tuple[int, datetime | None]:
    return count, None if last is None else from_instant(last)


def _zone_name(value: str | zoneinfo.ZoneInfo) -> str:
    """A zone as its IANA name (what is stored), from a name or a `ZoneInfo`."""
    if isinstance(value, zoneinfo.ZoneInfo):
        if value.key is None:
            raise ValidationError(
                "timezone",
                "'timezone' is a ZoneInfo read from a file, with no IANA name to store; "
                "pass the zone's name (e.g. 'Europe/Paris')",
            )
        value = value.key
    check_zone(value, "timezone")
    return value


def _first_occurrence(table_name: str, wall: datetime) -> datetime | None:
    """The instant a naive wall time denotes, by the fixed-time DST rule.

    A repeated wall time means its first occurrence; one inside a
    spring-forward gap means the first instant after the gap.
    """
    target = wall_seconds(wall)

    def only_target(lo: int) -> int | None:
        return target if lo <= target else None

    # Offsets stay within +-26 hours, so two days before the wall time is
    # safely before any of its instants.
    found = walk(zone_table(table_name), target - 2 * DAY, only_target, True)
    if found is None:
        return None
    return from_instant(found) + timedelta(microseconds=wall.microsecond)


SPEC_FIELDS: dict[str, tuple[str, ...]] = {
    "cron": ("type", "expression", "timezone", "hash_key"),
    "once": ("type", "run_at", "timezone"),
    "interval": ("type", "every_seconds", "start_at"),
    "rrule": ("type", "rrule", "dtstart", "timezone"),
}
"""The fields of each spec's `to_dict()` shape; `from_dict` refuses any other."""


def _field_dict(data: object, kind: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ValidationError("schedule", f"'schedule' must be an object (got {shorten(data)})")
    if data.get("type") != kind:
        raise ValidationError("schedule.type", f"'schedule.type' must be {kind!r}")
    allowed = SPEC_FIELDS[kind]
    for key in data:
        if key not in allowed:
            raise ValidationError(
                f"schedule.{key}" if isinstance(key, str) else "schedule",
                f"unknown field {shorten(key)} in a {kind} schedule "
                f"(the fields are: {', '.join(allowed)})",
            )
    return data


@attrs.frozen
class Cron:
    """Fires at the wall times a 5-field cron expression matches in `timezone`.

    `hash_key` seeds `H` fields; `Scheduler.create` passes the schedule id
    when it is None. An `H` expression without a key can be built (to hand to
    `Scheduler.create`) but `next_after` refuses it with a `ValidationError`.
    See `docs/cron.md` for the syntax.
    """

    expression: str
    timezone: str = attrs.field(default="UTC", converter=_zone_name)
    hash_key: str | None = None
    _pattern: CronPattern = attrs.field(init=False, eq=False, repr=False, hash=False)
    _table: ZoneTable = attrs.field(init=False, eq=False, repr=False, hash=False)

    type: ClassVar[str] = "cron"

    def __attrs_post_init__(self) -> None:
        if self.hash_key is not None:
            check_text("hash_key", self.hash_key, 0, _MAX_HASH_KEY)
        pattern = compile_cron(self.expression)  # shared by every schedule with this text
        if pattern.uses_hash and self.hash_key is not None:
            pattern = compile_cron(self.expression, self.hash_key)
        object.__setattr__(self, "_pattern", pattern)
        object.__setattr__(self, "_table", zone_table(self.timezone))

    @property
    def fixed_time(self) -> bool:
        """True when neither minute nor hour begins with `*` (cronie's DST rule)."""
        return self._pattern.fixed_time

    def next_after(self, after: datetime) -> datetime | None:
        """The first fire instant strictly after `after` (aware), in UTC."""
        instant = _seconds(after, "after")
        pattern = self._firing_pattern()
        found = walk(self._table, instant, pattern.next_wall, pattern.fixed_time)
        return None if found is None else from_instant(found)

    def count_fires(self, after: datetime, until: datetime) -> tuple[int, datetime | None]:
        """How many fires come after `after` up to `until` included, and the last of
        them: counted by whole local days from the field masks, the DST rules applied at
        each transition, never one fire at a time."""
        first, last = _seconds(after, "after"), _seconds(until, "until")
        pattern = self._firing_pattern()
        return _counted(*count_fires(self._table, first, last, pattern, pattern.fixed_time))

    def _firing_pattern(self) -> CronPattern:
        pattern = self._pattern
        if pattern.uses_hash and self.hash_key is None:
            raise ValidationError(
                "hash_key",
                f"{self.expression!r} uses H, which needs a 'hash_key' "
                "(Scheduler.create passes the schedule id)",
            )
        return pattern

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "type": "cron",
            "expression": self.expression,
            "timezone": self.timezone,
        }
        if self.hash_key is not None:
            data["hash_key"] = self.hash_key
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Cron:
        data = _field_dict(data, "cron")
        return cls(data.get("expression"), data.get("timezone", "UTC"), data.get("hash_key"))  # type: ignore[arg-type]


def _resolve_run_at(spec: Once, value: object) -> datetime:
    if not isinstance(value, datetime):
        raise ValidationError("run_at", f"'run_at' must be a datetime (got {shorten(value)})")
    if value.tzinfo is not None and value.utcoffset() is not None:
        return require_instant(value, "run_at")
    found = _first_occurrence(spec.timezone, value) if value.year >= 1970 else None
    if found is None or found < FIRST_INSTANT:
        raise ValidationError(
            "run_at",
            f"'run_at' must be in 1970-9999 in UTC (got {value.isoformat()} in {spec.timezone})",
        )
    return found


@attrs.frozen
class Once:
    """Fires once, at `run_at`.

    An aware `run_at` is an instant; a naive one is a wall time read in
    `timezone` by the fixed-time DST rule (first occurrence of a repeated
    time; the end of a spring-forward gap for a time that does not exist).
    The instant is stored in UTC.
    """

    run_at: datetime
    timezone: str = attrs.field(default="UTC", converter=_zone_name)

    type: ClassVar[str] = "once"

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "run_at", _resolve_run_at(self, self.run_at))

    def next_after(self, after: datetime) -> datetime | None:
        """`run_at` if it is strictly after `after`, else None."""
        return self.run_at if self.run_at > _instant(after, "after") else None

    def count_fires(self, after: datetime, until: datetime) -> tuple[int, datetime | None]:
        """`(1, run_at)` if `run_at` is after `after` and not after `until`, else `(0, None)`."""
        if _instant(after, "after") < self.run_at <= _instant(until, "until"):
            return 1, self.run_at
        return 0, None

    def to_dict(self) -> dict[str, Any]:
        return {"type": "once", "run_at": format_instant(self.run_at), "timezone": self.timezone}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Once:
        data = _field_dict(data, "once")
        return cls(parse_instant(data.get("run_at"), "run_at"), data.get("timezone", "UTC"))


def _check_every(_: object, __: attrs.Attribute[timedelta], value: timedelta) -> None:
    check_duration("every", value, timedelta(seconds=1))


def _convert_start(value: object) -> datetime | None:
    return None if value is None else require_instant(value, "start_at")


@attrs.frozen
class Interval:
    """Fires every `every`, at `start_at + k * every` for whole k >= 0.

    Without `start_at` (a standalone spec), `next_after(t)` is `t + every`;
    `Scheduler.create` anchors the phase at the creation time.
    """

    every: timedelta = attrs.field(validator=_check_every)
    start_at: datetime | None = attrs.field(default=None, converter=_convert_start)

    type: ClassVar[str] = "interval"

    def next_after(self, after: datetime) -> datetime | None:
        """The first `start_at + k * every` strictly after `after`."""
        after = _instant(after, "after")
        try:
            if self.start_at is None:
                return after + self.every
            if after < self.start_at:
                return self.start_at
            return self.start_at + ((after - self.start_at) // self.every + 1) * self.every
        except OverflowError:
            return None

    def count_fires(self, after: datetime, until: datetime) -> tuple[int, datetime | None]:
        """How many fires come after `after` up to `until` included, and the last of
        them, by division (without `start_at`, the fires `after + k * every`)."""
        after, until = _instant(after, "after"), _instant(until, "until")
        start = after if self.start_at is None else self.start_at
        if until < start:
            return 0, None
        first = 0 if after < start else (after - start) // self.every + 1
        last = (until - start) // self.every
        if last < first:
            return 0, None
        return last - first + 1, start + last * self.every

    def to_dict(self) -> dict[str, Any]:
        seconds = self.every.total_seconds()
        return {
            "type": "interval",
            "every_seconds": int(seconds) if seconds.is_integer() else seconds,
            "start_at": None if self.start_at is None else format_instant(self.start_at),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Interval:
        data = _field_dict(data, "interval")
        seconds = data.get("every_seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise ValidationError(
                "every_seconds", f"'every_seconds' must be a number (got {shorten(seconds)})"
            )
        try:
            every = timedelta(seconds=seconds)
        except (OverflowError, ValueError):
            raise ValidationError(
                "every_seconds", f"'every_seconds' is out of range (got {shorten(seconds)})"
            ) from None
        start = data.get("start_at")
        return cls(every, None if start is None else parse_instant(start, "start_at"))


_MIN_YEAR, _MAX_YEAR = 1970, 9999


def _wall_dtstart(value: object, zone: ZoneInfo) -> datetime:
    """`dtstart` as a naive wall time in `zone`, within the years instants may have."""
    if not isinstance(value, datetime):
        raise ValidationError("dtstart", f"'dtstart' must be a datetime (got {shorten(value)})")
    try:
        wall = value if value.tzinfo is None else value.astimezone(zone).replace(tzinfo=None)
    except OverflowError:
        wall = None
    if wall is None or not _MIN_YEAR <= wall.year <= _MAX_YEAR:
        raise ValidationError(
            "dtstart",
            f"'dtstart' must be within years {_MIN_YEAR}-{_MAX_YEAR} (got {value.isoformat()})",
        )
    return wall.replace(fold=0)


@attrs.frozen
class RRule:
    """Fires at the occurrences of an RFC 5545 RRULE, as wall times in `timezone`.

    `dtstart` is a wall time: a naive one is read in `timezone`, an aware one
    is converted to it. Occurrences follow the fixed-time DST rule. An UNTIL
    in UTC (`...Z`, as RFC 5545 wants for a zoned DTSTART) is converted to
    local time. Finding the next fire never replays the rule from `dtstart`;
    `docs/rrule.md` says how, and which rules are refused.
    """

    rule: str
    dtstart: datetime
    timezone: str = attrs.field(default="UTC", converter=_zone_name)
    _pattern: RRulePattern = attrs.field(init=False, eq=False, repr=False, hash=False)
    _table: ZoneTable = attrs.field(init=False, eq=False, repr=False, hash=False)

    type: ClassVar[str] = "rrule"

    def __attrs_post_init__(self) -> None:
        zone = load_zone(self.timezone)
        dtstart = _wall_dtstart(self.dtstart, zone)
        pattern = compile_rrule(self.rule, dtstart, zone)
        object.__setattr__(self, "rule", pattern.rule)
        object.__setattr__(self, "dtstart", dtstart)
        object.__setattr__(self, "_pattern", pattern)
        object.__setattr__(self, "_table", zone_table(self.timezone))

    def next_after(self, after: datetime) -> datetime | None:
        """The first occurrence strictly after `after`, in UTC."""
        instant = _seconds(after, "after")
        found = walk(self._table, instant, self._pattern.next_wall, True)
        return None if found is None else from_instant(found)

    def count_fires(self, after: datetime, until: datetime) -> tuple[int, datetime | None] | None:
        """How many occurrences come after `after` up to `until` included, and the last
        of them, by arithmetic for a SECONDLY to WEEKLY rule without day filters (see
        `docs/rrule.md`); None for the others, which only `next_after` can step through."""
        first, last = _seconds(after, "after"), _seconds(until, "until")
        if not self._pattern.counts:
            return None
        return _counted(*count_fires(self._table, first, last, self._pattern, True))

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "rrule",
            "rrule": self.rule,
            "dtstart": self.dtstart.isoformat(),
            "timezone": self.timezone,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RRule:
        data = _field_dict(data, "rrule")
        text = data.get("dtstart")
        if not isinstance(text, str) or len(text) > 64:
            raise ValidationError(
                "dtstart", f"'dtstart' must be an ISO 8601 string (got {shorten(text)})"
            )
        try:
            dtstart = datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError(
                "dtstart", f"'dtstart' is not ISO 8601 (got {shorten(text)})"
            ) from None
        return cls(data.get("rrule"), dtstart, data.get("timezone", "UTC"))  # type: ignore[arg-type]


Spec = Cron | Once | Interval | RRule
SPEC_TYPES = (Cron, Once, Interval, RRule)

_SPEC_TYPES: dict[str, type[Cron] | type[Once] | type[Interval] | type[RRule]] = {
    "cron": Cron,
    "once": Once,
    "interval": Interval,
    "rrule": RRule,
}


def spec_from_dict(data: object) -> Spec:
    """Build a spec from its `to_dict()` form, dispatching on `type`."""
    if not isinstance(data, Mapping):
        raise ValidationError("schedule", f"'schedule' must be an object (got {shorten(data)})")
    kind = data.get("type")
    spec_type = _SPEC_TYPES.get(kind) if isinstance(kind, str) else None
    if spec_type is None:
        raise ValidationError(
            "schedule.type",
            f"'schedule.type' must be one of {', '.join(_SPEC_TYPES)} (got {shorten(kind)})",
        )
    return spec_type.from_dict(data)


def next_fire(spec: Spec, after: datetime) -> datetime | None:
    """The first fire instant of `spec` strictly after `after` (same as `spec.next_after`)."""
    if not isinstance(spec, SPEC_TYPES):
        raise ValidationError(
            "spec", f"'spec' must be a Cron, Once, Interval or RRule (got {shorten(spec)})"
        )
    return spec.next_after(after)
