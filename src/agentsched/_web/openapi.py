"""The OpenAPI 3.1 description served at `/openapi.json`, written out by hand.

Hand-written because the routes take plain JSON, not models a generator could
read; the field lists come from `bodies` and the records, and the tests check
the document against the records' `to_dict()` and the validator.
"""

from __future__ import annotations

from typing import Any

from ..model import (
    MAX_ATTEMPTS,
    MAX_ID,
    MAX_INPUT,
    MAX_METADATA_KEY,
    MAX_METADATA_KEYS,
    MAX_METADATA_VALUE,
    MAX_NAME,
    MAX_SCHEDULE_ID,
    MAX_TEXT,
    Overlap,
    RunStatus,
    RunTrigger,
    Status,
)
from .bodies import CREATE_FIELDS, MAX_PAGE, UPDATE_FIELDS

__all__ = ["openapi_document"]

_DAYS_366 = 366 * 86400
_REF = "#/components/"


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"{_REF}{kind}/{name}"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return {"oneOf": [schema, {"type": "null"}]}
    return {**schema, "type": [schema["type"], "null"]}


def _text(low: int, high: int, **more: Any) -> dict[str, Any]:
    return {"type": "string", "minLength": low, "maxLength": high, **more}


_INSTANT = {"type": "string", "format": "date-time", "examples": ["2026-01-05T08:00:00Z"]}
_SECONDS = {"type": "number", "minimum": 0, "maximum": _DAYS_366, "description": "seconds"}
_ZONE = {"type": "string", "default": "UTC", "examples": ["Europe/Paris"]}
_ID = {"type": "string", "pattern": f"^[A-Za-z0-9_.:-]{{1,{MAX_SCHEDULE_ID}}}$"}


def _spec(kind: str, required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["type", *required],
        "additionalProperties": False,
        "properties": {"type": {"const": kind}, **properties},
    }


_FIELDS: dict[str, dict[str, Any]] = {
    "id": {**_ID, "description": "yours to choose; generated (sched_...) if left out"},
    "name": _nullable(_text(1, MAX_NAME)),
    "schedule": _ref("schemas", "Spec"),
    "input": _text(1, MAX_INPUT),
    "conversation": _nullable(_text(1, MAX_ID)),
    "previous_response_id": _nullable(_text(1, MAX_ID)),
    "metadata": _nullable(
        {
            "type": "object",
            "maxProperties": MAX_METADATA_KEYS,
            "propertyNames": {"minLength": 1, "maxLength": MAX_METADATA_KEY},
            "additionalProperties": {"type": "string", "maxLength": MAX_METADATA_VALUE},
        }
    ),
    "stateful": {"type": "boolean", "default": False},
    "overlap": {"type": "string", "enum": [o.value for o in Overlap], "default": "skip"},
    "catchup_window": {**_SECONDS, "default": 3600},
    "max_runs": _nullable({"type": "integer", "minimum": 1}),
    "end_at": _nullable(dict(_INSTANT)),
    "pause_after_failures": _nullable({"type": "integer", "minimum": 1}),
    "timeout": _nullable(
        {"type": "number", "exclusiveMinimum": 0, "maximum": _DAYS_366, "description": "seconds"}
    ),
    "retry": _nullable(_ref("schemas", "Retry")),
    "jitter": _nullable(dict(_SECONDS)),
}


def _record(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": list(properties), "properties": properties}


def _schedule() -> dict[str, Any]:
    nullable_text = {"type": ["string", "null"]}
    nullable_instant = _nullable(dict(_INSTANT))
    return _record(
        {
            "object": {"const": "agent.schedule"},
            "id": _ID,
            "agent_id": {"type": "string"},
            "owner": nullable_text,
            "name": nullable_text,
            "status": {"type": "string", "enum": [s.value for s in Status]},
            "schedule": _ref("schemas", "Spec"),
            "input": {"type": "string"},
            "conversation": nullable_text,
            "previous_response_id": nullable_text,
            "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
            "temporal_schedule_id": {"type": "null", "description": "always null (hosted API)"},
            "stateful": {"type": "boolean"},
            "overlap": {"type": "string", "enum": [o.value for o in Overlap]},
            "catchup_window": {"type": "number"},
            "max_runs": {"type": ["integer", "null"]},
            "end_at": nullable_instant,
            "next_run_at": nullable_instant,
            "last_run_at": nullable_instant,
            "last_run_id": nullable_text,
            "last_error": nullable_text,
            "run_count": {"type": "integer", "minimum": 0},
            "failure_count": {"type": "integer", "minimum": 0},
            "pause_after_failures": {"type": ["integer", "null"]},
            "timeout": {"type": ["number", "null"]},
            "paused_at": nullable_instant,
            "created_at": _INSTANT,
            "updated_at": _INSTANT,
            "deleted_at": nullable_instant,
            "version": {"type": "integer", "minimum": 1},
            "retry": _nullable(_ref("schemas", "Retry")),
            "jitter": {"type": ["number", "null"]},
            "pending_retry": {
                "oneOf": [
                    {
                        "type": "object",
                        "properties": {
                            "attempt": {"type": "integer"},
                            "scheduled_for": _INSTANT,
                            "at": _INSTANT,
                        },
                    },
                    {"type": "null"},
                ]
            },
        }
    )


def _run() -> dict[str, Any]:
    nullable_text = {"type": ["string", "null"]}
    nullable_instant = _nullable(dict(_INSTANT))
    return _record(
        {
            "object": {"const": "agent.schedule.run"},
            "id": {"type": "string"},
            "schedule_id": {"type": "string"},
            "agent_id": {"type": "string"},
            "owner": nullable_text,
            "status": {"type": "string", "enum": [s.value for s in RunStatus]},
            "trigger": {"type": "string", "enum": [t.value for t in RunTrigger]},
            "scheduled_for": nullable_instant,
            "started_at": nullable_instant,
            "finished_at": nullable_instant,
            "attempt": {"type": "integer", "minimum": 1},
            "coalesced": {"type": "integer", "minimum": 1},
            "response_id": nullable_text,
            "output": _nullable(_text(0, MAX_TEXT)),
            "error": _nullable(_text(0, MAX_TEXT)),
            "traceback": nullable_text,
        }
    )


def _list_of(item: str) -> dict[str, Any]:
    return _record(
        {
            "object": {"const": "list"},
            "data": {"type": "array", "items": _ref("schemas", item)},
            "first_id": {"type": ["string", "null"]},
            "last_id": {"type": ["string", "null"]},
            "has_more": {"type": "boolean"},
        }
    )


def _schemas() -> dict[str, Any]:
    kinds = {
        "cron": "CronSpec",
        "once": "OnceSpec",
        "interval": "IntervalSpec",
        "rrule": "RRuleSpec",
    }
    return {
        "CronSpec": _spec(
            "cron",
            ["expression"],
            {
                "expression": {"type": "string", "examples": ["0 9 * * mon-fri"]},
                "timezone": _ZONE,
                "hash_key": {"type": "string", "description": "seeds H (default: the id)"},
            },
        ),
        "OnceSpec": _spec("once", ["run_at"], {"run_at": _INSTANT, "timezone": _ZONE}),
        "IntervalSpec": _spec(
            "interval",
            ["every_seconds"],
            {
                "every_seconds": {"type": "number", "minimum": 1, "maximum": _DAYS_366},
                "start_at": _nullable(dict(_INSTANT)),
            },
        ),
        "RRuleSpec": _spec(
            "rrule",
            ["rrule", "dtstart"],
            {
                "rrule": {"type": "string", "examples": ["FREQ=WEEKLY;BYDAY=MO,WE"]},
                "dtstart": {
                    "type": "string",
                    "description": "ISO 8601 wall time, read in the timezone",
                    "examples": ["2026-01-05T09:00:00"],
                },
                "timezone": _ZONE,
            },
        ),
        "Spec": {
            "oneOf": [_ref("schemas", name) for name in kinds.values()],
            "discriminator": {
                "propertyName": "type",
                "mapping": {kind: f"{_REF}schemas/{name}" for kind, name in kinds.items()},
            },
        },
        "Retry": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "attempts": {"type": "integer", "minimum": 1, "maximum": MAX_ATTEMPTS},
                "backoff": {**_SECONDS, "default": 30},
                "max_backoff": {**_SECONDS, "default": 600},
            },
        },
        "CreateScheduleRequest": {
            "type": "object",
            "required": ["schedule", "input"],
            "additionalProperties": False,
            "properties": {name: _FIELDS[name] for name in CREATE_FIELDS},
        },
        "UpdateScheduleRequest": {
            "type": "object",
            "additionalProperties": False,
            "description": "only the fields given change",
            "properties": {name: _FIELDS[name] for name in UPDATE_FIELDS},
        },
        "Schedule": _schedule(),
        "Run": _run(),
        "ScheduleList": _list_of("Schedule"),
        "RunList": _list_of("Run"),
        "Error": _record(
            {
                "error": _record(
                    {
                        "type": {"type": "string", "examples": ["validation_error"]},
                        "message": {"type": "string"},
                        "field": {"type": ["string", "null"], "examples": ["schedule.expression"]},
                    }
                )
            }
        ),
    }


_ERRORS = {
    "400": "Malformed JSON, a body that is not a JSON object, or not sent as application/json",
    "401": "authenticate() found no owner for this request",
    "404": "No such schedule for this agent and owner (also: another owner's, or deleted)",
    "409": "A stale write, or a transition the schedule's status does not allow",
    "422": "A field is invalid; `field` names it and nothing was stored",
    "503": "The schedule store failed; try again",
}


def _operation(
    operation_id: str,
    summary: str,
    ok: tuple[str, str, str],
    errors: tuple[str, ...],
    *,
    body: str | None = None,
    query: tuple[str, ...] = (),
) -> dict[str, Any]:
    status, description, schema = ok
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "parameters": [_ref("parameters", "OnBehalfOf")]
        + [_ref("parameters", name) for name in query],
        "responses": {
            status: {
                "description": description,
                "content": {"application/json": {"schema": _ref("schemas", schema)}},
            },
            **{code: _ref("responses", f"Error{code}") for code in ("401", *errors, "503")},
        },
    }
    if body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref("schemas", body)}},
        }
    return operation


def _paths() -> dict[str, Any]:
    base = "/api/v1/agents/{agent_id}/schedules"
    one = base + "/{schedule_id}"
    agent = [_ref("parameters", "AgentId")]
    both = [*agent, _ref("parameters", "ScheduleId")]
    found = ("404",)

    def transition(verb: str, summary: str, errors: tuple[str, ...]) -> dict[str, Any]:
        return _operation(f"{verb}_schedule", summary, ("200", summary, "Schedule"), errors)

    return {
        base: {
            "parameters": agent,
            "post": _operation(
                "create_schedule",
                "Create a schedule",
                ("201", "The schedule as stored", "Schedule"),
                ("400", "409", "422"),
                body="CreateScheduleRequest",
            ),
            "get": _operation(
                "list_schedules",
                "List schedules, sorted by name then id",
                ("200", "One page of schedules", "ScheduleList"),
                ("422",),
                query=("Status", "Limit", "After"),
            ),
        },
        one: {
            "parameters": both,
            "get": _operation(
                "get_schedule", "Get a schedule", ("200", "The schedule", "Schedule"), found
            ),
            "post": _operation(
                "update_schedule",
                "Update a schedule (only the fields given)",
                ("200", "The updated schedule", "Schedule"),
                ("400", "404", "409", "422"),
                body="UpdateScheduleRequest",
            ),
            "delete": transition("delete", "Delete a schedule (soft)", ("404", "409")),
        },
        one + "/pause": {
            "parameters": both,
            "post": transition("pause", "Pause a schedule", ("404", "409")),
        },
        one + "/resume": {
            "parameters": both,
            "post": transition("resume", "Resume a schedule", ("404", "409")),
        },
        one + "/trigger": {
            "parameters": both,
            "post": _operation(
                "trigger_schedule",
                "Run a schedule's agent now, outside its spec",
                ("201", "The run, as started", "Run"),
                found,
            ),
        },
        one + "/runs": {
            "parameters": both,
            "get": _operation(
                "list_runs",
                "A schedule's runs, newest first",
                ("200", "The most recent runs", "RunList"),
                ("404", "422"),
                query=("Limit",),
            ),
        },
    }


def _parameters() -> dict[str, Any]:
    def path(name: str) -> dict[str, Any]:
        return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}

    return {
        "AgentId": path("agent_id"),
        "ScheduleId": path("schedule_id"),
        "OnBehalfOf": {
            "name": "X-On-Behalf-Of",
            "in": "header",
            "required": False,
            "description": "the owner to act as (unless the app authenticates callers itself)",
            "schema": _text(1, MAX_ID),
        },
        "Status": {
            "name": "status",
            "in": "query",
            "schema": {"type": "string", "enum": [s.value for s in Status]},
        },
        "Limit": {
            "name": "limit",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 20},
        },
        "After": {
            "name": "after",
            "in": "query",
            "description": "the last_id of the previous page",
            "schema": {"type": "string"},
        },
    }


def openapi_document(server_url: str, version: str) -> dict[str, Any]:
    """The description of the API as mounted at `server_url` ("/" at the root)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "agentsched",
            "version": version,
            "description": "Scheduled agent runs: the hosted agent.schedule API, in your app.",
        },
        "servers": [{"url": server_url}],
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "parameters": _parameters(),
            "responses": {
                f"Error{code}": {
                    "description": text,
                    "content": {"application/json": {"schema": _ref("schemas", "Error")}},
                }
                for code, text in _ERRORS.items()
            },
        },
    }
