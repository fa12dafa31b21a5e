"""The `agentsched` command line (argparse, no extra dependencies).

`parser` reads the shape of a command line and the values of its options,
`commands` runs one command, `output` prints, `serve` runs the web app.

Errors never show a traceback and exit with status 2. argparse reads only
the shape of a command line: a shape it cannot read (an unknown option, a
missing argument or value) or options that do not go together print the
command's usage line, then the error. Every value stays text until
`read_values` reads it, so that a value refused (not in its option's form,
out of range, an unknown time zone) is one line naming the flag the user
typed; `in_flags` words the library's refusals so too.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ..clock import Clock, SystemClock
from ..errors import AgentschedError, ValidationError
from .commands import COMMANDS
from .output import fail, one_line, stdout_closed
from .parser import UsageError, build_parser, check_combinations, in_flags, parse, read_values
from .values import parse_duration

__all__ = ["main", "parse_duration"]


def main(argv: Sequence[str] | None = None, clock: Clock | None = None) -> int:
    """Run the command line; returns the exit status: 0; 2 for an error; 1 for a failed
    `trigger` run or an unexpected error; 130 on Ctrl-C. Commands read "now" from
    `clock` (the system clock by default; a `FakeClock` makes their output repeatable)."""
    parser, commands = build_parser()
    try:
        try:
            args, command = parse(parser, commands, argv)
        except SystemExit as done:  # --help and --version print, then exit
            return done.code if isinstance(done.code, int) else 0
        try:
            read_values(args)
            check_combinations(command, args)
            args.clock = clock or SystemClock()
            return COMMANDS[args.command](args) or 0
        except ValidationError as exc:
            return fail(in_flags(exc, command, args))
    except UsageError as exc:
        return fail(str(exc), exc.usage)
    except AgentschedError as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        sys.stderr.write("agentsched: interrupted\n")
        return 130
    except BrokenPipeError:
        return stdout_closed()
    except Exception as exc:  # a bug or an unforeseen OS error: still one line
        return fail(f"unexpected {type(exc).__name__}: {one_line(str(exc), 300)}", status=1)


if __name__ == "__main__":
    sys.exit(main())
