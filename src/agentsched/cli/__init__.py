"""The `agentsched` command line (argparse, no extra dependencies).

Every command but `next` and `demo` works on a store URL: `--db`, else the
`AGENTSCHED_DB` environment variable, else `sqlite:///agentsched.db`.

Errors never show a traceback and exit with status 2. argparse reads only
the shape of a command line: a shape it cannot read (an unknown option, a
missing argument or value) or options that do not go together print the
command's usage line, then the error. Every value stays text until
`_read_values` reads it, so that a value refused (not in its option's form,
out of range, an unknown time zone) is one line naming the flag the user
typed; `_in_flags` words the library's refusals so too.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
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
from typing import Any, NoReturn

from .. import __version__
from .._checks import MAX_DURATION, check_text
from .._instants import format_instant, require_instant
from ..clock import Clock, SystemClock
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
from ..model.specs import Cron, Interval, Once, RRule, Spec
from ..schedulers.scheduler import Scheduler
from ..stores.base import Store
from ..stores.memory import MemoryStore
from ..stores.urls import store_from_url
from ..timing.zones import load_zone

__all__ = ["main", "parse_duration"]

DEFAULT_DB = "sqlite:///agentsched.db"
DB_VARIABLE = "AGENTSCHED_DB"
_MAX_COUNT = 1000
_SIGPIPE_STATUS = 141  # what a shell reports for a process ended by SIGPIPE
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|d|h|m|s)", re.IGNORECASE)
_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_SPEC_OPTIONS = (("cron", "--cron"), ("once", "--once"), ("every", "--every"), ("rrule", "--rrule"))
_NEGATIVE_NUMBER = re.compile(r"-\d+(\.\d*)?|-\.\d+")  # a value to argparse, not an option


class _UsageError(Exception):
    """A command line argparse (or a rule between options) refuses: shown with `usage`."""

    def __init__(self, message: str, usage: str) -> None:
        super().__init__(message)
        self.usage = usage


class _Parser(argparse.ArgumentParser):
    """A parser without abbreviations (`--agen` is not `--agent`) whose errors are
    `_UsageError`s. argparse never requires an argument here: `needed` lists those the
    command requires, checked after unknown options, so that `--agnet` is reported as
    itself rather than as a missing `--agent`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **{**kwargs, "allow_abbrev": False})
        self.needed: list[argparse.Action] = []

    def error(self, message: str) -> NoReturn:
        raise _UsageError(message, self.format_usage())

    def need(self, action: argparse.Action) -> None:
        self.needed.append(action)

    def arguments(self) -> list[argparse.Action]:
        """Every argument of this parser (argparse keeps no public list of them)."""
        return self._actions


def _flag(action: argparse.Action) -> str:
    """How the user spells an argument: its long option (`--max-runs`), else its short
    one (`-n`), else its metavar (`ID`, `EXPR`)."""
    longs = [s for s in action.option_strings if s.startswith("--")]
    return (longs or action.option_strings or [str(action.metavar)])[0]


# -- reading values -------------------------------------------------------------


def _duration_seconds(text: str) -> float | None:
    """The seconds `text` spells (`90m`, `1h30m`, `45s`, `2d`, `500ms`, a number; a
    leading `-` negates), or None when it spells no duration."""
    stripped = text.strip()
    try:
        return float(stripped)
    except ValueError:
        pass
    sign, body = (-1.0, stripped[1:]) if stripped.startswith("-") else (1.0, stripped)
    parts = _DURATION.findall(body)
    if not parts or _DURATION.sub("", body).strip():
        return None
    return sign * sum(float(n) * _UNITS[u.lower()] for n, u in parts)


def parse_duration(text: str, field: str = "duration", *, zero_ok: bool = False) -> timedelta:
    """`90m`, `1h30m`, `45s`, `2d`, `500ms` or a number of seconds, as a timedelta.

    Positive (or zero, with `zero_ok`) and at most 366 days; anything else is
    a `ValidationError` naming `field`.
    """
    seconds = _duration_seconds(text)
    if seconds is None:
        raise ValidationError(
            field, f"{field!r} is not a duration (got {shorten(text)}; try 90m, 1h30m, 45s, 2d)"
        )
    if not (seconds >= 0 if zero_ok else seconds > 0):  # also refuses NaN
        wanted = "zero or more" if zero_ok else "positive"
        raise ValidationError(field, f"{field!r} must be {wanted} (got {shorten(text)})")
    if seconds > MAX_DURATION.total_seconds():
        raise ValidationError(field, f"{field!r} must be at most 366 days (got {shorten(text)})")
    return timedelta(seconds=seconds)


def _positive_duration(text: str, field: str) -> timedelta:
    return parse_duration(text, field)


def _duration_or_zero(text: str, field: str) -> timedelta:
    return parse_duration(text, field, zero_ok=True)


def _wall_time(text: str, field: str) -> datetime:
    """An ISO 8601 date-time, naive or with `Z` or an offset."""
    try:
        return datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise ValidationError(
            field, f"{field!r} is not an ISO 8601 date-time (got {shorten(text)})"
        ) from None


def _whole_number(text: str, field: str) -> int:
    try:
        return int(text)
    except ValueError:  # also a number of more digits than int() reads
        raise ValidationError(
            field, f"{field!r} must be a whole number (got {shorten(text)})"
        ) from None


def _count(text: str, field: str) -> int:
    """How many to show: 1-1000."""
    value = _whole_number(text, field)
    if not 1 <= value <= _MAX_COUNT:
        raise ValidationError(field, f"{field!r} must be 1-{_MAX_COUNT} (got {value})")
    return value


def _port(text: str, field: str) -> int:
    value = _whole_number(text, field)
    if not 0 <= value <= 65535:
        raise ValidationError(field, f"{field!r} must be 0-65535 (got {value})")
    return value


def _zone(text: str, field: str) -> str:
    """An IANA zone name, checked even where no wall time is read in it (`--every`
    without `--start-at`), so that a misspelt zone is never silently ignored."""
    load_zone(text, field)
    return text


def _host(text: str, field: str) -> str:
    return check_text(field, text, 1, 255)


def _one_of(*choices: str) -> Callable[[str, str], str]:
    def read(text: str, field: str) -> str:
        if text not in choices:
            raise ValidationError(
                field, f"{field!r} must be one of {', '.join(choices)} (got {shorten(text)})"
            )
        return text

    return read


def _clear_names(names: Sequence[str], field: str) -> list[str]:
    """`update --clear` names (`max-runs` or `max_runs`), as schedule fields."""
    read = _one_of(*_CLEAR_NAMES)
    return [read(name.replace("_", "-"), field).replace("-", "_") for name in names]


def _handler_target(text: str, field: str) -> str:
    """`module:function`; loaded by `_load_handler` once every other value is read."""
    module_name, sep, attribute = text.partition(":")
    if not sep or not module_name or not attribute:
        raise ValidationError(
            field, f"{field!r} must look like module:function (got {shorten(text)})"
        )
    return text


def _metadata(pairs: Sequence[str], field: str) -> dict[str, str]:
    metadata = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValidationError(
                field, f"{field!r} entries look like key=value (got {shorten(pair)})"
            )
        metadata[key] = value
    return metadata


# Each option whose value is not plain text, by dest: how to read it. A reader's
# ValidationError names the dest, which `_in_flags` spells as the flag.
_READERS: dict[str, Callable[[Any, str], object]] = {
    "every": _positive_duration,
    "timeout": _positive_duration,
    "seconds": _positive_duration,
    "catchup_window": _duration_or_zero,
    "jitter": _duration_or_zero,
    "retry_backoff": _duration_or_zero,
    "retry_max_backoff": _duration_or_zero,
    "grace": _duration_or_zero,
    "once": _wall_time,
    "start_at": _wall_time,
    "dtstart": _wall_time,
    "end_at": _wall_time,
    "after": _wall_time,
    "max_runs": _whole_number,
    "pause_after_failures": _whole_number,
    "retry": _whole_number,
    "n": _count,
    "limit": _count,
    "port": _port,
    "host": _host,
    "tz": _zone,
    "overlap": _one_of("skip", "buffer_one", "allow_all"),
    "status": _one_of(*(s.value for s in Status)),
    "clear": _clear_names,
    "handler": _handler_target,
    "metadata": _metadata,
}


def _read_values(args: argparse.Namespace) -> None:
    """Replace the text of each option given by the value it spells (`_READERS`)."""
    for dest, read in _READERS.items():
        text = getattr(args, dest, None)
        if text is not None:
            setattr(args, dest, read(text, dest))


# The library's name of a field, where it is not the dest of the option that gives it.
_DEST_OF_FIELD = {
    "agent_id": "agent",
    "expression": "cron",
    "run_at": "once",
    "timezone": "tz",
    "retry.attempts": "retry",
    "retry.backoff": "retry_backoff",
    "retry.max_backoff": "retry_max_backoff",
    "url": "db",
}
_QUOTED_PATH = re.compile(r"'([a-z_]+\.[a-z_]+)'")


def _flag_of(field: str, command: _Parser, args: argparse.Namespace) -> str | None:
    """The flag (or argument) of `command` that gives `field`, None if none does;
    `$AGENTSCHED_DB` for the store URL when `--db` was not given."""
    dest = _DEST_OF_FIELD.get(field, field)
    for action in command.arguments():
        if action.dest == dest:
            return f"${DB_VARIABLE}" if dest == "db" and args.db is None else _flag(action)
    return None


def _in_flags(error: ValidationError, command: _Parser, args: argparse.Namespace) -> str:
    """The message of `error` in the command's terms: the field it opens with (the
    library's convention, `'end_at' must ...`) becomes the flag (`--end-at must
    ...`), as does a sibling field path it names later (`'retry.backoff'`); a message
    that opens otherwise (a cron parse error) is prefixed by the flag."""
    message = str(error)
    flag = _flag_of(error.field, command, args)
    if flag is None:
        return message
    if not message.startswith(repr(error.field)):
        return f"{flag}: {message}"

    def spelled(found: re.Match[str]) -> str:
        return _flag_of(found[1], command, args) or found[0]

    head, got, echo = message.partition(" (got ")
    return flag + _QUOTED_PATH.sub(spelled, head[len(repr(error.field)) :]) + got + echo


def _instant(value: datetime, field: str) -> datetime:
    """An option that names an instant: it must carry `Z` or an offset."""
    if value.tzinfo is None:
        raise ValidationError(
            field, f"{field!r} must carry 'Z' or a UTC offset (got {value.isoformat()!r})"
        )
    return require_instant(value, field)


def _local_instant(value: datetime, zone: str, field: str) -> datetime:
    """An instant given with an offset, or a naive wall time read in `zone` as `--once`
    reads it (the first of a repeated time; the end of a spring-forward gap)."""
    if value.tzinfo is not None:
        return require_instant(value, field)
    try:
        return Once(value, zone).run_at
    except ValidationError as exc:
        if exc.field != "run_at":
            raise
        raise ValidationError(
            field, f"{field!r} must be in 1970-9999 (got {value.isoformat()!r})"
        ) from None


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


# -- specs and schedule fields --------------------------------------------------

# (option dest, schedule field) of options whose value, as read, is the field's value.
_PLAIN_FIELDS = (
    ("agent", "agent_id"),
    ("input", "input"),
    ("name", "name"),
    ("conversation", "conversation"),
    ("previous_response_id", "previous_response_id"),
    ("stateful", "stateful"),
    ("overlap", "overlap"),
    ("max_runs", "max_runs"),
    ("pause_after_failures", "pause_after_failures"),
    ("timeout", "timeout"),
    ("catchup_window", "catchup_window"),
    ("jitter", "jitter"),
    ("metadata", "metadata"),
)
# `update --clear NAME`: the optional fields, and what clearing sets them to.
_CLEARABLE: dict[str, dict[str, str] | None] = {
    "name": None,
    "conversation": None,
    "previous_response_id": None,
    "metadata": {},
    "max_runs": None,
    "end_at": None,
    "pause_after_failures": None,
    "timeout": None,
    "retry": None,
    "jitter": None,
}


_CLEAR_NAMES = tuple(field.replace("_", "-") for field in _CLEARABLE)


def _spec_kind(args: argparse.Namespace) -> str | None:
    """Which of `--cron`, `--once`, `--every`, `--rrule` was given (checked: at most one)."""
    return next((dest for dest, _ in _SPEC_OPTIONS if getattr(args, dest) is not None), None)


def _spec_from_args(args: argparse.Namespace, zone: str, hash_key: str | None = None) -> Spec:
    """The spec the when-options describe, with naive times read in `zone`."""
    kind = _spec_kind(args)
    if kind == "cron":
        return Cron(args.cron, zone, hash_key)
    if kind == "once":
        return Once(args.once, zone)
    if kind == "every":
        start = None if args.start_at is None else _local_instant(args.start_at, zone, "start_at")
        return Interval(args.every, start)
    return RRule(args.rrule, args.dtstart, zone)


def _retry_from_args(args: argparse.Namespace) -> Retry:
    backoffs = {"backoff": args.retry_backoff, "max_backoff": args.retry_max_backoff}
    return Retry(
        args.retry, **{name: value for name, value in backoffs.items() if value is not None}
    )


def _schedule_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The schedule fields the options of `add` or `update` give (only those given);
    the spec is built apart, as `update` reads it in the schedule's zone."""
    fields = {
        field: getattr(args, dest)
        for dest, field in _PLAIN_FIELDS
        if getattr(args, dest) is not None
    }
    if args.end_at is not None:
        fields["end_at"] = _instant(args.end_at, "end_at")
    if args.retry is not None:
        fields["retry"] = _retry_from_args(args)
    return fields


def _never_fires(trial: Schedule) -> str:
    """Why a schedule, created completed, has no fire time."""
    if isinstance(trial.schedule, Once):
        return "its --once time is in the past"
    if trial.schedule.next_after(trial.created_at) is not None:
        return "its --end-at comes before its first fire"
    return "it has no fire time left"


# -- output ---------------------------------------------------------------------


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


def _when(value: datetime | None) -> str:
    return "-" if value is None else format_instant(value.replace(microsecond=0))


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def _print_json(value: object) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def _one_line(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else f"{flat[: limit - 3]}..."


def _run_rows(runs: Sequence[Run]) -> list[list[str]]:
    return [
        [
            run.id,
            run.status.value,
            run.trigger.value,
            _when(run.scheduled_for),
            _when(run.started_at),
            str(run.coalesced),
            _one_line(run.error or run.output or "", 50),
        ]
        for run in runs
    ]


_RUN_HEADERS = ("RUN", "STATUS", "TRIGGER", "SCHEDULED FOR", "STARTED", "FIRES", "OUTPUT / ERROR")


def _print_schedule_change(schedule: Schedule, verb: str, as_json: bool) -> None:
    if as_json:
        _print_json(schedule.to_dict())
    else:
        print(f"{verb} {schedule.id} ({schedule.status}, next run {_when(schedule.next_run_at)})")


def _run_line(run: Run) -> str:
    """`run_... succeeded (schedule S, took 0.12s): its output or error`."""
    took = "-"
    if run.started_at is not None and run.finished_at is not None:
        took = f"{(run.finished_at - run.started_at).total_seconds():.2f}s"
    detail = _one_line(run.error or run.output or "", 200)
    line = f"{run.id} {run.status} (schedule {run.schedule_id}, took {took})"
    return f"{line}: {detail}" if detail else line


def _print_run(run: Run) -> None:
    """Every field of a run, one a line, then its traceback if it has one."""
    fields = {k: v for k, v in run.to_dict().items() if k not in ("object", "traceback")}
    width = max(map(len, fields))
    for key, value in fields.items():
        print(f"{key.ljust(width)}  {'-' if value is None else value}")
    if run.traceback:
        print(f"\n{run.traceback.rstrip()}")


# -- the store --------------------------------------------------------------------


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
        f"schedule {shorten(found.id)} is deleted (since {_when(found.deleted_at)})"
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


# -- commands ---------------------------------------------------------------------


def _cmd_next(args: argparse.Namespace) -> None:
    spec = _spec_from_args(args, args.tz, hash_key="cli")
    zone = load_zone(args.tz)
    after = (
        _instant(args.after, "after")
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
        _print_json([format_instant(t) for t in times])
        return
    if not times:
        print(f"no fire time after {_when(after)}")
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
    _print_schedule_change(schedule, "created", args.json)


def _cmd_update(args: argparse.Namespace) -> None:
    changes = _schedule_fields(args)
    changes.update({field: _CLEARABLE[field] for field in args.clear})
    with _opened(args) as sched:
        if _spec_kind(args) is not None:
            zone = args.tz or getattr(
                sched.get(args.id, owner=args.owner).schedule, "timezone", "UTC"
            )
            changes["schedule"] = _spec_from_args(args, zone)
        schedule = sched.update(args.id, owner=args.owner, **changes)
    _print_schedule_change(schedule, "updated", args.json)


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
        _print_json([s.to_dict() for s in schedules])
        return
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
        _print_run(record)
    else:
        _print_json(record.to_dict())  # a schedule's JSON shape reads well as it is


def _cmd_change(args: argparse.Namespace) -> None:
    with _opened(args) as sched:
        action = {"pause": sched.pause, "resume": sched.resume, "delete": sched.delete}
        schedule = action[args.command](args.id, owner=args.owner)
    if args.json:
        _print_json(schedule.to_dict())
    else:
        print(f"{schedule.id} is {schedule.status} (next run {_when(schedule.next_run_at)})")


def _cmd_runs(args: argparse.Namespace) -> None:
    with _opened(args) as sched:
        runs = sched.runs(args.id, limit=args.n, owner=args.owner)
    if args.json:
        _print_json([run.to_dict() for run in runs])
        return
    print(_table(_RUN_HEADERS, _run_rows(runs)))
    if args.verbose:
        for run in runs:
            if run.error or run.traceback:
                print(f"\n{run.id} ({run.status}): {run.error or ''}")
                if run.traceback:
                    print(run.traceback.rstrip())


def _cmd_trigger(args: argparse.Namespace) -> int:
    """Run the schedule's agent once, now, in this process; exit 1 if the run failed."""
    handler = _load_handler(args.handler)
    with _opened(args, handler=handler) as sched, _no_last_resort_log():
        try:
            run = sched.trigger(args.id, owner=args.owner)
        finally:
            sched.stop()  # the event loop of an async handler, if one ran
    if args.json:
        _print_json(run.to_dict())
    else:
        print(_run_line(run))
    return 0 if run.status is RunStatus.SUCCEEDED else 1


@contextmanager
def _no_last_resort_log() -> Iterator[None]:
    """Keep the `agentsched` logger's warning about a failed run off stderr, where Python
    prints it when logging is not configured: the command prints the run anyway. A
    logging setup of the handler's own still gets every record."""
    handler = logging.NullHandler()
    logger = logging.getLogger("agentsched")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


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
        with _log_runs_to_stdout():
            print(f"agentsched: running schedules from {_db_url(args)}; Ctrl-C to stop", flush=True)
            _serve(sched, None if args.grace is None else args.grace.total_seconds())
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
        with _log_runs_to_stdout():
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
            _table(
                ("ID", "NAME", "SCHEDULE", "NEXT RUN"),
                [[s.id, s.name or "", _describe(s.schedule), _when(s.next_run_at)] for s in made],
            )
        )
        with _log_runs_to_stdout():
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
        print(_table(("NAME", "STATUS", "RUNS", "FAILURES IN A ROW", "NEXT RUN"), rows))
        sched.store.close()


# -- the parser -------------------------------------------------------------------

_FORMATTER = argparse.RawDescriptionHelpFormatter
_WHEN_USAGE = "(--cron EXPR | --once TIME | --every DURATION | --rrule RULE --dtstart TIME)"
_TIME_HELP = "ISO 8601 (naive: a wall time in --tz)"
# The dests of `add`/`update` options that set a schedule field.
_FIELD_DESTS = (*(dest for dest, _ in _PLAIN_FIELDS), "end_at", "retry")


def _add_store_options(
    parser: argparse.ArgumentParser, default: object, owner: bool = True
) -> None:
    parser.add_argument(
        "--db",
        metavar="URL",
        default=default,
        help=f"store URL: sqlite:///path.db, postgresql://... or memory:// "
        f"(default: ${DB_VARIABLE}, "
        f"else {DEFAULT_DB})",
    )
    if not owner:
        return
    parser.add_argument(
        "--owner",
        metavar="NAME",
        default=default,
        help="act as this owner (others' schedules are invisible)",
    )


def _add_when_options(parser: argparse.ArgumentParser, command: str) -> None:
    """`--cron`, `--once`, `--every`, `--rrule` and what goes with them."""
    when = parser.add_argument_group("when")
    if command == "next":
        when.add_argument(
            "cron", nargs="?", metavar="EXPR", help='a cron expression, e.g. "0 9 * * mon-fri"'
        )
    else:
        when.add_argument(
            "--cron", metavar="EXPR", help='a cron expression, e.g. "0 9 * * mon-fri"'
        )
    when.add_argument("--once", metavar="TIME", help=f"one run at {_TIME_HELP}")
    when.add_argument("--every", metavar="DURATION", help="an interval: 90m, 1h30m, 45s, 2d")
    when.add_argument(
        "--start-at",
        metavar="TIME",
        help=f"with --every: the phase anchor, {_TIME_HELP} (default: now)",
    )
    when.add_argument(
        "--rrule", metavar="RULE", help='an RFC 5545 rule, e.g. "FREQ=WEEKLY;BYDAY=MO"'
    )
    when.add_argument(
        "--dtstart",
        metavar="TIME",
        help=f"with --rrule: the first occurrence, {_TIME_HELP}",
    )
    zone_default = "the schedule's zone, else UTC" if command == "update" else "UTC"
    when.add_argument(
        "--tz",
        metavar="ZONE",
        default=None if command == "update" else "UTC",
        help=f"IANA time zone of the wall times (default: {zone_default})",
    )


def _add_field_options(parser: _Parser, creating: bool) -> None:
    """The options that set a schedule's fields, shared by `add` and `update`."""
    what = parser.add_argument_group("what")
    agent = what.add_argument("--agent", help="the agent id to run")
    text = what.add_argument("--input", metavar="TEXT", help="the agent's input")
    if creating:
        parser.need(agent)
        parser.need(text)
    what.add_argument("--name", help="a name (1-120 characters)")
    replaces = "; replaces all of it" if not creating else ""
    what.add_argument(
        "--metadata", action="append", metavar="KEY=VALUE", help=f"metadata (repeatable{replaces})"
    )
    what.add_argument("--conversation", metavar="ID", help="the conversation the runs belong to")
    what.add_argument(
        "--previous-response-id", metavar="ID", help="the response the next run continues from"
    )
    what.add_argument(
        "--stateful",
        action=argparse.BooleanOptionalAction,
        help="chain response ids from run to run",
    )
    how = parser.add_argument_group("how")
    how.add_argument("--max-runs", metavar="N", help="complete after N runs")
    how.add_argument(
        "--end-at",
        metavar="TIME",
        help="complete after this instant (Z or offset)",
    )
    how.add_argument(
        "--overlap",
        metavar="{skip,buffer_one,allow_all}",
        help="a fire while the last run is still running (default: skip)",
    )
    how.add_argument("--timeout", metavar="DURATION", help="fail a run that takes longer")
    how.add_argument(
        "--catchup-window",
        metavar="DURATION",
        help="after downtime, run missed fires this recent (default: 1h; 0: none)",
    )
    how.add_argument("--pause-after-failures", metavar="N", help="pause after N failures in a row")
    how.add_argument("--retry", metavar="N", help="up to N attempts per fire in all")
    how.add_argument(
        "--retry-backoff",
        metavar="DURATION",
        help="with --retry: wait before the 2nd attempt, doubling (default: 30s)",
    )
    how.add_argument(
        "--retry-max-backoff",
        metavar="DURATION",
        help="with --retry: the longest wait (default: 10m)",
    )
    how.add_argument(
        "--jitter",
        metavar="DURATION",
        help="delay each start by a stable offset in [0, DURATION)",
    )


def _build_parser() -> tuple[_Parser, dict[str, _Parser]]:
    """The top-level parser and each command's parser (for its usage line)."""
    parser = _Parser(
        prog="agentsched",
        usage="%(prog)s [--db URL] [--owner NAME] COMMAND [options]",
        description="Schedule AI-agent runs: cron, once, interval and RRULE schedules kept "
        "in a store that survives restarts.",
        epilog=_TOP_EPILOG,
        formatter_class=_FORMATTER,
    )
    parser.add_argument("--version", action="version", version=f"agentsched {__version__}")
    _add_store_options(parser, default=None)
    store = _Parser(add_help=False)
    _add_store_options(store, default=argparse.SUPPRESS)  # after the command, it wins
    any_owner = _Parser(add_help=False)  # `run` fires every owner's
    _add_store_options(any_owner, default=argparse.SUPPRESS, owner=False)
    as_json = _Parser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="print machine-readable JSON")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands: dict[str, _Parser] = {}

    def command(name: str, usage: str, text: str, *parents: _Parser, epilog: str = "") -> _Parser:
        commands[name] = subparsers.add_parser(
            name,
            prog=f"agentsched {name}",
            help=text,
            description=text[0].upper() + text[1:] + ".",
            usage=f"%(prog)s {usage}",
            epilog=epilog,
            parents=list(parents),
            formatter_class=_FORMATTER,
        )
        return commands[name]

    nxt = command(
        "next",
        "(EXPR | --every DURATION | --once TIME | --rrule RULE --dtstart TIME) [options]",
        "print the next fire times of a cron expression or any other spec",
        as_json,
        epilog=_NEXT_EPILOG,
    )
    _add_when_options(nxt, "next")
    nxt.add_argument("-n", default="5", help="how many fire times (default 5, at most 1000)")
    nxt.add_argument(
        "--after",
        metavar="TIME",
        help="after this instant, Z or offset (default: now)",
    )

    add = command(
        "add",
        f"--agent AGENT --input TEXT {_WHEN_USAGE} [options]",
        "create a schedule",
        store,
        as_json,
        epilog=_ADD_EPILOG,
    )
    add.add_argument("--id", help="your id for it (1-128 of A-Z a-z 0-9 _ . : -; default: made up)")
    _add_when_options(add, "add")
    _add_field_options(add, creating=True)

    update = command(
        "update",
        "ID [--cron EXPR | --once TIME | --every DURATION | --rrule RULE --dtstart TIME] "
        "[--clear FIELD] [options]",
        "change a schedule's fields (only those given)",
        store,
        as_json,
        epilog=_UPDATE_EPILOG,
    )
    _add_id(update, "the schedule id")
    _add_when_options(update, "update")
    _add_field_options(update, creating=False)
    update.add_argument(
        "--clear",
        action="append",
        default=[],
        metavar="FIELD",
        help=f"unset an optional field (repeatable): {', '.join(_CLEAR_NAMES)}",
    )

    lst = command(
        "list",
        "[--agent AGENT] [--status STATUS] [--limit N] [--all] [--json]",
        "list schedules, sorted by name then id",
        store,
        as_json,
    )
    lst.add_argument("--agent", help="only this agent's schedules")
    lst.add_argument(
        "--status",
        metavar="{" + ",".join(s.value for s in Status) + "}",
        help="only schedules in this status",
    )
    lst.add_argument(
        "--limit", default="100", metavar="N", help="at most N (default 100, at most 1000)"
    )
    lst.add_argument("--all", action="store_true", help="include deleted schedules")

    show = command(
        "show",
        "ID [--json]",
        "print a schedule as JSON, or a run (an id starting run_)",
        store,
        as_json,
    )
    _add_id(show, "a schedule id, or a run id (run_...)")
    for name, text in (
        ("pause", "pause a schedule"),
        ("resume", "resume a paused schedule from now (the paused time is not caught up)"),
        ("delete", "delete a schedule (soft: it stays, with its runs, for show and runs)"),
    ):
        _add_id(command(name, "ID [--json]", text, store, as_json), "the schedule id")

    runs = command(
        "runs", "ID [-n N] [-v] [--json]", "list a schedule's runs, newest first", store, as_json
    )
    _add_id(runs, "the schedule id")
    runs.add_argument("-n", default="20", help="how many (default 20, at most 1000)")
    runs.add_argument(
        "-v", "--verbose", action="store_true", help="print each failed run's traceback"
    )

    trigger = command(
        "trigger",
        "ID --handler MODULE:FUNCTION [--json]",
        "run a schedule's agent now, in this process, and print the run",
        store,
        as_json,
        epilog=_TRIGGER_EPILOG,
    )
    _add_id(trigger, "the schedule id")
    _add_handler_option(trigger)

    run = command(
        "run",
        "--handler MODULE:FUNCTION [--grace DURATION]",
        "fire every owner's schedules until Ctrl-C or SIGTERM",
        any_owner,
    )
    _add_handler_option(run)
    run.add_argument(
        "--grace",
        metavar="DURATION",
        help="on Ctrl-C, wait at most this long for running handlers: 30s, 5m, or seconds "
        "(default: until they finish, or a second Ctrl-C)",
    )

    serve = command(
        "serve",
        "--handler MODULE:FUNCTION [--host 127.0.0.1] [--port 8000]",
        "fire schedules and serve the REST API and the dashboard (extra: web)",
        any_owner,
    )
    _add_handler_option(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    serve.add_argument("--port", default="8000", help="port (default 8000; 0: any free port)")

    demo = command("demo", "", "a 15-second demo on a temporary SQLite file")
    demo.add_argument("--seconds", default="15", help=argparse.SUPPRESS)
    return parser, commands


def _add_handler_option(parser: _Parser) -> None:
    parser.need(
        parser.add_argument(
            "--handler",
            metavar="MODULE:FUNCTION",
            help="the function each run calls, given a RunContext (the current directory is "
            "importable: ./myagent.py is myagent:handle)",
        )
    )


def _add_id(parser: _Parser, text: str) -> None:
    """The command's required ID argument (optional to argparse: see `_Parser`)."""
    parser.need(parser.add_argument("id", nargs="?", metavar="ID", help=text))


_TOP_EPILOG = f"""\
The store is --db URL, else ${DB_VARIABLE}, else {DEFAULT_DB}; --db and --owner
may also follow the command. `agentsched COMMAND --help` shows a command's options.

examples:
  agentsched next "0 9 * * mon-fri" --tz Europe/Paris -n 3
  agentsched add --agent support-bot --input "Summarise the tickets" \\
      --cron "0 9 * * mon-fri" --tz Europe/Paris
  agentsched list --json
  agentsched run --handler myagent:handle
"""
_NEXT_EPILOG = """\
examples:
  agentsched next "0 9 * * mon-fri" --tz Europe/Paris -n 3
  agentsched next --every 90m --start-at 2026-03-29T00:00 --tz Europe/Paris
  agentsched next --rrule "FREQ=MONTHLY;BYDAY=-1FR" --dtstart 2026-01-30T17:00 --tz Europe/Paris
  agentsched next --once 2026-03-29T02:30 --tz Europe/Paris --json

H in EXPR is hashed from a fixed key here; a schedule hashes its own id.
"""
_ADD_EPILOG = """\
examples:
  agentsched add --agent support-bot --input "Summarise the tickets" \\
      --name "daily summary" --cron "0 9 * * mon-fri" --tz Europe/Paris
  agentsched add --id nightly-report --agent reporter --input go --every 24h \\
      --start-at 2026-01-01T02:00 --tz Europe/Paris --retry 3 --jitter 5m

A schedule that could never fire (a past --once, an --end-at before the first
fire) is refused and nothing is created.
"""
_UPDATE_EPILOG = """\
examples:
  agentsched update daily-summary --cron "30 8 * * mon-fri"     # keeps the schedule's zone
  agentsched update daily-summary --metadata team=support --metadata tier=gold
  agentsched update daily-summary --clear max-runs --clear timeout
  agentsched update daily-summary --no-stateful --clear previous-response-id

A new spec recomputes the next run; a paused schedule stays paused.
"""
_TRIGGER_EPILOG = """\
The run is recorded like any other (trigger "manual"); it does not count toward
--max-runs. The exit status is 0 if the run succeeded, 1 if it failed.
"""


def _check_when(parser: _Parser, args: argparse.Namespace) -> None:
    """Exactly one spec option (at most one for `update`), and the options that go with it."""
    labels = dict(_SPEC_OPTIONS)
    if args.command == "next":
        labels["cron"] = "EXPR"
    given = [labels[dest] for dest, _ in _SPEC_OPTIONS if getattr(args, dest) is not None]
    choices = ", ".join(labels.values())
    if len(given) > 1 or (not given and args.command != "update"):
        amount = "at most" if args.command == "update" else "exactly"
        parser.error(f"give {amount} one of {choices}")
    kind = _spec_kind(args)
    if kind == "rrule" and args.dtstart is None:
        parser.error("--rrule needs --dtstart")
    if args.dtstart is not None and kind != "rrule":
        parser.error("--dtstart goes with --rrule")
    if args.start_at is not None and kind != "every":
        parser.error("--start-at goes with --every")
    if args.tz is not None and kind is None:
        parser.error(f"--tz goes with one of {choices}")


def _check_fields(parser: _Parser, args: argparse.Namespace) -> None:
    if args.retry is None and (args.retry_backoff, args.retry_max_backoff) != (None, None):
        parser.error("--retry-backoff and --retry-max-backoff go with --retry N")
    if args.command != "update":
        return
    for field in args.clear:
        if getattr(args, field) is not None:
            flag = field.replace("_", "-")
            parser.error(f"--clear {flag} and --{flag} contradict each other")
    if (
        not args.clear
        and _spec_kind(args) is None
        and all(getattr(args, dest) is None for dest in _FIELD_DESTS)
    ):
        parser.error("nothing to update: give the fields to change")


def _refuse_extras(parser: _Parser, extras: Sequence[str]) -> None:
    """Arguments the command does not take. An unknown option is named with the closest
    of the command's own (`unknown option --agnet (did you mean --agent?)`)."""
    unknown = [
        x for x in extras if x.startswith("-") and x != "-" and not _NEGATIVE_NUMBER.fullmatch(x)
    ]
    if unknown:
        option = unknown[0].partition("=")[0]
        # compared without their dashes, which every option shares
        flags = {f.lstrip("-"): f for action in parser.arguments() for f in action.option_strings}
        close = difflib.get_close_matches(option.lstrip("-"), flags, n=1)
        hint = f" (did you mean {flags[close[0]]}?)" if close else ""
        parser.error(f"unknown option {option}{hint}")
    if extras:
        parser.error(f"unrecognized arguments: {' '.join(extras)}")


def _parse(
    parser: _Parser, commands: dict[str, _Parser], argv: Sequence[str] | None
) -> tuple[argparse.Namespace, _Parser]:
    """The command line's shape: which command, options and arguments (values still text),
    with any problem reported with the usage line of the command it concerns."""
    args, extras = parser.parse_known_args(argv)
    command = commands.get(args.command) if args.command is not None else None
    _refuse_extras(command or parser, extras)
    if command is None:
        parser.error("the following arguments are required: COMMAND")
    missing = [_flag(action) for action in command.needed if getattr(args, action.dest) is None]
    if missing:
        command.error(f"the following arguments are required: {', '.join(missing)}")
    if args.owner is not None and args.command in ("next", "run", "serve", "demo"):
        command.error(f"--owner does not apply to {args.command}")
    return args, command


def _check_combinations(command: _Parser, args: argparse.Namespace) -> None:
    """The rules between options (read values: `--clear` names fields)."""
    if args.command in ("next", "add", "update"):
        _check_when(command, args)
    if args.command in ("add", "update"):
        _check_fields(command, args)


_COMMANDS: dict[str, Callable[[argparse.Namespace], int | None]] = {
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


def _fail(message: str, usage: str = "", status: int = 2) -> int:
    """Print the error on one line (after the usage line, if given); never a traceback.
    Text that cannot be encoded (a non-UTF-8 argument) is shown escaped."""
    text = f"{usage}agentsched: error: {' '.join(message.splitlines())}\n"
    sys.stderr.write(text.encode("utf-8", "backslashreplace").decode("utf-8"))
    return status


def _stdout_closed() -> int:
    """The reader of stdout went away (`agentsched list | head -1`): stop quietly, with
    stdout pointed at /dev/null so that the interpreter's last flush does not fail too."""
    with contextlib.suppress(OSError, ValueError):
        target = sys.stdout.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, target)
        os.close(devnull)
    return _SIGPIPE_STATUS


def main(argv: Sequence[str] | None = None, clock: Clock | None = None) -> int:
    """Run the command line; returns the exit status: 0; 2 for an error; 1 for a failed
    `trigger` run or an unexpected error; 130 on Ctrl-C. Commands read "now" from
    `clock` (the system clock by default; a `FakeClock` makes their output repeatable)."""
    parser, commands = _build_parser()
    try:
        try:
            args, command = _parse(parser, commands, argv)
        except SystemExit as done:  # --help and --version print, then exit
            return done.code if isinstance(done.code, int) else 0
        try:
            _read_values(args)
            _check_combinations(command, args)
            args.clock = clock or SystemClock()
            return _COMMANDS[args.command](args) or 0
        except ValidationError as exc:
            return _fail(_in_flags(exc, command, args))
    except _UsageError as exc:
        return _fail(str(exc), exc.usage)
    except AgentschedError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        sys.stderr.write("agentsched: interrupted\n")
        return 130
    except BrokenPipeError:
        return _stdout_closed()
    except Exception as exc:  # a bug or an unforeseen OS error: still one line
        return _fail(f"unexpected {type(exc).__name__}: {_one_line(str(exc), 300)}", status=1)


if __name__ == "__main__":
    sys.exit(main())
