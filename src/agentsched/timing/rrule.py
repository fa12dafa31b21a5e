"""RFC 5545 recurrence rules as a wall-time pattern for `zones.walk`.

dateutil generates the occurrences (local wall times from a naive DTSTART);
this module adds a forward cursor so that a chain of next-fire queries costs
O(1) each instead of replaying the rule from DTSTART every time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

from dateutil.rrule import rrule

from .zones import MAX_INSTANT, ONE_SECOND

__all__ = ["WALL_EPOCH", "RRuleCursor", "wall_seconds"]

WALL_EPOCH = datetime(1970, 1, 1)


def wall_seconds(value: datetime) -> int:
    """Whole seconds since 1970-01-01 00:00 of a naive wall time."""
    return (value - WALL_EPOCH) // ONE_SECOND


class RRuleCursor:
    """`next_wall(lo)` over an rrule, remembering where the last query ended."""

    def __init__(self, rule: rrule) -> None:
        self._rule = rule
        self._lock = threading.Lock()
        self._last_lo: int | None = None
        self._current: int | None = None
        self._iterator: Iterator[datetime] = iter(())

    def _advance(self) -> int | None:
        occurrence = next(self._iterator, None)
        return None if occurrence is None else wall_seconds(occurrence)

    def next_wall(self, lo: int) -> int | None:
        """The first occurrence whose wall time is `>= lo`, or None."""
        if lo >= MAX_INSTANT:
            return None
        with self._lock:
            if self._last_lo is None or lo < self._last_lo:
                start = WALL_EPOCH + timedelta(seconds=lo)
                self._iterator = self._rule.xafter(start, inc=True)
                self._current = self._advance()
            while self._current is not None and self._current < lo:
                self._current = self._advance()
            self._last_lo = lo
            return self._current
