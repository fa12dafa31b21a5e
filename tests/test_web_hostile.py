"""Any request, however malformed, to every route of the app: never a 5xx.

Bodies of random JSON (nested to past the parser's limit, keys and strings
with lone surrogates and NUL, numbers past a double and integers of
thousands of digits, NaN), bytes that are no JSON at all, random query
strings (percent-escapes of invalid UTF-8, repeated and unknown keys), random
path ids and header values, to every API route and every dashboard page and
form. Every answer is below 500; every JSON error has the documented shape,
its text valid Unicode and bounded; an error changes nothing stored.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient
from support.matrix import SHELLS, Factory, family
from support.web import API, app_over

from agentsched._checks import clean_text
from agentsched.stores.base import Store
from agentsched.web.errors import MAX_ECHO
from agentsched.web.openapi import ERROR_TYPES

CRON = {"type": "cron", "expression": "0 9 * * *", "timezone": "Europe/Paris"}
VALID = {"name": "daily", "schedule": CRON, "input": "Summarise", "retry": {"attempts": 2}}
FIELDS = [*VALID, "id", "metadata", "timeout", "jitter", "max_runs", "end_at", "status", "owner"]
SPEC_FIELDS = ["type", "expression", "timezone", "run_at", "every_seconds", "start_at", "dtstart"]


class Raw(str):
    """JSON text put in a body as it is: what `json.dumps` never writes."""


def _dump(value: object) -> str:
    """JSON text of `value`, its strings ASCII (lone surrogates as `\\udxxx` escapes)."""
    if isinstance(value, Raw):
        return value
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{_dump(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_dump(v) for v in value) + "]"
    return json.dumps(value)


# Text with lone surrogates and NUL often, and a few values the app looks at.
TEXT = st.one_of(
    st.text(
        st.sampled_from(["a", "\ud800", "\udfff", "\x00", "é", "😀"]) | st.characters(), max_size=12
    ),
    st.sampled_from(["x" * 2000, "sched_x", "", "2026-01-05T09:00:00Z", "paused"]),
)
NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=2**63 - 2, max_value=2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(
        [Raw("1e999"), Raw("-1e999"), Raw("NaN"), Raw("Infinity"), Raw("9" * 4000), Raw("1.0")]
    ),
)
VALUES = st.recursive(
    st.none() | st.booleans() | NUMBERS | TEXT,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(TEXT | st.sampled_from(FIELDS + SPEC_FIELDS), inner, max_size=3)
    ),
    max_leaves=8,
)
# Nesting around the body's limit (32) and the parser's (near 1000, by the stack).
DEEP = st.builds(
    lambda depth, value, as_list: Raw(
        ("[" * depth + _dump(value) + "]" * depth)
        if as_list
        else ('{"a":' * depth + _dump(value) + "}" * depth)
    ),
    st.sampled_from([31, 32, 33, 500, 3000]) | st.integers(900, 1010),
    VALUES,
    st.booleans(),
)
ANY_VALUE = VALUES | DEEP


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """A valid body with a field replaced or added (at the top, in the spec or the retry),
    any JSON, or bytes."""
    kind = draw(st.sampled_from(["changed", "changed", "any", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=64))
    if kind == "any":
        return _dump(draw(ANY_VALUE)).encode("ascii")
    body: dict[str, Any] = json.loads(json.dumps(VALID))
    holder = draw(st.sampled_from([body, body["schedule"], body["retry"]]))
    holder[draw(st.sampled_from(FIELDS + SPEC_FIELDS) | TEXT)] = draw(ANY_VALUE)
    return _dump(body).encode("ascii")


def _segment(text: str) -> str:
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


QUERY = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["limit", "status", "after", "back"]) | TEXT, TEXT).map(
            lambda pair: f"{_segment(pair[0])}={_segment(pair[1])}"
        ),
        st.sampled_from(["%ff%fe", "%", "%zz", "after", "limit=1&limit=2", "=", "&&"]),
    ),
    max_size=4,
).map("&".join)
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=300)
HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "x-on-behalf-of": HEADER_TEXT,
        "content-type": st.sampled_from(["text/plain", "application/x+json", ""]) | HEADER_TEXT,
        "origin": st.sampled_from(["http://testserver", "https://evil.example", "null"])
        | HEADER_TEXT,
        "referer": HEADER_TEXT,
        "sec-fetch-site": st.sampled_from(["same-origin", "cross-site", "none"]) | HEADER_TEXT,
    },
)
BODY_ROUTES = [
    ("POST", "/api/v1/agents/{agent}/schedules"),
    ("POST", "/api/v1/agents/{agent}/schedules/{id}"),
]
ROUTES = [
    ("POST", "/api/v1/agents/{agent}/schedules"),
    ("GET", "/api/v1/agents/{agent}/schedules"),
    ("GET", "/api/v1/agents/{agent}/schedules/{id}"),
    ("POST", "/api/v1/agents/{agent}/schedules/{id}"),
    ("DELETE", "/api/v1/agents/{agent}/schedules/{id}"),
    ("POST", "/api/v1/agents/{agent}/schedules/{id}/pause"),
    ("POST", "/api/v1/agents/{agent}/schedules/{id}/resume"),
    ("POST", "/api/v1/agents/{agent}/schedules/{id}/trigger"),
    ("GET", "/api/v1/agents/{agent}/schedules/{id}/runs"),
    ("GET", "/openapi.json"),
    ("GET", "/"),
    ("GET", "/schedules/{id}"),
    ("POST", "/schedules/{id}/{verb}"),
]


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes
    headers: dict[bytes, bytes]


@st.composite
def requests(draw: st.DrawFn, schedule_id: str, routes: list[tuple[str, str]]) -> Request:
    method, template = draw(st.sampled_from(routes))
    path = template.format(
        agent=_segment(draw(st.just("bot") | TEXT)),
        id=_segment(draw(st.just(schedule_id) | TEXT)),
        verb=_segment(draw(st.sampled_from(["pause", "resume", "trigger"]) | TEXT)),
    )
    query = draw(QUERY)
    headers = {"content-type": "application/json", **draw(HEADERS)}
    return Request(
        method,
        f"{path}?{query}" if query else path,
        draw(bodies()) if method == "POST" else b"",
        {name.encode(): value.encode("latin-1") for name, value in headers.items()},
    )


@contextmanager
def app(make: Factory) -> Iterator[tuple[TestClient, Store, str]]:
    """The app over `make`'s kind, holding a schedule that ran once."""
    with app_over(make) as web:  # a 5xx raises, with its traceback
        made = web.client.post("/api/v1/agents/bot/schedules", json=VALID).json()
        web.client.post(f"/api/v1/agents/bot/schedules/{made['id']}/trigger")
        yield web.client, web.store, made["id"]


def _stored(store: Store, schedule_id: str) -> list[object]:
    schedules = [s.to_dict() for s in store.list(include_deleted=True, limit=1000)]
    return [schedules, [r.to_dict() for r in store.runs(schedule_id)]]


def _safe(text: object) -> bool:
    return isinstance(text, str) and len(text) <= MAX_ECHO and clean_text(text) == text


def check_error_shape(body: Any) -> None:
    """The documented error: `{"error": {"type", "message", "field"}}`, all safe text."""
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error, dict) and set(error) == {"type", "message", "field"}, error
    assert error["type"] in ERROR_TYPES, error
    assert error["message"] and _safe(error["message"]), error
    assert error["field"] is None or _safe(error["field"]), error


# Half the CI profile's examples per shell: the requests of both shells together.
@pytest.mark.parametrize("shell", SHELLS)
@settings(max_examples=150)
@given(data=st.data())
def test_no_body_is_a_server_error(shell: str, data: st.DataObject) -> None:
    check_an_answer(shell, data, BODY_ROUTES)


@pytest.mark.parametrize("shell", SHELLS)
@settings(max_examples=150)
@given(data=st.data())
def test_no_path_query_or_header_on_any_route_is_a_server_error(
    shell: str, data: st.DataObject
) -> None:
    check_an_answer(shell, data, ROUTES)


def check_an_answer(shell: str, data: st.DataObject, routes: list[tuple[str, str]]) -> None:
    """One request, drawn for one of `routes`, to an app of its own (over a `MemoryStore`:
    what varies is the request): below 500; a JSON error in the documented shape, a
    page as valid text; nothing stored changed by an error."""
    with family("memory", shell) as make, app(make) as (client, store, schedule_id):
        request = data.draw(requests(schedule_id, routes))
        before = _stored(store, schedule_id)
        got = client.request(
            request.method,
            request.path,
            content=request.body,
            headers=request.headers,
            follow_redirects=False,
        )
        assert got.status_code < 500, got.text
        media = got.headers.get("content-type", "")
        if media.startswith("application/json"):
            body = got.json()
            if got.status_code >= 400:
                check_error_shape(body)
        else:
            assert media.startswith("text/html") or 300 <= got.status_code < 400, media
            got.content.decode("utf-8")
        if got.status_code >= 400:
            assert _stored(store, schedule_id) == before


PLACES = [
    b'{"name": %s, "input": "x", "schedule": {"type": "cron", "expression": "0 9 * * *"}}',
    b'{"input": "x", "schedule": {"type": "cron", "expression": %s}}',
    b'{"input": "x", "schedule": {"type": "cron", "expression": "0 9 * * *", "timezone": %s}}',
    b'{"input": "x", "schedule": {"type": "once", "run_at": %s}}',
    b'{"input": "x", "schedule": {"type": "interval", "every_seconds": 60}, "retry": %s}',
    b'{"input": "x", "schedule": {"type": "interval", "every_seconds": 60}, "metadata": {"k": %s}}',
    b'{"bogus": %s}',
    b"%s",
]


@pytest.mark.parametrize("store_kind", ["memory"])  # refused before any store is asked
def test_nesting_past_the_bound_is_400_at_every_depth_up_to_the_parsers_limit(
    make: Factory,
) -> None:
    """The reported case: JSON nested just below the parser's depth limit (near 960
    levels, by the stack) was parsed, then some later step recursed past the limit
    (a 500). Every depth past 32 is now refused at once, wherever it sits."""
    depths = [33, 100, 500, *range(900, 1011), 3000]
    with app(make) as (client, store, schedule_id):
        before = _stored(store, schedule_id)
        for place in PLACES:
            for depth in depths:
                nested = b"[" * depth + b"]" * depth
                got = client.post(
                    "/api/v1/agents/bot/schedules",
                    content=place % nested,
                    headers={"content-type": "application/json"},
                )
                assert got.status_code == 400, (place, depth, got.text)
                check_error_shape(got.json())
        assert _stored(store, schedule_id) == before


# -- valid bodies with any JSON in a few fields ----------------------------------------


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
    spec: dict[str, Any] = dict(draw(st.sampled_from(_VALID_SPECS)))
    for key in draw(st.lists(st.sampled_from([*spec, "extra"]), max_size=2)):
        spec[key] = draw(_VALUES)
    made: dict[str, Any] = {"input": "x", "schedule": spec}
    made.update(draw(st.dictionaries(st.sampled_from(_FIELDS), _VALUES, max_size=3)))
    return made


@pytest.mark.parametrize("shell", SHELLS)
@settings(max_examples=150)
@given(payload=_create_bodies())
def test_a_valid_body_with_any_json_in_a_few_fields_is_created_or_refused(
    payload: dict[str, Any], shell: str
) -> None:
    """Over a `MemoryStore`: a case is an app of its own, and the body is what varies."""
    with family("memory", shell) as make, app_over(make) as web:
        got = web.client.post(API, json=payload)
        assert got.status_code in (201, 409, 422), got.text
        if got.status_code != 201:
            assert web.snapshot() == []
