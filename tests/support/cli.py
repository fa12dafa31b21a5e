"""The command line under test: a store for it (`db`), a handler module it can load
(`agents`), and what a command prints."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentsched import Schedule
from agentsched.cli import main

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
    """`--db` naming a SQLite file in the test's directory (not made until a write)."""
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


def printed(capsys: pytest.CaptureFixture[str], argv: list[str], status: int = 0) -> str:
    """What `agentsched ARGV` prints, once it exited with `status`."""
    assert main(argv) == status, capsys.readouterr()
    return capsys.readouterr().out


def printed_json(capsys: pytest.CaptureFixture[str], argv: list[str], status: int = 0) -> Any:
    return json.loads(printed(capsys, [*argv, "--json"], status))


def shown_schedule(capsys: pytest.CaptureFixture[str], db: list[str], schedule_id: str) -> Schedule:
    """The schedule as `show --json` prints it (which must be the record's own JSON)."""
    shown = printed_json(capsys, [*db, "show", schedule_id])
    schedule = Schedule.from_dict(shown)
    assert schedule.to_dict() == shown
    return schedule


def added(capsys: pytest.CaptureFixture[str], db: list[str], *extra: str) -> str:
    """The id of a schedule made by `add --agent bot --input go EXTRA`."""
    out = printed(capsys, [*db, "add", "--agent", "bot", "--input", "go", *extra])
    assert out.startswith("created ")
    return out.split()[1]


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    """What the command printed on stderr, which must be one error line."""
    err = capsys.readouterr().err
    assert err.startswith("agentsched: error: ") and err.count("\n") == 1, err
    return err
