"""Clocks: the only place agentsched reads the time.

Everything else takes "now" as an argument. `FakeClock` lets tests (ours and
yours) drive time by hand, with no sleeping.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Protocol, runtime_checkable

from ._datetimes import require_aware
from .errors import ValidationError, shorten

__all__ = ["Clock", "FakeClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """A source of the current time."""

    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The real time, from the operating system."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class FakeClock:
    """A clock that only moves when told to; thread-safe.

    >>> clock = FakeClock(datetime(2026, 1, 5, 9, tzinfo=timezone.utc))
    >>> clock.advance(timedelta(minutes=5))
    >>> clock.now()
    datetime.datetime(2026, 1, 5, 9, 5, tzinfo=datetime.timezone.utc)
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = require_aware(
            start if start is not None else datetime(2026, 1, 1, tzinfo=timezone.utc), "start"
        )
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> None:
        """Move forward by `delta` (which must not be negative)."""
        if not isinstance(delta, timedelta) or delta < timedelta(0):
            raise ValidationError(
                "delta", f"'delta' must be a non-negative timedelta (got {shorten(delta)})"
            )
        with self._lock:
            self._now += delta

    def set(self, moment: datetime) -> None:
        """Jump to `moment` (aware; may go backwards, to test clock steps)."""
        value = require_aware(moment, "moment")
        with self._lock:
            self._now = value
