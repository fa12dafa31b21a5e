"""The `agentsched` command line (argparse, no extra dependencies).

Errors print one line on stderr and exit with status 2; no tracebacks.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import datetime

from ._datetimes import parse_instant
from .clock import SystemClock
from .errors import AgentschedError
from .specs import Cron
from .timing.zones import load_zone

__all__ = ["main"]

_MAX_COUNT = 1000


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(message)


class _UsageError(Exception):
    pass


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'-n' must be a whole number (got {text!r})") from None
    if not 1 <= value <= _MAX_COUNT:
        raise argparse.ArgumentTypeError(f"'-n' must be 1-{_MAX_COUNT} (got {value})")
    return value


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="agentsched", description="Schedule AI-agent runs.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    nxt = commands.add_parser("next", help="print the next fire times of a cron expression")
    nxt.add_argument("expression", help='a cron expression, e.g. "0 9 * * mon-fri"')
    nxt.add_argument("--tz", default="UTC", help="IANA time zone (default UTC)")
    nxt.add_argument("-n", type=_count, default=5, help="how many fire times (default 5)")
    nxt.add_argument("--after", help="start after this ISO 8601 instant (default: now)")
    return parser


def _next(args: argparse.Namespace) -> None:
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    try:
        args = _build_parser().parse_args(argv)
        _next(args)
    except _UsageError as exc:
        print(f"agentsched: error: {exc}", file=sys.stderr)
        return 2
    except AgentschedError as exc:
        print(f"agentsched: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
