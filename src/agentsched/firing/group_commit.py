"""Group commit: outcomes finished in many threads at once share one store write.

A thread that finishes a run hands its item to a `GroupWriter`. If no write
is under way, the thread writes at once (a batch of one: no added latency).
If one is, the item waits; when that write ends, the first waiting thread
becomes the writer and takes everything that arrived meanwhile in one call.
Under load a store then commits once per group instead of once per run,
which is what lets a pool of handler threads keep up with a store whose
commit costs a disk flush (PostgreSQL, SQLite).

Each thread gets back only its own item's result, or the exception the write
raised, and does its own follow-up (logging, events) itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["GroupWriter"]

T = TypeVar("T")
R = TypeVar("R")


class _Slot(Generic[T, R]):
    """One thread's item, and how it comes back to that thread."""

    __slots__ = ("done", "error", "gone", "item", "lead", "result")

    def __init__(self, item: T) -> None:
        self.item = item
        self.result: R | None = None
        self.error: BaseException | None = None
        self.lead = False  # handed the writer's role rather than a result
        self.gone = False  # its thread was interrupted: the item waits, nobody for it
        self.done: threading.Event | None = None


class GroupWriter(Generic[T, R]):
    """Calls `write(items)` (one result per item, in order) for items submitted by
    concurrent threads, one call at a time, each call taking all that waits.

    A thread interrupted while it waits or writes (KeyboardInterrupt, SystemExit)
    leaves with that exception, but its item, and those of the group it was
    writing, stay queued for the next writer: an interrupt in one thread
    never loses or fails another thread's item.
    """

    def __init__(self, write: Callable[[list[T]], Sequence[R]]) -> None:
        self._write = write
        self._lock = threading.Lock()
        self._waiting: list[_Slot[T, R]] = []
        self._writing = False

    def submit(self, item: T) -> R:
        """Write `item` (with whatever else is waiting) and return its result; raises
        what the write raised."""
        slot: _Slot[T, R] = _Slot(item)
        with self._lock:
            self._waiting.append(slot)
            if self._writing:
                slot.done = threading.Event()
            else:
                self._writing = True
        if slot.done is not None:
            try:
                slot.done.wait()
            except BaseException:
                self._leave(slot)
                raise
            if slot.lead:
                self._lead(slot)
        else:
            self._lead(slot)
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]  # set by the write of its group

    def _lead(self, own: _Slot[T, R]) -> None:
        """Write everything waiting, then hand the role to the first that arrived since."""
        with self._lock:
            group, self._waiting = self._waiting, []
        try:
            results = self._write([slot.item for slot in group])
            for slot, result in zip(group, results, strict=True):
                slot.result = result
        except Exception as error:  # the write failed: every thread of the group hears
            for slot in group:
                slot.error = error
        except BaseException:  # this thread is interrupted: the group goes back in line
            own.gone = True
            with self._lock:
                self._waiting[:0] = group
            group = []
            raise
        finally:
            with self._lock:
                successor = self._successor()
            for slot in group:
                if slot.done is not None:
                    slot.done.set()
            if successor is not None and successor.done is not None:
                successor.done.set()

    def _leave(self, slot: _Slot[T, R]) -> None:
        """Its thread stops waiting: the item stays queued, and the writer's role, if it
        had just been handed it, goes on."""
        with self._lock:
            slot.gone = True
            successor = self._successor() if slot.lead else None
        if successor is not None and successor.done is not None:
            successor.done.set()

    def _successor(self) -> _Slot[T, R] | None:
        """With the lock held, once a write is over: the waiting thread that writes next,
        or None, the role then free (for the next `submit`, which takes what waits)."""
        successor = next((slot for slot in self._waiting if not slot.gone), None)
        if successor is None:
            self._writing = False
        else:
            successor.lead = True
        return successor
