"""Every command example in docs/cli.md prints what the page says it prints.

The page's ```console blocks are read top to bottom as one shell session in an
empty directory: `$ agentsched ...` lines run (in-process, with the clock fixed
at the instant the page names), `$ cat > FILE <<'EOF'` writes a file, and the
lines up to the next `$` are the output, compared exactly. Commands that run until
stopped (`run`, `serve`, `demo`) and anything else (`pip`) show no output and are
not run. Schedule and run ids are random: each one printed is matched to the
page's id at the same place, one to one over the whole page.
"""

from __future__ import annotations

import re
import shlex
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from agentsched.cli import main
from agentsched.testing import FakeClock

PAGE = Path(__file__).resolve().parent.parent / "docs" / "cli.md"
BLOCK = re.compile(r"^( *)```console\n(.*?)^\1```", re.M | re.S)
MADE_AT = re.compile(r"made at\s+`(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)`")
RANDOM_ID = re.compile(r"(?:sched|run)_[A-Za-z0-9_-]{20}(?![A-Za-z0-9_-])")
UNTIL_STOPPED = {"run", "serve", "demo"}


@dataclass
class Step:
    command: str  # as typed, continuation lines joined
    body: list[str]  # a heredoc's lines, else the output shown


def _steps(page: str) -> list[Step]:
    steps: list[Step] = []
    for indent, block in BLOCK.findall(page):
        lines = [line.removeprefix(indent) for line in block.splitlines()]
        for line in lines:
            if line.startswith("$ "):
                steps.append(Step(line[2:], []))
            elif steps and steps[-1].command.endswith("\\"):
                steps[-1].command = steps[-1].command[:-1] + line
            else:
                assert steps, f"output before any command: {line!r}"
                steps[-1].body.append(line)
    for step in steps:
        while step.body and not step.body[-1]:
            step.body.pop()
    return steps


def _command_name(argv: list[str]) -> str:
    """`list` in `agentsched --db URL list --json`."""
    rest = argv[1:]
    while rest and rest[0] in ("--db", "--owner"):
        rest = rest[2:]
    return rest[0]


class Ids:
    """Random ids printed, bound one to one to the page's ids at the same places."""

    def __init__(self) -> None:
        self.page_of: dict[str, str] = {}

    def bind(self, printed: str, shown: str) -> str:
        """`printed` with each random id replaced by the page's one at its place."""
        ours, theirs = RANDOM_ID.findall(printed), RANDOM_ID.findall(shown)
        if len(ours) != len(theirs):
            return printed  # the comparison will fail, showing both
        for mine, page in zip(ours, theirs, strict=True):
            if mine not in self.page_of and page not in self.page_of.values():
                self.page_of[mine] = page
        return RANDOM_ID.sub(lambda found: self.page_of.get(found[0], found[0]), printed)

    def ours(self, text: str) -> str:
        """A command of the page with its ids replaced by the ones printed here."""
        mine = {page: printed for printed, page in self.page_of.items()}
        return RANDOM_ID.sub(lambda found: mine.get(found[0], found[0]), text)


def test_every_example_of_the_page_prints_what_it_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    page = PAGE.read_text()
    made_at = MADE_AT.search(page)
    assert made_at, "the page says when its outputs were made"
    clock = FakeClock(datetime.fromisoformat(made_at[1].replace("Z", "+00:00")))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AGENTSCHED_DB", raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the CLI adds the current directory
    monkeypatch.delitem(sys.modules, "myagent", raising=False)
    ids = Ids()
    ran = 0
    for step in _steps(page):
        argv = shlex.split(step.command, comments=True)
        if argv[:2] == ["cat", ">"]:
            assert argv[3:] == ["<<EOF"] and step.body[-1] == "EOF", step.command
            (tmp_path / argv[2]).write_text("\n".join(step.body[:-1]) + "\n")
            continue
        if argv[0] != "agentsched" or _command_name(argv) in UNTIL_STOPPED:
            assert step.body == [], f"{step.command!r} is not run here, so shows no output"
            continue
        if _command_name(argv) == "next":
            assert "--after" in argv, f"{step.command!r} depends on today without --after"
        main([ids.ours(arg) for arg in argv[1:]], clock=clock)
        out, err = capsys.readouterr()
        shown = "\n".join(step.body)
        assert ids.bind((out + err).rstrip("\n"), shown) == shown, step.command
        ran += 1
    assert ran >= 10
    monkeypatch.delitem(sys.modules, "myagent", raising=False)
