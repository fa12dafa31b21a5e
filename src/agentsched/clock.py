"""Clocks: the only place agentsched reads the time, or waits for it.

Everything else takes "now" as an argument. A scheduler's background loop
sleeps through its clock (`wait_until`), so `FakeClock` drives `start()`
as well as `tick()`: moving the fake time wakes every loop waiting on it,
with no real sleeping in tests (ours and yours).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from datetime import datetime, timedelta, timezone
from typing import Protocol, runtime_checkable

from ._instants import require_aware
from .errors import ValidationError, shorten

__all__ = ["Clock", "FakeClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """A source of the current time that can also wait for a later one."""

    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...

    def wait_until(self, deadline: datetime | None, wake: threading.Event) -> None:
        """Block until `deadline` (None: no deadline) or until `wake` is set.

        May return early (a spurious wake is harmless: the caller re-checks).
        """
        ...

    async def wait_until_async(self, deadline: datetime | None, wake: asyncio.Event) -> None:
        """`wait_until` for a coroutine on the running event loop."""
        ...


class SystemClock:
    """The real time, from the operating system."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def wait_until(self, deadline: datetime | None, wake: threading.Event) -> None:
        wake.wait(self._seconds_until(deadline))

    async def wait_until_async(self, deadline: datetime | None, wake: asyncio.Event) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(wake.wait(), self._seconds_until(deadline))

    def _seconds_until(self, deadline: datetime | None) -> float | None:
        if deadline is None:
            return None
        return max((deadline - self.now()).total_seconds(), 0.0)


class FakeClock:
    """A clock that only moves when told to; thread-safe.

    Code waiting on it (a scheduler's loop) wakes whenever it is moved, and
    goes back to sleep if its deadline has not come yet.

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
        self._sleepers: set[threading.Event] = set()
        self._async_sleepers: dict[asyncio.Event, asyncio.AbstractEventLoop] = {}

    def now(self) -> datetime:
        return self._now  # one reference, swapped whole by advance and set

    def advance(self, delta: timedelta) -> None:
        """Move forward by `delta` (which must not be negative)."""
        if not isinstance(delta, timedelta) or delta < timedelta(0):
            raise ValidationError(
                "delta", f"'delta' must be a non-negative timedelta (got {shorten(delta)})"
            )
        with self._lock:
            self._now += delta
        self._wake_sleepers()

    def set(self, moment: datetime) -> None:
        """Jump to `moment` (aware; may go backwards, to test clock steps)."""
        value = require_aware(moment, "moment")
        with self._lock:
            self._now = value
        self._wake_sleepers()

    def wait_until(self, deadline: datetime | None, wake: threading.Event) -> None:
        with self._lock:
            if deadline is not None and self._now >= deadline:
                return
            self._sleepers.add(wake)
        try:
            wake.wait()
        finally:
            with self._lock:
                self._sleepers.discard(wake)

    async def wait_until_async(self, deadline: datetime | None, wake: asyncio.Event) -> None:
        with self._lock:
            if deadline is not None and self._now >= deadline:
                return
            self._async_sleepers[wake] = asyncio.get_running_loop()
        try:
            await wake.wait()
        finally:
            with self._lock:
                self._async_sleepers.pop(wake, None)

    def _wake_sleepers(self) -> None:
        with self._lock:
            sleepers = list(self._sleepers)
            async_sleepers = list(self._async_sleepers.items())
        for event in sleepers:
            event.set()
        for async_event, loop in async_sleepers:
            if not loop.is_closed():
                loop.call_soon_threadsafe(async_event.set)
