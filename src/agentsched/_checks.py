"""Checks shared by specs, records and the scheduler: text and durations.

Every check raises `ValidationError` naming the field, so that bad input is
refused before anything is stored. Text must survive every store: UTF-8
encodable (no lone surrogates) and free of NUL, which PostgreSQL refuses and
C-based tools truncate at. Durations are bounded (366 days) so that
`now - catchup_window` never overflows and a sum such as `started + timeout`
can pass only the end of year 9999, where `_instants.later` stops it.
"""

from __future__ import annotations

import threading
from datetime import timedelta

from .errors import ValidationError, shorten

__all__ = [
    "MAX_DURATION",
    "check_duration",
    "check_seconds",
    "check_text",
    "clean_text",
    "text_problem",
]

MAX_DURATION = timedelta(days=366)


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored (a NUL or a lone surrogate), or None if it can."""
    if "\x00" in value:
        return "contains a NUL character"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            return f"contains a lone surrogate {value[exc.start]!r} (not valid Unicode text)"
    return None


def check_text(field: str, value: object, low: int, high: int) -> str:
    """`value` if it is a storable string of `low`-`high` characters."""
    if not isinstance(value, str):
        raise ValidationError(field, f"{field!r} must be a string (got {shorten(value)})")
    if not low <= len(value) <= high:
        raise ValidationError(
            field, f"{field!r} must be {low}-{high} characters (got {len(value)})"
        )
    problem = text_problem(value)
    if problem is not None:
        raise ValidationError(field, f"{field!r} {problem}")
    return value


def clean_text(value: str) -> str:
    """`value` with NUL and lone surrogates replaced by U+FFFD (for text we must keep)."""
    if text_problem(value) is None:
        return value
    repaired = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return repaired.replace("\x00", "\ufffd")


def check_duration(
    field: str, value: object, minimum: timedelta, maximum: timedelta = MAX_DURATION
) -> timedelta:
    """`value` if it is a timedelta in `minimum`-`maximum` (366 days unless told)."""
    if not isinstance(value, timedelta):
        raise ValidationError(field, f"{field!r} must be a timedelta (got {shorten(value)})")
    if not minimum <= value <= maximum:
        raise ValidationError(
            field,
            f"{field!r} must be between {_human(minimum)} and {_human(maximum)} "
            f"(got {_human(value)})",
        )
    return value


def check_seconds(field: str, value: object) -> float | None:
    """`value` if it is None or a number of seconds a thread can wait: 0 to
    `threading.TIMEOUT_MAX` (past it, waiting raises `OverflowError`)."""
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 <= value <= threading.TIMEOUT_MAX
    ):
        raise ValidationError(
            field,
            f"{field!r} must be 0 to {threading.TIMEOUT_MAX:g} seconds, or None "
            f"(got {shorten(value)})",
        )
    return float(value)


def _human(delta: timedelta) -> str:
    """`366 days`, `1 second`, `-5 seconds`, `0.5 seconds`: no `-1 day, 23:59:55`."""
    seconds = delta.total_seconds()
    if seconds and seconds % 86400 == 0:
        days = int(seconds // 86400)
        return f"{days} day{'' if abs(days) == 1 else 's'}"
    text = f"{seconds:g}" if abs(seconds) < 1e15 else f"{seconds:.3g}"
    return f"{text} second{'' if seconds == 1 else 's'}"
