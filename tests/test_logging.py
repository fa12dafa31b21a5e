"""Logging: one line per outcome, every record of the `agentsched` logger carries the
ids of its schedule and run and writes instants in ISO 8601 (on every store and shell);
and the setup docs/observability.md gives (docs/examples/two_agents_bot.py uses it).

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
from datetime import datetime, timedelta, timezone
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.doc_pages import python_blocks
from support.firing import Recorder
from support.matrix import Factory

from agentsched import Cron
from agentsched.testing import FakeClock

UTC = timezone.utc
T0 = datetime(2026, 1, 5, 8, 59, tzinfo=UTC)
NINE = datetime(2026, 1, 5, 9, tzinfo=UTC)
ROOT = Path(__file__).resolve().parent.parent
OBSERVABILITY = ROOT / "docs" / "observability.md"
BOT = ROOT / "docs" / "examples" / "two_agents_bot.py"
FIELDS = ("schedule_id", "run_id", "agent_id")


def test_every_log_record_carries_the_ids_and_iso_times(
    make: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    sched = make(lambda ctx: 1 / 0, clock=FakeClock(T0))
    s = sched.create(agent_id="bot", schedule=Cron("*/10 * * * *"), input="go")
    with caplog.at_level(logging.DEBUG, logger="agentsched"):
        sched.tick(now=NINE)
        sched.tick(now=NINE + timedelta(hours=3))  # catch-up: a missed record
    records = [r for r in caplog.records if r.name == "agentsched"]
    messages = [r.getMessage() for r in records]
    assert any("started" in m for m in messages) and any("failed" in m for m in messages)
    assert any("missed" in m for m in messages)
    for record in records:
        assert record.schedule_id == s.id and record.agent_id == "bot"  # type: ignore[attr-defined]
        assert record.run_id is not None  # type: ignore[attr-defined]
    assert any("2026-01-05T09:00:00Z" in m for m in messages)
    assert not any("+00:00" in m for m in messages)


def test_one_log_line_per_outcome(make: Factory, caplog: pytest.LogCaptureFixture) -> None:
    sched = make(Recorder(ValueError("nope")), clock=FakeClock(T0))
    sched.create(agent_id="bot", schedule=Cron("0 9 * * *"), input="go")
    with caplog.at_level(logging.INFO, logger="agentsched"):
        sched.tick(now=NINE)
    lines = [r for r in caplog.records if r.name == "agentsched"]
    assert (
        len(lines) == 1
        and "failed" in lines[0].getMessage()
        and "ValueError: nope" in lines[0].getMessage()
    )


# -- the documented setup ------------------------------------------------------------


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
