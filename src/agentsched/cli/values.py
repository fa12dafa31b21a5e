"""Reading the text of an option into the value it spells.

Each reader takes the text and the option's dest, and raises a
`ValidationError` naming that dest when the text spells no value of its
kind; `parser.in_flags` words it with the flag the user typed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from .._checks import MAX_DURATION, check_text
from .._instants import require_instant
from ..errors import ValidationError, shorten
from ..model.specs import Once
from ..timing.zones import load_zone

__all__ = [
    "aware_instant",
    "duration_or_zero",
    "handler_target",
    "host_name",
    "how_many",
    "key_values",
    "local_instant",
    "one_of",
    "parse_duration",
    "port_number",
    "positive_duration",
    "wall_time",
    "whole_number",
    "zone_name",
]

_MAX_COUNT = 1000
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|d|h|m|s)", re.IGNORECASE)
_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def _duration_seconds(text: str) -> float | None:
    """The seconds `text` spells (`90m`, `1h30m`, `45s`, `2d`, `500ms`, a number; a
    leading `-` negates), or None when it spells no duration."""
    stripped = text.strip()
    try:
        return float(stripped)
    except ValueError:
        pass
    sign, body = (-1.0, stripped[1:]) if stripped.startswith("-") else (1.0, stripped)
    parts = _DURATION.findall(body)
    if not parts or _DURATION.sub("", body).strip():
        return None
    return sign * sum(float(n) * _UNITS[u.lower()] for n, u in parts)


def parse_duration(text: str, field: str = "duration", *, zero_ok: bool = False) -> timedelta:
    """`90m`, `1h30m`, `45s`, `2d`, `500ms` or a number of seconds, as a timedelta.

    Positive (or zero, with `zero_ok`) and at most 366 days; anything else is
    a `ValidationError` naming `field`.
    """
    seconds = _duration_seconds(text)
    if seconds is None:
        raise ValidationError(
            field, f"{field!r} is not a duration (got {shorten(text)}; try 90m, 1h30m, 45s, 2d)"
        )
    if not (seconds >= 0 if zero_ok else seconds > 0):  # also refuses NaN
        wanted = "zero or more" if zero_ok else "positive"
        raise ValidationError(field, f"{field!r} must be {wanted} (got {shorten(text)})")
    if seconds > MAX_DURATION.total_seconds():
        raise ValidationError(field, f"{field!r} must be at most 366 days (got {shorten(text)})")
    return timedelta(seconds=seconds)


def positive_duration(text: str, field: str) -> timedelta:
    return parse_duration(text, field)


def duration_or_zero(text: str, field: str) -> timedelta:
    return parse_duration(text, field, zero_ok=True)


def wall_time(text: str, field: str) -> datetime:
    """An ISO 8601 date-time, naive or with `Z` or an offset."""
    try:
        return datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise ValidationError(
            field, f"{field!r} is not an ISO 8601 date-time (got {shorten(text)})"
        ) from None


def whole_number(text: str, field: str) -> int:
    try:
        return int(text)
    except ValueError:  # also a number of more digits than int() reads
        raise ValidationError(
            field, f"{field!r} must be a whole number (got {shorten(text)})"
        ) from None


def how_many(text: str, field: str) -> int:
    """How many to show: 1-1000."""
    value = whole_number(text, field)
    if not 1 <= value <= _MAX_COUNT:
        raise ValidationError(field, f"{field!r} must be 1-{_MAX_COUNT} (got {value})")
    return value


def port_number(text: str, field: str) -> int:
    value = whole_number(text, field)
    if not 0 <= value <= 65535:
        raise ValidationError(field, f"{field!r} must be 0-65535 (got {value})")
    return value


def zone_name(text: str, field: str) -> str:
    """An IANA zone name, checked even where no wall time is read in it (`--every`
    without `--start-at`), so that a misspelt zone is never silently ignored."""
    load_zone(text, field)
    return text


def host_name(text: str, field: str) -> str:
    return check_text(field, text, 1, 255)


def one_of(*choices: str) -> Callable[[str, str], str]:
    def read(text: str, field: str) -> str:
        if text not in choices:
            raise ValidationError(
                field, f"{field!r} must be one of {', '.join(choices)} (got {shorten(text)})"
            )
        return text

    return read


def handler_target(text: str, field: str) -> str:
    """`module:function`; loaded by the command once every other value is read."""
    module_name, sep, attribute = text.partition(":")
    if not sep or not module_name or not attribute:
        raise ValidationError(
            field, f"{field!r} must look like module:function (got {shorten(text)})"
        )
    return text


def key_values(pairs: Sequence[str], field: str) -> dict[str, str]:
    metadata = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValidationError(
                field, f"{field!r} entries look like key=value (got {shorten(pair)})"
            )
        metadata[key] = value
    return metadata


def aware_instant(value: datetime, field: str) -> datetime:
    """An option that names an instant: it must carry `Z` or an offset."""
    if value.tzinfo is None:
        raise ValidationError(
            field, f"{field!r} must carry 'Z' or a UTC offset (got {value.isoformat()!r})"
        )
    return require_instant(value, field)


def local_instant(value: datetime, zone: str, field: str) -> datetime:
    """An instant given with an offset, or a naive wall time read in `zone` as `--once`
    reads it (the first of a repeated time; the end of a spring-forward gap)."""
    if value.tzinfo is not None:
        return require_instant(value, field)
    try:
        return Once(value, zone).run_at
    except ValidationError as exc:
        if exc.field != "run_at":
            raise
        raise ValidationError(
            field, f"{field!r} must be in 1970-9999 (got {value.isoformat()!r})"
        ) from None
