"""The OpenAPI 3.1 description served at `/openapi.json`, written out by hand.

Written here because the routes take plain JSON, not models a generator could
read; the request bodies are made from the schedule's field table
(`model/fields.py`: each field's kind, bounds, default and description), the
bounds and date-time patterns come from `bodies`, so the document allows what
the app accepts, and the tests check it against the records' `to_dict()`, the
validator and the app (schemathesis).

What JSON Schema cannot say is said in words: a cron expression, an RRULE and
a zone name are checked by their parsers (the formats `cron`, `rrule` and
`iana-time-zone` name them), a retry's `max_backoff` may not be below its
`backoff`, and an instant must fall within 1970-9999 in UTC as well as in
the text (`9999-12-31T23:00:00-05:00` is in year 10000).
"""

from __future__ import annotations

from datetime import timedelta
from enum import Enum
from typing import Any

from ..model import (
    MAX_ATTEMPTS,
    MAX_ID,
    MAX_METADATA_KEY,
    MAX_METADATA_VALUE,
    MAX_SCHEDULE_ID,
    MAX_TEXT,
    Overlap,
    RunStatus,
    RunTrigger,
    Status,
)
from ..model.fields import BY_NAME, REQUIRED, Field, Kind
from ..model.validators import seconds
from ..timing.cron import MAX_EXPRESSION_LENGTH
from ..timing.rrule import MAX_RULE_LENGTH
from .bodies import (
    CREATE_FIELDS,
    INSTANT_PATTERN,
    MAX_DEPTH,
    MAX_PAGE,
    SECONDS,
    UPDATE_FIELDS,
    WALL_TIME_PATTERN,
    WHOLE,
)

__all__ = ["ERROR_TYPES", "openapi_document"]

_REF = "#/components/"
_NO_NUL = "^[^\\u0000]*$"  # valid text: no NUL (lone surrogates cannot be written in a schema)
_MAX_HASH_KEY = 256
ERROR_TYPES = (
    "invalid_request",
    "unauthorized",
    "forbidden",
    "not_found",
    "method_not_allowed",
    "conflict",
    "invalid_transition",
    "payload_too_large",
    "validation_error",
    "store_unavailable",
    "unavailable",
    "internal_error",
)


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"{_REF}{kind}/{name}"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return {"oneOf": [schema, {"type": "null"}]}
    return {**schema, "type": [schema["type"], "null"]}


def _text(low: int, high: int, **more: Any) -> dict[str, Any]:
    """Text the records take: `low`-`high` characters, no NUL."""
    return {"type": "string", "minLength": low, "maxLength": high, "pattern": _NO_NUL, **more}


def _seconds(field: str, **more: Any) -> dict[str, Any]:
    low, high = SECONDS[field]
    return {"type": "number", "minimum": low, "maximum": high, "description": "seconds", **more}


def _whole(field: str, **more: Any) -> dict[str, Any]:
    low, high = WHOLE[field]
    return {"type": "integer", "format": "int64", "minimum": low, "maximum": high, **more}


_INSTANT = {
    "type": "string",
    "format": "date-time",
    "pattern": INSTANT_PATTERN,
    "description": "RFC 3339, with Z or an offset; within 1970-9999 in UTC too",
    "examples": ["2026-01-05T08:00:00Z"],
}
# A format alone says what these strings may be: their parsers decide, and lengths or
# patterns beside them would only be a looser, second description.
_ZONE = {
    "type": "string",
    "format": "iana-time-zone",
    "default": "UTC",
    "description": "an IANA time zone name in this server's tz database",
    "examples": ["Europe/Paris"],
}
_ID = {"type": "string", "pattern": f"^[A-Za-z0-9_.:-]{{1,{MAX_SCHEDULE_ID}}}$"}
_COUNT = {"type": "integer", "format": "int64", "minimum": 0}


def _spec(kind: str, required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["type", *required],
        "additionalProperties": False,
        "properties": {"type": {"const": kind}, **properties},
    }


def _value(field: Field, name: str) -> dict[str, Any]:
    """The schema of a value of `field`, as a body carries it."""
    kind = field.kind
    if kind is Kind.ID:
        return dict(_ID)
    if kind is Kind.TEXT:
        low, high = field.bounds
        return _text(int(low), int(high))
    if kind is Kind.SPEC:
        return _ref("schemas", "Spec")
    if kind is Kind.METADATA:
        return {
            "type": "object",
            "maxProperties": int(field.bounds[1]),
            "propertyNames": _text(1, MAX_METADATA_KEY),
            "additionalProperties": _text(0, MAX_METADATA_VALUE),
        }
    if kind is Kind.FLAG:
        return {"type": "boolean"}
    if kind is Kind.OVERLAP:
        return {"type": "string", "enum": [o.value for o in Overlap]}
    if kind is Kind.DURATION:
        return _seconds(name)
    if kind is Kind.COUNT:
        return _whole(name)
    if kind is Kind.INSTANT:
        return dict(_INSTANT)
    if kind is Kind.RETRY:
        return _ref("schemas", "Retry")
    raise ValueError(f"{name} is read-only: no body carries it")


def _property(field: Field, name: str) -> dict[str, Any]:
    """A field as a request body carries it (`name` as errors name it: `retry.backoff`):
    its kind's schema, null too where the field takes None, its default and meaning."""
    schema = _value(field, name)
    if field.nullable:
        schema = _nullable(schema)
    if field.default is not None:
        schema["default"] = _json(field.default)
    if field.description:  # before what its kind says: "seconds", an instant's syntax
        schema["description"] = "; ".join(
            filter(None, [field.description, schema.get("description")])
        )
    return schema


def _json(value: object) -> object:
    """A default as JSON shows it: a duration in seconds, an enum member by its value."""
    if isinstance(value, timedelta):
        return seconds(value)
    if isinstance(value, Enum):
        return value.value
    return value


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
            "max_runs": {"type": ["integer", "null"], "format": "int64"},
            "end_at": nullable_instant,
            "next_run_at": nullable_instant,
            "last_run_at": nullable_instant,
            "last_run_id": nullable_text,
            "last_error": nullable_text,
            "run_count": _COUNT,
            "failure_count": _COUNT,
            "pause_after_failures": {"type": ["integer", "null"], "format": "int64"},
            "timeout": {"type": ["number", "null"]},
            "paused_at": nullable_instant,
            "created_at": _INSTANT,
            "updated_at": _INSTANT,
            "deleted_at": nullable_instant,
            "version": {**_COUNT, "minimum": 1},
            "retry": _nullable(_ref("schemas", "Retry")),
            "jitter": {"type": ["number", "null"]},
            "pending_retry": {
                "oneOf": [
                    {
                        "type": "object",
                        "properties": {
                            "attempt": {"type": "integer", "minimum": 2},
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
            "attempt": {"type": "integer", "minimum": 1, "maximum": MAX_ATTEMPTS},
            "coalesced": {**_COUNT, "minimum": 1},
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
                "expression": {
                    "type": "string",
                    "format": "cron",
                    "description": (
                        f"5 fields or a macro, at most {MAX_EXPRESSION_LENGTH} characters, "
                        "that fires at least once"
                    ),
                    "examples": ["0 9 * * mon-fri"],
                },
                "timezone": _ZONE,
                "hash_key": _text(0, _MAX_HASH_KEY, description="seeds H (default: the id)"),
            },
        ),
        "OnceSpec": _spec("once", ["run_at"], {"run_at": _INSTANT, "timezone": _ZONE}),
        "IntervalSpec": _spec(
            "interval",
            ["every_seconds"],
            {
                "every_seconds": _seconds("schedule.every_seconds"),
                "start_at": _nullable(dict(_INSTANT)),
            },
        ),
        "RRuleSpec": _spec(
            "rrule",
            ["rrule", "dtstart"],
            {
                "rrule": {
                    "type": "string",
                    "format": "rrule",
                    "description": (
                        f"an RFC 5545 RRULE value, at most {MAX_RULE_LENGTH} characters, "
                        "that fires from dtstart on"
                    ),
                    "examples": ["FREQ=WEEKLY;BYDAY=MO,WE"],
                },
                "dtstart": {
                    "type": "string",
                    "pattern": WALL_TIME_PATTERN,
                    "description": "a wall time read in the timezone (an offset converts to it)",
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
            "description": "max_backoff may not be below backoff",
            "properties": {
                part.name: _property(part, f"retry.{part.name}") for part in BY_NAME["retry"].parts
            },
        },
        "CreateScheduleRequest": {
            "type": "object",
            "required": [name for name in REQUIRED if name in CREATE_FIELDS],
            "additionalProperties": False,
            "properties": {name: _property(BY_NAME[name], name) for name in CREATE_FIELDS},
        },
        "UpdateScheduleRequest": {
            "type": "object",
            "additionalProperties": False,
            "description": "only the fields given change",
            "properties": {name: _property(BY_NAME[name], name) for name in UPDATE_FIELDS},
        },
        "Schedule": _schedule(),
        "Run": _run(),
        "ScheduleList": _list_of("Schedule"),
        "RunList": _list_of("Run"),
        "Error": _record(
            {
                "error": _record(
                    {
                        "type": {"type": "string", "enum": list(ERROR_TYPES)},
                        "message": {"type": "string"},
                        "field": {"type": ["string", "null"], "examples": ["schedule.expression"]},
                    }
                )
            }
        ),
    }


_ERRORS = {
    "400": (
        "Malformed JSON (NaN, a number beyond a double or nesting deeper than "
        f"{MAX_DEPTH} levels included), a body that is not a JSON object or not sent as "
        "application/json, or an X-On-Behalf-Of that is not 1-256 characters of text"
    ),
    "401": "authenticate() found no owner for this request",
    "403": "A write started by another site's page (Sec-Fetch-Site, Origin or Referer)",
    "404": "No such schedule for this agent and owner (also: another owner's, or deleted)",
    "409": "A taken id, a write that kept racing, or a transition the status does not allow",
    "413": "The body is over 1 MiB",
    "422": "A field is invalid; `field` names it and nothing was stored",
    "503": "The schedule store failed (try again), or nothing can run a trigger",
}


def _operation(
    operation_id: str,
    summary: str,
    ok: tuple[str, str, str],
    *,
    write: bool = False,
    finds: bool = True,
    body: str | None = None,
    query: tuple[str, ...] = (),
    links: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An operation answering `ok` (status, description, schema) or the errors it can:
    400 (the header), 401 and 503 always; 403 and 409 for a write, 404 when the path or
    a query names a schedule, 413 and 422 for a body, 422 for a query."""
    status, description, schema = ok
    errors = {"400", "401", "503"}
    errors |= {"403", "409"} if write else set()
    errors |= {"404"} if finds else set()
    errors |= {"413", "422"} if body is not None else set()
    errors |= {"422"} if query else set()
    success: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": _ref("schemas", schema)}},
    }
    if links is not None:
        success["links"] = links
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "parameters": [_ref("parameters", "OnBehalfOf")]
        + [_ref("parameters", name) for name in query],
        "responses": {
            status: success,
            **{code: _ref("responses", f"Error{code}") for code in sorted(errors)},
        },
    }
    if body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref("schemas", body)}},
        }
    return operation


_ONE_SCHEDULE = ("get", "update", "delete", "pause", "resume", "trigger")


def _links_to_the_schedule() -> dict[str, Any]:
    """From a created schedule to every operation on it."""
    parameters = {"agent_id": "$request.path.agent_id", "schedule_id": "$response.body#/id"}
    targets = {f"{verb}_schedule": verb for verb in _ONE_SCHEDULE}
    targets["list_runs"] = "runs"
    return {
        name.capitalize(): {"operationId": operation_id, "parameters": parameters}
        for operation_id, name in targets.items()
    }


def _paths() -> dict[str, Any]:
    base = "/api/v1/agents/{agent_id}/schedules"
    one = base + "/{schedule_id}"
    agent = [_ref("parameters", "AgentId")]
    both = [*agent, _ref("parameters", "ScheduleId")]

    def transition(verb: str, summary: str) -> dict[str, Any]:
        return _operation(f"{verb}_schedule", summary, ("200", summary, "Schedule"), write=True)

    return {
        base: {
            "parameters": agent,
            "post": _operation(
                "create_schedule",
                "Create a schedule",
                ("201", "The schedule as stored", "Schedule"),
                write=True,
                finds=False,
                body="CreateScheduleRequest",
                links=_links_to_the_schedule(),
            ),
            "get": _operation(
                "list_schedules",
                "List schedules, sorted by name then id",
                ("200", "One page of schedules", "ScheduleList"),
                query=("Status", "Limit", "After"),
            ),
        },
        one: {
            "parameters": both,
            "get": _operation(
                "get_schedule", "Get a schedule", ("200", "The schedule", "Schedule")
            ),
            "post": _operation(
                "update_schedule",
                "Update a schedule (only the fields given)",
                ("200", "The updated schedule", "Schedule"),
                write=True,
                body="UpdateScheduleRequest",
            ),
            "delete": transition("delete", "Delete a schedule (soft)"),
        },
        one + "/pause": {"parameters": both, "post": transition("pause", "Pause a schedule")},
        one + "/resume": {"parameters": both, "post": transition("resume", "Resume a schedule")},
        one + "/trigger": {
            "parameters": both,
            "post": _operation(
                "trigger_schedule",
                "Run a schedule's agent now, outside its spec",
                ("201", "The run, as started", "Run"),
                write=True,
            ),
        },
        one + "/runs": {
            "parameters": both,
            "get": _operation(
                "list_runs",
                "A schedule's runs, newest first",
                ("200", "The most recent runs", "RunList"),
                query=("Limit",),
            ),
        },
    }


def _parameters() -> dict[str, Any]:
    return {
        "AgentId": {
            "name": "agent_id",
            "in": "path",
            "required": True,
            "schema": _text(1, MAX_ID),
        },
        "ScheduleId": {"name": "schedule_id", "in": "path", "required": True, "schema": _ID},
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
            "description": "the last_id of the previous page; one naming no schedule is a 404",
            "schema": _ID,
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
