"""The command line's common options: `--version`, `--help` for every command, where the
store is (`--db`, `AGENTSCHED_DB`, the default file), options after the command, and
`python -m agentsched`."""

from __future__ import annotations

import subprocess
import sys
from datetime import timezone
from pathlib import Path

import pytest
from support.cli import (
    ADD,
    added,
    one_line_error,
    printed,
)

import agentsched
from agentsched.cli import main

UTC = timezone.utc


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert printed(capsys, ["--version"]) == f"agentsched {agentsched.__version__}\n"


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
    out = printed(capsys, [command, "--help"])
    assert out.startswith(f"usage: agentsched {command}")
    assert out.splitlines()[0].count("usage:") == 1


def test_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    out = printed(capsys, ["--help"])
    for command in ("next", "add", "update", "list", "show", "runs", "trigger", "run", "demo"):
        assert f"\n    {command} " in out
    assert "AGENTSCHED_DB" in out


def test_agentsched_db_names_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AGENTSCHED_DB", f"sqlite:///{tmp_path / 'env.db'}")
    schedule_id = added(capsys, [], "--every", "1h")
    assert (tmp_path / "env.db").exists() and not (tmp_path / "agentsched.db").exists()
    assert schedule_id in printed(capsys, ["list"])
    other = ["--db", f"sqlite:///{tmp_path / 'other.db'}"]
    assert main([*other, "list"]) == 2  # --db wins over the variable
    assert "no database" in one_line_error(capsys)


def test_without_db_or_variable_the_default_file_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AGENTSCHED_DB", raising=False)
    added(capsys, [], "--every", "1h")
    assert (tmp_path / "agentsched.db").exists()


def test_db_and_owner_after_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    out = printed(
        capsys,
        [*ADD, "--every", "1h", "--db", url, "--owner", "al"],
    )
    schedule_id = out.split()[1]
    assert schedule_id in printed(capsys, ["list", "--db", url, "--owner", "al"])
    assert schedule_id not in printed(
        capsys, ["--owner", "al", "list", "--db", url, "--owner", "bo"]
    )
    missing = f"sqlite:///{tmp_path / 'missing.db'}"
    assert schedule_id in printed(capsys, ["--db", missing, "list", "--db", url])  # after wins
    assert main(["--db", url, "list", "--db", missing]) == 2
    assert not (tmp_path / "missing.db").exists()


def test_python_dash_m_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agentsched", "next", "@daily", "-n", "1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and done.stdout.count("\n") == 1
