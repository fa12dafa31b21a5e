"""The dashboard in a real browser: headless Chromium against `agentsched serve`.

Skipped when Debian's Chromium is not installed; in CI (`CI` set) that is a
failure instead, since `.ci/run` installs it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import need
from serving import Server, serving, wait_for

CHROMIUM = Path("/usr/bin/chromium")
API = "/api/v1/agents/support-bot/schedules"
HANDLER = "def handle(ctx):\n    return f'answered {ctx.input}'\n"


def dom(url: str, profile: Path) -> str:
    """The page's DOM after Chromium loaded it."""
    done = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _create(server: Server, body: dict[str, object]) -> dict[str, str]:
    status, made = server.call("POST", API, body)
    assert status == 201, made
    return made  # type: ignore[no-any-return]


def test_the_dashboard_shows_schedules_and_runs_in_chromium(tmp_path: Path) -> None:
    need(CHROMIUM.exists(), f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    with serving(tmp_path, HANDLER) as server:
        daily = _create(
            server,
            {
                "name": "weekday <b>digest</b>",
                "schedule": {
                    "type": "cron",
                    "expression": "0 9 * * 1-5",
                    "timezone": "Europe/Paris",
                },
                "input": "Summarise yesterday",
            },
        )
        fast = _create(
            server,
            {
                "name": "heartbeat",
                "schedule": {"type": "interval", "every_seconds": 1},
                "input": "ping",
            },
        )

        def a_finished_run() -> object:
            runs = server.call("GET", f"{API}/{fast['id']}/runs")[1]["data"]
            return [r for r in runs if r["status"] == "succeeded"]

        run = wait_for(a_finished_run, "the heartbeat's first run")[-1]
        home = dom(server.url + "/", tmp_path / "profile")
        assert "weekday &lt;b&gt;digest&lt;/b&gt;" in home  # shown as text, not markup
        assert "<b>digest" not in home
        assert "every weekday at 09:00 Europe/Paris" in home
        assert "heartbeat" in home and "every second" in home
        assert f'href="/schedules/{daily["id"]}"' in home
        page = dom(f"{server.url}/schedules/{fast['id']}", tmp_path / "profile")
        assert run["id"] in page
        assert "answered ping" in page
        assert "<svg" in page
        server.stop()
