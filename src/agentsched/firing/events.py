"""Events: what happened to a schedule or a run, delivered after the store write.

`Scheduler.subscribe(callback, kinds=None)` returns a function that
unsubscribes. A callback that raises is logged and never affects firing.
With nobody subscribed, emitting costs one truth test.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import attrs

from .._instants import format_instant
from .._log import fields, log
from ..errors import ValidationError, shorten
from ..model import Run, RunStatus, Schedule

__all__ = ["EVENT_KINDS", "RUN_ENDS", "Event", "EventHub"]

EVENT_KINDS = frozenset(
    {
        "schedule.created",
        "schedule.updated",
        "schedule.paused",
        "schedule.resumed",
        "schedule.completed",
        "schedule.deleted",
        "run.started",
        "run.succeeded",
        "run.failed",
        "run.skipped",
        "run.missed",
        "run.retrying",
    }
)

RUN_ENDS = {
    RunStatus.SUCCEEDED: "run.succeeded",
    RunStatus.FAILED: "run.failed",
    RunStatus.SKIPPED: "run.skipped",
    RunStatus.MISSED: "run.missed",
}


@attrs.frozen
class Event:
    """One thing that happened: `kind`, when (`at`), to which schedule and run, and a
    snapshot of the records as written."""

    kind: str
    at: datetime
    schedule_id: str
    run_id: str | None = None
    schedule: Schedule | None = None
    run: Run | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON shape: the records in their own `to_dict()` shapes."""
        return {
            "kind": self.kind,
            "at": format_instant(self.at),
            "schedule_id": self.schedule_id,
            "run_id": self.run_id,
            "schedule": None if self.schedule is None else self.schedule.to_dict(),
            "run": None if self.run is None else self.run.to_dict(),
        }


Callback = Callable[[Event], Any]
Deliver = Callable[[Callback, Event], None]


def _call(callback: Callback, event: Event) -> None:
    callback(event)


class EventHub:
    """Subscribers, and delivery of events to them; thread-safe.

    `deliver(callback, event)` is how a shell calls a subscriber (`Scheduler`
    directly; `AsyncScheduler` on its event loop, awaiting async callbacks).
    """

    def __init__(self, deliver: Deliver = _call) -> None:
        self._deliver = deliver
        self._lock = threading.Lock()
        self._subscribers: dict[int, tuple[Callback, frozenset[str] | None, bool]] = {}
        self._next = 0

    def subscribe(
        self, callback: Callback, kinds: Iterable[str] | None = None, immediate: bool = False
    ) -> Callable[[], None]:
        """Call `callback(event)` for each event of `kinds` (all when None).

        `immediate` callbacks run in the thread that made the write, whatever the
        shell (for instrumentation that must see `run.started` before the handler).
        """
        if not callable(callback):
            raise ValidationError(
                "callback", f"'callback' must be callable (got {shorten(callback)})"
            )
        wanted = None if kinds is None else frozenset(kinds)
        if wanted is not None and not wanted <= EVENT_KINDS:
            unknown = sorted(wanted - EVENT_KINDS)[0]
            raise ValidationError(
                "kinds",
                f"unknown event kind {shorten(unknown)} (known: {', '.join(sorted(EVENT_KINDS))})",
            )
        with self._lock:
            key = self._next
            self._next += 1
            self._subscribers[key] = (callback, wanted, immediate)

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers.pop(key, None)

        return unsubscribe

    def __bool__(self) -> bool:
        return bool(self._subscribers)

    def emit(
        self,
        kind: str,
        at: datetime,
        schedule: Schedule | None = None,
        run: Run | None = None,
    ) -> None:
        """Deliver one event to its subscribers (call only after the write it describes)."""
        if not self._subscribers:
            return
        with self._lock:
            targets = [
                (callback, immediate)
                for callback, kinds, immediate in self._subscribers.values()
                if kinds is None or kind in kinds
            ]
        if not targets:
            return
        schedule_id = schedule.id if schedule is not None else run.schedule_id if run else ""
        event = Event(kind, at, schedule_id, None if run is None else run.id, schedule, run)
        for callback, immediate in targets:
            try:
                (_call if immediate else self._deliver)(callback, event)
            except Exception:
                log.exception("an event callback failed on %s", kind, extra=fields(schedule, run))
