"""The `agentsched` command line (argparse, no extra dependencies).

Every command but `next` and `demo` works on a store URL (`--db`, default
`sqlite:///agentsched.db`). Errors print one line on stderr and exit with
status 2; no tracebacks.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import re
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from . import states
from ._datetimes import format_instant, parse_instant
from ._validate import MAX_DURATION
from .clock import SystemClock
from .errors import AgentschedError, ValidationError, shorten
from .handlers import RunContext, RunResult
from .model import Run, Schedule
from .scheduler import Scheduler
from .specs import Cron, Interval, Once, RRule, Spec
from .stores.urls import store_from_url
from .timing.zones import load_zone

__all__ = ["main", "parse_duration"]

DEFAULT_DB = "sqlite:///agentsched.db"
_MAX_COUNT = 1000
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(d|h|m|s|ms)", re.IGNORECASE)
_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(message)


def parse_duration(text: str) -> timedelta:
    """`90m`, `1h30m`, `45s`, `2d`, or a number of seconds; positive, at most 366 days."""
    stripped = text.strip()
    try:
        seconds = float(stripped)
    except ValueError:
        parts = _DURATION.findall(stripped)
        if not parts or _DURATION.sub("", stripped).strip():
            raise argparse.ArgumentTypeError(
                f"not a duration: {text!r} (try 90m, 1h30m, 45s)"
            ) from None
        seconds = sum(float(n) * _UNITS[u.lower()] for n, u in parts)
    if not seconds > 0:  # also refuses NaN
        raise argparse.ArgumentTypeError(f"must be positive (got {text!r})")
    if seconds > MAX_DURATION.total_seconds():
        raise argparse.ArgumentTypeError(f"must be at most 366 days (got {text!r})")
    return timedelta(seconds=seconds)


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number (got {text!r})") from None
    if not 1 <= value <= _MAX_COUNT:
        raise argparse.ArgumentTypeError(f"must be 1-{_MAX_COUNT} (got {value})")
    return value


def _wall_time(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date-time: {text!r}") from None


def _metadata(pairs: Sequence[str]) -> dict[str, str]:
    metadata = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValidationError(
                "metadata", f"'metadata' entries look like key=value (got {shorten(pair)})"
            )
        metadata[key] = value
    return metadata


def _describe(spec: Spec) -> str:
    if isinstance(spec, Cron):
        return f"cron {spec.expression} {spec.timezone}"
    if isinstance(spec, Once):
        return f"once {format_instant(spec.run_at)}"
    if isinstance(spec, Interval):
        return f"every {_human(spec.every)}"
    return f"rrule {spec.rule} {spec.timezone}"


def _human(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            count, seconds = divmod(seconds, size)
            parts.append(f"{int(count)}{unit}")
    if seconds or not parts:
        parts.append(f"{seconds:g}s")
    return "".join(parts)


@contextmanager
def _log_runs_to_stdout() -> Iterator[None]:
    """One line per run outcome on stdout (the `agentsched` logger at INFO), while inside."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("  %(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S"))
    logger = logging.getLogger("agentsched")
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)  # run starts are debug records
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def _when(value: datetime | None) -> str:
    return "-" if value is None else format_instant(value.replace(microsecond=0))


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def _run_rows(runs: Sequence[Run]) -> list[list[str]]:
    rows = []
    for run in runs:
        detail = run.error or run.output or ""
        rows.append(
            [
                run.id,
                run.status.value,
                run.trigger.value,
                _when(run.scheduled_for),
                _when(run.started_at),
                str(run.coalesced),
                detail[:50],
            ]
        )
    return rows


_RUN_HEADERS = ("RUN", "STATUS", "TRIGGER", "SCHEDULED FOR", "STARTED", "FIRES", "OUTPUT / ERROR")


# -- commands -------------------------------------------------------------------


def _cmd_next(args: argparse.Namespace) -> None:
    spec = Cron(args.expression, args.tz, hash_key="cli")
    zone = load_zone(args.tz)
    t: datetime | None = parse_instant(args.after, "after") if args.after else SystemClock().now()
    for _ in range(args.n):
        assert t is not None
        t = spec.next_after(t)
        if t is None:
            break
        local = t.astimezone(zone)
        print(f"{local:%a %Y-%m-%d %H:%M %Z (%z)}  {t:%Y-%m-%dT%H:%M:%SZ}")


def _spec_from_args(args: argparse.Namespace) -> Spec:
    chosen = [
        name for name in ("cron", "once", "every", "rrule") if getattr(args, name) is not None
    ]
    if len(chosen) != 1:
        raise _UsageError("give exactly one of --cron, --once, --every, --rrule")
    if args.cron is not None:
        return Cron(args.cron, args.tz)
    if args.once is not None:
        return Once(args.once, args.tz)
    if args.every is not None:
        start = parse_instant(args.start_at, "start_at") if args.start_at else None
        return Interval(args.every, start)
    if args.dtstart is None:
        raise _UsageError("--rrule needs --dtstart")
    return RRule(args.rrule, args.dtstart, args.tz)


def _cmd_add(sched: Scheduler, args: argparse.Namespace) -> None:
    spec = _spec_from_args(args)
    end_at = parse_instant(args.end_at, "end_at") if args.end_at else None
    first = states.bind_spec(spec, "cli", sched.clock.now()).next_after(sched.clock.now())
    if first is None or (end_at is not None and first > end_at):
        if first is not None:
            reason = "its --end-at comes before its first fire"
        elif isinstance(spec, Once):
            reason = "its --once time is in the past"
        else:
            reason = "it has no fire time left"
        raise ValidationError(
            "schedule", f"this schedule would never fire: {reason} (no schedule was created)"
        )
    schedule = sched.create(
        agent_id=args.agent,
        schedule=spec,
        input=args.input,
        name=args.name,
        owner=args.owner,
        metadata=_metadata(args.metadata),
        overlap=args.overlap,
        max_runs=args.max_runs,
        end_at=end_at,
        stateful=args.stateful,
    )
    print(f"created {schedule.id} ({schedule.status}, next run {_when(schedule.next_run_at)})")


def _cmd_list(sched: Scheduler, args: argparse.Namespace) -> None:
    schedules = sched.list(
        args.agent, status=args.status, owner=args.owner, limit=args.limit, include_deleted=args.all
    )
    rows = [
        [
            s.id,
            s.name or "",
            s.agent_id,
            s.status.value,
            _describe(s.schedule),
            _when(s.next_run_at),
            str(s.run_count),
        ]
        for s in schedules
    ]
    print(_table(("ID", "NAME", "AGENT", "STATUS", "SCHEDULE", "NEXT RUN", "RUNS"), rows))


def _cmd_show(sched: Scheduler, args: argparse.Namespace) -> None:
    schedule = sched.get(args.id, owner=args.owner, include_deleted=True)
    print(json.dumps(schedule.to_dict(), indent=2, ensure_ascii=False))


def _cmd_change(sched: Scheduler, args: argparse.Namespace) -> None:
    action: Callable[..., Schedule] = getattr(sched, args.command)
    schedule = action(args.id, owner=args.owner)
    print(f"{schedule.id} is {schedule.status} (next run {_when(schedule.next_run_at)})")


def _cmd_runs(sched: Scheduler, args: argparse.Namespace) -> None:
    runs = sched.runs(args.id, limit=args.n, owner=args.owner)
    print(_table(_RUN_HEADERS, _run_rows(runs)))
    if args.verbose:
        for run in runs:
            if run.error or run.traceback:
                print(f"\n{run.id} ({run.status}): {run.error or ''}")
                if run.traceback:
                    print(run.traceback.rstrip())


def _load_handler(target: str) -> Callable[[RunContext], Any]:
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise _UsageError(f"--handler must look like module:function (got {target!r})")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # as uvicorn and celery do: ./myagent.py is importable
    try:
        handler = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise _UsageError(f"cannot load handler {target!r}: {exc}") from None
    if not callable(handler):
        raise _UsageError(f"handler {target!r} is not callable")
    return handler  # type: ignore[no-any-return]


def _exit_now(message: str) -> None:
    """Leave at once, without waiting for handler threads (a hung agent would block a
    normal exit forever); their runs are marked interrupted when their lease expires."""
    print(f"agentsched: {message}", flush=True)
    sys.stderr.flush()
    os._exit(130)


def _serve(sched: Scheduler, grace: float | None) -> None:
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
        running = sched.engine.in_flight()
        limit = "" if grace is None else f" for up to {grace:g}s"
        print(
            f"agentsched: stopping: no new runs; asked {running} running handler(s) to stop, "
            f"waiting{limit} (Ctrl-C again to exit now)",
            flush=True,
        )
        sched.stop(wait=True, timeout=grace)
        left = sched.engine.in_flight()
        if left:
            _exit_now(
                f"{left} handler(s) still running after {grace:g}s; exiting; their runs will "
                "be marked interrupted by their lease"
            )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _cmd_run(sched: Scheduler, args: argparse.Namespace) -> None:
    sched.handler = _load_handler(args.handler)
    with _log_runs_to_stdout():
        print(f"agentsched: running schedules from {args.db}; Ctrl-C to stop", flush=True)
        _serve(sched, args.grace)
    print("agentsched: stopped", flush=True)


def _cmd_serve(sched: Scheduler, args: argparse.Namespace) -> None:
    from .serve import serve  # the web extra is imported only for this command

    sched.handler = _load_handler(args.handler)
    with _log_runs_to_stdout():
        serve(sched, args.host, args.port, args.db)
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
        sched = Scheduler.from_url(url, handler=_demo_handler)
        now = sched.clock.now()
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
        print(f"agentsched demo: {len(made)} schedules in {url}; running {args.seconds:g} seconds")
        print(
            _table(
                ("ID", "NAME", "SCHEDULE", "NEXT RUN"),
                [[s.id, s.name or "", _describe(s.schedule), _when(s.next_run_at)] for s in made],
            )
        )
        with _log_runs_to_stdout():
            sched.start()
            began = time.monotonic()
            try:
                while not threading.Event().wait(min(1.0, args.seconds)):
                    elapsed = time.monotonic() - began
                    total = sum(len(sched.runs(s.id, limit=1000)) for s in made)
                    print(f"  -- {elapsed:2.0f}s elapsed, {total} runs recorded", flush=True)
                    if elapsed >= args.seconds:
                        break
            finally:
                sched.stop(wait=True)
        print("\nrun history (newest first):")
        runs = sorted(
            (r for s in made for r in sched.runs(s.id, limit=1000)),
            key=lambda r: r.started_at or r.finished_at or now,
            reverse=True,
        )
        print(_table(_RUN_HEADERS, _run_rows(runs)))
        print("\nschedules now:")
        rows = [
            [
                s.name or "",
                s.status.value,
                str(s.run_count),
                str(s.failure_count),
                _when(s.next_run_at),
            ]
            for s in sched.list()
        ]
        print(_table(("NAME", "STATUS", "RUNS", "FAILURES", "NEXT RUN"), rows))
        sched.store.close()


# -- parser ---------------------------------------------------------------------


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="agentsched", description="Schedule AI-agent runs.")
    parser.add_argument(
        "--db",
        default=DEFAULT_DB,
        help=f"store URL: sqlite:///path.db or memory:// (default {DEFAULT_DB})",
    )
    parser.add_argument("--owner", help="act as this owner (others' schedules are invisible)")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    nxt = commands.add_parser("next", help="print the next fire times of a cron expression")
    nxt.add_argument("expression", help='a cron expression, e.g. "0 9 * * mon-fri"')
    nxt.add_argument("--tz", default="UTC", help="IANA time zone (default UTC)")
    nxt.add_argument("-n", type=_count, default=5, help="how many fire times (default 5)")
    nxt.add_argument("--after", help="start after this ISO 8601 instant (default: now)")

    add = commands.add_parser("add", help="create a schedule")
    add.add_argument("--agent", required=True, help="the agent id to run")
    add.add_argument("--input", required=True, help="the input the agent gets")
    add.add_argument("--name", help="a name (1-120 characters)")
    when = add.add_argument_group("when (exactly one)")
    when.add_argument("--cron", help='cron expression, e.g. "0 9 * * mon-fri"')
    when.add_argument("--once", type=_wall_time, help="an ISO date-time (naive: read in --tz)")
    when.add_argument("--every", type=parse_duration, help="an interval: 90m, 1h30m, 45s")
    when.add_argument("--rrule", help='an RFC 5545 rule, e.g. "FREQ=WEEKLY;BYDAY=MO"')
    add.add_argument("--dtstart", type=_wall_time, help="with --rrule: the first occurrence")
    add.add_argument("--start-at", help="with --every: the phase anchor (ISO instant)")
    add.add_argument("--tz", default="UTC", help="IANA time zone for --cron, --once, --rrule")
    add.add_argument("--max-runs", type=int, help="complete after this many runs")
    add.add_argument("--end-at", help="complete after this ISO instant")
    add.add_argument("--overlap", default="skip", choices=("skip", "buffer_one", "allow_all"))
    add.add_argument("--stateful", action="store_true", help="chain response ids between runs")
    add.add_argument("--metadata", action="append", default=[], metavar="KEY=VALUE")

    lst = commands.add_parser("list", help="list schedules as a table")
    lst.add_argument("--agent")
    lst.add_argument("--status", choices=("active", "paused", "completed", "deleted"))
    lst.add_argument("--limit", type=_count, default=100)
    lst.add_argument("--all", action="store_true", help="include deleted schedules")

    for name, text in (
        ("show", "print a schedule as JSON"),
        ("pause", "pause a schedule"),
        ("resume", "resume a schedule"),
        ("delete", "delete a schedule (soft)"),
    ):
        commands.add_parser(name, help=text).add_argument("id")

    runs = commands.add_parser("runs", help="list a schedule's runs, newest first")
    runs.add_argument("id")
    runs.add_argument("-n", type=_count, default=20, help="how many (default 20)")
    runs.add_argument(
        "-v", "--verbose", action="store_true", help="print each failed run's traceback"
    )

    run = commands.add_parser("run", help="fire schedules until Ctrl-C")
    run.add_argument("--handler", required=True, help="module:function to call for each run")
    run.add_argument(
        "--grace",
        type=float,
        metavar="SECONDS",
        help="on Ctrl-C, wait at most this long for running handlers (default: until they "
        "finish, or a second Ctrl-C)",
    )

    serve = commands.add_parser(
        "serve", help="fire schedules and serve the API and dashboard (extra: web)"
    )
    serve.add_argument("--db", default=argparse.SUPPRESS, help="store URL (as --db above)")
    serve.add_argument("--handler", required=True, help="module:function to call for each run")
    serve.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")

    demo = commands.add_parser("demo", help="a 15-second demo on a temporary SQLite file")
    demo.add_argument("--seconds", type=float, default=15.0, help=argparse.SUPPRESS)
    return parser


# Commands that may start a new database file; the others only read or change
# schedules that must already exist, and say "no database at ..." instead.
_CREATING_COMMANDS = frozenset({"add", "run", "serve"})

_STORE_COMMANDS: dict[str, Callable[[Scheduler, argparse.Namespace], None]] = {
    "add": _cmd_add,
    "list": _cmd_list,
    "show": _cmd_show,
    "pause": _cmd_change,
    "resume": _cmd_change,
    "delete": _cmd_change,
    "runs": _cmd_runs,
    "run": _cmd_run,
    "serve": _cmd_serve,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    try:
        args = _build_parser().parse_args(argv)
        if args.command == "next":
            _cmd_next(args)
        elif args.command == "demo":
            _cmd_demo(args)
        else:
            store = store_from_url(args.db, create=args.command in _CREATING_COMMANDS)
            sched = Scheduler(store=store)
            try:
                _STORE_COMMANDS[args.command](sched, args)
            finally:
                sched.store.close()
    except (_UsageError, AgentschedError) as exc:
        print(f"agentsched: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
