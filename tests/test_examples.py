"""Every example in docs/examples runs; the README opens with its two commands.

The README's ```python blocks, like every page's, run in tests/test_docs.py, which also
checks that each `print(...)` prints what its comment says.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "docs" / "examples").glob("*.py"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


def test_readme_opens_with_the_two_commands() -> None:
    commands = re.search(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert commands is not None
    lines = [line.split("#")[0].strip() for line in commands.group(1).splitlines()]
    assert lines == [
        "pip install . && agentsched demo",
        'pip install -e ".[test]" && python -m pytest',
    ]


def test_the_two_agents_bot_example_does_what_it_says() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "examples" / "two_agents_bot.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "schedules: daily-report, triage-every-4h",
        "daily-report: 2 runs (failed#1, failed#2)",
        "triage-every-4h: 6 runs (" + ", ".join(["succeeded#1"] * 6) + ")",
        "ALERT daily-report failed after 2 attempts: RuntimeError: the reporting API is down",
    ]
    assert "agent=daily-report" in done.stderr  # structured fields in the app's log format
