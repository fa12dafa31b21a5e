"""Checks and conversions shared by the records' fields: each names its field in the
`ValidationError` it raises and echoes the bad value shortened."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs

from .._checks import check_duration, check_text, text_problem
from .._instants import format_instant, parse_instant, require_instant
from ..errors import ValidationError, shorten
from .limits import MAX_COUNT, MAX_METADATA_KEY, MAX_METADATA_KEYS, MAX_METADATA_VALUE

__all__ = [
    "aware",
    "check_backoff",
    "check_bool",
    "check_count",
    "count",
    "duration",
    "field_names",
    "in_utc",
    "object_tag",
    "optional_instant_text",
    "parse_seconds",
    "record_values",
    "seconds",
    "text",
    "to_metadata",
]


def text(
    field: str, low: int, high: int, optional: bool = False
) -> Callable[[Any, Any, Any], None]:
    def check(_: object, __: object, value: object) -> None:
        if value is None and optional:
            return
        check_text(field, value, low, high)

    return check


def check_count(field: str, value: object, low: int, high: int = MAX_COUNT) -> int:
    """`value` if it is a whole number (not a bool) from `low` to `high`."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        most = "2**63 - 1" if high == MAX_COUNT else high
        raise ValidationError(
            field, f"{field!r} must be a whole number from {low} to {most} (got {shorten(value)})"
        )
    return value


def count(
    field: str, low: int, optional: bool = False, high: int = MAX_COUNT
) -> Callable[[Any, Any, Any], None]:
    def check(_: object, __: object, value: object) -> None:
        if value is not None or not optional:
            check_count(field, value, low, high)

    return check


def aware(field: str, optional: bool = True) -> Callable[[Any, Any, Any], None]:
    def check(_: object, __: object, value: object) -> None:
        if value is not None or not optional:
            require_instant(value, field)

    return check


def in_utc(record: Any, names: tuple[str, ...]) -> None:
    """Store every instant of a record in UTC (validators checked they are aware)."""
    for name in names:
        value = getattr(record, name)
        if value is not None and value.tzinfo is not timezone.utc:
            object.__setattr__(record, name, value.astimezone(timezone.utc))


def duration(field: str, minimum: timedelta, optional: bool) -> Callable[[Any, Any, Any], None]:
    def check(_: object, __: object, value: object) -> None:
        if value is None and optional:
            return
        check_duration(field, value, minimum)

    return check


def to_metadata(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError("metadata", f"'metadata' must be a mapping (got {shorten(value)})")
    if len(value) > MAX_METADATA_KEYS:
        raise ValidationError(
            "metadata", f"'metadata' has {len(value)} keys (at most {MAX_METADATA_KEYS})"
        )
    for key, item in value.items():
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_METADATA_KEY:
            raise ValidationError(
                "metadata",
                f"'metadata' keys must be 1-{MAX_METADATA_KEY} character strings "
                f"(got {shorten(key)})",
            )
        if not isinstance(item, str) or len(item) > MAX_METADATA_VALUE:
            raise ValidationError(
                "metadata",
                f"'metadata' value for {shorten(key)} must be a string of at most "
                f"{MAX_METADATA_VALUE} characters (got {shorten(item)})",
            )
        problem = text_problem(key) or text_problem(item)
        if problem is not None:
            raise ValidationError("metadata", f"'metadata' entry {shorten(key)} {problem}")
    return dict(value)


def check_bool(field: str) -> Callable[[Any, Any, Any], None]:
    def check(_: object, __: object, value: object) -> None:
        if not isinstance(value, bool):
            raise ValidationError(field, f"{field!r} must be true or false (got {shorten(value)})")

    return check


def seconds(value: timedelta | None) -> int | float | None:
    if value is None:
        return None
    seconds = value.total_seconds()
    return int(seconds) if seconds.is_integer() else seconds


def optional_instant_text(value: datetime | None) -> str | None:
    return None if value is None else format_instant(value)


def object_tag(expected: str) -> Callable[[Any, Any, Any], None]:
    def check(_: object, __: object, value: object) -> None:
        if value != expected:
            raise ValidationError("object", f"'object' must be {expected!r} (got {shorten(value)})")

    return check


def check_backoff(field: str) -> Callable[[Any, Any, Any], None]:
    def check(_: object, __: object, value: object) -> None:
        check_duration(field, value, timedelta(0))

    return check


def parse_seconds(value: object, field: str) -> timedelta:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(
            field, f"{field!r} must be a number of seconds (got {shorten(value)})"
        )
    try:
        return timedelta(seconds=value)
    except (OverflowError, ValueError):
        raise ValidationError(field, f"{field!r} is out of range (got {shorten(value)})") from None


_FIELD_NAMES: dict[type, frozenset[str]] = {}


def field_names(kind: type) -> frozenset[str]:
    """The names of an attrs record class's fields, found once."""
    names = _FIELD_NAMES.get(kind)
    if names is None:
        names = _FIELD_NAMES[kind] = frozenset(f.name for f in attrs.fields(kind))
    return names


def record_values(
    kind: type,
    data: object,
    label: str,
    *,
    required: tuple[str, ...],
    instants: tuple[str, ...],
    ignored: frozenset[str] | set[str] = frozenset(),
) -> dict[str, Any]:
    """The fields of a record's JSON shape, checked (an object, no unknown field, the
    required ones present) and with its instants parsed; the constructor checks the rest."""
    if not isinstance(data, Mapping):
        raise ValidationError(label, f"a {label} must be an object (got {shorten(data)})")
    fields = field_names(kind)
    unknown = data.keys() - fields
    if unknown and (unknown := unknown - ignored):
        first = sorted(unknown, key=str)[0]
        raise ValidationError(str(first), f"unknown field {shorten(first)} in a {label}")
    values: dict[str, Any] = {k: v for k, v in data.items() if k in fields}
    for key in required:
        if key not in values:
            raise ValidationError(key, f"{key!r} is required")
    for key in instants:
        if values.get(key) is not None:
            values[key] = parse_instant(values[key], key)
    return values
