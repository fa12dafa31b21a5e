"""Owners on the web: `X-On-Behalf-Of` scopes every route and list to one owner, and an
`authenticate` callable decides the owner instead, guarding every route; another
owner's schedule is a 404 word for word a missing one. On every store and shell."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.requests import Request
from support.matrix import Factory
from support.web import API, Web, app_over, body, not_found

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
    got = web.client.get(API, headers={b"X-On-Behalf-Of": owner})
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
