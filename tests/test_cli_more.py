"""The command line's later additions: update, trigger, --json, next for every spec,
--version, AGENTSCHED_DB, options after the command, usage lines, deleted schedules."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import agentsched
from agentsched import Cron, Interval, Once, Retry, RRule, Run, Schedule, cli
from agentsched.cli import main, parse_duration
from agentsched.errors import ValidationError

UTC = timezone.utc
AGENTS = """\
import asyncio


def handle(ctx):
    return "did " + ctx.input


def bad(ctx):
    raise ValueError("the agent broke")


async def ahandle(ctx):
    await asyncio.sleep(0)
    return "async " + ctx.input


def interrupt(ctx):
    raise KeyboardInterrupt
"""


ADD = ["add", "--agent", "a", "--input", "x"]
EVERY_5M = [*ADD, "--every", "5m"]


@pytest.fixture
def db(tmp_path: Path) -> list[str]:
    return ["--db", f"sqlite:///{tmp_path / 'agents.db'}"]


@pytest.fixture
def agents(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """`cli_agents.py` in the current directory, importable as --handler cli_agents:..."""
    (tmp_path / "cli_agents.py").write_text(AGENTS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the CLI adds the current directory
    sys.modules.pop("cli_agents", None)
    yield "cli_agents"
    sys.modules.pop("cli_agents", None)


def _out(capsys: pytest.CaptureFixture[str], argv: list[str], status: int = 0) -> str:
    assert main(argv) == status, capsys.readouterr()
    return capsys.readouterr().out


def _json(capsys: pytest.CaptureFixture[str], argv: list[str], status: int = 0) -> Any:
    return json.loads(_out(capsys, [*argv, "--json"], status))


def _schedule(capsys: pytest.CaptureFixture[str], db: list[str], schedule_id: str) -> Schedule:
    shown = _json(capsys, [*db, "show", schedule_id])
    schedule = Schedule.from_dict(shown)
    assert schedule.to_dict() == shown
    return schedule


def _add(capsys: pytest.CaptureFixture[str], db: list[str], *extra: str) -> str:
    out = _out(capsys, [*db, "add", "--agent", "bot", "--input", "go", *extra])
    assert out.startswith("created ")
    return out.split()[1]


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.startswith("agentsched: error: ") and err.count("\n") == 1, err
    return err


# -- --version, --help -----------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert _out(capsys, ["--version"]) == f"agentsched {agentsched.__version__}\n"


@pytest.mark.parametrize(
    "command",
    [
        "next",
        "add",
        "update",
        "list",
        "show",
        "pause",
        "resume",
        "delete",
        "runs",
        "trigger",
        "run",
    ],
)
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = _out(capsys, [command, "--help"])
    assert out.startswith(f"usage: agentsched {command}")
    assert out.splitlines()[0].count("usage:") == 1


def test_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    out = _out(capsys, ["--help"])
    for command in ("next", "add", "update", "list", "show", "runs", "trigger", "run", "demo"):
        assert f"\n    {command} " in out
    assert "AGENTSCHED_DB" in out


# -- where the store is -------------------------------------------------------------


def test_agentsched_db_names_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AGENTSCHED_DB", f"sqlite:///{tmp_path / 'env.db'}")
    schedule_id = _add(capsys, [], "--every", "1h")
    assert (tmp_path / "env.db").exists() and not (tmp_path / "agentsched.db").exists()
    assert schedule_id in _out(capsys, ["list"])
    other = ["--db", f"sqlite:///{tmp_path / 'other.db'}"]
    assert main([*other, "list"]) == 2  # --db wins over the variable
    assert "no database" in _error(capsys)


def test_without_db_or_variable_the_default_file_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AGENTSCHED_DB", raising=False)
    _add(capsys, [], "--every", "1h")
    assert (tmp_path / "agentsched.db").exists()


def test_db_and_owner_after_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    out = _out(
        capsys,
        [*ADD, "--every", "1h", "--db", url, "--owner", "al"],
    )
    schedule_id = out.split()[1]
    assert schedule_id in _out(capsys, ["list", "--db", url, "--owner", "al"])
    assert schedule_id not in _out(capsys, ["--owner", "al", "list", "--db", url, "--owner", "bo"])
    missing = f"sqlite:///{tmp_path / 'missing.db'}"
    assert schedule_id in _out(capsys, ["--db", missing, "list", "--db", url])  # after wins
    assert main(["--db", url, "list", "--db", missing]) == 2
    assert not (tmp_path / "missing.db").exists()


# -- usage errors and one-line errors ---------------------------------------------------


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
    _error(capsys)
    assert not (tmp_path / "agents.db").exists()  # nothing was created for a bad add


def test_every_must_be_positive(db: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*db, "add", "--agent", "a", "--input", "x", "--every", "-5"]) == 2
    assert "must be positive" in _error(capsys)


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
    assert _error(capsys) == "agentsched: error: unexpected OSError: the disk is on fire\n"


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


# -- add ---------------------------------------------------------------------------


def test_add_takes_every_field(db: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    _add(
        capsys,
        db,
        "--id", "nightly",
        "--name", "nightly report",
        "--cron", "0 2 * * *",
        "--tz", "Europe/Paris",
        "--timeout", "10m",
        "--catchup-window", "0",
        "--pause-after-failures", "3",
        "--retry", "4",
        "--retry-backoff", "1m",
        "--retry-max-backoff", "1h",
        "--jitter", "90s",
        "--max-runs", "10",
        "--end-at", "2099-01-01T00:00:00Z",
        "--overlap", "allow_all",
        "--stateful",
        "--conversation", "conv_1",
        "--metadata", "team=ops",
    )  # fmt: skip
    s = _schedule(capsys, db, "nightly")
    assert (s.name, s.schedule) == ("nightly report", Cron("0 2 * * *", "Europe/Paris", "nightly"))
    assert s.timeout == timedelta(minutes=10) and s.catchup_window == timedelta(0)
    assert s.pause_after_failures == 3 and s.jitter == timedelta(seconds=90)
    assert s.retry == Retry(4, timedelta(minutes=1), timedelta(hours=1))
    assert s.max_runs == 10 and s.end_at == datetime(2099, 1, 1, tzinfo=UTC)
    assert s.overlap == "allow_all" and s.stateful and s.conversation == "conv_1"
    assert s.metadata == {"team": "ops"}


def test_add_with_a_taken_id(db: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    _add(capsys, db, "--id", "daily", "--every", "1d")
    assert main([*db, "add", "--agent", "a", "--input", "x", "--every", "1h", "--id", "daily"]) == 2
    assert "schedule id 'daily' is taken" in _error(capsys)


def test_retry_defaults_to_the_library_backoffs(
    db: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    schedule_id = _add(capsys, db, "--every", "1h", "--retry", "2")
    assert _schedule(capsys, db, schedule_id).retry == Retry(attempts=2)


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        (["--once", "2020-01-01T00:00"], "in the past"),
        (["--every", "1h", "--end-at", "2020-01-01T00:00:00Z"], "before its first fire"),
        (["--rrule", "FREQ=DAILY;COUNT=2", "--dtstart", "2020-01-01T09:00"], "no fire time left"),
    ],
)
def test_add_refuses_a_schedule_that_never_fires(
    extra: list[str],
    reason: str,
    db: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main([*db, "add", "--agent", "a", "--input", "x", *extra]) == 2
    err = _error(capsys)
    assert "would never fire" in err and reason in err and "no schedule was created" in err
    assert not (tmp_path / "agents.db").exists()


def test_start_at_is_local_time_in_tz_or_an_instant(
    db: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    local = _add(
        capsys, db, "--every", "1d", "--start-at", "2026-07-01T09:00", "--tz", "Europe/Paris"
    )
    spec = _schedule(capsys, db, local).schedule
    assert spec == Interval(timedelta(days=1), datetime(2026, 7, 1, 7, tzinfo=UTC))
    gap = _add(
        capsys, db, "--every", "1d", "--start-at", "2026-03-29T02:30", "--tz", "Europe/Paris"
    )
    assert _schedule(capsys, db, gap).schedule.start_at == datetime(2026, 3, 29, 1, tzinfo=UTC)
    given = _add(capsys, db, "--every", "1d", "--start-at", "2026-07-01T09:00+05:00")
    assert _schedule(capsys, db, given).schedule.start_at == datetime(2026, 7, 1, 4, tzinfo=UTC)


# -- update ---------------------------------------------------------------------------


def test_update_changes_only_the_fields_given(
    db: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    schedule_id = _add(
        capsys, db, "--name", "daily", "--cron", "0 9 * * *", "--tz", "Europe/Paris",
        "--metadata", "team=ops", "--max-runs", "5",
    )  # fmt: skip
    before = _schedule(capsys, db, schedule_id)
    out = _out(capsys, [*db, "update", schedule_id, "--cron", "30 8 * * mon-fri", "--input", "new"])
    assert out.startswith(f"updated {schedule_id} (active, next run 20")
    after = _schedule(capsys, db, schedule_id)
    assert after.schedule == Cron("30 8 * * mon-fri", "Europe/Paris", schedule_id)  # zone kept
    assert after.input == "new" and after.version == before.version + 1
    unchanged = ("name", "agent_id", "metadata", "max_runs", "created_at", "run_count")
    assert all(getattr(after, f) == getattr(before, f) for f in unchanged)


def test_update_sets_every_updatable_field(
    db: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    schedule_id = _add(capsys, db, "--cron", "0 9 * * *", "--metadata", "a=1", "--metadata", "b=2")
    shown = _json(
        capsys,
        [
            *db, "update", schedule_id,
            "--name", "renamed",
            "--agent", "other-bot",
            "--input", "new input",
            "--rrule", "FREQ=WEEKLY;BYDAY=MO", "--dtstart", "2026-01-05T09:00",
            "--tz", "Asia/Tokyo",
            "--max-runs", "7",
            "--end-at", "2099-01-01T00:00:00Z",
            "--overlap", "buffer_one",
            "--stateful",
            "--metadata", "c=3",
            "--conversation", "conv_2",
            "--previous-response-id", "resp_1",
            "--timeout", "1h30m",
            "--catchup-window", "2h",
            "--pause-after-failures", "2",
            "--retry", "3", "--retry-backoff", "10s", "--retry-max-backoff", "2m",
            "--jitter", "45s",
        ],
    )  # fmt: skip
    s = Schedule.from_dict(shown)
    assert s.to_dict() == shown
    assert (s.name, s.agent_id, s.input) == ("renamed", "other-bot", "new input")
    assert s.schedule == RRule("FREQ=WEEKLY;BYDAY=MO", datetime(2026, 1, 5, 9), "Asia/Tokyo")
    assert s.max_runs == 7 and s.end_at == datetime(2099, 1, 1, tzinfo=UTC)
    assert s.overlap == "buffer_one" and s.stateful
    assert s.metadata == {"c": "3"}  # replaced, not merged
    assert (s.conversation, s.previous_response_id) == ("conv_2", "resp_1")
    assert s.timeout == timedelta(minutes=90) and s.catchup_window == timedelta(hours=2)
    assert s.pause_after_failures == 2 and s.jitter == timedelta(seconds=45)
    assert s.retry == Retry(3, timedelta(seconds=10), timedelta(minutes=2))
    _out(capsys, [*db, "update", schedule_id, "--no-stateful", "--every", "2h"])
    s = _schedule(capsys, db, schedule_id)
    assert not s.stateful and isinstance(s.schedule, Interval)
    assert s.schedule.every == timedelta(hours=2)
    _out(capsys, [*db, "update", schedule_id, "--once", "2099-06-01T12:00", "--tz", "Europe/Paris"])
    s = _schedule(capsys, db, schedule_id)
    assert s.schedule == Once(datetime(2099, 6, 1, 10, tzinfo=UTC), "Europe/Paris")


def test_update_clear_unsets_optional_fields(
    db: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    schedule_id = _add(
        capsys, db, "--every", "1h", "--name", "n", "--max-runs", "3", "--timeout", "5m",
        "--retry", "2", "--jitter", "5s", "--pause-after-failures", "2", "--metadata", "k=v",
        "--end-at", "2099-01-01T00:00:00Z", "--conversation", "c",
    )  # fmt: skip
    clears = [
        "name", "max-runs", "timeout", "retry", "jitter", "pause_after_failures", "metadata",
        "end-at", "conversation", "previous-response-id",
    ]  # fmt: skip
    _out(capsys, [*db, "update", schedule_id, *(a for c in clears for a in ("--clear", c))])
    s = _schedule(capsys, db, schedule_id)
    assert s.name is None and s.max_runs is None and s.timeout is None and s.retry is None
    assert s.jitter is None and s.pause_after_failures is None and s.metadata == {}
    assert s.end_at is None and s.conversation is None


def test_update_keeps_a_paused_schedule_paused(
    db: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    schedule_id = _add(capsys, db, "--every", "1h")
    _out(capsys, [*db, "pause", schedule_id])
    out = _out(capsys, [*db, "update", schedule_id, "--every", "2h"])
    assert out == f"updated {schedule_id} (paused, next run -)\n"


# -- deleted vs not found ---------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["delete"],
        ["resume"],
        ["pause"],
        ["update", "--name", "x"],
        ["update", "--cron", "0 9 * * *"],
        ["trigger", "--handler", "cli_agents:handle"],
    ],
)
def test_a_deleted_schedule_is_said_deleted_not_missing(
    argv: list[str], agents: str, db: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    schedule_id = _add(capsys, db, "--every", "1h")
    _out(capsys, [*db, "delete", schedule_id])
    command, *options = argv
    assert main([*db, command, schedule_id, *options]) == 2
    assert f"schedule '{schedule_id}' is deleted" in _error(capsys)
    assert main([*db, command, "sched_unknown", *options]) == 2
    assert "schedule 'sched_unknown' not found" in _error(capsys)
    assert main([*db, "--owner", "someone-else", command, schedule_id, *options]) == 2
    assert "not found" in _error(capsys)  # another owner's deleted schedule stays invisible


# -- trigger -------------------------------------------------------------------------


def test_trigger_runs_the_agent_now(
    agents: str, db: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    schedule_id = _add(capsys, db, "--every", "1d")
    out = _out(capsys, [*db, "trigger", schedule_id, "--handler", f"{agents}:handle"])
    assert out.startswith("run_") and " succeeded " in out and out.rstrip().endswith(": did go")
    (run,) = [Run.from_dict(r) for r in _json(capsys, [*db, "runs", schedule_id])]
    assert run.trigger == "manual" and run.output == "did go"
    assert _schedule(capsys, db, schedule_id).run_count == 0  # manual runs do not count


def test_trigger_json_and_an_async_handler(
    agents: str, db: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    schedule_id = _add(capsys, db, "--every", "1d")
    shown = _json(capsys, [*db, "trigger", schedule_id, "--handler", f"{agents}:ahandle"])
    run = Run.from_dict(shown)
    assert run.to_dict() == shown and run.status == "succeeded" and run.output == "async go"


def test_trigger_of_a_failing_agent_exits_1(
    agents: str, db: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    schedule_id = _add(capsys, db, "--every", "1d")
    assert main([*db, "trigger", schedule_id, "--handler", f"{agents}:bad"]) == 1
    out, err = capsys.readouterr()
    assert " failed " in out and "ValueError: the agent broke" in out and err == ""


def test_trigger_needs_a_loadable_handler(
    agents: str, db: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    schedule_id = _add(capsys, db, "--every", "1d")
    assert main([*db, "trigger", schedule_id, "--handler", f"{agents}:missing"]) == 2
    assert "--handler cannot be loaded from 'cli_agents:missing'" in _error(capsys)


def test_ctrl_c_in_a_handler_exits_130_without_traceback(
    agents: str, db: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    schedule_id = _add(capsys, db, "--every", "1d")
    assert main([*db, "trigger", schedule_id, "--handler", f"{agents}:interrupt"]) == 130
    assert capsys.readouterr().err == "agentsched: interrupted\n"
    (run,) = _json(capsys, [*db, "runs", schedule_id])
    assert run["status"] == "failed"  # recorded before Ctrl-C is honoured


# -- --json and show RUN_ID -----------------------------------------------------------


def test_json_outputs_are_the_record_shapes(
    agents: str, db: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    first = _add(capsys, db, "--name", "a", "--every", "1h", "--metadata", "k=v")
    second = _add(capsys, db, "--name", "b", "--cron", "0 9 * * *", "--tz", "Europe/Paris")
    listed = _json(capsys, [*db, "list"])
    assert [s["id"] for s in listed] == [first, second]
    assert [Schedule.from_dict(s).to_dict() for s in listed] == listed
    assert _json(capsys, [*db, "show", first]) == listed[0]
    main([*db, "trigger", first, "--handler", f"{agents}:bad"])
    _out(capsys, [*db, "trigger", first, "--handler", f"{agents}:handle"])
    runs = _json(capsys, [*db, "runs", first])
    assert [Run.from_dict(r).to_dict() for r in runs] == runs
    assert [r["status"] for r in runs] == ["succeeded", "failed"]  # newest first
    assert runs[1]["traceback"].startswith("Traceback") and runs[0]["traceback"] is None
    assert _json(capsys, [*db, "show", runs[1]["id"]]) == runs[1]
    for command in ("pause", "resume", "delete"):
        assert Schedule.from_dict(_json(capsys, [*db, command, second])).status in (
            "paused", "active", "deleted",
        )  # fmt: skip
    assert [s["id"] for s in _json(capsys, [*db, "list"])] == [first]
    assert _json(capsys, [*db, "list", "--all", "--status", "deleted"])[0]["id"] == second


def test_show_a_run_for_people(
    agents: str, db: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    schedule_id = _add(capsys, db, "--every", "1h")
    main([*db, "trigger", schedule_id, "--handler", f"{agents}:bad"])
    run_id = capsys.readouterr().out.split()[0]
    lines = _out(capsys, [*db, "show", run_id]).splitlines()
    assert lines[0].split() == ["id", run_id]
    assert ["status", "failed"] in [line.split() for line in lines]
    assert (
        "Traceback (most recent call last):" in lines and lines[-1] == "ValueError: the agent broke"
    )
    assert main([*db, "--owner", "someone-else", "show", run_id]) == 2
    assert f"run '{run_id}' not found" in _error(capsys)
    assert main([*db, "show", "run_missing"]) == 2
    assert "run 'run_missing' not found" in _error(capsys)


def test_human_output_stays_without_json(db: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    schedule_id = _add(capsys, db, "--every", "1h")
    assert _out(capsys, [*db, "list"]).startswith("ID ")
    assert _out(capsys, [*db, "runs", schedule_id]).startswith("RUN ")
    assert _out(capsys, [*db, "pause", schedule_id]).startswith(f"{schedule_id} is paused")


# -- next for every spec ----------------------------------------------------------------


def _next(capsys: pytest.CaptureFixture[str], *argv: str) -> list[datetime]:
    shown = _json(capsys, ["next", *argv])
    assert all(isinstance(t, str) and t.endswith("Z") for t in shown)
    times = [datetime.fromisoformat(t[:-1]).replace(tzinfo=UTC) for t in shown]
    assert all(a < b for a, b in itertools.pairwise(times))
    return times


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


SPRING = "2026-03-28T00:00:00Z"  # Paris moves from +01:00 to +02:00 at 01:00Z on 2026-03-29


def test_next_cron_across_spring_forward(capsys: pytest.CaptureFixture[str]) -> None:
    times = _next(capsys, "30 2 * * *", "--tz", "Europe/Paris", "--after", SPRING, "-n", "3")
    # 02:30 does not exist on the 29th: it fires once, at the end of the gap (03:00 CEST)
    assert times == [_utc(2026, 3, 28, 1, 30), _utc(2026, 3, 29, 1), _utc(2026, 3, 30, 0, 30)]


def test_next_cron_across_fall_back(capsys: pytest.CaptureFixture[str]) -> None:
    after = "2026-10-25T00:00:00Z"
    times = _next(capsys, "*/30 * * * *", "--tz", "Europe/Paris", "--after", after, "-n", "4")
    assert [b - a for a, b in itertools.pairwise(times)] == [timedelta(minutes=30)] * 3


def test_next_every_across_spring_forward(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--every", "90m", "--start-at", "2026-03-29T00:00", "--tz", "Europe/Paris"]
    times = _next(capsys, *argv, "--after", SPRING, "-n", "4")
    assert times == [_utc(2026, 3, 28, 23) + timedelta(minutes=90 * k) for k in range(4)]
    lines = _out(capsys, ["next", *argv, "--after", SPRING, "-n", "4"]).splitlines()
    assert [line.split()[2:4] for line in lines] == [
        ["00:00", "CET"], ["01:30", "CET"], ["04:00", "CEST"], ["05:30", "CEST"],
    ]  # fmt: skip


def test_next_every_without_start_counts_from_after(capsys: pytest.CaptureFixture[str]) -> None:
    times = _next(capsys, "--every", "1h30m", "--after", SPRING, "-n", "2")
    assert times == [_utc(2026, 3, 28, 1, 30), _utc(2026, 3, 28, 3)]


def test_next_rrule_across_spring_forward(capsys: pytest.CaptureFixture[str]) -> None:
    rule = ["--rrule", "FREQ=DAILY", "--dtstart", "2026-03-27T02:30", "--tz", "Europe/Paris"]
    times = _next(capsys, *rule, "--after", SPRING, "-n", "3")
    assert times == [_utc(2026, 3, 28, 1, 30), _utc(2026, 3, 29, 1), _utc(2026, 3, 30, 0, 30)]


def test_next_once(capsys: pytest.CaptureFixture[str]) -> None:
    once = ["--once", "2026-03-29T02:30", "--tz", "Europe/Paris"]
    assert _next(capsys, *once, "--after", SPRING, "-n", "3") == [_utc(2026, 3, 29, 1)]
    assert _next(capsys, *once, "--after", "2026-04-01T00:00:00Z") == []
    out = _out(capsys, ["next", *once, "--after", "2026-04-01T00:00:00Z"])
    assert out == "no fire time after 2026-04-01T00:00:00Z\n"


def test_next_shows_seconds_when_there_are_some(capsys: pytest.CaptureFixture[str]) -> None:
    out = _out(capsys, ["next", "--every", "45s", "--after", SPRING, "-n", "2"])
    assert out.splitlines() == [
        "Sat 2026-03-28 00:00:45 UTC (+0000)  2026-03-28T00:00:45Z",
        "Sat 2026-03-28 00:01:30 UTC (+0000)  2026-03-28T00:01:30Z",
    ]


# -- read-only commands ----------------------------------------------------------------


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
    _error(capsys)
    assert not path.exists()
