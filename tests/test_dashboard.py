"""The HTML dashboard: the list and a schedule's page (specs and times in words, runs, a
sparkline), its buttons, its errors as pages, user text escaped, owners, paging and
filters. On every store and shell."""

from __future__ import annotations

import re
from datetime import timedelta

from support.web import API, Web

XSS = '<script>alert("x")</script>'


XSS_ATTR = '"><img src=x onerror=alert(1)>'


def test_the_dashboard_lists_schedules(web: Web) -> None:
    made = web.create(name="morning report")
    web.create(name="quarter-hourly", schedule={"type": "cron", "expression": "*/15 * * * *"})
    web.client.post(f"{API}/{made['id']}/trigger")
    page = web.client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src" not in page.headers["content-security-policy"]  # no scripts at all
    text = page.text
    assert "morning report" in text and "quarter-hourly" in text
    assert "every weekday at 09:00 Europe/Paris" in text
    assert "every 15 minutes" in text
    assert "Mon 5 Jan 09:00 CET" in text  # the next fire, in the schedule's zone
    assert "succeeded" in text and "did Summarise" not in text  # the list shows status only
    assert f'action="/schedules/{made["id"]}/pause?back=list"' in text


def test_the_schedule_page_shows_runs_and_a_sparkline(web: Web) -> None:
    made = web.create(schedule={"type": "interval", "every_seconds": 60})
    for _ in range(3):
        web.clock.advance(timedelta(minutes=1))
        web.tick()
    web.client.post(f"{API}/{made['id']}", json={"input": "fail"})
    web.clock.advance(timedelta(minutes=1))
    web.tick()
    page = web.client.get(f"/schedules/{made['id']}")
    assert page.status_code == 200
    text = page.text
    assert "every minute" in text
    assert text.count('class="r-succeeded"') == 3 and text.count('class="r-failed"') == 1
    assert "RuntimeError: the agent fell over" in text
    assert "<svg" in text and "Recent runs" in text


def test_the_dashboard_escapes_user_text(web: Web) -> None:
    made = web.create(
        name=XSS,
        input=XSS_ATTR,
        metadata={XSS: XSS_ATTR},
        schedule={"type": "interval", "every_seconds": 60},
    )
    web.client.post(f"{API}/{made['id']}/trigger")  # output: "did " + XSS_ATTR
    for url in ("/", f"/schedules/{made['id']}"):
        text = web.client.get(url).text
        assert XSS not in text and XSS_ATTR not in text and "<img" not in text
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text
    assert "did &quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in text


def test_dashboard_buttons(web: Web) -> None:
    made = web.create()
    url = f"/schedules/{made['id']}"
    paused = web.client.post(f"{url}/pause?back=list", follow_redirects=False)
    assert paused.status_code == 303 and paused.headers["location"] == "/"
    assert web.store.get(made["id"]).status == "paused"  # type: ignore[union-attr]
    resumed = web.client.post(f"{url}/resume", follow_redirects=False)
    assert resumed.status_code == 303 and resumed.headers["location"] == url
    assert web.store.get(made["id"]).status == "active"  # type: ignore[union-attr]
    page = web.client.post(f"{url}/trigger")  # follows the redirect to the page
    assert page.status_code == 200 and "did Summarise" in page.text
    assert web.client.post(f"{url}/explode").status_code == 404


def test_dashboard_errors_are_pages(web: Web) -> None:
    missing = web.client.get("/schedules/sched_nope")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert "sched_nope" in missing.text
    done = web.create(schedule={"type": "once", "run_at": "2026-01-05T07:00:30Z"})
    web.clock.advance(timedelta(minutes=1))
    web.tick()
    conflict = web.client.post(f"/schedules/{done['id']}/pause")
    assert conflict.status_code == 409 and "completed" in conflict.text


def test_the_dashboard_is_scoped_by_owner(web: Web) -> None:
    alices = web.create(owner="alice", name="alice's")
    bob = {"X-On-Behalf-Of": "bob"}
    assert "alice&#x27;s" not in web.client.get("/", headers=bob).text
    assert web.client.get(f"/schedules/{alices['id']}", headers=bob).status_code == 404
    assert web.client.post(f"/schedules/{alices['id']}/pause", headers=bob).status_code == 404
    assert web.store.get(alices["id"]).status == "active"  # type: ignore[union-attr]
    assert "alice&#x27;s" in web.client.get("/", headers={"X-On-Behalf-Of": "alice"}).text


def _visible_text(page: str) -> str:
    """What a reader sees: the page without its tags and attributes."""
    return re.sub(r"<[^>]*>", " ", page)


def test_an_unnamed_schedule_shows_its_id_once(web: Web) -> None:
    unnamed = web.create(name=None)
    named = web.create(name="named")
    listed = _visible_text(web.client.get("/").text)
    assert listed.count(unnamed["id"]) == 1
    assert listed.count(named["id"]) == 1 and "named" in listed
    page = _visible_text(web.client.get(f"/schedules/{unnamed['id']}").text)
    assert page.count(unnamed["id"]) == 2  # the title (in the tab) and the heading
    assert "Id" not in page.split()


def test_a_paused_schedule_lists_no_fires(web: Web) -> None:
    made = web.create(schedule={"type": "interval", "every_seconds": 60})
    web.client.post(f"{API}/{made['id']}/pause")
    for url in ("/", f"/schedules/{made['id']}"):
        page = web.client.get(url).text
        assert ">paused</span>" in page and "<time" not in page.split("Paused since")[0]
    web.client.post(f"{API}/{made['id']}/resume")
    assert "Mon 5 Jan 07:01 UTC" in web.client.get(f"/schedules/{made['id']}").text


def test_the_run_counts_say_what_they_count(web: Web) -> None:
    """`run_count` counts the scheduled runs started; the list of runs shows every kind:
    here 2 scheduled and 1 manual."""
    made = web.create(schedule={"type": "interval", "every_seconds": 60}, input="fail")
    for _ in range(2):
        web.clock.advance(timedelta(minutes=1))
        web.tick()
    web.client.post(f"{API}/{made['id']}/trigger")
    page = web.client.get(f"/schedules/{made['id']}").text
    runs = web.client.get(f"{API}/{made['id']}/runs").json()["data"]
    assert len(runs) == 3
    assert "2 started" in page and "manual triggers" in page
    assert "the last 3 of every kind" in page
    assert "Scheduled runs" in web.client.get("/").text


def test_the_dashboard_pages_and_filters(web: Web) -> None:
    for i in range(51):
        web.create(name=f"row {i:02d}")
    web.client.post(f"{API}/{web.client.get(API).json()['data'][0]['id']}/pause")
    first = web.client.get("/").text
    assert ">row 49<" in first and ">row 50<" not in first and "Next page" in first
    last_shown = web.client.get(API, params={"limit": "50"}).json()["last_id"]
    second = web.client.get("/", params={"after": last_shown}).text
    assert ">row 50<" in second and "Next page" not in second
    paused = web.client.get("/", params={"status": "paused"}).text
    assert ">row 00<" in paused and ">row 01<" not in paused
