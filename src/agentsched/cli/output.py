"""What the commands print: aligned tables, JSON, runs, log lines, and every error
in one line (never a traceback)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta

from .._instants import format_instant
from ..model import Run, Schedule
from ..model.specs import Cron, Interval, Once, Spec

__all__ = [
    "RUN_HEADERS",
    "describe_spec",
    "fail",
    "log_runs_to_stdout",
    "no_last_resort_log",
    "one_line",
    "print_json",
    "print_run",
    "print_schedule_change",
    "run_line",
    "run_rows",
    "stdout_closed",
    "table",
    "when",
]

_SIGPIPE_STATUS = 141  # what a shell reports for a process ended by SIGPIPE


def describe_spec(spec: Spec) -> str:
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


def when(value: datetime | None) -> str:
    return "-" if value is None else format_instant(value.replace(microsecond=0))


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def print_json(value: object) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def one_line(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else f"{flat[: limit - 3]}..."


def run_rows(runs: Sequence[Run]) -> list[list[str]]:
    return [
        [
            run.id,
            run.status.value,
            run.trigger.value,
            when(run.scheduled_for),
            when(run.started_at),
            str(run.coalesced),
            one_line(run.error or run.output or "", 50),
        ]
        for run in runs
    ]


RUN_HEADERS = ("RUN", "STATUS", "TRIGGER", "SCHEDULED FOR", "STARTED", "FIRES", "OUTPUT / ERROR")


def print_schedule_change(schedule: Schedule, verb: str, as_json: bool) -> None:
    if as_json:
        print_json(schedule.to_dict())
    else:
        print(f"{verb} {schedule.id} ({schedule.status}, next run {when(schedule.next_run_at)})")


def run_line(run: Run) -> str:
    """`run_... succeeded (schedule S, took 0.12s): its output or error`."""
    took = "-"
    if run.started_at is not None and run.finished_at is not None:
        took = f"{(run.finished_at - run.started_at).total_seconds():.2f}s"
    detail = one_line(run.error or run.output or "", 200)
    line = f"{run.id} {run.status} (schedule {run.schedule_id}, took {took})"
    return f"{line}: {detail}" if detail else line


def print_run(run: Run) -> None:
    """Every field of a run, one a line, then its traceback if it has one."""
    fields = {k: v for k, v in run.to_dict().items() if k not in ("object", "traceback")}
    width = max(map(len, fields))
    for key, value in fields.items():
        print(f"{key.ljust(width)}  {'-' if value is None else value}")
    if run.traceback:
        print(f"\n{run.traceback.rstrip()}")


@contextmanager
def no_last_resort_log() -> Iterator[None]:
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
def log_runs_to_stdout() -> Iterator[None]:
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


def fail(message: str, usage: str = "", status: int = 2) -> int:
    """Print the error on one line (after the usage line, if given); never a traceback.
    Text that cannot be encoded (a non-UTF-8 argument) is shown escaped."""
    text = f"{usage}agentsched: error: {' '.join(message.splitlines())}\n"
    sys.stderr.write(text.encode("utf-8", "backslashreplace").decode("utf-8"))
    return status


def stdout_closed() -> int:
    """The reader of stdout went away (`agentsched list | head -1`): stop quietly, with
    stdout pointed at /dev/null so that the interpreter's last flush does not fail too."""
    with contextlib.suppress(OSError, ValueError):
        target = sys.stdout.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, target)
        os.close(devnull)
    return _SIGPIPE_STATUS
