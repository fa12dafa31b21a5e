"""Instants: ISO 8601 in and out, the 1970-9999 bound, and arithmetic that stays in it.

Every instant agentsched accepts is aware and within years 1970-9999 (UTC).
Adding a duration to one may pass the end of year 9999, which Python's
`datetime` cannot represent: the firing path adds through `later`, which
stops at `LAST_INSTANT` instead of raising. Subtracting a bounded duration
(at most 366 days) from an instant in range never overflows, as Python's
datetimes reach back to year 1.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from .errors import ValidationError, shorten

__all__ = [
    "FIRST_INSTANT",
    "LAST_INSTANT",
    "format_instant",
    "later",
    "parse_instant",
    "require_aware",
    "require_instant",
]

_MAX_ISO_LENGTH = 64
FIRST_INSTANT = datetime(1970, 1, 1, tzinfo=timezone.utc)
LAST_INSTANT = datetime.max.replace(tzinfo=timezone.utc)


def later(instant: datetime, delta: timedelta) -> datetime:
    """`instant + delta`, or `LAST_INSTANT` when that is past it: a lease, a timeout
    deadline, a jittered fire or a retry due after the end of year 9999 falls due at
    its last microsecond instead of raising `OverflowError` in the firing loop."""
    try:
        return instant + delta
    except OverflowError:
        return LAST_INSTANT


def require_aware(value: object, field: str) -> datetime:
    """`value` as an aware UTC datetime; `ValidationError` naming `field` otherwise."""
    if not isinstance(value, datetime):
        raise ValidationError(field, f"{field!r} must be a datetime (got {shorten(value)})")
    try:
        offset = value.utcoffset()
    except (TypeError, ValueError):  # a tzinfo whose utcoffset is not a valid offset
        raise ValidationError(
            field, f"{field!r} has a time zone with no valid UTC offset (got {shorten(value)})"
        ) from None
    if offset is None:
        raise ValidationError(
            field, f"{field!r} must be timezone-aware (got naive {value.isoformat()})"
        )
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:
        raise ValidationError(
            field, f"{field!r} is out of range in UTC (got {value.isoformat()})"
        ) from None


def require_instant(value: object, field: str) -> datetime:
    """`require_aware`, and within years 1970-9999 (UTC), so no arithmetic on it overflows
    unnoticed and no schedule is silently completed for being out of range."""
    instant = require_aware(value, field)
    if instant < FIRST_INSTANT:
        raise ValidationError(
            field, f"{field!r} must be in 1970-9999 (got {format_instant(instant)})"
        )
    return instant


_TEXTS: dict[datetime, str] = {}  # recent instants' texts: a burst writes the same few
_MAX_TEXTS = 4096


def format_instant(value: datetime) -> str:
    """`2026-01-05T09:00:00Z` (with microseconds only when there are some)."""
    text = _TEXTS.get(value)
    if text is None:
        text = value.astimezone(timezone.utc).replace(tzinfo=None).isoformat() + "Z"
        if len(_TEXTS) >= _MAX_TEXTS:
            _TEXTS.clear()
        _TEXTS[value] = text
    return text


_PARSED: dict[str, datetime] = {}  # recent texts' instants: rows read together share a few
_MAX_PARSED = 4096


def parse_instant(value: object, field: str) -> datetime:
    """Parse an ISO 8601 instant with `Z` or an explicit offset into aware UTC."""
    if isinstance(value, datetime):
        return require_instant(value, field)
    if not isinstance(value, str):
        return _parse_instant(value, field)  # raises, naming the field
    found = _PARSED.get(value)
    if found is None:
        found = _parse_instant(value, field)
        if len(_PARSED) >= _MAX_PARSED:
            _PARSED.clear()
        _PARSED[value] = found
    return found


def _parse_instant(value: object, field: str) -> datetime:
    if not isinstance(value, str) or len(value) > _MAX_ISO_LENGTH:
        raise ValidationError(
            field, f"{field!r} must be an ISO 8601 timestamp string (got {shorten(value)})"
        )
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            field, f"{field!r} is not an ISO 8601 timestamp (got {shorten(value)})"
        ) from None
    if parsed.tzinfo is None:
        raise ValidationError(
            field, f"{field!r} must carry 'Z' or a UTC offset (got {shorten(value)})"
        )
    return require_instant(parsed, field)
