"""The command line's shape: argparse parsers for every command, the flag table of
each, how each option's text is read, and the rules between options.

Every argument is optional to argparse: a command's required ones are
checked after unknown options, so that a misspelt `--agnet` is named as
itself, and values are read after the shape, so that a refused value is
one line naming its flag (`in_flags`).
"""

from __future__ import annotations

import argparse
import difflib
import re
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from .. import __version__
from ..errors import ValidationError
from ..model import Overlap, Status
from ..model.fields import FIELDS, Field, Flag, Kind
from .values import (
    duration_or_zero,
    handler_target,
    host_name,
    how_many,
    key_values,
    one_of,
    port_number,
    positive_duration,
    wall_time,
    whole_number,
    zone_name,
)

__all__ = [
    "CLEARABLE",
    "DB_VARIABLE",
    "DEFAULT_DB",
    "Parser",
    "UsageError",
    "build_parser",
    "check_combinations",
    "in_flags",
    "parse",
    "read_values",
    "spec_kind",
]

DEFAULT_DB = "sqlite:///agentsched.db"
DB_VARIABLE = "AGENTSCHED_DB"
SPEC_OPTIONS = (("cron", "--cron"), ("once", "--once"), ("every", "--every"), ("rrule", "--rrule"))
_NEGATIVE_NUMBER = re.compile(r"-\d+(\.\d*)?|-\.\d+")  # a value to argparse, not an option


class UsageError(Exception):
    """A command line argparse (or a rule between options) refuses: shown with `usage`."""

    def __init__(self, message: str, usage: str) -> None:
        super().__init__(message)
        self.usage = usage


class Parser(argparse.ArgumentParser):
    """A parser without abbreviations (`--agen` is not `--agent`) whose errors are
    `UsageError`s. argparse never requires an argument here: `needed` lists those the
    command requires, checked after unknown options, so that `--agnet` is reported as
    itself rather than as a missing `--agent`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **{**kwargs, "allow_abbrev": False})
        self.needed: list[argparse.Action] = []

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, self.format_usage())

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


# The options of `add` and `update` that give a schedule field or a part of one, by the
# name the library gives it in errors (`retry.backoff`), each with its field.
_FIELD_FLAGS: dict[str, tuple[Field, Flag]] = {
    name: (field, field.flag)
    for top in FIELDS
    for name, field in ((top.name, top), *((f"{top.name}.{p.name}", p) for p in top.parts))
    if field.flag is not None
}
# `update --clear NAME`: the fields update may set to nothing, and what clearing sets them
# to: {} for metadata, its empty value (clearing empty metadata changes nothing).
CLEARABLE: dict[str, dict[str, str] | None] = {
    field.name: {} if field.kind is Kind.METADATA else None
    for field in FIELDS
    if field.updatable and field.nullable
}
_CLEAR_NAMES = tuple(field.replace("_", "-") for field in CLEARABLE)
# The dests of the options that change a field on `update`.
_UPDATE_DESTS = tuple(
    flag.dest
    for top in FIELDS
    if top.updatable
    for flag in (top.flag, *(p.flag for p in top.parts))
    if flag is not None
)


def spec_kind(args: argparse.Namespace) -> str | None:
    """Which of `--cron`, `--once`, `--every`, `--rrule` was given (checked: at most one)."""
    return next((dest for dest, _ in SPEC_OPTIONS if getattr(args, dest) is not None), None)


def _clear_names(names: Sequence[str], field: str) -> list[str]:
    """`update --clear` names (`max-runs` or `max_runs`), as schedule fields."""
    read = one_of(*_CLEAR_NAMES)
    return [read(name.replace("_", "-"), field).replace("-", "_") for name in names]


def _field_reader(field: Field) -> Callable[[Any, str], object] | None:
    """How the option of a field reads its text, by the field's kind (None: as it is)."""
    if field.kind is Kind.DURATION:
        return positive_duration if field.bounds[0] > 0 else duration_or_zero
    if field.kind is Kind.COUNT:
        return whole_number
    if field.kind is Kind.INSTANT:
        return wall_time
    if field.kind is Kind.OVERLAP:
        return one_of(*(o.value for o in Overlap))
    if field.kind is Kind.METADATA:
        return key_values
    return None


# Each option whose value is not plain text, by dest: how to read it. A reader's
# ValidationError names the dest, which `in_flags` spells as the flag.
_READERS: dict[str, Callable[[Any, str], object]] = {
    "every": positive_duration,
    "seconds": positive_duration,
    "grace": duration_or_zero,
    "once": wall_time,
    "start_at": wall_time,
    "dtstart": wall_time,
    "after": wall_time,
    **{
        flag.dest: read
        for field, flag in _FIELD_FLAGS.values()
        if (read := _field_reader(field)) is not None
    },
    "n": how_many,
    "limit": how_many,
    "port": port_number,
    "host": host_name,
    "tz": zone_name,
    "status": one_of(*(s.value for s in Status)),
    "clear": _clear_names,
    "handler": handler_target,
}


def read_values(args: argparse.Namespace) -> None:
    """Replace the text of each option given by the value it spells (`_READERS`)."""
    for dest, read in _READERS.items():
        text = getattr(args, dest, None)
        if text is not None:
            setattr(args, dest, read(text, dest))


# The library's name of a field, where it is not the dest of the option that gives it.
_DEST_OF_FIELD = {
    **{name: flag.dest for name, (_, flag) in _FIELD_FLAGS.items()},
    "expression": "cron",
    "run_at": "once",
    "timezone": "tz",
    "url": "db",
}
_QUOTED_PATH = re.compile(r"'([a-z_]+\.[a-z_]+)'")


def _flag_of(field: str, command: Parser, args: argparse.Namespace) -> str | None:
    """The flag (or argument) of `command` that gives `field`, None if none does;
    `$AGENTSCHED_DB` for the store URL when `--db` was not given."""
    dest = _DEST_OF_FIELD.get(field, field)
    for action in command.arguments():
        if action.dest == dest:
            return f"${DB_VARIABLE}" if dest == "db" and args.db is None else _flag(action)
    return None


def in_flags(error: ValidationError, command: Parser, args: argparse.Namespace) -> str:
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


_FORMATTER = argparse.RawDescriptionHelpFormatter
_WHEN_USAGE = "(--cron EXPR | --once TIME | --every DURATION | --rrule RULE --dtstart TIME)"
_TIME_HELP = "ISO 8601 (naive: a wall time in --tz)"
_METAVARS: dict[Kind | None, str] = {
    Kind.DURATION: "DURATION",
    Kind.COUNT: "N",
    Kind.INSTANT: "TIME",
    Kind.METADATA: "KEY=VALUE",
    Kind.OVERLAP: "{" + ",".join(o.value for o in Overlap) + "}",
}


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


def _add_field_options(parser: Parser, creating: bool) -> None:
    """The options that set a schedule's fields, from the field table: on `add` those a
    schedule is created with, on `update` those it may change."""
    groups: dict[str | None, Any] = {
        None: parser,
        "what": parser.add_argument_group("what"),
        "how": parser.add_argument_group("how"),
    }
    for top in FIELDS:
        if not (top.at_create if creating else top.updatable):
            continue
        for field in (top, *top.parts):
            flag = field.flag
            if flag is None:
                continue
            shown = flag.help if creating or flag.help_on_update is None else flag.help_on_update
            style: dict[str, Any] = {"metavar": flag.metavar or _METAVARS.get(field.kind)}
            if field.kind is Kind.METADATA:
                style["action"] = "append"
            elif field.kind is Kind.FLAG:
                style = {"action": argparse.BooleanOptionalAction}
            action = groups[flag.group].add_argument(flag.option, help=shown, **style)
            if creating and field.required:
                parser.need(action)


def build_parser() -> tuple[Parser, dict[str, Parser]]:
    """The top-level parser and each command's parser (for its usage line)."""
    parser = Parser(
        prog="agentsched",
        usage="%(prog)s [--db URL] [--owner NAME] COMMAND [options]",
        description="Schedule AI-agent runs: cron, once, interval and RRULE schedules kept "
        "in a store that survives restarts.",
        epilog=_TOP_EPILOG,
        formatter_class=_FORMATTER,
    )
    parser.add_argument("--version", action="version", version=f"agentsched {__version__}")
    _add_store_options(parser, default=None)
    store = Parser(add_help=False)
    _add_store_options(store, default=argparse.SUPPRESS)  # after the command, it wins
    any_owner = Parser(add_help=False)  # `run` fires every owner's
    _add_store_options(any_owner, default=argparse.SUPPRESS, owner=False)
    as_json = Parser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="print machine-readable JSON")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands: dict[str, Parser] = {}

    def command(name: str, usage: str, text: str, *parents: Parser, epilog: str = "") -> Parser:
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


def _add_handler_option(parser: Parser) -> None:
    parser.need(
        parser.add_argument(
            "--handler",
            metavar="MODULE:FUNCTION",
            help="the function each run calls, given a RunContext (the current directory is "
            "importable: ./myagent.py is myagent:handle)",
        )
    )


def _add_id(parser: Parser, text: str) -> None:
    """The command's required ID argument (optional to argparse: see `Parser`)."""
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


def _check_when(parser: Parser, args: argparse.Namespace) -> None:
    """Exactly one spec option (at most one for `update`), and the options that go with it."""
    labels = dict(SPEC_OPTIONS)
    if args.command == "next":
        labels["cron"] = "EXPR"
    given = [labels[dest] for dest, _ in SPEC_OPTIONS if getattr(args, dest) is not None]
    choices = ", ".join(labels.values())
    if len(given) > 1 or (not given and args.command != "update"):
        amount = "at most" if args.command == "update" else "exactly"
        parser.error(f"give {amount} one of {choices}")
    kind = spec_kind(args)
    if kind == "rrule" and args.dtstart is None:
        parser.error("--rrule needs --dtstart")
    if args.dtstart is not None and kind != "rrule":
        parser.error("--dtstart goes with --rrule")
    if args.start_at is not None and kind != "every":
        parser.error("--start-at goes with --every")
    if args.tz is not None and kind is None:
        parser.error(f"--tz goes with one of {choices}")


def _check_fields(parser: Parser, args: argparse.Namespace) -> None:
    if args.retry is None and (args.retry_backoff, args.retry_max_backoff) != (None, None):
        parser.error("--retry-backoff and --retry-max-backoff go with --retry N")
    if args.command != "update":
        return
    for field in args.clear:
        if getattr(args, _DEST_OF_FIELD.get(field, field)) is not None:
            flag = field.replace("_", "-")
            parser.error(f"--clear {flag} and --{flag} contradict each other")
    if (
        not args.clear
        and spec_kind(args) is None
        and all(getattr(args, dest) is None for dest in _UPDATE_DESTS)
    ):
        parser.error("nothing to update: give the fields to change")


def _refuse_extras(parser: Parser, extras: Sequence[str]) -> None:
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


def parse(
    parser: Parser, commands: dict[str, Parser], argv: Sequence[str] | None
) -> tuple[argparse.Namespace, Parser]:
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


def check_combinations(command: Parser, args: argparse.Namespace) -> None:
    """The rules between options (read values: `--clear` names fields)."""
    if args.command in ("next", "add", "update"):
        _check_when(command, args)
    if args.command in ("add", "update"):
        _check_fields(command, args)
