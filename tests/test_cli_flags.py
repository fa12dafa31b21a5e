"""The command line speaks in flags: every refused value is one line naming the flag
the user typed, an unknown option is named with the closest real one, and no command
line at all reaches the last-resort "unexpected" handler.

The grids and the fuzz walk the parser itself (every command, every flag: `build_parser`
and argparse's private `_actions`), so a flag added later is covered, or fails here
until it has a bad value to try.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentsched import Interval, Scheduler, SQLiteStore
from agentsched.cli import main, parse_duration
from agentsched.cli.parser import build_parser
from agentsched.errors import ValidationError
from agentsched.firing.executors import InlineExecutor

PARSER, COMMANDS = build_parser()

# A value each flag refuses, by dest (positionals: ID, EXPR).
BAD = {
    "db": "mysql://x",
    "owner": "\x00",
    "cron": "0 61 * * *",
    "once": "next tuesday",
    "every": "-5",
    "start_at": "1960-01-01T00:00",
    "rrule": "FREQ=NOPE",
    "dtstart": "0001-01-01T00:00",
    "tz": "Mars/Base",
    "after": "2026-01-01T00:00",
    "n": "0",
    "agent": "\x00",
    "input": "",
    "name": "",
    "metadata": "novalue",
    "conversation": "",
    "previous_response_id": "",
    "max_runs": "0",
    "end_at": "2030-01-01T00:00",
    "overlap": "queue",
    "timeout": "0",
    "catchup_window": "-1",
    "pause_after_failures": "two",
    "retry": "0",
    "retry_backoff": "400d",
    "retry_max_backoff": "1s",  # less than the default backoff, 30s
    "jitter": "soon",
    "id": "\x00",
    "clear": "agent",
    "status": "sleeping",
    "limit": "1001",
    "handler": "no-colon",
    "grace": "-1",
    "host": "",
    "port": "70000",
    "seconds": "0",
}
# Options a flag needs beside it, by dest.
COMPANIONS = {
    "start_at": ["--every", "5m"],
    "dtstart": ["--rrule", "FREQ=DAILY"],
    "rrule": ["--dtstart", "2026-01-05T09:00"],
    "retry_backoff": ["--retry", "2"],
    "retry_max_backoff": ["--retry", "2"],
}
SPEC_DESTS = {"cron", "once", "every", "rrule", "start_at", "dtstart"}


def _flag(action: argparse.Action) -> str:
    longs = [s for s in action.option_strings if s.startswith("--")]
    return (longs or action.option_strings or [str(action.metavar)])[0]


def _arguments(name: str) -> list[argparse.Action]:
    return [a for a in COMMANDS[name]._actions if a.dest != "help"]


def _argv(name: str, action: argparse.Action, value: str) -> list[str]:
    """A command line that `name` would accept but for `action` given `value`."""
    dest = action.dest
    given = [_flag(action), value] if action.option_strings else [value]
    cron = ["0 9 * * *"] if name == "next" else ["--cron", "0 9 * * *"]
    if dest in SPEC_DESTS:
        when: list[str] = []
    elif dest == "tz" or name in ("next", "add"):
        when = cron
    else:
        when = []
    around = [*when, *COMPANIONS.get(dest, [])]
    if name == "next":
        return ["next", *around, *given]
    if name == "add":
        needed = [f for f, d in (("--agent", "agent"), ("--input", "input")) if d != dest]
        return ["add", *(x for f in needed for x in (f, "x")), *around, *given]
    if name == "update":
        ident = [] if dest == "id" else ["s1"]
        return ["update", *ident, *around, *given, *(["--name", "n"] if dest != "name" else [])]
    if name in ("run", "serve", "trigger"):
        ident = ["s1"] if name == "trigger" and dest != "id" else []
        handler = [] if dest == "handler" else ["--handler", "builtins:repr"]
        port = ["--port", "0"] if name == "serve" and dest != "port" else []
        return [name, *ident, *handler, *port, *given]
    ident = ["s1"] if any(a.dest == "id" for a in _arguments(name)) and dest != "id" else []
    return [name, *ident, *given]


def _db(directory: Path) -> Path:
    """A store holding schedule `s1`, one run of it, and nothing else."""
    path = directory / "agents.db"
    with SQLiteStore(path) as store:
        sched = Scheduler(store, handler=lambda ctx: "ok", executor=InlineExecutor())
        sched.create(id="s1", agent_id="bot", input="go", schedule=Interval(timedelta(hours=1)))
        sched.trigger("s1")
    return path


def _contents(path: Path) -> tuple[object, ...]:
    with SQLiteStore(path, read_only=True) as store:
        schedules = store.list(include_deleted=True)
        return (*(s.to_dict() for s in schedules), *(r.to_dict() for r in store.runs("s1")))


VALUE_FLAGS = [
    (name, action) for name in COMMANDS for action in _arguments(name) if action.nargs != 0
]


@pytest.mark.parametrize(
    ("name", "action"), VALUE_FLAGS, ids=[f"{n}-{_flag(a)}" for n, a in VALUE_FLAGS]
)
def test_a_refused_value_is_one_line_naming_its_flag(
    name: str,
    action: argparse.Action,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = _db(tmp_path)
    before = _contents(path)
    monkeypatch.chdir(tmp_path)
    argv = ["--db", f"sqlite:///{path}", *_argv(name, action, BAD[action.dest])]
    assert main(argv) == 2, argv
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1, err
    assert err.startswith(f"agentsched: error: {_flag(action)}"), err
    assert [n for n in os.listdir(tmp_path) if not n.startswith("agents.db")] == []
    assert _contents(path) == before


NO_VALUE_FLAGS = [
    (name, action)
    for name in COMMANDS
    for action in _arguments(name)
    if action.nargs == 0 and action.option_strings
]


@pytest.mark.parametrize(
    ("name", "action"), NO_VALUE_FLAGS, ids=[f"{n}-{_flag(a)}" for n, a in NO_VALUE_FLAGS]
)
def test_a_value_given_to_a_flag_that_takes_none_is_a_usage_error(
    name: str, action: argparse.Action, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--db", f"sqlite:///{tmp_path / 'a.db'}", name, f"{_flag(action)}=yes"]
    assert main(argv) == 2
    usage, error = capsys.readouterr().err.splitlines()
    assert usage.startswith(f"usage: agentsched {name}") and _flag(action) in error


def test_the_reported_end_at(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["add", "--agent", "a", "--input", "x", "--every", "5m", "--end-at", "2030-01-01T00:00"]
    assert main(["--db", f"sqlite:///{tmp_path / 'a.db'}", *argv]) == 2
    assert capsys.readouterr().err == (
        "agentsched: error: --end-at must carry 'Z' or a UTC offset (got '2030-01-01T00:00:00')\n"
    )


def test_two_fields_of_one_message_are_both_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["add", "--agent", "a", "--input", "x", "--every", "5m", "--retry", "2"]
    assert main([*argv, "--retry-max-backoff", "10s", "--db", f"sqlite:///{tmp_path / 'a'}"]) == 2
    assert capsys.readouterr().err == (
        "agentsched: error: --retry-max-backoff (0:00:10) is less than --retry-backoff (0:00:30)\n"
    )


def test_a_field_named_inside_a_value_is_left_as_typed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["add", "--agent", "a", "--input", "x", "--every", "5m", "--metadata", "name\x00=v"]
    assert main([*argv, "--db", f"sqlite:///{tmp_path / 'a'}"]) == 2
    assert capsys.readouterr().err == (
        "agentsched: error: --metadata entry 'name\\x00' contains a NUL character\n"
    )


def test_the_store_url_from_the_environment_is_named_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTSCHED_DB", "mysql://x")
    assert main(["list"]) == 2
    assert capsys.readouterr().err.startswith("agentsched: error: $AGENTSCHED_DB must start with")


# -- durations ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90m", 5400),
        ("1h30m", 5400),
        ("45s", 45),
        ("2d", 172800),
        ("600", 600),
        ("1.5", 1.5),
        ("500ms", 0.5),
        ("1h 30m", 5400),
        ("2H", 7200),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "soon", "5 minutes", "-5", "0", "nan", "1e400", "367d"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValidationError):
        parse_duration(text, "every")


def test_zero_is_a_duration_where_allowed() -> None:
    assert parse_duration("0", "jitter", zero_ok=True) == timedelta(0)
    with pytest.raises(ValidationError, match="zero or more"):
        parse_duration("-1s", "jitter", zero_ok=True)


# -- unknown options --------------------------------------------------------------


def test_the_reported_misspelling(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["add", "--agnet", "a", "--input", "x", "--every", "5m"]
    assert main(["--db", f"sqlite:///{tmp_path / 'a.db'}", *argv]) == 2
    usage, error = capsys.readouterr().err.splitlines()
    assert usage.startswith("usage: agentsched add ")
    assert error == "agentsched: error: unknown option --agnet (did you mean --agent?)"
    assert not (tmp_path / "a.db").exists()


LONG_FLAGS = sorted(
    {
        (name, flag)
        for name in COMMANDS
        for action in _arguments(name)
        for flag in action.option_strings
        if flag.startswith("--")
    }
)


def _swapped(flag: str) -> str:
    """`flag` with two letters in the middle of its name swapped: `--agnet`."""
    middle = 2 + (len(flag) - 2) // 2
    return flag[: middle - 1] + flag[middle] + flag[middle - 1] + flag[middle + 1 :]


@pytest.mark.parametrize(("name", "flag"), LONG_FLAGS, ids=[f"{n}{f}" for n, f in LONG_FLAGS])
def test_no_option_is_abbreviated_and_a_misspelling_is_named(
    name: str, flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = {f for n, f in LONG_FLAGS if n == name}
    for typed in (flag[:-1], _swapped(flag)):
        if typed in flags:  # a real flag: `--retry` is a prefix of `--retry-backoff`
            continue
        assert main([name, typed, "x"]) == 2
        usage, error = capsys.readouterr().err.splitlines()
        assert usage.startswith(f"usage: agentsched {name}")
        assert error.startswith(f"agentsched: error: unknown option {typed}")
        if len(flag) > len("--db"):  # in a name of two letters, one is half of it
            assert error.endswith(f" (did you mean {flag}?)"), error


def test_an_unknown_option_comes_before_a_missing_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trigger", "--handlr", "m:f"]) == 2
    assert capsys.readouterr().err.endswith(
        "agentsched: error: unknown option --handlr (did you mean --handler?)\n"
    )
    assert main(["show", "--jsn"]) == 2
    assert capsys.readouterr().err.endswith("unknown option --jsn (did you mean --json?)\n")
    assert main(["--frobnicate"]) == 2
    assert capsys.readouterr().err.endswith("agentsched: error: unknown option --frobnicate\n")


def test_a_negative_number_is_a_value_not_an_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["next", "* * * * *", "-n", "-5"]) == 2
    assert capsys.readouterr().err == "agentsched: error: -n must be 1-1000 (got -5)\n"


def test_a_zone_is_checked_where_no_wall_time_is_read_in_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["add", "--agent", "a", "--input", "x", "--every", "5m", "--tz", "Europe/Pari"]
    assert main(["--db", f"sqlite:///{tmp_path / 'a.db'}", *argv]) == 2
    assert capsys.readouterr().err.startswith(
        "agentsched: error: --tz is not a known IANA time zone (got 'Europe/Pari'"
    )
    assert main(["next", "--every", "5m", "--tz", "Europe/Pari"]) == 2
    assert capsys.readouterr().err.startswith("agentsched: error: --tz is not a known IANA")


# -- fuzz: no command line reaches the last resort --------------------------------------

INSTANTS = [
    "2026-03-29T02:30", "2026-03-29T02:30Z", "2026-10-25T02:30+14:00", "0001-01-01T00:00",
    "1970-01-01T00:00", "1970-01-01T00:00:00+14:00", "1969-12-31T23:59:59Z",
    "9999-12-31T23:59:59Z", "9999-12-31T23:59:59-14:00", "9999-12-31T23:00", "2026-02-30T00:00",
    "2026-01-01T00:00:00.9999999", "+10000-01-01T00:00",
]  # fmt: skip
ZONES = [
    "UTC", "Europe/Paris", "Pacific/Kiritimati", "Pacific/Pago_Pago", "Mars/Base",
    "../../etc/passwd", "/usr/share/zoneinfo/UTC", "Europe/Paris\x00", "posixrules",
]  # fmt: skip
CRONS = [
    "* * * * *", "0 61 * * *", "0 0 31 2 *", "0 0 29 2 mon", "H H * * *", "@daily", "@reboot",
    "*/0 * * * *", "0 0 L * *", "0 12 * * 5L", "0-59/7 */5 1-31/9 * *",
]  # fmt: skip
RULES = [
    "FREQ=DAILY", "FREQ=SECONDLY", "FREQ=NOPE", "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
    "FREQ=DAILY;UNTIL=20200101T000000Z", "FREQ=DAILY;COUNT=1", "FREQ=MONTHLY;BYDAY=-1FR",
    "FREQ=YEARLY;INTERVAL=9999",
]  # fmt: skip
DURATIONS = [
    "0", "-1", "-5", "5m", "1h30m", "500ms", "366d", "400d", "0.0000001", "1e400", "nan", "inf",
    "-0", "1s", "9" * 400 + "d",
]  # fmt: skip
NUMBERS = [
    "0", "-1", "1", "3", "1000", "1001", "99999999999999999999", "1" * 5000, "1.5", "٣", "0x10",
    "65535", "65536",
]  # fmt: skip
OTHERS = [
    "", "skip", "queue", "active", "deleted", "max-runs", "max_runs", "agent", "a=b", "=",
    "novalue", "s1", "run_x", "sched_x", "json:dumps", "builtins:repr", "nomod:x", "x" * 100_000,
    "\ud800", "\x00",
]  # fmt: skip
AWKWARD = st.one_of(
    st.sampled_from([*INSTANTS, *ZONES, *CRONS, *RULES, *DURATIONS, *NUMBERS, *OTHERS]),
    st.text(max_size=20),
    st.binary(max_size=20).map(os.fsdecode),  # what Python makes of bytes in argv
)
# Values near what each kind of flag takes, so that a command line gets past its
# first check as often as not.
NEAR = {
    **dict.fromkeys(("once", "start_at", "dtstart", "end_at", "after"), INSTANTS),
    "tz": ZONES,
    "cron": CRONS,
    "rrule": RULES,
    **dict.fromkeys(("every", "timeout", "catchup_window", "jitter", "grace"), DURATIONS),
    **dict.fromkeys(("retry_backoff", "retry_max_backoff"), DURATIONS),
    **dict.fromkeys(("n", "limit", "max_runs", "pause_after_failures", "retry", "port"), NUMBERS),
    "id": ["s1", "run_x", "sched_x", "", "\x00"],
}
UNLOADABLE = st.sampled_from(["nomod_zz:f", "nope", ":", "x:", "json:nothing", "\udcff:f"])


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A directory to run in (relative --db files land here), with the template store."""
    directory = tmp_path_factory.mktemp("fuzz")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(directory)
        patch.setattr(sys, "path", list(sys.path))  # the CLI adds the current directory
        patch.delenv("AGENTSCHED_DB", raising=False)
        _db(directory).rename(directory / "template.db")
        yield directory


@st.composite
def command_lines(draw: st.DrawFn, names: tuple[str, ...]) -> list[str]:
    name = draw(st.sampled_from(names))
    arguments = _arguments(name)
    argv = [name]
    for action in arguments:
        if not action.option_strings and draw(st.booleans()):
            argv.append(draw(_values(name, action)))
    for needed in COMMANDS[name].needed:
        if needed.option_strings and draw(st.integers(0, 9)) != 0:
            argv += [_flag(needed), draw(_values(name, needed))]
    if name == "demo":  # without a refused --seconds, the demo runs for 15 seconds
        seconds = next(a for a in arguments if a.dest == "seconds")
        argv += ["--seconds", draw(_values(name, seconds))]
    options = [a for a in arguments if a.option_strings]
    for action in draw(st.lists(st.sampled_from(options), max_size=5)):
        argv.append(draw(st.sampled_from(action.option_strings)))
        if action.nargs != 0:
            argv.append(draw(_values(name, action)))
    return argv


def _values(name: str, action: argparse.Action) -> st.SearchStrategy[str]:
    if action.dest == "handler" and name in ("run", "serve"):
        return UNLOADABLE  # a loadable one would start firing, and never return
    if action.dest == "seconds":
        return st.sampled_from(["0", "-1", "nan", "soon", "400d"])  # a valid one runs the demo
    if action.dest == "db":
        return st.sampled_from(
            ["sqlite:///agents.db", "sqlite:///agents.db?mode=ro", "sqlite:///none.db?mode=rw",
             "sqlite:///x.db?mode=x", "sqlite:///x.db?x=1", "memory://", "memory://?x",
             "mysql://x", "sqlite:///", "sqlite:///no/such/dir/x.db"]
        )  # fmt: skip
    if action.dest in NEAR:
        return st.one_of(st.sampled_from(NEAR[action.dest]), AWKWARD)
    return AWKWARD


def _check(argv: list[str], workspace: Path) -> None:
    for leftover in ("agents.db", "agents.db-wal", "agents.db-shm"):
        (workspace / leftover).unlink(missing_ok=True)
    shutil.copy(workspace / "template.db", workspace / "agents.db")
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = main(["--db", "sqlite:///agents.db", *argv])
    said = err.getvalue()
    assert "Traceback" not in said and "agentsched: error: unexpected" not in said, said
    lines = said.splitlines()
    if status == 0:
        assert said == ""
    elif status == 1:  # a trigger whose run failed says so on stdout
        assert argv[0] == "trigger" and said == "" and " failed (schedule " in out.getvalue()
    else:
        assert status == 2 and len(lines) in (1, 2), (status, said)
        assert lines[-1].startswith("agentsched: error: ")
        assert len(lines) == 1 or lines[0].startswith("usage: agentsched")
    assert [p.name for p in workspace.iterdir() if "?" in p.name] == []  # no option as a name
    _contents(workspace / "agents.db")  # what is stored still reads


@settings(max_examples=150)
@given(argv=command_lines(("next",)))
def test_fuzz_next(argv: list[str], workspace: Path) -> None:
    _check(argv, workspace)


@settings(max_examples=150)
@given(argv=command_lines(("add", "update")))
def test_fuzz_add_and_update(argv: list[str], workspace: Path) -> None:
    _check(argv, workspace)


@settings(max_examples=150)
@given(
    argv=command_lines(
        ("list", "show", "pause", "resume", "delete", "runs", "trigger", "run", "serve", "demo")
    )
)
def test_fuzz_the_other_commands(argv: list[str], workspace: Path) -> None:
    _check(argv, workspace)
