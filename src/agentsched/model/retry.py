"""`Retry`, how failed runs are retried, and `PendingRetry`, a retry waiting for its time."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

from .._instants import format_instant, parse_instant
from ..errors import ValidationError, shorten
from .limits import MAX_ATTEMPTS
from .validators import aware, check_backoff, count, in_utc, parse_seconds, seconds

__all__ = ["PendingRetry", "Retry"]

_MICROSECOND = timedelta(microseconds=1)


@attrs.frozen
class Retry:
    """How a failed scheduled run is retried: up to `attempts` attempts in all (the first
    included), each a new run with the same `scheduled_for`, after `backoff` doubling
    per attempt up to `max_backoff`."""

    attempts: int = attrs.field(default=3, validator=count("retry.attempts", 1, high=MAX_ATTEMPTS))
    backoff: timedelta = attrs.field(
        default=timedelta(seconds=30), validator=check_backoff("retry.backoff")
    )
    max_backoff: timedelta = attrs.field(
        default=timedelta(minutes=10), validator=check_backoff("retry.max_backoff")
    )

    def __attrs_post_init__(self) -> None:
        if self.max_backoff < self.backoff:
            raise ValidationError(
                "retry.max_backoff",
                f"'retry.max_backoff' ({self.max_backoff}) is less than 'retry.backoff' "
                f"({self.backoff})",
            )

    def delay(self, failed_attempt: int) -> timedelta:
        """How long after attempt `failed_attempt` failed the next one starts.

        Doubled in whole microseconds, where a `timedelta` would overflow; past 64
        doublings any non-zero backoff is beyond `max_backoff` (at most 366 days)."""
        doubled = (self.backoff // _MICROSECOND) << min(max(failed_attempt - 1, 0), 64)
        return timedelta(microseconds=min(doubled, self.max_backoff // _MICROSECOND))

    def to_dict(self) -> dict[str, Any]:
        return {
            "attempts": self.attempts,
            "backoff": seconds(self.backoff),
            "max_backoff": seconds(self.max_backoff),
        }

    @classmethod
    def from_dict(cls, data: object) -> Retry:
        if not isinstance(data, Mapping):
            raise ValidationError("retry", f"'retry' must be an object (got {shorten(data)})")
        unknown = sorted(set(data) - {"attempts", "backoff", "max_backoff"}, key=str)
        if unknown:
            raise ValidationError("retry", f"unknown field {shorten(unknown[0])} in 'retry'")
        defaults = cls()
        return cls(
            attempts=data.get("attempts", defaults.attempts),
            backoff=parse_seconds(data.get("backoff", 30), "retry.backoff"),
            max_backoff=parse_seconds(data.get("max_backoff", 600), "retry.max_backoff"),
        )


@attrs.frozen
class PendingRetry:
    """A retry waiting for its time: the next attempt of the fire at `scheduled_for`."""

    attempt: int = attrs.field(validator=count("pending_retry.attempt", 2, high=MAX_ATTEMPTS))
    scheduled_for: datetime = attrs.field(
        validator=aware("pending_retry.scheduled_for", optional=False)
    )
    at: datetime = attrs.field(validator=aware("pending_retry.at", optional=False))

    def __attrs_post_init__(self) -> None:
        in_utc(self, ("scheduled_for", "at"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "attempt": self.attempt,
            "scheduled_for": format_instant(self.scheduled_for),
            "at": format_instant(self.at),
        }

    @classmethod
    def from_dict(cls, data: object) -> PendingRetry:
        if not isinstance(data, Mapping):
            raise ValidationError(
                "pending_retry", f"'pending_retry' must be an object (got {shorten(data)})"
            )
        attempt: Any = data.get("attempt")  # the constructor checks it
        return cls(
            attempt,
            parse_instant(data.get("scheduled_for"), "pending_retry.scheduled_for"),
            parse_instant(data.get("at"), "pending_retry.at"),
        )
