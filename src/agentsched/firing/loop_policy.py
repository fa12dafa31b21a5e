"""`LoopPolicy`: what the background loop of either scheduler decides, written once.

The loop ticks, sleeps until the next wake (the store's next due time, a
timeout deadline, a lease renewal, at most `MAX_SLEEP`), wakes at once when a
write may make work due sooner, backs off after a failed tick, and ends when
told to stop. `Scheduler` runs `turn` in its loop thread and `AsyncScheduler`
in a worker thread from its loop task; each only says how to sleep.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from .._log import log
from ..clock import Clock
from ..stores.base import Store
from .core import FiringCore

__all__ = ["LoopPolicy"]


def _nothing() -> None:
    pass


class LoopPolicy:
    """When the loop ticks, how long it sleeps, and when it stops.

    `wake` wakes the shell's sleeping loop; the store calls it after each
    write while the loop runs (`Store.watch`).
    """

    def __init__(
        self, core: FiringCore, store: Store, clock: Clock, wake: Callable[[], None]
    ) -> None:
        self._core = core
        self._store = store
        self._clock = clock
        self._wake = wake
        self._stopping = True
        self._failures = 0
        self._unwatch: Callable[[], None] = _nothing

    @property
    def running(self) -> bool:
        """Whether the loop should take another turn (from `open` until `close`)."""
        return not self._stopping

    def open(self) -> None:
        """The loop starts: a write to the store from now on wakes it."""
        self._stopping = False
        self._failures = 0
        self._unwatch = self._store.watch(self._wake)

    def close(self) -> None:
        """Stop claiming: the loop ends after the turn it is in (a sleeping one is woken
        to see it), and writes no longer wake it."""
        self._unwatch()
        self._unwatch = _nothing
        self._stopping = True
        self._wake()

    def turn(self) -> datetime | None:
        """One turn, blocking on the store: tick at the clock's now, then say when to wake
        for the next one, or None when the loop must end.

        A failed tick is logged and tried again after a backoff (0.2 s, doubling
        up to 30 s): whatever the store or a handler does, the loop never dies.
        """
        try:
            self._core.tick(self._clock.now())
            self._failures = 0
        except Exception:
            self._failures += 1
            log.exception("tick failed (attempt %d); retrying", self._failures)
        if self._stopping:
            return None
        return self._core.next_wake(self._clock.now(), self._failures)
