"""`agentsched serve`: the scheduler fires while the app answers; signals stop both."""

from __future__ import annotations

import signal
import socket
from pathlib import Path
from typing import Any

import pytest
from support.serving import serving
from support.waiting import eventually

from agentsched import RunStatus, SQLiteStore
from agentsched.cli import main

QUICK = "def handle(ctx):\n    return f'did {ctx.input}'\n"
# Blocks until the scheduler asks it to stop: a stop must wait for it, then record it.
PATIENT = (
    "def handle(ctx):\n"
    "    ctx.cancel.wait(60)\n"
    "    return 'stopped politely' if ctx.cancel.is_set() else 'never asked'\n"
)
API = "/api/v1/agents/bot/schedules"
EVERY_SECOND = {"type": "interval", "every_seconds": 1}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serve_fires_schedules_and_stops_on_a_signal(tmp_path: Path, signum: int) -> None:
    with serving(tmp_path, QUICK) as server:
        status, made = server.call("POST", API, {"schedule": EVERY_SECOND, "input": "tick"})
        assert status == 201

        def a_finished_run() -> list[Any]:
            runs = server.call("GET", f"{API}/{made['id']}/runs")[1]["data"]
            return [r for r in runs if r["status"] == "succeeded"]

        assert eventually(a_finished_run, what="a scheduled run")[0]["output"] == "did tick"
        output = server.stop(signum)
        assert server.process.returncode == 0, output
    assert "agentsched: stopped" in output
    assert "Traceback" not in output


def test_a_stop_waits_for_running_handlers_and_records_them(tmp_path: Path) -> None:
    with serving(tmp_path, PATIENT) as server:
        made = server.call(
            "POST", API, {"schedule": {**EVERY_SECOND, "every_seconds": 3600}, "input": "x"}
        )[1]
        status, run = server.call("POST", f"{API}/{made['id']}/trigger")
        assert status == 201 and run["status"] == "running"
        output = server.stop(signal.SIGINT)
        assert server.process.returncode == 0, output
    assert "waiting for 1 running handler(s)" in output
    store = SQLiteStore(server.db)
    try:
        finished = store.get_run(run["id"])
    finally:
        store.close()
    assert finished is not None
    assert finished.status is RunStatus.SUCCEEDED and finished.output == "stopped politely"


def test_serve_options_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path / 'a.db'}"
    assert main(["serve", "--db", db, "--handler", "json:dumps", "--port", "70000"]) == 2
    assert capsys.readouterr().err == "agentsched: error: --port must be 0-65535 (got 70000)\n"
    assert main(["serve", "--db", db, "--handler", "nope"]) == 2
    assert "module:function" in capsys.readouterr().err


def test_an_address_in_use_is_one_line_and_no_new_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        db = f"sqlite:///{tmp_path / 'new.db'}"
        assert main(["serve", "--db", db, "--handler", "json:dumps", "--port", str(port)]) == 2
    assert capsys.readouterr().err == (
        f"agentsched: error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_host_that_does_not_resolve_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'new.db'}"
    argv = ["serve", "--db", db, "--handler", "json:dumps", "--host", "no.such.host.invalid"]
    assert main([*argv, "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("agentsched: error: cannot listen on no.such.host.invalid:0: ")
    assert err.count("\n") == 1 and list(tmp_path.iterdir()) == []
