"""Drive APScheduler 3.x by hand: its own dispatch (`_process_jobs`), our clock.

Shared by the benchmarks. `ManualScheduler` has no thread; `freeze(at)` makes
the modules that read the time (dispatch, and the executor's misfire check)
see `at`; `unfreeze()` restores the real clock (the background-loop
benchmarks need it). `manual(jobstore)` makes one the way every benchmark
uses it: `DebugExecutor` (jobs run synchronously in the dispatching thread,
like agentsched's `InlineExecutor`), UTC, a one-hour misfire grace time and
coalescing (agentsched's default catch-up window and coalescing).

Large SQL job stores are filled with `job_state` + `job_rows`: the pickled
rows `add_job` writes, cloned with other ids, triggers and run times, and
inserted directly (APScheduler has no bulk insert).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from typing import Any

import apscheduler.executors.base as aps_executors
import apscheduler.schedulers.base as aps_base
from apscheduler.events import EVENT_JOB_EXECUTED
from apscheduler.executors.debug import DebugExecutor
from apscheduler.jobstores.base import BaseJobStore
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler

UTC = timezone.utc
JOB_DEFAULTS = {"misfire_grace_time": 3600, "coalesce": True}


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


def manual(jobstore: BaseJobStore, at: datetime) -> ManualScheduler:
    """A started ManualScheduler on `jobstore`, its clock frozen at `at`."""
    freeze(at)
    sched = ManualScheduler(
        jobstores={"default": jobstore},
        executors={"default": DebugExecutor()},
        timezone=UTC,
        job_defaults=JOB_DEFAULTS,
    )
    sched.start()
    return sched


def background(jobstore: BaseJobStore) -> BackgroundScheduler:
    """A started BackgroundScheduler (its own thread, its default 10-thread pool), the
    real clock, a misfire grace time long enough that no sample is dropped."""
    unfreeze()
    sched = BackgroundScheduler(
        jobstores={"default": jobstore},
        timezone=UTC,
        job_defaults={"misfire_grace_time": 60, "coalesce": True},
    )
    sched.start()
    return sched


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


def job_state(func: Callable[..., Any], trigger: Any, at: datetime) -> dict[str, Any]:
    """The state `add_job(func, trigger)` stores for a job (at frozen time `at`)."""
    sched = manual(MemoryJobStore(), at)
    job = sched.add_job(func, trigger, id="template", args=(0.0,))
    state: dict[str, Any] = job.__getstate__()
    sched.shutdown(wait=False)
    return state


def job_rows(
    state: dict[str, Any], jobs: Iterable[tuple[str, datetime, Any, tuple[Any, ...]]]
) -> Iterator[tuple[str, float, bytes]]:
    """(id, next_run_time, job_state) rows of SQLAlchemyJobStore's table, one per
    (id, next run time, trigger or None for the template's, args) given."""
    template = state["trigger"]
    for job_id, when, trigger, args in jobs:
        state.update(
            id=job_id,
            next_run_time=when,
            trigger=template if trigger is None else trigger,
            args=args,
        )
        yield job_id, when.timestamp(), pickle.dumps(state, pickle.HIGHEST_PROTOCOL)
