"""JSON request bodies and query strings into scheduler arguments.

The API speaks the `to_dict()` shapes: durations in seconds, instants as
ISO 8601 text, the spec as `{"type": "cron", ...}`. Everything here raises
`ValidationError` naming the field (as the API reports it, so a bad cron
expression is `schedule.expression`) or `BadRequest`, before anything is
stored; the records' own validators check the rest.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import attrs

from .._datetimes import parse_instant
from ..errors import ValidationError, shorten
from ..model import Retry, Schedule
from ..specs import SPEC_FIELDS, Spec, spec_from_dict
from ..states import UPDATABLE

__all__ = [
    "CREATE_FIELDS",
    "MAX_DEPTH",
    "MAX_PAGE",
    "SPEC_FIELDS",
    "UPDATE_FIELDS",
    "BadRequest",
    "create_arguments",
    "page_limit",
    "parse_json",
    "update_changes",
]

MAX_PAGE = 100
DEFAULT_PAGE = 20
MAX_DEPTH = 32  # JSON nesting: a valid body nests 2 deep; no step recurses far past 32

# What a create body may carry; an update body, the same but `id`. The agent comes
# from the path and the owner from X-On-Behalf-Of (or `authenticate`).
UPDATE_FIELDS = tuple(f for f in UPDATABLE if f != "agent_id")  # the path names the agent
CREATE_FIELDS = ("id", *UPDATE_FIELDS)

# A spec's errors name its attribute; the body names the JSON field.
_SPEC_ALIASES = {"every": "every_seconds"}
_SECONDS = ("catchup_window", "timeout", "jitter")
_NULLABLE_SECONDS = ("timeout", "jitter")
# The rest of an `agent.schedule`: kept by the scheduler, never written by a client.
_READ_ONLY = frozenset({f.name for f in attrs.fields(Schedule)} | {"temporal_schedule_id"}) - set(
    CREATE_FIELDS
)
_WHERE_ELSE = {
    "agent_id": "it is the {agent_id} of the path",
    "owner": "it is set by the X-On-Behalf-Of header",
    "status": "use /pause, /resume or DELETE",
}


class BadRequest(Exception):
    """A request that is not JSON, or not an object: 400, before any field is read."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    """A JSON number as a float; one past a double (`1e999`, which Python reads as
    infinity) is refused, as NaN is."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is too large for a double")
    return value


def _nests_within(value: object, limit: int) -> bool:
    """Whether `value` nests at most `limit` containers deep (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return False
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return True


def parse_json(data: bytes) -> Mapping[str, Any]:
    """The body as a JSON object; `BadRequest` for anything else (NaN, numbers beyond a
    double, nesting deeper than `MAX_DEPTH`), so no later step meets such a value."""
    if not data.strip():
        raise BadRequest("the request body is empty; send a JSON object")
    try:
        body = json.loads(data, parse_constant=_reject_constant, parse_float=_finite)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise BadRequest(f"the request body is not valid JSON ({str(exc)[:120]})") from None
    if not isinstance(body, dict):
        raise BadRequest(f"the request body must be a JSON object (got {type(body).__name__})")
    if not _nests_within(body, MAX_DEPTH):
        raise BadRequest(f"the request body nests deeper than {MAX_DEPTH} levels")
    return body


def _check_fields(body: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    for key in body:
        if key in allowed:
            continue
        if key in _WHERE_ELSE:
            reason = _WHERE_ELSE[key]
        elif key in _READ_ONLY:
            reason = "it is read-only"
        else:
            reason = f"the fields are: {', '.join(allowed)}"
        raise ValidationError(key, f"unknown field {shorten(key)} ({reason})")


def _spec(value: object) -> Spec:
    """The spec of a body, its errors named `schedule.<field>`."""
    try:
        return spec_from_dict(value)
    except ValidationError as exc:
        field = _SPEC_ALIASES.get(exc.field, exc.field)
        if not field.startswith("schedule"):
            field = f"schedule.{field}"
        raise ValidationError(field, str(exc)) from None


def _seconds(field: str, value: object) -> timedelta | None:
    if value is None and field in _NULLABLE_SECONDS:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(
            field, f"{field!r} must be a number of seconds (got {shorten(value)})"
        )
    try:
        return timedelta(seconds=value)
    except OverflowError:
        raise ValidationError(field, f"{field!r} is out of range (got {shorten(value)})") from None


def _arguments(body: Mapping[str, Any]) -> dict[str, Any]:
    arguments = dict(body)
    if "schedule" in body:
        arguments["schedule"] = _spec(body["schedule"])
    for field in _SECONDS:
        if field in body:
            arguments[field] = _seconds(field, body[field])
    if body.get("end_at") is not None:
        arguments["end_at"] = parse_instant(body["end_at"], "end_at")
    if body.get("retry") is not None:
        arguments["retry"] = Retry.from_dict(body["retry"])
    return arguments


def create_arguments(body: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments for `create` (but `agent_id` and `owner`)."""
    _check_fields(body, CREATE_FIELDS)
    for field in ("schedule", "input"):
        if field not in body:
            raise ValidationError(field, f"{field!r} is required")
    return _arguments(body)


def update_changes(body: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments for `update`: only the fields given (a partial update)."""
    _check_fields(body, UPDATE_FIELDS)
    return _arguments(body)


def page_limit(text: str | None, default: int = DEFAULT_PAGE) -> int:
    """A `limit` query parameter: 1-100, default 20."""
    if text is None:
        return default
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_PAGE:
        raise ValidationError(
            "limit", f"'limit' must be a whole number 1-{MAX_PAGE} (got {shorten(text)})"
        )
    return int(text)
