"""The OpenAPI document: valid, describing the records the API returns, the statuses and
methods of every route, and bounds that are the ones the app checks. On every store
and shell (schemathesis against the document: test_openapi_conformance.py)."""

from __future__ import annotations

from typing import Any

import pytest
from support.web import API, Web, body


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
