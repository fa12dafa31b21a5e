"""The web API: every route, on every store behind both shells (the app awaits an
`AsyncScheduler` and runs a `Scheduler`'s calls in worker threads), with a fake clock
and inline handlers so that runs are deterministic (`support.web`). Owners, bad input,
the dashboard and the OpenAPI document have files of their own.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient
from support.firing import stored_run
from support.matrix import Factory
from support.web import API, T0, Web, app_over, body, handler, not_found

from agentsched import StoreError
from agentsched.asgi import create_app
from agentsched.testing import FakeClock

# -- create, get, list ------------------------------------------------------------


def test_create_returns_the_stored_schedule(web: Web) -> None:
    made = web.client.post(API, json=body(metadata={"team": "support"}))
    assert made.status_code == 201
    data = made.json()
    assert data == web.store.get(data["id"]).to_dict()  # type: ignore[union-attr]
    assert data["object"] == "agent.schedule"
    assert data["agent_id"] == "bot"
    assert data["owner"] is None
    assert data["status"] == "active"
    assert data["next_run_at"] == "2026-01-05T08:00:00Z"  # 09:00 in Paris
    assert data["metadata"] == {"team": "support"}
    assert made.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("spec", "first"),
    [
        ({"type": "once", "run_at": "2026-01-05T08:30:00Z"}, "2026-01-05T08:30:00Z"),
        ({"type": "interval", "every_seconds": 90}, "2026-01-05T07:01:30Z"),
        (
            {"type": "rrule", "rrule": "FREQ=WEEKLY;BYDAY=MO,WE", "dtstart": "2026-01-05T09:00:00"},
            "2026-01-05T09:00:00Z",
        ),
        ({"type": "cron", "expression": "*/15 * * * *"}, "2026-01-05T07:15:00Z"),
    ],
)
def test_every_kind_of_spec(web: Web, spec: dict[str, Any], first: str) -> None:
    made = web.create(schedule=spec)
    assert made["next_run_at"] == first
    assert made["schedule"]["type"] == spec["type"]


def test_create_with_every_optional_field(web: Web) -> None:
    made = web.create(
        id="nightly-report",
        conversation="conv_1",
        previous_response_id="resp_0",
        stateful=True,
        overlap="allow_all",
        catchup_window=600,
        max_runs=3,
        end_at="2026-12-31T00:00:00Z",
        pause_after_failures=2,
        timeout=30,
        retry={"attempts": 2, "backoff": 5},
        jitter=1.5,
    )
    assert made["id"] == "nightly-report"
    assert made["catchup_window"] == 600
    assert made["timeout"] == 30
    assert made["jitter"] == 1.5
    assert made["retry"] == {"attempts": 2, "backoff": 5, "max_backoff": 600}
    assert made["end_at"] == "2026-12-31T00:00:00Z"


def test_get(web: Web) -> None:
    made = web.create()
    got = web.client.get(f"{API}/{made['id']}")
    assert got.status_code == 200
    assert got.json() == made


def test_missing_ids_are_404(web: Web) -> None:
    for schedule_id in ("sched_nope", "not an id!", "x" * 300):
        got = web.client.get(f"{API}/{schedule_id}")
        assert got.status_code == 404
        assert got.json() == not_found(schedule_id)


def test_a_schedule_of_another_agent_is_404_on_every_route(web: Web) -> None:
    other = web.create(agent="other-bot")
    before = web.snapshot()
    path = f"{API}/{other['id']}"
    for method, url, payload in (
        ("GET", path, None),
        ("POST", path, {"name": "mine now"}),
        ("DELETE", path, None),
        ("POST", f"{path}/pause", None),
        ("POST", f"{path}/resume", None),
        ("POST", f"{path}/trigger", None),
        ("GET", f"{path}/runs", None),
    ):
        got = web.client.request(method, url, json=payload)
        assert got.status_code == 404, (method, url)
        assert got.json() == not_found(other["id"])
    assert web.snapshot() == before
    listed = web.client.get(API).json()
    assert listed["data"] == []


def test_list_pages_walk_every_schedule_in_order(web: Web) -> None:
    names = ["delta", "alpha", None, "charlie", "alpha", "bravo", "echo"]
    made = [web.create(name=name) for name in names]
    web.create(agent="other-bot")
    expected = [s["id"] for s in sorted(made, key=lambda s: (s["name"] or "", s["id"]))]
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        query = {"limit": "3", **({"after": after} if after else {})}
        page = web.client.get(API, params=query).json()
        pages += 1
        assert page["object"] == "list"
        ids = [s["id"] for s in page["data"]]
        assert page["first_id"] == ids[0] and page["last_id"] == ids[-1]
        seen += ids
        if not page["has_more"]:
            break
        after = page["last_id"]
    assert seen == expected
    assert pages == 3


def test_list_defaults_and_an_empty_page(web: Web) -> None:
    page = web.client.get(API).json()
    assert page == {
        "object": "list",
        "data": [],
        "first_id": None,
        "last_id": None,
        "has_more": False,
    }
    for _ in range(21):
        web.create()
    page = web.client.get(API).json()
    assert len(page["data"]) == 20 and page["has_more"] is True


def test_list_by_status(web: Web) -> None:
    kept = web.create(name="a")
    paused = web.create(name="b")
    gone = web.create(name="c")
    web.client.post(f"{API}/{paused['id']}/pause")
    web.client.delete(f"{API}/{gone['id']}")

    def ids(status: str) -> list[str]:
        return [s["id"] for s in web.client.get(API, params={"status": status}).json()["data"]]

    assert ids("active") == [kept["id"]]
    assert ids("paused") == [paused["id"]]
    assert ids("deleted") == [gone["id"]]
    assert [s["id"] for s in web.client.get(API).json()["data"]] == [kept["id"], paused["id"]]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"limit": ""}, "limit"),
        ({"status": "sleeping"}, "status"),
        ({"status": ""}, "status"),
    ],
)
def test_bad_list_queries_are_422(web: Web, query: dict[str, str], field: str) -> None:
    got = web.client.get(API, params=query)
    assert got.status_code == 422
    assert got.json()["error"]["field"] == field


@pytest.mark.parametrize("after", ["sched_unknown", "", "not an id!", "x" * 300, "a\x00b"])
def test_a_cursor_naming_no_schedule_is_404_naming_after(web: Web, after: str) -> None:
    """As an unknown id in a path is: the cursor names a schedule, which is not found."""
    web.create()
    got = web.client.get(API, params={"after": after})
    assert got.status_code == 404
    assert got.json()["error"]["type"] == "not_found"
    assert got.json()["error"]["field"] == "after"


# -- update, delete, pause, resume ----------------------------------------------------


def test_update_changes_only_the_fields_given(web: Web) -> None:
    made = web.create(metadata={"team": "support"})
    got = web.client.post(f"{API}/{made['id']}", json={"name": "renamed", "input": "Other"})
    assert got.status_code == 200
    updated = got.json()
    assert updated["name"] == "renamed" and updated["input"] == "Other"
    assert updated["metadata"] == {"team": "support"}
    assert updated["schedule"] == made["schedule"]
    assert updated["version"] == made["version"] + 1
    assert updated == web.store.get(made["id"]).to_dict()  # type: ignore[union-attr]


def test_update_of_the_spec_recomputes_the_next_fire(web: Web) -> None:
    made = web.create()
    spec = {"type": "cron", "expression": "30 7 * * *", "timezone": "UTC"}
    updated = web.client.post(f"{API}/{made['id']}", json={"schedule": spec}).json()
    assert updated["next_run_at"] == "2026-01-05T07:30:00Z"
    assert updated["schedule"]["expression"] == "30 7 * * *"


def test_update_clears_nullable_fields(web: Web) -> None:
    made = web.create(metadata={"a": "b"}, timeout=30)
    updated = web.client.post(
        f"{API}/{made['id']}", json={"name": None, "metadata": None, "timeout": None}
    ).json()
    assert updated["name"] is None and updated["metadata"] == {} and updated["timeout"] is None


def test_an_empty_update_changes_nothing(web: Web) -> None:
    made = web.create()
    got = web.client.post(f"{API}/{made['id']}", json={})
    assert got.status_code == 200
    assert got.json() == made


def test_delete_is_soft(web: Web) -> None:
    made = web.create()
    web.client.post(f"{API}/{made['id']}/trigger")
    got = web.client.delete(f"{API}/{made['id']}")
    assert got.status_code == 200
    deleted = got.json()
    assert deleted["status"] == "deleted" and deleted["deleted_at"] is not None
    assert deleted["next_run_at"] is None
    for method, url in (
        ("GET", ""),
        ("DELETE", ""),
        ("POST", "/pause"),
        ("GET", "/runs"),  # gone with its schedule, as every path under it
    ):
        got = web.client.request(method, f"{API}/{made['id']}{url}")
        assert got.json() == not_found(made["id"]), (method, url)
    assert web.store.get(made["id"]).status == "deleted"  # type: ignore[union-attr]
    assert len(web.store.runs(made["id"])) == 1  # the history is kept in the store
    listed = web.client.get(API, params={"status": "deleted"}).json()["data"]
    assert [s["id"] for s in listed] == [made["id"]]


def test_pause_and_resume(web: Web) -> None:
    made = web.create()
    paused = web.client.post(f"{API}/{made['id']}/pause")
    assert paused.status_code == 200
    assert paused.json()["status"] == "paused" and paused.json()["next_run_at"] is None
    again = web.client.post(f"{API}/{made['id']}/pause")
    assert again.json() == paused.json()  # a no-op
    resumed = web.client.post(f"{API}/{made['id']}/resume").json()
    assert resumed["status"] == "active" and resumed["next_run_at"] == "2026-01-05T08:00:00Z"


def test_a_completed_schedule_cannot_be_paused_or_resumed(web: Web) -> None:
    made = web.create(schedule={"type": "once", "run_at": "2026-01-05T07:00:30Z"})
    web.clock.advance(timedelta(minutes=1))
    web.tick()
    assert web.client.get(f"{API}/{made['id']}").json()["status"] == "completed"
    for action in ("pause", "resume"):
        got = web.client.post(f"{API}/{made['id']}/{action}")
        assert got.status_code == 409
        assert got.json()["error"]["type"] == "invalid_transition"


def test_a_taken_id_is_a_conflict(web: Web) -> None:
    web.create(id="daily")
    before = web.snapshot()
    got = web.client.post(API, json=body(id="daily"))
    assert got.status_code == 409
    assert got.json()["error"]["type"] == "conflict"
    assert web.snapshot() == before


# -- trigger and runs -------------------------------------------------------------


def test_trigger_runs_the_agent_now(web: Web) -> None:
    made = web.create()
    got = web.client.post(f"{API}/{made['id']}/trigger")
    assert got.status_code == 201
    run = got.json()
    assert run["object"] == "agent.schedule.run"
    assert run["trigger"] == "manual" and run["status"] == "succeeded"
    assert run["output"] == "did Summarise"
    runs = web.client.get(f"{API}/{made['id']}/runs").json()
    assert [r["id"] for r in runs["data"]] == [run["id"]]
    assert runs["data"][0] == stored_run(web.store, run["id"]).to_dict()


def test_runs_newest_first_with_a_limit(web: Web) -> None:
    made = web.create(schedule={"type": "interval", "every_seconds": 60}, input="fail")
    for _ in range(3):
        web.clock.advance(timedelta(minutes=1))
        web.tick()
    runs = web.client.get(f"{API}/{made['id']}/runs", params={"limit": "2"}).json()
    assert [r["status"] for r in runs["data"]] == ["failed", "failed"]
    assert runs["has_more"] is True
    first, second = runs["data"]
    assert first["scheduled_for"] > second["scheduled_for"]
    assert first["error"] == "RuntimeError: the agent fell over"
    everything = web.client.get(f"{API}/{made['id']}/runs").json()
    assert len(everything["data"]) == 3 and everything["has_more"] is False
    assert web.client.get(f"{API}/{made['id']}").json()["failure_count"] == 3


def test_trigger_without_a_handler_is_503(make: Factory) -> None:
    with app_over(make, with_handler=False) as web:
        made = web.create()
        got = web.client.post(f"{API}/{made['id']}/trigger")
        assert got.status_code == 503
        assert "no handler" in got.json()["error"]["message"]


# -- failures of the store and unknown routes ------------------------------------------


def test_a_failing_store_is_503_and_does_not_leak_its_message(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise StoreError("disk I/O error on /srv/secret/agents.db")

    monkeypatch.setattr(web.store, "list", broken)
    got = web.client.get(API)
    assert got.status_code == 503
    assert got.json()["error"]["type"] == "store_unavailable"
    assert "/srv/secret" not in got.text


def test_unknown_routes_and_methods_are_json(web: Web) -> None:
    missing = web.client.get("/api/v1/nothing")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found"
    wrong = web.client.put(API, json={})
    assert wrong.status_code == 405 and wrong.json()["error"]["type"] == "method_not_allowed"


# -- mounted in another app ----------------------------------------------------------


def test_mounted_under_a_prefix_the_links_follow(make: Factory) -> None:
    sched = make.native(handler, clock=FakeClock(T0))
    outer = Starlette(routes=[Mount("/agents", app=create_app(sched))])
    with TestClient(outer) as client:
        made = client.post(f"/agents{API}", json=body()).json()
        page = client.get("/agents/").text
        assert f'href="/agents/schedules/{made["id"]}"' in page
        moved = client.post(f"/agents/schedules/{made['id']}/pause", follow_redirects=False)
        assert moved.headers["location"] == f"/agents/schedules/{made['id']}"
        assert client.get("/agents/openapi.json").json()["servers"] == [{"url": "/agents"}]


# -- create_app -----------------------------------------------------------------------


def test_create_app_wants_a_scheduler() -> None:
    with pytest.raises(TypeError, match="Scheduler or an AsyncScheduler"):
        create_app(object())  # type: ignore[arg-type]
