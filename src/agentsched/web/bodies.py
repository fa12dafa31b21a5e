"""JSON request bodies and query strings into scheduler arguments.

The API speaks the `to_dict()` shapes: durations in seconds, instants as
RFC 3339 text, the spec as `{"type": "cron", ...}`. Everything here raises
`ValidationError` naming the field (as the API reports it, so a bad cron
expression is `schedule.expression`) or `BadRequest`, before anything is
stored; the records' own validators check the rest.

Which fields a body carries, and the bounds of its numbers, come from the
schedule's field table (`model/fields.py`); the syntax of instants is a
pattern here. `openapi.py` publishes them as they are: what the document
allows is what this module accepts. JSON Schema's rules apply to numbers (`3.0`
is an integer), and a number's bounds are checked on the number sent,
before it becomes a `timedelta` (which would round it to the microsecond).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from .._checks import MAX_DURATION
from .._instants import parse_instant
from ..errors import ValidationError, shorten
from ..model import Retry
from ..model.fields import BY_NAME, CREATED, READ_ONLY, UPDATABLE, Field, Kind
from ..model.specs import SPEC_FIELDS, Spec, spec_from_dict

__all__ = [
    "CREATE_FIELDS",
    "INSTANT_PATTERN",
    "MAX_DEPTH",
    "MAX_PAGE",
    "SECONDS",
    "SPEC_FIELDS",
    "UPDATE_FIELDS",
    "WALL_TIME_PATTERN",
    "WHOLE",
    "BadRequest",
    "create_arguments",
    "page_limit",
    "parse_json",
    "update_changes",
]

MAX_PAGE = 100
DEFAULT_PAGE = 20
MAX_DEPTH = 32  # JSON nesting: a valid body nests 2 deep; no step recurses far past 32

# Fields no body carries: the agent comes from the path, the owner from X-On-Behalf-Of
# (or `authenticate`), and the status from the actions.
_WHERE_ELSE = {
    "agent_id": "it is the {agent_id} of the path",
    "owner": "it is set by the X-On-Behalf-Of header",
    "status": "use /pause, /resume or DELETE",
}
# What a create body may carry; an update body, the same but `id`.
CREATE_FIELDS = tuple(field.name for field in CREATED if field.name not in _WHERE_ELSE)
UPDATE_FIELDS = tuple(name for name in UPDATABLE if name not in _WHERE_ELSE)
_READ_ONLY = READ_ONLY - _WHERE_ELSE.keys()
# A retry's fields in a body and in errors: `retry.backoff`.
_RETRY_PARTS = {f"retry.{part.name}": part for part in BY_NAME["retry"].parts}
_NUMBERS = {**{field.name: field for field in CREATED}, **_RETRY_PARTS}

# Every duration in seconds, by the name the API gives it: (least, most).
SECONDS: dict[str, tuple[float, float]] = {
    **{name: field.bounds for name, field in _NUMBERS.items() if field.kind is Kind.DURATION},
    "schedule.every_seconds": (1, MAX_DURATION.total_seconds()),
}
# Every whole number a body carries: (least, most), within what every store holds and the
# signed 64 bits of any client's integers.
WHOLE: dict[str, tuple[int, int]] = {
    name: (int(field.bounds[0]), int(field.bounds[1]))
    for name, field in _NUMBERS.items()
    if field.kind is Kind.COUNT
}
_NULLABLE = frozenset(name for name, field in _NUMBERS.items() if field.nullable)

# RFC 3339 date-times, with the years a record takes (1970-9999), real dates only (30
# days in April, 29 in February of leap years), and no leap second (which no instant
# here can hold). ASCII digits only: the pattern is also ECMA-262's.
_YEAR = "(?:19[7-9][0-9]|[2-9][0-9]{3})"
_LEAP_YEAR = (
    "(?:19(?:7[26]|8[048]|9[26])|[2-9][0-9](?:0[48]|[2468][048]|[13579][26])"
    "|(?:[2468][048]|[3579][26])00)"
)
_MONTH_DAY = (
    "(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    "|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"
)
_DATE = f"({_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)"
_TIME = r"((?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9])(?:\.([0-9]{1,9}))?"
_OFFSET = r"([Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
INSTANT_PATTERN = f"^{_DATE}[Tt]{_TIME}{_OFFSET}$"
WALL_TIME_PATTERN = f"^{_DATE}[Tt]{_TIME}{_OFFSET}?$"  # a dtstart: without an offset, in its zone
_INSTANT = re.compile(INSTANT_PATTERN)
_WALL_TIME = re.compile(WALL_TIME_PATTERN)

# A spec's errors name its attribute; the body names the JSON field.
_SPEC_ALIASES = {"every": "every_seconds"}


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


def _number(field: str, value: object) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(field, f"{field!r} must be a number (got {shorten(value)})")
    return value


def _plain(number: float) -> str:
    """`0.000001`, `31622400`: a bound as a person writes it."""
    return f"{number:f}".rstrip("0").rstrip(".")


def _in_seconds(field: str, value: object) -> float | int:
    """A number of seconds within `SECONDS[field]`, as sent."""
    low, high = SECONDS[field]
    seconds = _number(field, value)
    if not low <= seconds <= high:
        raise ValidationError(
            field,
            f"{field!r} must be {_plain(low)} to {_plain(high)} seconds (got {shorten(value)})",
        )
    return seconds


def _seconds(field: str, value: object) -> timedelta | None:
    """A duration given in seconds (None for a field that may be null)."""
    if value is None and field in _NULLABLE:
        return None
    return timedelta(seconds=_in_seconds(field, value))


def _whole(field: str, value: object) -> int | None:
    """A whole number within `WHOLE[field]`; `3.0` is one, as JSON Schema counts."""
    if value is None and field in _NULLABLE:
        return None
    low, high = WHOLE[field]
    number = _number(field, value)
    if isinstance(number, float) and not number.is_integer():
        raise ValidationError(field, f"{field!r} must be a whole number (got {shorten(value)})")
    if not low <= number <= high:
        raise ValidationError(
            field, f"{field!r} must be a whole number {low}-{high} (got {shorten(value)})"
        )
    return int(number)


def _date_time(pattern: re.Pattern[str], field: str, value: object, what: str) -> str:
    """A date-time in the documented syntax, rewritten as every Python reads it:
    `T`, six fraction digits (more are cut, as `fromisoformat` cuts them), `+00:00`."""
    found = pattern.fullmatch(value) if isinstance(value, str) else None
    if found is None:
        raise ValidationError(field, f"{field!r} must be {what} (got {shorten(value)})")
    date, time, fraction, offset = found.groups()
    micros = (fraction or "")[:6].ljust(6, "0")
    zone = "" if offset is None else "+00:00" if offset in "Zz" else offset
    return f"{date}T{time}.{micros}{zone}"


def _instant(field: str, value: object) -> str:
    return _date_time(_INSTANT, field, value, "an RFC 3339 date-time with Z or an offset")


def _spec(value: object) -> Spec:
    """The spec of a body, its errors named `schedule.<field>`."""
    try:
        return spec_from_dict(_spec_fields(value))
    except ValidationError as exc:
        field = _SPEC_ALIASES.get(exc.field, exc.field)
        if not field.startswith("schedule"):
            field = f"schedule.{field}"
        raise ValidationError(field, str(exc)) from None


def _spec_fields(value: object) -> object:
    """A spec's numbers and date-times checked as the document says; the spec checks
    the rest (and the fields of another type, which it refuses)."""
    if not isinstance(value, Mapping):
        return value
    fields = dict(value)
    kind = fields.get("type")
    if kind == "interval" and "every_seconds" in fields:
        _in_seconds("schedule.every_seconds", fields["every_seconds"])
    if kind == "interval" and fields.get("start_at") is not None:
        fields["start_at"] = _instant("schedule.start_at", fields["start_at"])
    if kind == "once" and "run_at" in fields:
        fields["run_at"] = _instant("schedule.run_at", fields["run_at"])
    if kind == "rrule" and "dtstart" in fields:
        fields["dtstart"] = _date_time(
            _WALL_TIME,
            "schedule.dtstart",
            fields["dtstart"],
            "an RFC 3339 date-time, its offset optional",
        )
    return fields


def _retry(value: object) -> Retry:
    if not isinstance(value, Mapping):
        return Retry.from_dict(value)  # raises, naming the field
    fields = dict(value)
    for name, part in _RETRY_PARTS.items():
        if part.name not in fields:
            continue
        if part.kind is Kind.COUNT:
            fields[part.name] = _whole(name, fields[part.name])
        else:
            _in_seconds(name, fields[part.name])
    return Retry.from_dict(fields)


def _argument(field: Field, value: object) -> object:
    """A body's value of `field` as the scheduler takes it, checked as the document says."""
    if field.kind is Kind.SPEC:
        return _spec(value)
    if field.kind is Kind.DURATION:
        return _seconds(field.name, value)
    if field.kind is Kind.COUNT:
        return _whole(field.name, value)
    if value is None:
        return None
    if field.kind is Kind.INSTANT:
        return parse_instant(_instant(field.name, value), field.name)
    if field.kind is Kind.RETRY:
        return _retry(value)
    return value


def _arguments(body: Mapping[str, Any]) -> dict[str, Any]:
    """The body's fields as arguments, checked in the record's order (null for `id`, as
    absent: generated)."""
    arguments = {
        field.name: _argument(field, body[field.name]) for field in CREATED if field.name in body
    }
    if "id" in arguments and arguments["id"] is None:
        del arguments["id"]
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
