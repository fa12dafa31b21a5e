"""The command line: output and one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agentsched.cli import main


def test_next_prints_local_and_utc(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(
        [
            "next",
            "0 9 * * mon-fri",
            "--tz",
            "Europe/Paris",
            "-n",
            "3",
            "--after",
            "2026-03-27T00:00:00Z",
        ]
    )
    assert status == 0
    assert capsys.readouterr().out.splitlines() == [
        "Fri 2026-03-27 09:00 CET (+0100)  2026-03-27T08:00:00Z",
        "Mon 2026-03-30 09:00 CEST (+0200)  2026-03-30T07:00:00Z",
        "Tue 2026-03-31 09:00 CEST (+0200)  2026-03-31T07:00:00Z",
    ]


@pytest.mark.parametrize(
    "argv",
    [
        ["next", "0 61 * * *"],
        ["next", "* * * * *", "--tz", "Mars/Base"],
        ["next", "* * * * *", "-n", "0"],
        ["next", "* * * * *", "--after", "tomorrow"],
        ["next", "* * * * *", "--after", "2026-01-01T00:00:00"],
        [],
        ["frobnicate"],
    ],
)
def test_errors_are_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("agentsched: error: ") and err.count("\n") == 1


def test_python_dash_m_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agentsched", "next", "@daily", "-n", "1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and done.stdout.count("\n") == 1
