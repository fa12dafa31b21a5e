"""`agentsched run`: it fires until a signal, then shuts down cleanly; a second signal,
or `--grace`, ends the wait for a handler that hangs."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from support.waiting import eventually

from agentsched import RunStatus, SQLiteStore
from agentsched.cli import main


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
