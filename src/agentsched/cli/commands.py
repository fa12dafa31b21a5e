"""The commands: one function each, given the command line's values as read.

Every command but `next` and `demo` works on a store URL: `--db`, else the
`AGENTSCHED_DB` environment variable, else `sqlite:///agentsched.db`. A
command returns its exit status (None for 0) or raises; `main` turns what it
raises into one line.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .._checks import check_text
from .._instants import format_instant
from ..errors import (
    AgentschedError,
    ConflictError,
    ScheduleNotFound,
    StoreError,
    ValidationError,
    shorten,
)
from ..firing.executors import InlineExecutor
from ..firing.handlers import RunContext, RunResult
from ..model import MAX_ID, Retry, Run, RunStatus, Schedule, Status
from ..model.fields import FIELDS, Field, Kind
from ..model.specs import Cron, Interval, Once, RRule, Spec
from ..schedulers.scheduler import Scheduler
from ..stores.base import Store
from ..stores.memory import MemoryStore
from ..stores.urls import store_from_url
from ..timing.zones import load_zone
from .output import (
    RUN_HEADERS,
    describe_spec,
    log_runs_to_stdout,
    no_last_resort_log,
    print_json,
    print_run,
    print_schedule_change,
    run_line,
    run_rows,
    table,
    when,
)
from .parser import CLEARABLE, DB_VARIABLE, DEFAULT_DB, spec_kind
from .values import aware_instant, local_instant

__all__ = ["COMMANDS"]


def _load_handler(target: str) -> Callable[[RunContext], Any]:
    """Import `module:function`; the current directory is importable, as with uvicorn
    and celery, so `./myagent.py` is `myagent:handle`."""
    module_name, _, attribute = target.partition(":")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        handler = getattr(importlib.import_module(module_name), attribute)
    except Exception as exc:  # importing user code can raise anything
        raise ValidationError(
            "handler",
            f"'handler' cannot be loaded from {shorten(target)}: {type(exc).__name__}: {exc}",
        ) from None
    if not callable(handler):
        raise ValidationError("handler", f"'handler' {shorten(target)} is not callable")
    return handler  # type: ignore[no-any-return]


def _spec_from_args(args: argparse.Namespace, zone: str, hash_key: str | None = None) -> Spec:
    """The spec the when-options describe, with naive times read in `zone`."""
    kind = spec_kind(args)
    if kind == "cron":
        return Cron(args.cron, zone, hash_key)
    if kind == "once":
        return Once(args.once, zone)
    if kind == "every":
        start = None if args.start_at is None else local_instant(args.start_at, zone, "start_at")
        return Interval(args.every, start)
    return RRule(args.rrule, args.dtstart, zone)


def _retry_from_args(args: argparse.Namespace, field: Field) -> Retry | None:
    """The retry policy `--retry N` and its backoffs give, None without `--retry`."""
    parts = {part.name: getattr(args, part.flag.dest, None) for part in field.parts if part.flag}
    if parts["attempts"] is None:
        return None
    return Retry(**{name: value for name, value in parts.items() if value is not None})


def _schedule_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The schedule fields the options of `add` or `update` give (only those given);
    the spec is built apart, as `update` reads it in the schedule's zone, and so is
    the id `add` takes."""
    fields: dict[str, Any] = {}
    for field in FIELDS:
        value: object
        if field.kind is Kind.RETRY:
            value = _retry_from_args(args, field)
        elif field.flag is None or field.kind is Kind.ID:
            continue
        else:
            value = getattr(args, field.flag.dest, None)  # None: not an option of this command
            if value is not None and field.kind is Kind.INSTANT:
                value = aware_instant(value, field.flag.dest)
        if value is not None:
            fields[field.name] = value
    return fields


def _never_fires(trial: Schedule) -> str:
    """Why a schedule, created completed, has no fire time."""
    if isinstance(trial.schedule, Once):
        return "its --once time is in the past"
    if trial.schedule.next_after(trial.created_at) is not None:
        return "its --end-at comes before its first fire"
    return "it has no fire time left"


def _db_url(args: argparse.Namespace) -> str:
    """`--db` (wherever given), else `$AGENTSCHED_DB`, else the default file."""
    if args.db is not None:
        return str(args.db)
    return os.environ.get(DB_VARIABLE) or DEFAULT_DB


def _deleted_or(missing: ScheduleNotFound, store: Store, owner: str | None) -> AgentschedError:
    """Say "is deleted" of a schedule that exists soft-deleted (and is the caller's), where
    the library says "not found" alike for both."""
    found = store.get(missing.schedule_id)
    if found is None or found.status is not Status.DELETED or owner not in (None, found.owner):
        return missing
    return AgentschedError(
        f"schedule {shorten(found.id)} is deleted (since {when(found.deleted_at)})"
    )


@contextmanager
def _opened(
    args: argparse.Namespace,
    *,
    create: bool = False,
    handler: Callable[[RunContext], Any] | None = None,
    background: bool = False,
) -> Iterator[Scheduler]:
    """A scheduler over the command's store, closed after use.

    Only commands that make schedules (`create`) may start a new database
    file; the others say "no database at ...". Handlers run inline unless
    `background` (the `run` loop), which needs a store it can write.
    """
    store = store_from_url(_db_url(args), create=create)
    executor = None if background else InlineExecutor()
    try:
        if background and getattr(store, "read_only", False):
            raise StoreError(f"cannot fire schedules from a read-only store ({_db_url(args)})")
        yield Scheduler(store=store, handler=handler, executor=executor, clock=args.clock)
    except ScheduleNotFound as exc:
        raise _deleted_or(exc, store, args.owner) from None
    finally:
        store.close()


def _cmd_next(args: argparse.Namespace) -> None:
    spec = _spec_from_args(args, args.tz, hash_key="cli")
    zone = load_zone(args.tz)
    after = (
        aware_instant(args.after, "after")
        if args.after is not None
        else args.clock.now().replace(microsecond=0)
    )
    times: list[datetime] = []
    t: datetime | None = after
    while t is not None and len(times) < args.n:
        t = spec.next_after(t)
        if t is not None:
            times.append(t)
    if args.json:
        print_json([format_instant(t) for t in times])
        return
    if not times:
        print(f"no fire time after {when(after)}")
    clock = "%H:%M:%S" if any(t.second or t.microsecond for t in times) else "%H:%M"
    for t in times:
        try:
            local = f"{t.astimezone(zone):%a %Y-%m-%d {clock} %Z (%z)}"
        except OverflowError:  # east of UTC, the last hours of 9999 are in year 10000
            local = f"after 9999-12-31 in {args.tz}"
        print(f"{local}  {format_instant(t)}")


def _cmd_add(args: argparse.Namespace) -> None:
    fields = _schedule_fields(args)
    fields["schedule"] = _spec_from_args(args, args.tz)
    if args.id is not None:
        fields["id"] = args.id
    # The same create on a throwaway store checks every field, and tells whether the
    # schedule would ever fire, before any database file is opened or created.
    trial = Scheduler(MemoryStore(), clock=args.clock).create(owner=args.owner, **fields)
    if trial.status is Status.COMPLETED:
        raise ValidationError(
            "schedule",
            f"this schedule would never fire: {_never_fires(trial)} (no schedule was created)",
        )
    with _opened(args, create=True) as sched:
        try:
            schedule = sched.create(owner=args.owner, **fields)
        except ConflictError:
            taken = None if args.id is None else sched.store.get(args.id)
            if taken is None:
                raise
            by = " (by a deleted schedule)" if taken.status is Status.DELETED else ""
            raise ConflictError(f"schedule id {shorten(args.id)} is taken{by}") from None
    print_schedule_change(schedule, "created", args.json)


def _cmd_update(args: argparse.Namespace) -> None:
    changes = _schedule_fields(args)
    changes.update({field: CLEARABLE[field] for field in args.clear})
    with _opened(args) as sched:
        if spec_kind(args) is not None:
            zone = args.tz or getattr(
                sched.get(args.id, owner=args.owner).schedule, "timezone", "UTC"
            )
            changes["schedule"] = _spec_from_args(args, zone)
        schedule = sched.update(args.id, owner=args.owner, **changes)
    print_schedule_change(schedule, "updated", args.json)


def _cmd_list(args: argparse.Namespace) -> None:
    with _opened(args) as sched:
        schedules = sched.list(
            args.agent,
            status=args.status,
            owner=args.owner,
            limit=args.limit,
            include_deleted=args.all,
        )
    if args.json:
        print_json([s.to_dict() for s in schedules])
        return
    rows = [
        [
            s.id,
            s.name or "",
            s.agent_id,
            s.status.value,
            describe_spec(s.schedule),
            when(s.next_run_at),
            str(s.run_count),
        ]
        for s in schedules
    ]
    print(table(("ID", "NAME", "AGENT", "STATUS", "SCHEDULE", "NEXT RUN", "RUNS"), rows))


def _lookup(sched: Scheduler, record_id: str, owner: str | None) -> Schedule | Run:
    """The run an id starting `run_` names, else the schedule (deleted ones included):
    a schedule's own id may start with `run_` too."""
    if record_id.startswith("run_"):
        check_text("id", record_id, 1, MAX_ID)
        run = sched.store.get_run(record_id)
        if run is not None and owner in (None, run.owner):
            return run
    try:
        return sched.get(record_id, owner=owner, include_deleted=True)
    except ScheduleNotFound:
        if record_id.startswith("run_"):
            raise AgentschedError(f"run {shorten(record_id)} not found") from None
        raise


def _cmd_show(args: argparse.Namespace) -> None:
    with _opened(args) as sched:
        record = _lookup(sched, args.id, args.owner)
    if isinstance(record, Run) and not args.json:
        print_run(record)
    else:
        print_json(record.to_dict())  # a schedule's JSON shape reads well as it is


def _cmd_change(args: argparse.Namespace) -> None:
    with _opened(args) as sched:
        action = {"pause": sched.pause, "resume": sched.resume, "delete": sched.delete}
        schedule = action[args.command](args.id, owner=args.owner)
    if args.json:
        print_json(schedule.to_dict())
    else:
        print(f"{schedule.id} is {schedule.status} (next run {when(schedule.next_run_at)})")


def _cmd_runs(args: argparse.Namespace) -> None:
    with _opened(args) as sched:
        runs = sched.runs(args.id, limit=args.n, owner=args.owner)
    if args.json:
        print_json([run.to_dict() for run in runs])
        return
    print(table(RUN_HEADERS, run_rows(runs)))
    if args.verbose:
        for run in runs:
            if run.error or run.traceback:
                print(f"\n{run.id} ({run.status}): {run.error or ''}")
                if run.traceback:
                    print(run.traceback.rstrip())


def _cmd_trigger(args: argparse.Namespace) -> int:
    """Run the schedule's agent once, now, in this process; exit 1 if the run failed."""
    handler = _load_handler(args.handler)
    with _opened(args, handler=handler) as sched, no_last_resort_log():
        try:
            run = sched.trigger(args.id, owner=args.owner)
        finally:
            sched.stop()  # the event loop of an async handler, if one ran
    if args.json:
        print_json(run.to_dict())
    else:
        print(run_line(run))
    return 0 if run.status is RunStatus.SUCCEEDED else 1


def _exit_now(message: str) -> None:
    """Leave at once, without waiting for handler threads (a hung agent would block a
    normal exit forever); their runs are marked interrupted when their lease expires."""
    print(f"agentsched: {message}", flush=True)
    sys.stderr.flush()
    os._exit(130)


def _fire_until_stopped(sched: Scheduler, grace: float | None) -> None:
    """Fire until SIGINT or SIGTERM; then stop claiming, ask running handlers to stop
    (their cancel event) and wait for them, at most `grace` seconds. A second signal,
    or the end of the grace period, exits at once."""
    requested = threading.Event()

    def on_signal(signum: int, _: object) -> None:
        if requested.is_set():
            _exit_now("exiting now; unfinished runs will be marked interrupted by their lease")
        requested.set()

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, on_signal)
    try:
        sched.start()
        while not requested.wait(0.2):
            pass
        running = sched.runs_in_flight
        limit = "" if grace is None else f" for up to {grace:g}s"
        print(
            f"agentsched: stopping: no new runs; asked {running} running handler(s) to stop, "
            f"waiting{limit} (Ctrl-C again to exit now)",
            flush=True,
        )
        sched.stop(wait=True, timeout=grace)
        left = sched.runs_in_flight
        if left:
            _exit_now(
                f"{left} handler(s) still running after {grace:g}s; exiting; their runs will "
                "be marked interrupted by their lease"
            )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _cmd_run(args: argparse.Namespace) -> None:
    handler = _load_handler(args.handler)
    with _opened(args, create=True, handler=handler, background=True) as sched:
        with log_runs_to_stdout():
            print(f"agentsched: running schedules from {_db_url(args)}; Ctrl-C to stop", flush=True)
            _fire_until_stopped(sched, None if args.grace is None else args.grace.total_seconds())
        print("agentsched: stopped", flush=True)


def _cmd_serve(args: argparse.Namespace) -> None:
    try:
        from .serve import listen, serve  # the web extra, imported only for this command
    except ImportError as exc:
        raise AgentschedError(
            f"agentsched serve needs the web extra: pip install 'agentsched[web]' ({exc})"
        ) from None
    handler = _load_handler(args.handler)
    # The address is taken before the store is opened: a port in use leaves no new file.
    with (
        listen(args.host, args.port) as sock,
        _opened(args, create=True, handler=handler, background=True) as sched,
    ):
        with log_runs_to_stdout():
            serve(sched, sock, _db_url(args))
        print("agentsched: stopped", flush=True)


def _demo_handler(ctx: RunContext) -> RunResult:
    """The demo's agent: answers with the input reversed; the 'flaky' one fails every other run."""
    if ctx.metadata.get("flaky") == "yes" and int(time.time()) % 2 == 0:
        raise RuntimeError("the demo agent is flaky on even seconds")
    count = ctx.schedule.run_count
    return RunResult(response_id=f"resp_{ctx.run_id[-6:]}", output=f"#{count} {ctx.input[::-1]}")


def _cmd_demo(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="agentsched-demo-") as directory:
        url = f"sqlite:///{Path(directory) / 'demo.db'}"
        sched = Scheduler.from_url(url, handler=_demo_handler, clock=args.clock)
        now = sched.clock.now()
        seconds = args.seconds.total_seconds()
        made = [
            sched.create(
                agent_id="echo-bot",
                name="every 2 seconds",
                input="hello agents",
                schedule=Interval(timedelta(seconds=2)),
            ),
            sched.create(
                agent_id="flaky-bot",
                name="every 3 seconds, flaky",
                input="sometimes",
                schedule=Interval(timedelta(seconds=3)),
                metadata={"flaky": "yes"},
            ),
            sched.create(
                agent_id="chat-bot",
                name="stateful, every 4 seconds",
                input="remember me",
                schedule=Interval(timedelta(seconds=4)),
                stateful=True,
            ),
            sched.create(
                agent_id="once-bot",
                name="once, in 5 seconds",
                input="just once",
                schedule=Once(now + timedelta(seconds=5)),
            ),
            sched.create(
                agent_id="report-bot",
                name="weekdays 09:00 Paris",
                input="daily report",
                schedule=Cron("0 9 * * mon-fri", "Europe/Paris"),
            ),
        ]
        print(f"agentsched demo: {len(made)} schedules in {url}; running {seconds:g} seconds")
        print(
            table(
                ("ID", "NAME", "SCHEDULE", "NEXT RUN"),
                [
                    [s.id, s.name or "", describe_spec(s.schedule), when(s.next_run_at)]
                    for s in made
                ],
            )
        )
        with log_runs_to_stdout():
            sched.start()
            began = time.monotonic()
            try:
                while not threading.Event().wait(min(1.0, seconds)):
                    elapsed = time.monotonic() - began
                    total = sum(len(sched.runs(s.id, limit=1000)) for s in made)
                    print(f"  -- {elapsed:2.0f}s elapsed, {total} runs recorded", flush=True)
                    if elapsed >= seconds:
                        break
            finally:
                sched.stop(wait=True)
        print("\nrun history (newest first):")
        runs = sorted(
            (r for s in made for r in sched.runs(s.id, limit=1000)),
            key=lambda r: r.started_at or r.finished_at or now,
            reverse=True,
        )
        print(table(RUN_HEADERS, run_rows(runs)))
        print("\nschedules now:")
        rows = [
            [
                s.name or "",
                s.status.value,
                str(s.run_count),
                str(s.failure_count),
                when(s.next_run_at),
            ]
            for s in sched.list()
        ]
        print(table(("NAME", "STATUS", "RUNS", "FAILURES IN A ROW", "NEXT RUN"), rows))
        sched.store.close()


COMMANDS: dict[str, Callable[[argparse.Namespace], int | None]] = {
    "next": _cmd_next,
    "add": _cmd_add,
    "update": _cmd_update,
    "list": _cmd_list,
    "show": _cmd_show,
    "pause": _cmd_change,
    "resume": _cmd_change,
    "delete": _cmd_change,
    "runs": _cmd_runs,
    "trigger": _cmd_trigger,
    "run": _cmd_run,
    "serve": _cmd_serve,
    "demo": _cmd_demo,
}
