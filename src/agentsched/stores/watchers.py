"""`Watchers`: the callbacks of `Store.watch`, for stores that notify in-process."""

from __future__ import annotations

import threading
from collections.abc import Callable

from .._log import log

__all__ = ["Watchers"]


class Watchers:
    """A thread-safe set of callbacks, each called on `notify`; one that raises is logged."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._callbacks: dict[int, Callable[[], None]] = {}
        self._next = 0

    def add(self, callback: Callable[[], None]) -> Callable[[], None]:
        with self._lock:
            key = self._next
            self._next += 1
            self._callbacks[key] = callback

        def remove() -> None:
            with self._lock:
                self._callbacks.pop(key, None)

        return remove

    def notify(self) -> None:
        if not self._callbacks:
            return
        with self._lock:
            callbacks = list(self._callbacks.values())
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("a store watcher failed")
