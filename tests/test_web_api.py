"""The web app: every route, error and owner rule, on every store behind both shells
(the app awaits an `AsyncScheduler` and runs a `Scheduler`'s calls in worker threads),
with a fake clock and inline handlers so that runs are deterministic (`support.web`).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Mount
from starlette.testclient import TestClient
from support.matrix import SHELLS, Factory, family
from support.web import API, CRON, JSON, T0, Web, app_over, body, handler, not_found

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
    assert runs["data"][0] == web.store.get_run(run["id"]).to_dict()  # type: ignore[union-attr]


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


# -- owners and authentication ----------------------------------------------------

ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "{path}", None),
    ("POST", "{path}", {"name": "stolen"}),
    ("DELETE", "{path}", None),
    ("POST", "{path}/pause", None),
    ("POST", "{path}/resume", None),
    ("POST", "{path}/trigger", None),
    ("GET", "{path}/runs", None),
]


@pytest.mark.parametrize(("method", "url", "payload"), ROUTES)
def test_an_owner_never_sees_or_touches_another_owners_schedule(
    web: Web, method: str, url: str, payload: dict[str, Any] | None
) -> None:
    alices = web.create(owner="alice")
    before = web.snapshot()
    got = web.client.request(
        method,
        url.format(path=f"{API}/{alices['id']}"),
        json=payload,
        headers={"X-On-Behalf-Of": "bob"},
    )
    assert got.status_code == 404
    assert got.json() == not_found(alices["id"])  # word for word a missing id
    assert web.snapshot() == before


def test_owners_see_their_own_schedules_only(web: Web) -> None:
    alices = web.create(owner="alice", name="a")
    bobs = web.create(owner="bob", name="b")
    assert alices["owner"] == "alice"

    def listed(owner: str | None) -> list[str]:
        headers = {"X-On-Behalf-Of": owner} if owner else {}
        return [s["id"] for s in web.client.get(API, headers=headers).json()["data"]]

    assert listed("alice") == [alices["id"]]
    assert listed("bob") == [bobs["id"]]
    assert listed(None) == [alices["id"], bobs["id"]]  # no owner: unscoped
    bob = {"X-On-Behalf-Of": "bob"}
    unknown = web.client.get(API, params={"after": "sched_nope"}, headers=bob)
    alices_cursor = web.client.get(API, params={"after": alices["id"]}, headers=bob)
    assert alices_cursor.status_code == 404
    assert alices_cursor.json()["error"]["message"] == unknown.json()["error"]["message"].replace(
        "sched_nope", alices["id"]
    )
    own = web.client.post(f"{API}/{bobs['id']}/pause", headers=bob)
    assert own.status_code == 200


@pytest.mark.parametrize("owner", [b"x" * 257, b"", b"a\x00b"])
def test_an_owner_header_must_be_1_to_256_characters_of_text(web: Web, owner: bytes) -> None:
    got = web.client.get(API, headers={"X-On-Behalf-Of": owner})
    assert got.status_code == 400
    assert got.json()["error"]["field"] == "X-On-Behalf-Of"


def _by_token(request: Request) -> str | None:
    return {"Bearer alice-key": "alice", "Bearer bob-key": "bob"}.get(
        request.headers.get("authorization", "")
    )


async def _by_token_async(request: Request) -> str | None:
    return _by_token(request)


ALL_ROUTES = [
    ("POST", API, body()),
    ("GET", API, None),
    *[(m, u.format(path=f"{API}/sched_x"), p) for m, u, p in ROUTES],
    ("GET", "/", None),
    ("GET", "/schedules/sched_x", None),
    ("POST", "/schedules/sched_x/pause", None),
    ("GET", "/openapi.json", None),
]


@pytest.mark.parametrize("authenticate", [_by_token, _by_token_async], ids=["sync", "async"])
def test_authenticate_guards_every_route(make: Factory, authenticate: Callable[..., Any]) -> None:
    with app_over(make, authenticate=authenticate) as web:
        for method, url, payload in ALL_ROUTES:
            got = web.client.request(method, url, json=payload, headers={"X-On-Behalf-Of": "a"})
            assert got.status_code == 401, (method, url)
            if not url.startswith("/schedules") and url != "/":
                assert got.json()["error"]["type"] == "unauthorized"
        assert web.snapshot() == []


@pytest.mark.parametrize("authenticate", [_by_token, _by_token_async], ids=["sync", "async"])
def test_authenticate_decides_the_owner(make: Factory, authenticate: Callable[..., Any]) -> None:
    with app_over(make, authenticate=authenticate) as web:
        alice = {"Authorization": "Bearer alice-key"}
        # The header cannot widen what authenticate allows.
        made = web.client.post(API, json=body(), headers={**alice, "X-On-Behalf-Of": "bob"})
        assert made.json()["owner"] == "alice"
        bob = {"Authorization": "Bearer bob-key"}
        assert web.client.get(f"{API}/{made.json()['id']}", headers=bob).status_code == 404
        assert web.client.get(API, headers=bob).json()["data"] == []
        assert web.client.get(f"{API}/{made.json()['id']}", headers=alice).status_code == 200
        page = web.client.get("/", headers=bob)
        assert page.status_code == 200 and made.json()["id"] not in page.text
        assert made.json()["id"] in web.client.get("/", headers=alice).text


def test_a_broken_authenticate_is_a_plain_500(make: Factory) -> None:
    def broken(request: Request) -> Any:
        return 42

    with app_over(make, authenticate=broken, raise_server_exceptions=False) as web:
        got = web.client.get(API)
        assert got.status_code == 500
        assert got.json() == {
            "error": {"type": "internal_error", "message": "internal error", "field": None}
        }
        assert "Traceback" not in got.text


# -- bad input --------------------------------------------------------------------

NUL_NAME = (
    b'{"name": "a\\u0000b", "schedule": {"type": "cron", "expression": "0 9 * * *"}, "input": "x"}'
)
SURROGATE = (
    b'{"name": "\\ud800", "schedule": {"type": "cron", "expression": "0 9 * * *"}, "input": "x"}'
)

BAD_BODIES: list[tuple[dict[str, Any], str]] = [
    ({"name": 7}, "name"),
    ({"name": ""}, "name"),
    ({"name": "x" * 121}, "name"),
    ({"input": ...}, "input"),
    ({"input": ""}, "input"),
    ({"input": "x" * 20_001}, "input"),
    ({"input": ["x"]}, "input"),
    ({"schedule": ...}, "schedule"),
    ({"schedule": "daily"}, "schedule"),
    ({"schedule": {"type": "weekly"}}, "schedule.type"),
    ({"schedule": {"type": "cron", "expression": "0 99 * * *"}}, "schedule.expression"),
    ({"schedule": {"type": "cron", "expression": "every day"}}, "schedule.expression"),
    ({"schedule": {"type": "cron", "expression": 9}}, "schedule.expression"),
    ({"schedule": {"type": "cron", "expression": "0 9 31 2 *"}}, "schedule.expression"),
    ({"schedule": {**CRON, "timezone": "Mars/Base"}}, "schedule.timezone"),
    ({"schedule": {**CRON, "tz": "Europe/Paris"}}, "schedule.tz"),
    ({"schedule": {"type": "interval", "every_seconds": 0}}, "schedule.every_seconds"),
    ({"schedule": {"type": "interval", "every_seconds": "60"}}, "schedule.every_seconds"),
    ({"schedule": {"type": "interval", "every_seconds": 1e300}}, "schedule.every_seconds"),
    ({"schedule": {"type": "once", "run_at": "tomorrow"}}, "schedule.run_at"),
    ({"schedule": {"type": "once", "run_at": "2026-01-05T09:00:00"}}, "schedule.run_at"),
    (
        {
            "schedule": {
                "type": "rrule",
                "rrule": "FREQ=SOMETIMES",
                "dtstart": "2026-01-05T09:00:00",
            }
        },
        "schedule.rrule",
    ),
    ({"schedule": {"type": "rrule", "rrule": "FREQ=DAILY", "dtstart": 5}}, "schedule.dtstart"),
    ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
    ({"metadata": {"k": "v" * 513}}, "metadata"),
    ({"metadata": {"k": 5}}, "metadata"),
    ({"metadata": ["k"]}, "metadata"),
    ({"colour": "blue"}, "colour"),
    ({"owner": "mallory"}, "owner"),
    ({"agent_id": "other-bot"}, "agent_id"),
    ({"status": "paused"}, "status"),
    ({"run_count": 5}, "run_count"),
    ({"stateful": "yes"}, "stateful"),
    ({"overlap": "sometimes"}, "overlap"),
    ({"overlap": ["skip"]}, "overlap"),
    ({"catchup_window": "1h"}, "catchup_window"),
    ({"catchup_window": -1}, "catchup_window"),
    ({"catchup_window": None}, "catchup_window"),
    ({"max_runs": 0}, "max_runs"),
    ({"max_runs": 1.5}, "max_runs"),
    ({"end_at": "tomorrow"}, "end_at"),
    ({"end_at": "2026-12-31T00:00:00"}, "end_at"),
    ({"timeout": 0}, "timeout"),
    ({"timeout": 10**400}, "timeout"),
    ({"pause_after_failures": True}, "pause_after_failures"),
    ({"retry": {"attempts": 0}}, "retry.attempts"),
    ({"retry": {"tries": 3}}, "retry"),
    ({"retry": 3}, "retry"),
    ({"jitter": "lots"}, "jitter"),
    ({"id": "not an id!"}, "id"),
    ({"conversation": ""}, "conversation"),
    ({"previous_response_id": 5}, "previous_response_id"),
]


def _ids(cases: list[tuple[dict[str, Any], str]]) -> list[str]:
    return [f"{field}-{i}" for i, (_, field) in enumerate(cases)]


@pytest.mark.parametrize(("changes", "field"), BAD_BODIES, ids=_ids(BAD_BODIES))
def test_a_bad_create_body_is_422_naming_the_field_and_stores_nothing(
    web: Web, changes: dict[str, Any], field: str
) -> None:
    web.create()
    before = web.snapshot()
    got = web.client.post(API, content=json.dumps(body(**changes)).encode(), headers=JSON)
    assert got.status_code == 422, got.text
    error = got.json()["error"]
    assert error["type"] == "validation_error"
    assert error["field"] == field
    assert web.snapshot() == before


UPDATABLE_BAD = [
    (c, f) for c, f in BAD_BODIES if ... not in c.values() and f != "id" and "schedule" not in c
] + [
    ({"id": "renamed"}, "id"),
    ({"schedule": {**CRON, "timezone": "Mars/Base"}}, "schedule.timezone"),
]


@pytest.mark.parametrize(("changes", "field"), UPDATABLE_BAD, ids=_ids(UPDATABLE_BAD))
def test_a_bad_update_body_is_422_naming_the_field_and_changes_nothing(
    web: Web, changes: dict[str, Any], field: str
) -> None:
    made = web.create()
    before = web.snapshot()
    got = web.client.post(f"{API}/{made['id']}", json=changes)
    assert got.status_code == 422, got.text
    assert got.json()["error"]["field"] == field
    assert web.snapshot() == before


@pytest.mark.parametrize(
    ("data", "headers", "status", "field"),
    [
        (b"{", JSON, 400, None),
        (b"", JSON, 400, None),
        (b"[1, 2]", JSON, 400, None),
        (b'"text"', JSON, 400, None),
        (b'{"input": NaN}', JSON, 400, None),
        (b"[" * 100_000 + b"]" * 100_000, JSON, 400, None),
        (b'{"input": "\xff\xfe"}', JSON, 400, None),
        (json.dumps(body()).encode(), {"content-type": "text/plain"}, 400, None),
        (
            json.dumps(body()).encode(),
            {"content-type": "application/x-www-form-urlencoded"},
            400,
            None,
        ),
        (json.dumps(body()).encode(), {}, 400, None),
        (b'{"input": "' + b"x" * (1 << 20) + b'"}', JSON, 413, None),
        (NUL_NAME, JSON, 422, "name"),
        (SURROGATE, JSON, 422, "name"),
        (b'{"\\ud800": 1}', JSON, 422, "\ufffd"),  # an unknown name, echoed as valid text
        (b'{"a": 1e999}', JSON, 400, None),
        (b'{"name": ' + b"[" * 33 + b"]" * 33 + b"}", JSON, 400, None),
    ],
    ids=[
        "truncated",
        "empty",
        "array",
        "string",
        "nan",
        "deep",
        "not-utf8",
        "text-plain",
        "form",
        "no-type",
        "too-large",
        "nul",
        "surrogate",
        "surrogate-field-name",
        "beyond-a-double",
        "nested-33-deep",
    ],
)
def test_malformed_requests(
    web: Web, data: bytes, headers: dict[str, str], status: int, field: str | None
) -> None:
    got = web.client.post(API, content=data, headers=headers)
    assert got.status_code == status, got.text
    assert got.json()["error"]["field"] == field
    assert web.snapshot() == []


def test_a_json_content_type_with_charset_or_suffix_is_json(web: Web) -> None:
    data = json.dumps(body()).encode()
    for kind in ("application/json; charset=utf-8", "application/merge-patch+json"):
        assert web.client.post(API, content=data, headers={"content-type": kind}).status_code == 201


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


def test_a_write_from_another_site_is_refused(web: Web) -> None:
    made = web.create()
    for url in (f"{API}/{made['id']}/pause", f"/schedules/{made['id']}/pause"):
        got = web.client.post(url, headers={"Sec-Fetch-Site": "cross-site"})
        assert got.status_code == 403
    assert web.client.get(f"{API}/{made['id']}").json()["status"] == "active"
    same = web.client.post(f"{API}/{made['id']}/pause", headers={"Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 200


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=8,
)
_VALID_SPECS = [
    CRON,
    {"type": "once", "run_at": "2026-02-01T09:00:00Z", "timezone": "UTC"},
    {"type": "interval", "every_seconds": 60, "start_at": None},
    {"type": "rrule", "rrule": "FREQ=DAILY", "dtstart": "2026-01-05T09:00:00", "timezone": "UTC"},
]
_PLAUSIBLE = st.sampled_from([None, True, 60, 1.5, "skip", "daily", "2026-03-01T00:00:00Z"])
_VALUES = _PLAUSIBLE | _json_values
_FIELDS = ["id", "name", "input", "metadata", "stateful", "overlap", "catchup_window"]
_FIELDS += ["max_runs", "end_at", "timeout", "retry", "jitter", "conversation", "bogus"]


@st.composite
def _create_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A valid body with a few fields, of the body or of its spec, replaced by any JSON."""
    spec = dict(draw(st.sampled_from(_VALID_SPECS)))
    for key in draw(st.lists(st.sampled_from([*spec, "extra"]), max_size=2)):
        spec[key] = draw(_VALUES)
    made = {"input": "x", "schedule": spec}
    made.update(draw(st.dictionaries(st.sampled_from(_FIELDS), _VALUES, max_size=3)))
    return made


@pytest.mark.parametrize("shell", SHELLS)
@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=_create_bodies())
def test_no_body_is_a_server_error(payload: dict[str, Any], shell: str, tmp_path: Path) -> None:
    """Over a `MemoryStore`: a case is an app of its own, and the body is what varies."""
    with family("memory", shell, tmp_path) as make, app_over(make) as web:
        got = web.client.post(API, json=payload)
        assert got.status_code in (201, 409, 422), got.text
        if got.status_code != 201:
            assert web.snapshot() == []


# -- the dashboard ----------------------------------------------------------------

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


# -- OpenAPI ----------------------------------------------------------------------


def test_the_openapi_document_is_valid_and_matches_the_records(web: Web) -> None:
    from openapi_schema_validator import OAS31Validator
    from openapi_spec_validator import validate

    doc = web.client.get("/openapi.json").json()
    validate(doc)
    schemas = doc["components"]["schemas"]
    made = web.create(retry={"attempts": 2})
    run = web.client.post(f"{API}/{made['id']}/trigger").json()
    assert set(schemas["Schedule"]["properties"]) == set(made)
    assert set(schemas["Run"]["properties"]) == set(run)
    responses = {
        "Schedule": made,
        "Run": run,
        "ScheduleList": web.client.get(API).json(),
        "RunList": web.client.get(f"{API}/{made['id']}/runs").json(),
        "Error": web.client.get(f"{API}/nope").json(),
        "CreateScheduleRequest": body(max_runs=3, retry={"attempts": 2}, timeout=1.5),
        "UpdateScheduleRequest": {"name": None, "metadata": {"a": "b"}},
    }
    for name, instance in responses.items():
        schema = {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
        OAS31Validator(schema).validate(instance)
    routes = {
        (method.upper(), path)
        for path, item in doc["paths"].items()
        for method in item
        if method != "parameters"
    }
    assert len(routes) == 9


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in doc["paths"].items()
        for method, operation in item.items()
        if method != "parameters"
    ]


def test_every_operation_documents_the_400_of_a_bad_owner_header(web: Web) -> None:
    """Reported: an over-long X-On-Behalf-Of was an undocumented 400 on 6 operations."""
    made = web.create()
    doc = web.client.get("/openapi.json").json()
    for method, path, operation in _operations(doc):
        assert {"400", "401", "503"} <= set(operation["responses"]), (method, path)
        url = path.format(agent_id="bot", schedule_id=made["id"])
        for bad in ("x" * 257, ""):
            got = web.client.request(method, url, json={}, headers={"X-On-Behalf-Of": bad})
            assert got.status_code == 400, (method, path)
            assert got.json()["error"]["field"] == "X-On-Behalf-Of"


def test_each_path_allows_exactly_its_documented_methods(web: Web) -> None:
    """Reported: OPTIONS answered an `Allow` naming only one route's methods."""
    doc = web.client.get("/openapi.json").json()
    for path, item in doc["paths"].items():
        documented = {m.upper() for m in item if m != "parameters"}
        documented |= {"HEAD"} if "GET" in documented else set()
        got = web.client.options(path.format(agent_id="bot", schedule_id="sched_x"))
        assert got.status_code == 405
        assert set(got.headers["allow"].split(", ")) == documented, path


@pytest.mark.parametrize(
    ("seconds", "status"),
    [(0, 422), (5e-324, 422), (4e-7, 422), (1e-6, 201), (0.5, 201), (366 * 86400, 201)],
)
def test_the_least_timeout_is_the_documented_microsecond(
    web: Web, seconds: float, status: int
) -> None:
    """Reported: `timeout` above 0 passed the schema and was refused (below a microsecond).
    The document's bounds are the ones the app checks, on the number sent."""
    doc = web.client.get("/openapi.json").json()
    timeout = doc["components"]["schemas"]["CreateScheduleRequest"]["properties"]["timeout"]
    assert timeout["minimum"] == 1e-6 and timeout["maximum"] == 366 * 86400
    got = web.client.post(API, json=body(timeout=seconds))
    assert got.status_code == status, got.text


@pytest.mark.parametrize(
    ("changes", "stored"),
    [
        ({"max_runs": 3.0}, {"max_runs": 3}),  # JSON Schema's integers: 3.0 is one
        (
            {"retry": {"attempts": 2.0}},
            {"retry": {"attempts": 2, "backoff": 30, "max_backoff": 600}},
        ),
        ({"id": None}, {}),  # null: generated, as when left out
        ({"end_at": "2026-12-31t00:00:00.1234567z"}, {"end_at": "2026-12-31T00:00:00.123456Z"}),
        (
            {
                "schedule": {
                    "type": "rrule",
                    "rrule": "FREQ=DAILY",
                    "dtstart": "2026-01-05T09:00:00+01:00",
                    "timezone": "Europe/Paris",
                }
            },
            {
                "schedule": {
                    "type": "rrule",
                    "rrule": "FREQ=DAILY",
                    "dtstart": "2026-01-05T09:00:00",
                    "timezone": "Europe/Paris",
                }
            },
        ),
    ],
)
def test_values_the_document_allows_are_accepted(
    web: Web, changes: dict[str, Any], stored: dict[str, Any]
) -> None:
    made = web.create(**changes)
    assert made == {**made, **stored}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"max_runs": 2**63}, "max_runs"),  # past the documented int64
        ({"max_runs": 2.5}, "max_runs"),
        ({"end_at": "2026-02-30T00:00:00Z"}, "end_at"),  # no such day
        ({"end_at": "2026-12-31T00:00Z"}, "end_at"),  # RFC 3339 wants the seconds
        ({"end_at": "2026-12-31 00:00:00Z"}, "end_at"),
        ({"end_at": "1969-12-31T23:59:59Z"}, "end_at"),
        ({"end_at": "9999-12-31T23:00:00-05:00"}, "end_at"),  # year 10000 in UTC
        ({"schedule": {"type": "interval", "every_seconds": 0.9999999}}, "schedule.every_seconds"),
        ({"retry": {"backoff": -1e-9}}, "retry.backoff"),
    ],
)
def test_values_the_document_refuses_are_refused(
    web: Web, changes: dict[str, Any], field: str
) -> None:
    got = web.client.post(API, json=body(**changes))
    assert got.status_code == 422, got.text
    assert got.json()["error"]["field"] == field
    assert web.snapshot() == []


# -- packaging ----------------------------------------------------------------------


def test_importing_agentsched_does_not_import_starlette() -> None:
    code = "import sys, agentsched, agentsched.cli; print('starlette' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_without_starlette_the_error_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['starlette'] = None\n"
        "try:\n    import agentsched.asgi\n"
        "except ImportError as exc:\n    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'agentsched[web]'" in done.stdout


def test_create_app_wants_a_scheduler() -> None:
    with pytest.raises(TypeError, match="Scheduler or an AsyncScheduler"):
        create_app(object())  # type: ignore[arg-type]
