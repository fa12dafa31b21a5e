"""The command line: every command, one-line errors, clean shutdown."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from support.waiting import eventually

from agentsched import Cron, InlineExecutor, RunContext, RunStatus, Scheduler, SQLiteStore
from agentsched.cli import main
from agentsched.testing import FakeClock

AFTER = ["--after", "2026-03-27T00:00:00Z"]


def test_next_prints_local_and_utc(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["next", "0 9 * * mon-fri", "--tz", "Europe/Paris", "-n", "3", *AFTER]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "Fri 2026-03-27 09:00 CET (+0100)  2026-03-27T08:00:00Z",
        "Mon 2026-03-30 09:00 CEST (+0200)  2026-03-30T07:00:00Z",
        "Tue 2026-03-31 09:00 CEST (+0200)  2026-03-31T07:00:00Z",
    ]


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


def test_crud_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--db", f"sqlite:///{tmp_path / 'agents.db'}"]
    assert (
        main(
            [
                *db,
                "add",
                "--agent",
                "support-bot",
                "--input",
                "Summarise",
                "--name",
                "daily",
                "--cron",
                "0 9 * * mon-fri",
                "--tz",
                "Europe/Paris",
                "--metadata",
                "team=support",
            ]
        )
        == 0
    )
    created = capsys.readouterr().out
    schedule_id = created.split()[1]
    assert created.startswith("created sched_") and "active" in created
    for extra in (
        ["--every", "90m"],
        ["--once", "2030-01-05T14:00", "--tz", "Europe/Paris"],
        ["--rrule", "FREQ=WEEKLY;BYDAY=MO", "--dtstart", "2026-01-05T09:00"],
    ):
        assert main([*db, "add", "--agent", "other", "--input", "x", *extra]) == 0
    capsys.readouterr()
    assert main([*db, "list"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:4] == ["ID", "NAME", "AGENT", "STATUS"] and len(table) == 5
    assert any(schedule_id in row and "cron 0 9 * * mon-fri Europe/Paris" in row for row in table)
    assert main([*db, "show", schedule_id]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["id"] == schedule_id and shown["metadata"] == {"team": "support"}
    assert main([*db, "pause", schedule_id]) == 0
    assert "is paused" in capsys.readouterr().out
    assert main([*db, "resume", schedule_id]) == 0
    assert "is active" in capsys.readouterr().out
    assert main([*db, "runs", schedule_id]) == 0
    assert capsys.readouterr().out.startswith("RUN")
    assert main([*db, "delete", schedule_id]) == 0
    assert "is deleted" in capsys.readouterr().out
    assert main([*db, "list"]) == 0
    assert schedule_id not in capsys.readouterr().out
    assert main([*db, "list", "--all"]) == 0
    assert schedule_id in capsys.readouterr().out


def test_owner_scoping(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--db", f"sqlite:///{tmp_path / 'agents.db'}"]
    main([*db, "--owner", "alice", "add", "--agent", "a", "--input", "x", "--every", "1h"])
    schedule_id = capsys.readouterr().out.split()[1]
    assert main([*db, "--owner", "bob", "show", schedule_id]) == 2
    assert main([*db, "--owner", "alice", "show", schedule_id]) == 0


def _broken_agent(ctx: RunContext) -> None:
    data: dict[str, str] = {}
    print(data["missing"])


def test_runs_verbose_prints_tracebacks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "a.db"
    nine = datetime(2026, 1, 5, 9, tzinfo=timezone.utc)
    sched = Scheduler(
        store=SQLiteStore(path),
        handler=_broken_agent,
        executor=InlineExecutor(),
        clock=FakeClock(nine - timedelta(minutes=1)),
    )
    s = sched.create(agent_id="bot", schedule=Cron("0 9 * * *"), input="go")
    sched.tick(now=nine)
    sched.store.close()
    assert main(["--db", f"sqlite:///{path}", "runs", s.id]) == 0
    assert "Traceback" not in capsys.readouterr().out
    assert main(["--db", f"sqlite:///{path}", "runs", s.id, "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "Traceback (most recent call last)" in out and "_broken_agent" in out


def test_python_dash_m_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agentsched", "next", "@daily", "-n", "1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and done.stdout.count("\n") == 1


def _start_run(tmp_path: Path, body: str, *extra: str) -> subprocess.Popen[str]:
    """`agentsched run` in `tmp_path`, whose myagent.py holds `handle` (importable from
    the current directory, as with uvicorn and celery)."""
    (tmp_path / "myagent.py").write_text(body)
    db = ["--db", f"sqlite:///{tmp_path / 'agents.db'}"]
    assert main([*db, "add", "--agent", "a", "--input", "x", "--every", "1s"]) == 0
    return subprocess.Popen(
        [sys.executable, "-m", "agentsched", *db, "run", "--handler", "myagent:handle", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )


def _finish(proc: subprocess.Popen[str]) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_run_fires_until_sigterm_and_shuts_down_cleanly(tmp_path: Path) -> None:
    proc = _start_run(
        tmp_path,
        "from pathlib import Path\n"
        "def handle(ctx):\n"
        "    Path('fired').write_text(ctx.run_id)\n"
        "    return 'ok'\n",
    )
    eventually((tmp_path / "fired").exists)
    proc.send_signal(signal.SIGTERM)
    out, err = _finish(proc)
    assert proc.returncode == 0, err
    assert "started" in out and "succeeded" in out  # run starts are shown, not only ends
    assert out.rstrip().endswith("agentsched: stopped") and "Traceback" not in err


HUNG = (
    "import time\n"
    "from pathlib import Path\n"
    "def handle(ctx):\n"
    "    Path('inside').write_text(ctx.run_id)\n"
    "    time.sleep(60)  # ignores ctx.cancel\n"
)


def test_a_second_signal_exits_at_once_past_a_hung_handler(tmp_path: Path) -> None:
    proc = _start_run(tmp_path, HUNG)
    eventually((tmp_path / "inside").exists)
    proc.send_signal(signal.SIGINT)
    assert proc.stdout is not None
    while "stopping" not in (line := proc.stdout.readline()):
        assert line, "the first Ctrl-C was not acknowledged"
    assert "Ctrl-C again" in line
    proc.send_signal(signal.SIGINT)
    out, err = _finish(proc)
    assert proc.returncode == 130 and "exiting now" in out and "Traceback" not in err
    run_id = (tmp_path / "inside").read_text()
    store = SQLiteStore(tmp_path / "agents.db")
    left = store.get_run(run_id)
    store.close()
    assert left is not None and left.status is RunStatus.RUNNING  # the lease will tell


def test_grace_bounds_the_wait_for_a_hung_handler(tmp_path: Path) -> None:
    proc = _start_run(tmp_path, HUNG, "--grace", "0.5")
    eventually((tmp_path / "inside").exists)
    proc.send_signal(signal.SIGTERM)
    out, err = _finish(proc)
    assert proc.returncode == 130 and "still running after 0.5s" in out, (out, err)


def test_demo_runs_and_prints_history(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--seconds", "2.5"]) == 0
    out = capsys.readouterr().out
    assert "run history" in out and "succeeded" in out and "schedules now:" in out
    assert "FAILURES IN A ROW" in out  # failure_count restarts at each success
