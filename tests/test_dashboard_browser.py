"""The dashboard in a real browser: headless Chromium against `agentsched serve`.

Skipped when Debian's Chromium is not installed; in CI (`CI` set) that is a
failure instead, since `.ci/run` installs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from support.chromium import CHROMIUM, Chromium
from support.environment import ONE_AT_A_TIME, need
from support.serving import Server, serving
from support.waiting import eventually

pytestmark = ONE_AT_A_TIME

API = "/api/v1/agents/support-bot/schedules"
LONG_AGENT = "nightly-reconciliation-agent-for-the-accounts-payable-ledger-eu"
HANDLER = (
    "def handle(ctx):\n"
    "    if ctx.input.startswith('fail'):\n"
    "        raise RuntimeError('the CRM API answered 502 Bad Gateway: upstream connect error '\n"
    "                           'or disconnect/reset before headers, reset reason: connection '\n"
    "                           'termination, retried 3 times over 30 seconds without success')\n"
    "    return f'answered {ctx.input}'\n"
)
# Whether anything is wider than the window, or a button reaches past its card or the window.
NO_OVERFLOW = """(() => {
  const page = document.documentElement;
  const cards = [...document.querySelectorAll('.card')];
  const buttons = [...document.querySelectorAll('button')].map(b => b.getBoundingClientRect());
  return {
    page: [page.scrollWidth, page.clientWidth],
    cards: cards.filter(c => c.scrollWidth > c.clientWidth).length,
    buttons: buttons.filter(r => r.right > page.clientWidth).length,
  };
})()"""


def _create(server: Server, body: dict[str, object], path: str = API) -> dict[str, Any]:
    status, made = server.call("POST", path, body)
    assert status == 201, made
    return made  # type: ignore[no-any-return]


def _runs(server: Server, schedule: dict[str, Any], status: str) -> list[dict[str, Any]]:
    path = f"/api/v1/agents/{schedule['agent_id']}/schedules/{schedule['id']}/runs"
    runs = server.call("GET", path)[1]["data"]
    return [r for r in runs if r["status"] == status]


def test_the_dashboard_in_chromium(tmp_path: Path) -> None:
    need(CHROMIUM.exists(), f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    with serving(tmp_path, HANDLER) as server:
        every_second = {"type": "interval", "every_seconds": 1}
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
        fast = _create(server, {"name": "heartbeat", "schedule": every_second, "input": "ping"})
        failing = _create(
            server,
            {
                "name": "Reconcile the accounts payable ledger with the bank statements of every "
                "subsidiary, then report",
                "schedule": every_second,
                "input": "fail: reconcile",
            },
            f"/api/v1/agents/{LONG_AGENT}/schedules",
        )
        unnamed = _create(
            server, {"schedule": {"type": "cron", "expression": "30 7 * * *"}, "input": "x"}
        )
        paused = _create(server, {"name": "paused triage", "schedule": every_second, "input": "t"})
        assert server.call("POST", f"{API}/{paused['id']}/pause")[0] == 200
        runs = eventually(lambda: _runs(server, fast, "succeeded"), what="the heartbeat's run")
        run = runs[-1]
        eventually(lambda: _runs(server, failing, "failed"), what="the failing schedule's run")

        with Chromium(tmp_path / "profile", width=1280, height=900) as browser:
            pages = {
                "/": None,
                f"/schedules/{fast['id']}": None,
                f"/schedules/{failing['id']}": None,
                f"/schedules/{unnamed['id']}": None,
            }
            for url in pages:
                browser.load(server.url + url)
                layout = browser.evaluate(NO_OVERFLOW)
                scroll_width, client_width = layout["page"]
                assert scroll_width <= client_width, (url, layout)
                assert layout["cards"] == 0 and layout["buttons"] == 0, (url, layout)
                pages[url] = browser.evaluate("document.documentElement.outerHTML")
                if url == "/":
                    text = browser.evaluate("document.body.innerText")
                    assert text.count(unnamed["id"]) == 1  # an unnamed schedule's id, once

        home = pages["/"]
        assert home is not None
        assert "weekday &lt;b&gt;digest&lt;/b&gt;" in home  # shown as text, not markup
        assert "<b>digest" not in home
        assert "every weekday at 09:00 Europe/Paris" in home
        assert "heartbeat" in home and "every second" in home
        assert f'href="/schedules/{daily["id"]}"' in home
        page = pages[f"/schedules/{fast['id']}"]
        assert page is not None
        assert run["id"] in page
        assert "answered ping" in page
        assert "<svg" in page
        server.stop()
