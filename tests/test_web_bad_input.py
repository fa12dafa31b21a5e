"""Bad requests to the web API: a 422 naming the field for a bad body (create or update),
a 400 or 413 for what is no JSON object at all, and nothing stored or changed. On every
store and shell."""

from __future__ import annotations

import json
from typing import Any

import pytest
from support.web import API, CRON, JSON, Web, body

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
