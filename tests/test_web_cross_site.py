"""Writes another site's page starts are refused: the API's and the dashboard's forms.

A browser posting a form to the dashboard sends the user's cookies, so any
site could press its buttons; it also says where the request comes from.
A write is refused (403) when `Sec-Fetch-Site` is `cross-site` or `same-site`,
or when its `Origin` (or, without one, its `Referer`) is not on the request's
own host. A client that sends none of these (a server calling the API) is
not a browser, and passes. Reads are never refused.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient
from support.matrix import Factory
from support.web import Web

from agentsched.asgi import create_app

API = "/api/v1/agents/bot/schedules"
BODY = {"name": "daily", "schedule": {"type": "cron", "expression": "0 9 * * *"}, "input": "x"}

REFUSED: list[dict[str, str]] = [
    {"Origin": "https://evil.example"},  # no Sec-Fetch-Site: an older browser, or a script
    {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Host": "api.example.com", "Origin": "https://app.example.com", "Sec-Fetch-Site": "same-site"},
    {"Host": "api.example.com", "Origin": "https://app.example.com"},  # a sibling sub-domain
    {"Origin": "null"},  # an opaque origin: a sandboxed frame, a file
    {"Origin": "http://testserver:8080"},  # another port is another origin
    {"Origin": "http://testserver.evil.example"},
    {"Referer": "https://evil.example/page.html"},  # no Origin: the Referer decides
    {"Referer": "not a url"},
    {"Origin": "https://evil.example", "Referer": "http://testserver/"},
]
ALLOWED: list[dict[str, str]] = [
    {},  # a server-to-server client says nothing
    {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
    {"Origin": "http://testserver"},
    {"Origin": "http://TestServer"},
    {"Sec-Fetch-Site": "same-origin"},
    {"Sec-Fetch-Site": "none"},  # typed or bookmarked by the user
    {"Host": "testserver:443", "Origin": "https://testserver"},  # the default port, or not
    {"Host": "testserver:8080", "Origin": "http://testserver:8080"},
    {"Referer": "http://testserver/schedules/x"},
    {"Origin": "http://testserver", "Referer": "https://evil.example/"},  # the Origin decides
]


def _ids(cases: list[dict[str, str]]) -> list[str]:
    return [", ".join(f"{k}: {v}" for k, v in case.items()) or "none" for case in cases]


@pytest.fixture
def client(web: Web) -> TestClient:
    """A client of the app on each store and shell of the family."""
    return web.client


def _writes(schedule_id: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    one = f"{API}/{schedule_id}"
    return [
        ("POST", API, BODY),
        ("POST", one, {"name": "renamed"}),
        ("POST", f"{one}/pause", None),
        ("POST", f"{one}/resume", None),
        ("POST", f"{one}/trigger", None),
        ("DELETE", one, None),
        ("POST", f"/schedules/{schedule_id}/pause", None),
        ("POST", f"/schedules/{schedule_id}/resume", None),
        ("POST", f"/schedules/{schedule_id}/trigger", None),
    ]


def _state(client: TestClient) -> Any:
    schedules = client.get(API, params={"limit": "100"}).json()["data"]
    return schedules, [client.get(f"{API}/{s['id']}/runs").json() for s in schedules]


@pytest.mark.parametrize("headers", REFUSED, ids=_ids(REFUSED))
def test_a_write_from_another_site_is_refused_everywhere(
    client: TestClient, headers: dict[str, str]
) -> None:
    made = client.post(API, json=BODY).json()
    before = _state(client)
    for method, url, body in _writes(made["id"]):
        got = client.request(method, url, json=body, headers=headers, follow_redirects=False)
        assert got.status_code == 403, (method, url)
        if url.startswith("/api/"):
            error = got.json()["error"]
            assert error["type"] == "forbidden" and error["field"] is None
            assert "another site" in error["message"]
        else:  # a form: a page saying why, not JSON
            assert got.headers["content-type"].startswith("text/html")
            assert "another site" in got.text
    assert _state(client) == before


@pytest.mark.parametrize("headers", ALLOWED, ids=_ids(ALLOWED))
def test_a_write_from_this_site_or_no_browser_is_done(
    client: TestClient, headers: dict[str, str]
) -> None:
    made = client.post(API, json=BODY, headers=headers)
    assert made.status_code == 201
    schedule_id = made.json()["id"]
    paused = client.post(f"{API}/{schedule_id}/pause", headers=headers)
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    resumed = client.post(
        f"/schedules/{schedule_id}/resume", headers=headers, follow_redirects=False
    )
    assert resumed.status_code == 303
    assert client.get(f"{API}/{schedule_id}").json()["status"] == "active"


def test_reads_are_never_refused(client: TestClient) -> None:
    made = client.post(API, json=BODY).json()
    evil = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    for url in (API, f"{API}/{made['id']}", "/", f"/schedules/{made['id']}", "/openapi.json"):
        assert client.get(url, headers=evil).status_code == 200, url


def test_mounted_under_a_prefix_a_refused_form_is_a_page(make: Factory) -> None:
    sched = make.native(lambda ctx: "done")
    outer = Starlette(routes=[Mount("/agents", app=create_app(sched))])
    with TestClient(outer) as client:
        made = client.post(f"/agents{API}", json=BODY).json()
        evil = {"Origin": "https://evil.example"}
        form = client.post(f"/agents/schedules/{made['id']}/pause", headers=evil)
        assert form.status_code == 403 and form.headers["content-type"].startswith("text/html")
        assert 'href="/agents/"' in form.text  # back to the dashboard, where it is mounted
        api = client.post(f"/agents{API}/{made['id']}/pause", headers=evil)
        assert api.status_code == 403 and api.json()["error"]["type"] == "forbidden"
        assert client.get(f"/agents{API}/{made['id']}").json()["status"] == "active"


def test_a_write_from_another_site_is_refused(web: Web) -> None:
    made = web.create()
    for url in (f"{API}/{made['id']}/pause", f"/schedules/{made['id']}/pause"):
        got = web.client.post(url, headers={"Sec-Fetch-Site": "cross-site"})
        assert got.status_code == 403
    assert web.client.get(f"{API}/{made['id']}").json()["status"] == "active"
    same = web.client.post(f"{API}/{made['id']}/pause", headers={"Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 200
