"""The firing core that `Scheduler` and `AsyncScheduler` share.

Every firing decision and store call lives here; a shell only says how to
start a handler (`launch`) and how to wait. One tick is: renew the leases
of runs in flight here, fail those past their timeout, finish runs whose
lease expired elsewhere (their scheduler died), then claim due work batch
by batch, launching each batch before claiming the next so that the first
handler of a burst starts at once.

A run that timed out is recorded `failed` at once but keeps its slot
(`occupied`) until its handler really returns: a thread cannot be killed,
and `Overlap.SKIP` must not start a second copy beside it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import partial

import attrs

from .._checks import check_duration
from .._instants import format_instant, later
from .._log import fields, log
from ..errors import StoreError
from ..ids import new_run_id
from ..model import Run, RunStatus, RunTrigger, Schedule, Status, updater
from ..rules.claims import plan_claim
from ..rules.outcomes import Outcome, apply_outcome
from ..stores.base import Finish, Finishing, Store
from .events import RUN_ENDS, EventHub
from .group_commit import GroupWriter
from .handlers import CancelSignal, RunContext

__all__ = [
    "DEFAULT_LEASE",
    "INTERRUPTED",
    "MAX_SLEEP",
    "FiringCore",
    "Launch",
    "Launcher",
    "backoff_seconds",
]

INTERRUPTED = "interrupted: its scheduler stopped before the run finished (lease expired)"
DEFAULT_LEASE = timedelta(minutes=5)
MAX_SLEEP = timedelta(seconds=60)  # loops re-check the store at least this often
_FIRST_BATCH = 32  # small, so the first handler of a burst starts at once
_BATCH = 500
# Outcomes of handlers run inline in a tick are written together, but never
# more than this many, nor held longer than this (they are the record of work done).
_FLUSH_RUNS = 64
_FLUSH_SECONDS = 0.02
_MAX_BACKOFF = 30.0


# Enum members as module constants: reading one off its Enum class costs ~50 ns, and
# the firing path reads a dozen per run.
_RUNNING = RunStatus.RUNNING
_SUCCEEDED = RunStatus.SUCCEEDED
_FAILED = RunStatus.FAILED
_COMPLETED = Status.COMPLETED
_PAUSED = Status.PAUSED


Launch = tuple[Schedule, Run]
"""A run that must start now, with the schedule it belongs to."""

Launcher = Callable[[Launch], "Run | None"]
"""How a shell starts a run's handler: returns the finished run if the handler
already ran to completion (inline), else None (it runs elsewhere)."""


def backoff_seconds(failures: int) -> float:
    """How long a loop waits after `failures` failed ticks in a row (0.2 s doubling to 30 s)."""
    return min(_MAX_BACKOFF, 0.1 * (1 << min(failures, 10)))


@attrs.define
class _InFlight:
    run: Run
    context: RunContext
    deadline: datetime | None
    cancel: Callable[[], None] | None
    timed_out: bool = False  # failed at its deadline; the handler has not returned
    timeout_stored: bool = False  # that failure is in the store (occupying the slot)
    returned_at: datetime | None = None  # the handler returned before that was stored
    finishing: bool = False  # the handler returned; its outcome is being written


class FiringCore:
    """Claims, starts and finishes runs against one store. Thread-safe.

    `launch` starts a run's handler (the shell's way); `wake`, if given, is
    called when the loop must re-compute its next wake (a new deadline).

    Every started run is leased for `lease` (on the scheduler's clock) and
    the lease is renewed (by a tick, woken for it) whenever a third of it has
    gone while the run is in flight here. A
    run whose lease ran out belongs to a scheduler that died or stalled: any
    engine marks it failed ("interrupted") and never runs its handler again.
    """

    def __init__(
        self,
        store: Store,
        launch: Launcher,
        lease: timedelta = DEFAULT_LEASE,
        wake: Callable[[], None] | None = None,
        events: EventHub | None = None,
    ) -> None:
        self.store = store
        self.lease = check_duration("lease", lease, timedelta(seconds=1))
        self._launch = launch
        self._wake = wake
        self.events = events if events is not None else EventHub()
        self._lock = threading.Lock()
        self._in_flight: dict[str, _InFlight] = {}
        # From this instant on, every run in flight here holds a lease of at least
        # `lease` (None: renew at the next tick).
        self._leased_from: datetime | None = None
        self._local = threading.local()  # the batch of inline outcomes of this thread
        self._outcomes = GroupWriter(self._finish_runs)  # outcomes of handler threads

    # -- ticking -------------------------------------------------------------

    def tick(self, now: datetime) -> list[Run]:
        """Do everything due at `now`; returns the runs claimed, finished ones as finished."""
        self.renew(now)
        self._expire(now)
        self._sweep(now)
        return self._claim(now)

    def _claim(self, now: datetime) -> list[Run]:
        written: list[Run] = []
        limit = _FIRST_BATCH
        while True:
            claims = self.store.claim_due(
                now,
                lambda s, a: plan_claim(s, a, now, new_run_id),
                limit=limit,
                lease_until=later(now, self.lease),
            )
            if not claims:  # a short batch may just mean refusals; stop when none is left
                return written
            batch: list[Run] = []
            with self._batching() as finals:
                for schedule, runs in claims:
                    for run in runs:  # decisions first: skipped and missed runs are final
                        if run.status is not _RUNNING:
                            _log_decision(schedule, run)
                            self.events.emit(RUN_ENDS[run.status], now, schedule, run)
                    if schedule.status is _COMPLETED:
                        self.events.emit("schedule.completed", now, schedule)
                    for run in runs:
                        if run.status is _RUNNING and run.started_at is not None:
                            batch.append(self._start((schedule, run)) or run)
                        else:
                            batch.append(run)
            written += [finals.get(run.id, run) for run in batch] if finals else batch
            limit = _BATCH

    @contextmanager
    def _batching(self) -> Iterator[dict[str, Run]]:
        """While inside, outcomes finished in this thread (handlers run inline) are written
        together: one `finish_runs` for up to `_FLUSH_RUNS` of them, at most
        `_FLUSH_SECONDS` after the first. Yields the finished runs, filled on exit."""
        pending = _Pending(time.monotonic())
        self._local.pending = pending
        try:
            yield pending.finals
        finally:
            self._local.pending = None
            self._flush(pending)

    def _start(self, launch: Launch) -> Run | None:
        """Tell the world a run started, then launch its handler."""
        schedule, run = launch
        if run.started_at is not None:
            self.events.emit("run.started", run.started_at, schedule, run)
        return self._launch(launch)

    def trigger(self, schedule: Schedule, now: datetime) -> Run:
        """Write a manual run of `schedule`, started now (outside its spec and overlap),
        and launch it; returns it finished if it ran inline."""
        run = Run(
            id=new_run_id(),
            schedule_id=schedule.id,
            agent_id=schedule.agent_id,
            owner=schedule.owner,
            status=_RUNNING,
            trigger=RunTrigger.MANUAL,
            scheduled_for=now,
            started_at=now,
        )
        self.store.add_run(run, lease_until=later(now, self.lease))
        return self._start((schedule, run)) or run

    # -- running -------------------------------------------------------------

    def begin(
        self, schedule: Schedule, run: Run, cancel: Callable[[], None] | None = None
    ) -> RunContext:
        """Register a run as in flight here and build the handler's context.

        `cancel`, if given, is called (besides setting `ctx.cancel`) when the
        run times out or the scheduler stops: an asyncio task's `cancel`.
        """
        context = RunContext(schedule, run.id, run.scheduled_for, run.attempt, CancelSignal())
        started = run.started_at
        deadline = (
            later(started, schedule.timeout)
            if started is not None and schedule.timeout is not None
            else None
        )
        with self._lock:
            # Its lease was granted as it started, for a whole `lease`: renewals are due
            # from the earliest start among the runs in flight (a clock may step back).
            leased_from = self._leased_from
            if (
                not self._in_flight
                or started is None
                or (leased_from is not None and started < leased_from)
            ):
                self._leased_from = started
            self._in_flight[run.id] = _InFlight(run, context, deadline, cancel)
        if deadline is not None and self._wake is not None:
            self._wake()  # a sleeping loop must now wake for this deadline too
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "run %s of schedule %s started (scheduled for %s, attempt %d)",
                run.id,
                schedule.id,
                _instant(run.scheduled_for),
                run.attempt,
                extra=fields(schedule, run),
            )
        return context

    def set_cancel(self, run_id: str, cancel: Callable[[], None]) -> None:
        """Attach a canceller to a run already in flight (once its task exists)."""
        with self._lock:
            flight = self._in_flight.get(run_id)
            if flight is not None:
                flight.cancel = cancel

    def finish(self, context: RunContext, outcome: Outcome) -> Run | None:
        """Record how a run's handler ended; returns the run as finished, or None if it
        had been finished already (timed out, or swept) and only its slot is freed now.

        A run that overran its timeout fails with a timeout error whatever the
        handler returned. A run buffered behind this one is launched.
        """
        with self._lock:
            flight = self._in_flight.get(context.run_id)
            if flight is None:
                return None
            run = flight.run
            if run.started_at is not None and outcome.finished_at < run.started_at:
                outcome = attrs.evolve(outcome, finished_at=run.started_at)  # clock stepped back
            if flight.timed_out and not flight.timeout_stored:
                # Its timeout is being stored right now: `_expire` frees the slot after.
                flight.returned_at = outcome.finished_at
                return None
            flight.finishing = not flight.timed_out  # from now on no timeout takes it
        flight.context.signal.set()
        if flight.timed_out:
            try:
                self._release(run, outcome.finished_at)
            finally:
                self._land(context.run_id)
            return None
        if flight.deadline is not None and outcome.finished_at > flight.deadline:
            outcome = _timed_out(flight, outcome.finished_at)
        pending: _Pending | None = getattr(self._local, "pending", None)
        if pending is not None:  # an inline handler inside a claim batch: written together
            pending.items.append((run, outcome))
            if len(pending.items) >= _FLUSH_RUNS or (
                time.monotonic() - pending.since >= _FLUSH_SECONDS
            ):
                self._flush(pending)
            return None
        try:
            return self._record(run, outcome)
        finally:
            self._land(context.run_id)

    def abandon(self, run_id: str) -> None:
        """Give up a run whose handler runs on in a thread this scheduler no longer waits
        for (its stop timed out): its lease is no longer renewed, and once it runs out
        any scheduler marks the run interrupted."""
        self._land(run_id)

    def _land(self, run_id: str) -> None:
        # Only once its outcome is stored does a run leave the in-flight set, so that a
        # concurrent tick renews its lease rather than sweeping it as abandoned.
        with self._lock:
            self._in_flight.pop(run_id, None)

    def renew(self, now: datetime) -> None:
        """Extend the leases of the runs in flight here (timed-out ones too: their code
        still occupies the slot), once a third of a lease has gone since they were last
        extended: one store write per `lease / 3`, not one per tick."""
        with self._lock:
            if not self._in_flight or (
                self._leased_from is not None and now < self._renew_at(self._leased_from)
            ):
                return
            ids = list(self._in_flight)
        self.store.renew_leases(ids, later(now, self.lease))
        with self._lock:
            self._leased_from = now

    def _renew_at(self, leased_from: datetime) -> datetime:
        return later(leased_from, self.lease / 3)

    def _expire(self, now: datetime) -> None:
        """Fail every in-flight run past its deadline; it keeps its slot until it returns."""
        with self._lock:
            late = [
                f
                for f in self._in_flight.values()
                if not (f.timed_out or f.finishing) and f.deadline is not None and f.deadline <= now
            ]
            for flight in late:
                flight.timed_out = True
        for index, flight in enumerate(late):
            try:
                _cancel(flight)
                self._store_timeout(flight, now)
            except BaseException:
                with self._lock:  # those not reached are due again at the next tick
                    for rest in late[index + 1 :]:
                        rest.timed_out = False
                raise

    def _store_timeout(self, flight: _InFlight, now: datetime) -> None:
        """Record a run failed at its deadline, its handler still occupying the slot.

        If the handler returns while this is written, the slot is freed once it is
        stored. If the store fails (or this thread is interrupted), the next tick
        tries again, or, the handler having returned meanwhile, its outcome is
        recorded as timed out now.
        """
        run = flight.run
        stored: list[Run | None] | None = None
        try:
            stored = self._write([(run, _timed_out(flight, now))], occupied=True, grouped=True)
        finally:
            with self._lock:
                returned = flight.returned_at
                if stored is not None:
                    flight.timeout_stored = True
                elif returned is None:
                    flight.timed_out = False  # due again at the next tick
            if returned is not None:
                try:
                    if stored is None:
                        self._record(run, _timed_out(flight, returned))
                    else:
                        self._release(run, returned)
                finally:
                    self._land(run.id)

    def _sweep(self, now: datetime) -> None:
        """Finish runs whose lease expired (their scheduler is gone), never re-running them."""
        with self._lock:
            mine = set(self._in_flight)
        for run in self.store.expired_runs(now, limit=_BATCH):
            if run.id in mine:
                continue  # alive here, where its lease is renewed
            if run.status is _RUNNING:
                self._record(run, Outcome(False, now, error=INTERRUPTED))
            else:  # timed out elsewhere, and its scheduler died before the code returned
                self._release(run, now)

    def next_wake(self, now: datetime, failures: int = 0) -> datetime:
        """When a loop should tick again: the next due time, timeout deadline or lease
        renewal, soon after failures (backing off), and at least every `MAX_SLEEP`
        (other processes write too)."""
        if failures:
            return later(now, timedelta(seconds=backoff_seconds(failures)))
        wakes = [later(now, MAX_SLEEP)]
        with self._lock:
            if self._in_flight:
                leased_from = self._leased_from
                wakes.append(now if leased_from is None else self._renew_at(leased_from))
            wakes += [
                f.deadline
                for f in self._in_flight.values()
                if f.deadline is not None and not f.timed_out
            ]
        try:
            due = self.store.next_due_at()
        except Exception:
            log.exception("could not read the next due time; retrying")
            return later(now, timedelta(seconds=1))
        if due is not None:
            wakes.append(due)
        return min(wakes)

    def cancel_all(self) -> None:
        """Set every in-flight run's cancel event (the scheduler is stopping); unlike a
        timeout, this asks handlers to stop and leaves them to do it."""
        with self._lock:
            flights = list(self._in_flight.values())
        for flight in flights:
            flight.context.signal.set()

    def in_flight(self) -> int:
        """How many runs this engine has started whose handlers have not returned."""
        with self._lock:
            return len(self._in_flight)

    # -- recording -----------------------------------------------------------

    def _record(self, run: Run, outcome: Outcome, occupied: bool = False) -> Run | None:
        """Store one run's outcome; runs finishing in other threads at the same time
        share the write (`GroupWriter`)."""
        (final,) = self._write([(run, outcome)], occupied, grouped=True) or [None]
        return final

    def _flush(self, pending: _Pending) -> None:
        """Write the outcomes waiting in a batch, in one `finish_runs`; a buffered run they
        start may run inline and add to the batch again, so repeat until none waits."""
        while pending.items:
            items, pending.items = pending.items, []
            pending.since = time.monotonic()
            try:
                finals = self._write(items) or []
            finally:
                with self._lock:
                    for run, _ in items:
                        self._in_flight.pop(run.id, None)
            for final in finals:
                if final is not None:
                    pending.finals[final.id] = final

    def _write(
        self, items: list[tuple[Run, Outcome]], occupied: bool = False, grouped: bool = False
    ) -> list[Run | None] | None:
        """Store how runs ended, in one `finish_runs` (with those of other threads if
        `grouped`): each run as finished, or None if the store had it finished already.

        None if the store failed even on the retry: the runs stay `running` (their
        handlers ran), and their leases will mark them interrupted."""
        done = [(_finished(run, outcome), outcome) for run, outcome in items]
        finishing = [
            (Finishing(run, partial(_fold, run, outcome), occupied), outcome.finished_at)
            for run, outcome in done
        ]
        try:
            if grouped:
                results = [self._outcomes.submit(item) for item in finishing]
            else:
                results = self._finish_runs(finishing)
        except StoreError:
            log.exception(
                "could not record the outcome of %d run(s), %s first; their leases will "
                "mark them interrupted",
                len(done),
                done[0][0].id,
                extra=fields(run=done[0][0]),
            )
            return None
        return [
            self._recorded(finished, outcome, result)
            for (finished, outcome), result in zip(done, results, strict=True)
        ]

    def _finish_runs(self, items: list[tuple[Finishing, datetime]]) -> list[Finish | None]:
        """One `finish_runs` for `items` (each with the time its run finished), retried
        once: a finish that already landed changes nothing the second time. A run they
        unblock is leased for `lease` from the latest of those times."""
        finishing = [item for item, _ in items]
        lease_until = later(max(finished_at for _, finished_at in items), self.lease)
        try:
            return self.store.finish_runs(finishing, lease_until)
        except StoreError:
            return self.store.finish_runs(finishing, lease_until)

    def _recorded(self, finished: Run, outcome: Outcome, result: Finish | None) -> Run | None:
        """After a run's outcome was written: log it, tell subscribers, start what it
        unblocked. None if the store had it finished already."""
        if result is None:
            return None
        schedule = result[0]
        _log_outcome(schedule, finished, outcome)
        self.events.emit(
            RUN_ENDS[finished.status],
            finished.finished_at or outcome.finished_at,
            schedule,
            finished,
        )
        if schedule is not None:
            retry = schedule.pending_retry
            if (
                retry is not None
                and retry.attempt == finished.attempt + 1
                and retry.scheduled_for == finished.scheduled_for
            ):
                self.events.emit("run.retrying", outcome.finished_at, schedule, finished)
            if schedule.status is _PAUSED and schedule.paused_at == outcome.finished_at:
                self.events.emit("schedule.paused", outcome.finished_at, schedule)
        self._follow_up(result)
        return finished

    def _release(self, run: Run, at: datetime) -> None:
        """The code of a run finished earlier (timed out) has left: free its slot."""
        result = self.store.release_run(run.id, at, lease_until=later(at, self.lease))
        if result is not None:
            self._follow_up(result)

    def _follow_up(self, result: tuple[Schedule | None, Run | None]) -> None:
        schedule, buffered = result
        if schedule is not None and buffered is not None:
            self._start((schedule, buffered))


@attrs.define
class _Pending:
    """Outcomes of inline runs waiting to be written together (`FiringCore._batching`)."""

    since: float
    items: list[tuple[Run, Outcome]] = attrs.Factory(list)
    finals: dict[str, Run] = attrs.Factory(dict)


def _fold(run: Run, outcome: Outcome, schedule: Schedule) -> Schedule:
    """`apply_outcome` with the run and outcome first, to be bound by a plain `partial`."""
    return apply_outcome(schedule, run, outcome)


_finish_run = updater(Run, "status", "finished_at", "response_id", "output", "error", "traceback")


def _finished(run: Run, outcome: Outcome) -> Run:
    return _finish_run(
        run,
        _SUCCEEDED if outcome.succeeded else _FAILED,
        outcome.finished_at,
        outcome.response_id,
        outcome.output,
        outcome.error,
        outcome.traceback,
    )


def _cancel(flight: _InFlight) -> None:
    flight.context.signal.set()
    if flight.cancel is not None:
        try:
            flight.cancel()
        except Exception:
            log.exception("could not cancel run %s", flight.run.id, extra=fields(run=flight.run))


def _timed_out(flight: _InFlight, now: datetime) -> Outcome:
    timeout = flight.context.schedule.timeout or timedelta(0)
    return Outcome(False, now, error=f"timed out after {timeout.total_seconds():g}s")


def _instant(value: datetime | None) -> str:
    return "-" if value is None else format_instant(value)


def _log_decision(schedule: Schedule, run: Run) -> None:
    if log.isEnabledFor(logging.INFO):
        log.info(
            "run %s of schedule %s %s (%d fire%s, latest %s)",
            run.id,
            schedule.id,
            run.status,
            run.coalesced,
            "" if run.coalesced == 1 else "s",
            _instant(run.scheduled_for),
            extra=fields(schedule, run),
        )


def _log_outcome(schedule: Schedule | None, finished: Run, outcome: Outcome) -> None:
    level = logging.INFO if outcome.succeeded else logging.WARNING
    if log.isEnabledFor(level):
        started = finished.started_at
        seconds = (outcome.finished_at - started).total_seconds() if started else 0.0
        error = f": {outcome.error}" if outcome.error else ""
        log.log(
            level,
            "run %s of schedule %s %s in %.3fs%s",
            finished.id,
            finished.schedule_id,
            finished.status,
            seconds,
            error,
            extra=fields(schedule, finished),
        )
