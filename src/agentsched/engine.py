"""The firing core shared by `Scheduler` and `AsyncScheduler`.

It claims due work through the store, keeps the runs this process has in
flight (their cancel events and timeout deadlines), and records outcomes.
It never calls a handler itself: the schedulers do, on their executor or
event loop, and report back through `finish`.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

import attrs

from ._validate import check_duration
from .handlers import CancelSignal, RunContext
from .ids import new_run_id
from .model import Run, RunStatus, RunTrigger, Schedule, replace
from .planning import Outcome, apply_outcome, plan_claim
from .stores.base import Store

__all__ = ["DEFAULT_LEASE", "INTERRUPTED", "Engine", "Launch", "backoff_seconds", "seconds_until"]

INTERRUPTED = "interrupted: its scheduler stopped before the run finished (lease expired)"

log = logging.getLogger("agentsched")

Launch = tuple[Schedule, Run]
"""A run that must start now, with the schedule it belongs to."""

_CLAIM_BATCH = 500
MAX_SLEEP = 60.0  # loops re-check the store at least this often (other processes write too)
_MAX_BACKOFF = 30.0


def backoff_seconds(failures: int) -> float:
    """How long a loop waits after `failures` failed ticks in a row (0.2 s doubling to 30 s)."""
    return min(_MAX_BACKOFF, 0.1 * (1 << min(failures, 10)))


def seconds_until(wakes: list[datetime | None], now: datetime) -> float:
    """Seconds from `now` to the earliest of `wakes` (0 if past, `MAX_SLEEP` at most)."""
    times = [t for t in wakes if t is not None]
    if not times:
        return MAX_SLEEP
    return min(max((min(times) - now).total_seconds(), 0.0), MAX_SLEEP)


@attrs.define
class _InFlight:
    run: Run
    context: RunContext
    deadline: datetime | None


DEFAULT_LEASE = timedelta(minutes=5)


class Engine:
    """Claims, starts and finishes runs against one store. Thread-safe.

    Every started run is leased for `lease` (on the scheduler's clock) and
    the lease is renewed on each tick while the run is in flight here. A
    run whose lease ran out belongs to a scheduler that died or stalled: any
    engine marks it failed ("interrupted") and never runs its handler again.
    """

    def __init__(self, store: Store, lease: timedelta = DEFAULT_LEASE) -> None:
        self.store = store
        self.lease = check_duration("lease", lease, timedelta(seconds=1))
        self._lock = threading.Lock()
        self._in_flight: dict[str, _InFlight] = {}

    # -- claiming ------------------------------------------------------------

    def claim(self, now: datetime) -> tuple[list[Run], list[Launch]]:
        """Claim everything due at `now`: (every run written, the runs to start)."""
        written: list[Run] = []
        launches: list[Launch] = []
        while True:
            claims = self.store.claim_due(
                now,
                lambda s, a: plan_claim(s, a, now, new_run_id),
                limit=_CLAIM_BATCH,
                lease_until=now + self.lease,
            )
            for schedule, runs in claims:
                for run in runs:
                    written.append(run)
                    if run.status is RunStatus.RUNNING and run.started_at is not None:
                        launches.append((schedule, run))
                    elif run.status is not RunStatus.RUNNING and log.isEnabledFor(logging.INFO):
                        log.info(
                            "run %s of schedule %s %s (%d fire%s, latest %s)",
                            run.id,
                            schedule.id,
                            run.status,
                            run.coalesced,
                            "" if run.coalesced == 1 else "s",
                            run.scheduled_for,
                        )
            if not claims:  # a short batch may just mean refusals; stop when none is left
                return written, launches

    def manual(self, schedule: Schedule, now: datetime) -> Run:
        """Write a manual run of `schedule`, started now (outside its spec and overlap)."""
        run = Run(
            id=new_run_id(),
            schedule_id=schedule.id,
            agent_id=schedule.agent_id,
            owner=schedule.owner,
            status=RunStatus.RUNNING,
            trigger=RunTrigger.MANUAL,
            scheduled_for=now,
            started_at=now,
        )
        self.store.add_run(run, lease_until=now + self.lease)
        return run

    # -- running -------------------------------------------------------------

    def begin(self, schedule: Schedule, run: Run) -> RunContext:
        """Register a run as in flight here and build the handler's context."""
        context = RunContext(schedule, run.id, run.scheduled_for, run.attempt, CancelSignal())
        started = run.started_at
        deadline = (
            started + schedule.timeout
            if started is not None and schedule.timeout is not None
            else None
        )
        with self._lock:
            self._in_flight[run.id] = _InFlight(run, context, deadline)
        return context

    def finish(self, run_id: str, outcome: Outcome) -> Launch | None:
        """Record how an in-flight run ended; returns a buffered run to start, if any.

        A run that overran its timeout fails with a timeout error whatever
        the handler returned. A run already finished (timed out while the
        handler was still going) is left alone.
        """
        with self._lock:
            flight = self._in_flight.pop(run_id, None)
        if flight is None:
            return None
        flight.context.signal.set()
        if flight.deadline is not None and outcome.finished_at > flight.deadline:
            outcome = _timed_out(flight, outcome.finished_at)
        return self._record(flight.run, outcome)

    def renew(self, now: datetime) -> None:
        """Extend the leases of the runs in flight here."""
        with self._lock:
            ids = list(self._in_flight)
        if ids:
            self.store.renew_leases(ids, now + self.lease)

    def sweep(self, now: datetime) -> list[Launch]:
        """Fail runs whose lease expired (their scheduler is gone); returns runs to start."""
        launches = []
        with self._lock:
            mine = set(self._in_flight)
        for run in self.store.expired_runs(now, limit=_CLAIM_BATCH):
            if run.id in mine:
                continue  # alive here; its lease is renewed by this very tick
            outcome = Outcome(False, now, error=INTERRUPTED)
            follow_up = self._record(run, outcome)
            if follow_up is not None:
                launches.append(follow_up)
        return launches

    def expire(self, now: datetime) -> list[Launch]:
        """Fail every in-flight run past its deadline; returns buffered runs to start."""
        with self._lock:
            late = [
                f for f in self._in_flight.values() if f.deadline is not None and f.deadline <= now
            ]
            for flight in late:
                del self._in_flight[flight.run.id]
        launches = []
        for flight in late:
            flight.context.signal.set()
            follow_up = self._record(flight.run, _timed_out(flight, now))
            if follow_up is not None:
                launches.append(follow_up)
        return launches

    def next_deadline(self) -> datetime | None:
        """The earliest timeout deadline among runs in flight here."""
        with self._lock:
            deadlines = [f.deadline for f in self._in_flight.values() if f.deadline is not None]
        return min(deadlines) if deadlines else None

    def cancel_all(self) -> None:
        """Set every in-flight run's cancel event (the scheduler is stopping)."""
        with self._lock:
            flights = list(self._in_flight.values())
        for flight in flights:
            flight.context.signal.set()

    def _record(self, run: Run, outcome: Outcome) -> Launch | None:
        finished = replace(
            run,
            status=RunStatus.SUCCEEDED if outcome.succeeded else RunStatus.FAILED,
            finished_at=outcome.finished_at,
            response_id=outcome.response_id,
            output=outcome.output,
            error=outcome.error,
            traceback=outcome.traceback,
        )
        result = self.store.finish_run(
            finished,
            lambda s: apply_outcome(s, finished, outcome),
            lease_until=outcome.finished_at + self.lease,
        )
        if result is None:
            return None
        level = logging.INFO if outcome.succeeded else logging.WARNING
        if log.isEnabledFor(level):
            seconds = (
                (outcome.finished_at - run.started_at).total_seconds() if run.started_at else 0.0
            )
            error = f": {outcome.error}" if outcome.error else ""
            log.log(
                level,
                "run %s of schedule %s %s in %.3fs%s",
                run.id,
                run.schedule_id,
                finished.status,
                seconds,
                error,
            )
        schedule, buffered = result
        if buffered is None or schedule is None:
            return None
        return schedule, buffered


def _timed_out(flight: _InFlight, now: datetime) -> Outcome:
    timeout = flight.context.schedule.timeout or timedelta(0)
    return Outcome(False, now, error=f"timed out after {timeout.total_seconds():g}s")
