"""The command line's errors: one line on stderr (after the usage line for a usage error),
exit status 2 (1 for the unexpected), never a traceback, and nothing written: no
database made, nothing stored changed, whatever the arguments (bad text, bad values)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timezone
from pathlib import Path
from typing import Any

import pytest
from support.cli import (
    ADD,
    EVERY_5M,
    one_line_error,
)

from agentsched import (
    SQLiteStore,
    cli,
)
from agentsched.cli import main

UTC = timezone.utc


def _with_db(argv: list[str], tmp_path: Path) -> list[str]:
    if argv and argv[0] != "--db":
        return ["--db", f"sqlite:///{tmp_path / 'a.db'}", *argv]
    return argv


@pytest.mark.parametrize(
    "argv",
    [
        ["next", "0 61 * * *"],
        ["next", "* * * * *", "--tz", "Mars/Base"],
        ["next", "* * * * *", "-n", "0"],
        ["next", "* * * * *", "--after", "2026-01-01T00:00:00"],
        ["--db", "mysql://x", "list"],
        ["add", "--agent", "", "--input", "x", "--every", "5m"],
        ["show", "sched_missing"],
        ["pause", "sched_missing"],
        ["runs", "sched_missing"],
        ["run", "--handler", "no_such_module_anywhere:fn"],
        ["add", "--agent", "a", "--input", "x", "--every", "5m", "--metadata", "novalue"],
        ["next", "* * * * *", "--after", "tomorrow"],
        ["add", "--agent", "a", "--input", "x", "--every", "soon"],
        ["run", "--handler", "nope"],
    ],
)
def test_errors_are_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(_with_db(argv, tmp_path)) == 2
    err = capsys.readouterr().err
    assert err.startswith("agentsched: error: ") and err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "usage"),
    [
        ([], "agentsched [--db URL]"),
        (["frobnicate"], "agentsched [--db URL]"),
        (["add", "--agent", "a", "--input", "x"], "agentsched add"),
        (
            ["add", "--agent", "a", "--input", "x", "--cron", "* * * * *", "--every", "5m"],
            "agentsched add",
        ),
        (["add", "--agent", "a", "--input", "x", "--rrule", "FREQ=DAILY"], "agentsched add"),
        (["run"], "agentsched run"),
    ],
)
def test_usage_errors_print_the_usage_line_then_one_line(
    argv: list[str], usage: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(_with_db(argv, tmp_path)) == 2
    first, second = capsys.readouterr().err.splitlines()
    assert first.startswith(f"usage: {usage}") and second.startswith("agentsched: error: ")


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["list", "--frobnicate"], "list"),
        (["--frobnicate", "list"], "list"),
        (["show"], "show"),
        (["update", "x"], "update"),
        (["update", "x", "--tz", "Europe/Paris"], "update"),
        (["update", "x", "--name", "n", "--clear", "name"], "update"),
        (["update", "x", "--retry-backoff", "5s"], "update"),
        ([*ADD, "--every", "5m", "--dtstart", "2026-01-01"], "add"),
        ([*ADD, "--cron", "* * * * *", "--start-at", "2026-01-01"], "add"),
        (["trigger", "x"], "trigger"),
        (["run", "--handler", "m:f", "--owner", "al"], "run"),
        (["--owner", "al", "run", "--handler", "m:f"], "run"),
        (["--owner", "al", "next", "* * * * *"], "next"),
        (["next"], "next"),
        (["next", "* * * * *", "--every", "5m"], "next"),
        (["next", "--rrule", "FREQ=DAILY"], "next"),
        (["show", "x", "y"], "show"),
        (["list", "--json=yes"], "list"),
        (["add", "--agnet", "a"], "add"),
    ],
)
def test_usage_errors_show_the_command_usage(
    argv: list[str], command: str, db: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*db, *argv]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"usage: agentsched {command} ")
    assert lines[1].startswith("agentsched: error: ")


@pytest.mark.parametrize(
    "argv",
    [
        [*ADD, "--every", "-5"],
        [*ADD, "--every=-5m"],
        [*ADD, "--every", "0"],
        [*EVERY_5M, "--timeout", "0"],
        [*EVERY_5M, "--jitter", "400d"],
        [*EVERY_5M, "--max-runs", "0"],
        [*EVERY_5M, "--retry", "0"],
        [*EVERY_5M, "--retry", "2", "--retry-backoff", "5m", "--retry-max-backoff", "1m"],
        [*EVERY_5M, "--id", "has space"],
        [*EVERY_5M, "--end-at", "2030-01-01T00:00"],
        [*EVERY_5M, "--start-at", "1960-01-01T00:00"],
        [*ADD, "--cron", "0 9 * * *", "--tz", "Mars/Base"],
        ["list", "--limit", "0"],
        ["runs", "x", "-n", "5000"],
        ["runs", "x", "-n", "many"],
        ["list", "--status", "sleeping"],
        ["update", "x", "--clear", "agent"],
        [*ADD, "--once", "next tuesday"],
        [*EVERY_5M, "--max-runs", "two"],
        [*EVERY_5M, "--end-at", "soon"],
        [*EVERY_5M, "--overlap", "queue"],
        ["trigger", "x", "--handler", "no-colon"],
        ["next", "--every", "5 minutes"],
    ],
)
def test_refused_values_are_one_line(
    argv: list[str], db: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main([*db, *argv]) == 2
    one_line_error(capsys)
    assert not (tmp_path / "agents.db").exists()  # nothing was created for a bad add


def test_every_must_be_positive(db: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*db, "add", "--agent", "a", "--input", "x", "--every", "-5"]) == 2
    assert "must be positive" in one_line_error(capsys)


def test_non_utf8_arguments_never_show_a_traceback(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'a.db'}".encode()
    for argv in (
        [b"add", b"--agent", b"\xff", b"--input", b"x", b"--every", b"5m"],
        [b"list", b"\xff\xfe"],
        [b"show", b"\xff"],
        [b"\xff"],
        [b"next", b"\xff"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "agentsched", b"--db", db, *argv],
            capture_output=True,
            check=False,
        )
        assert done.returncode == 2, done
        assert b"Traceback" not in done.stderr and b"agentsched: error: " in done.stderr


def test_an_unexpected_error_is_one_line_too(
    db: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(url: str, create: bool = True) -> None:
        raise OSError("the disk is on fire")

    monkeypatch.setattr(cli.commands, "store_from_url", broken)
    assert main([*db, "list"]) == 1
    assert one_line_error(capsys) == "agentsched: error: unexpected OSError: the disk is on fire\n"


def test_a_closed_stdout_is_not_a_traceback(tmp_path: Path) -> None:
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "agentsched", "next", "* * * * *", "-n", "100"],
            stdout=write,
            stderr=subprocess.PIPE,
            check=False,
        )
    finally:
        os.close(write)
    assert done.returncode == 141 and done.stderr == b""


@pytest.mark.parametrize(
    "argv",
    [
        ["list"],
        ["list", "--json"],
        ["show", "sched_x"],
        ["show", "run_x"],
        ["runs", "sched_x"],
        ["pause", "sched_x"],
        ["resume", "sched_x"],
        ["delete", "sched_x"],
        ["update", "sched_x", "--name", "n"],
        ["trigger", "sched_x", "--handler", "cli_agents:handle"],
        ["add", "--agent", "", "--input", "x", "--every", "1h"],
        ["run", "--handler", "cli_agents:missing"],
    ],
)
def test_commands_that_fail_never_create_a_database(
    argv: list[str], agents: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "missing.db"
    assert main(["--db", f"sqlite:///{path}", *argv]) == 2
    one_line_error(capsys)
    assert not path.exists()


CLI_BAD: list[list[str]] = [
    ["add", "--agent", "\udcff", "--input", "x", "--every", "5m"],
    ["add", "--agent", "a", "--input", "x\udcffy", "--every", "5m"],
    ["add", "--agent", "a", "--input", "x", "--name", "n\udcff", "--every", "5m"],
    ["add", "--agent", "a", "--input", "x", "--every", "999999999999d"],
    ["add", "--agent", "a", "--input", "x", "--every", "99999999d"],
    ["add", "--agent", "a", "--input", "x", "--every", "-5"],
    ["add", "--agent", "a", "--input", "x", "--every", "nan"],
    ["add", "--agent", "a", "--input", "x", "--every", "1e400"],
    ["add", "--agent", "a", "--input", "x", "--cron", "0 0 31 2 *"],
    ["add", "--agent", "a", "--input", "x", "--cron", "0 9 * * *", "--tz", "\udcff"],
    ["add", "--agent", "a", "--input", "x", "--once", "0001-01-01T00:00"],
    ["add", "--agent", "a", "--input", "x", "--rrule", "FREQ=DAILY", "--dtstart", "0001-01-01"],
    ["add", "--agent", "a", "--input", "x", "--every", "5m", "--metadata", "k=\udcff"],
    ["list", "--agent", "\udcff"],
    ["show", "\udcff"],
    ["pause", "\udcff"],
    ["runs", "\udcff"],
    ["next", "* * * * *", "--tz", "\udcff"],
]


@pytest.mark.parametrize("argv", CLI_BAD)
def test_cli_bad_input_is_one_line_and_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "a.db"
    url = f"sqlite:///{db}"
    assert main(["--db", url, "add", "--agent", "a", "--input", "kept", "--every", "5m"]) == 0
    before = _stored(db)
    capsys.readouterr()
    assert main(["--db", url, *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("agentsched: error: ") and err.count("\n") == 1
    assert _stored(db) == before


def _stored(db: Path) -> list[dict[str, Any]]:
    store = SQLiteStore(db)
    try:
        return [s.to_dict() for s in store.list(include_deleted=True)]
    finally:
        store.close()
