"""The logging setup docs/observability.md gives, and docs/examples/two_agents_bot.py uses.

A format that names `agent_id` and `run_id` must still log the records of
every other logger (the app's, its libraries'), which carry neither: after the
documented setup, they log cleanly, and agentsched's records carry their ids.
"""

from __future__ import annotations

import functools
import json
import logging
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.doc_pages import python_blocks

ROOT = Path(__file__).resolve().parent.parent
OBSERVABILITY = ROOT / "docs" / "observability.md"
BOT = ROOT / "docs" / "examples" / "two_agents_bot.py"
FIELDS = ("schedule_id", "run_id", "agent_id")


def documented_setup() -> str:
    """The block of docs/observability.md that sets up logging."""
    (block,) = [b.parsed for b in python_blocks(OBSERVABILITY) if "basicConfig" in b.parsed]
    return str(block)


# After the setup: the app's logger, a library's, the root logger, then agentsched's own
# records (a run that succeeds, one that fails) with their fields, one JSON line each.
AFTER_THE_SETUP = """
import json, logging
from datetime import datetime, timedelta, timezone
from agentsched import Cron, InlineExecutor, Scheduler
from agentsched.testing import FakeClock

logging.getLogger("myapp").warning("the app's own record")
logging.getLogger("urllib3.connectionpool").warning("a library's record")
logging.warning("the root logger's record")

class Keep(logging.Handler):
    def emit(self, record):
        fields = ("schedule_id", "run_id", "agent_id")
        print(json.dumps({name: getattr(record, name) for name in fields}))

logging.getLogger("agentsched").addHandler(Keep())
logging.getLogger("agentsched").setLevel(logging.INFO)
clock = FakeClock(datetime(2026, 1, 5, 8, 59, tzinfo=timezone.utc))
sched = Scheduler(executor=InlineExecutor(), clock=clock)
sched.agent("ok")(lambda ctx: "done")

@sched.agent("broken")
def broken(ctx):
    raise RuntimeError("down")

for agent in ("ok", "broken"):
    sched.create(id=f"{agent}-daily", agent_id=agent, schedule=Cron("0 9 * * *"), input="go")
clock.advance(timedelta(minutes=1))
sched.tick()
"""

BOT_SETUP = f"""
import logging, runpy
runpy.run_path({str(BOT)!r}, run_name="__main__")
"""


@pytest.mark.parametrize(
    "setup",
    [pytest.param(documented_setup(), id="observability.md"), pytest.param(BOT_SETUP, id="bot")],
)
def test_other_loggers_log_cleanly_and_agentsched_records_carry_their_ids(
    setup: str, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", setup + AFTER_THE_SETUP],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Logging error" not in done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    for message in ("the app's own record", "a library's record", "the root logger's record"):
        (line,) = [line for line in lines if message in line]
        assert line.endswith(f"{message} [agent=- run=-]")
    kept = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    about_runs = [fields for fields in kept if fields["run_id"] is not None]
    assert {(f["schedule_id"], f["agent_id"]) for f in about_runs} >= {
        ("ok-daily", "ok"),
        ("broken-daily", "broken"),
    }
    failed = [line for line in lines if "of schedule broken-daily failed" in line]
    (run_id,) = {f["run_id"] for f in about_runs if f["agent_id"] == "broken"}
    assert failed == [line for line in failed if line.endswith(f"[agent=broken run={run_id}]")]
    assert failed


@functools.cache
def documented_handlers() -> list[logging.Handler]:
    """The handlers the documented setup installs, on a root logger of its own (so that the
    test session's logging stays as it is)."""
    root = logging.RootLogger(logging.WARNING)
    with mock.patch.object(logging, "root", root):
        exec(compile(documented_setup(), str(OBSERVABILITY), "exec"), {})
    return root.handlers


LOGGER_NAMES = st.sampled_from(["agentsched", "agentsched.firing.core", "myapp", "", "urllib3"]) | (
    st.from_regex(r"[a-z][a-z0-9_]{0,8}(\.[a-z][a-z0-9_]{0,8}){0,2}", fullmatch=True)
)
SOME_FIELDS = st.dictionaries(st.sampled_from(FIELDS), st.none() | st.text(max_size=20))


@given(
    LOGGER_NAMES,
    st.sampled_from([logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR]),
    st.text(max_size=40),
    SOME_FIELDS,
)
def test_the_documented_format_takes_a_record_from_any_logger(
    logger: str, level: int, message: str, fields: dict[str, str | None]
) -> None:
    record = logging.LogRecord(logger, level, __file__, 1, message, None, None)
    for field, value in fields.items():
        setattr(record, field, value)
    (handler,) = documented_handlers()
    agent, run = fields.get("agent_id", "-"), fields.get("run_id", "-")
    assert handler.format(record).endswith(f"{message} [agent={agent} run={run}]")
