"""Drive APScheduler 3.x by hand: its own dispatch (`_process_jobs`), our clock.

Shared by the benchmarks. `ManualScheduler` has no thread; `freeze(at)` makes
the modules that read the time (dispatch, and the executor's misfire check)
see `at`; `unfreeze()` restores the real clock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import apscheduler.executors.base as aps_executors
import apscheduler.schedulers.base as aps_base
from apscheduler.events import EVENT_JOB_EXECUTED
from apscheduler.schedulers.base import BaseScheduler


class ManualScheduler(BaseScheduler):
    """APScheduler's own dispatch, with no thread: the benchmark calls it."""

    def wakeup(self) -> None:
        return None

    def shutdown(self, wait: bool = True) -> None:
        super().shutdown(wait)


class _FrozenDatetime(datetime):
    now_value: datetime = datetime(2026, 1, 1)

    @classmethod
    def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
        return cls.now_value if tz is None else cls.now_value.astimezone(tz)


def freeze(at: datetime) -> None:
    """Make APScheduler see `at` as the current time."""
    aps_base.datetime = _FrozenDatetime  # type: ignore[misc]
    aps_executors.datetime = _FrozenDatetime  # type: ignore[attr-defined]
    _FrozenDatetime.now_value = at


def unfreeze() -> None:
    """Give APScheduler the real clock back."""
    aps_base.datetime = datetime  # type: ignore[misc]
    aps_executors.datetime = datetime  # type: ignore[attr-defined]


def process_at(sched: ManualScheduler, at: datetime) -> int:
    """Run one dispatch round at `at`; returns how many jobs were executed."""
    fired = 0

    def count(event: Any) -> None:
        nonlocal fired
        fired += 1

    sched.add_listener(count, mask=EVENT_JOB_EXECUTED)
    freeze(at)
    sched._process_jobs()
    sched.remove_listener(count)
    return fired
