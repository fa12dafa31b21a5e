"""Exceptions raised by agentsched.

Every error the library raises on purpose derives from `AgentschedError`, and
also from the builtin exception that fits, so callers can catch either::

    AgentschedError (Exception)
    ├── ValidationError (ValueError)        bad input; `.field` names it
    │   ├── InvalidCronExpression           bad or never-firing cron text
    │   └── UnknownTimezone                 not an IANA zone name
    ├── ScheduleNotFound (LookupError)      no such id, deleted, or another owner's
    ├── InvalidTransition (RuntimeError)    e.g. pausing a completed schedule
    ├── ConflictError (RuntimeError)        stale write: the record's version moved on
    └── StoreError (RuntimeError)           the store failed or holds a corrupt row
"""

from __future__ import annotations

import reprlib

__all__ = [
    "MAX_MESSAGE",
    "AgentschedError",
    "ConflictError",
    "InvalidCronExpression",
    "InvalidTransition",
    "ScheduleNotFound",
    "StoreError",
    "UnknownTimezone",
    "ValidationError",
    "shorten",
]

MAX_MESSAGE = 500
_ECHO_LIMIT = 60
_BIG_INT_BITS = 1024  # past this, an int is summarised: int -> str refuses 4,300+ digits


class _Echo(reprlib.Repr):
    """`reprlib`'s bounded repr (a few levels, a few items, the start of a string), with
    its per-type methods used only for the exact builtin types: a subclass, or a class
    that merely shares a builtin's name, goes through its own `repr`, whose failure
    `reprlib` catches."""

    _BUILTINS = frozenset({str, bytes, int, list, tuple, dict, set, frozenset})

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxlist = self.maxtuple = self.maxset = self.maxfrozenset = self.maxdict = 4
        self.maxstring = self.maxlong = self.maxother = _ECHO_LIMIT

    def repr1(self, x: object, level: int) -> str:
        if type(x) in self._BUILTINS:
            return super().repr1(x, level)
        return self.repr_instance(x, level)

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > _BIG_INT_BITS:
            return f"<an int of {x.bit_length()} bits>"
        return super().repr_int(x, level)

    def repr_bytes(self, x: bytes, level: int) -> str:
        return self.repr_instance(x[: self.maxstring], level)


_ECHO = _Echo()
_LITERALS = (str, bytes, int, float, bool, type(None))


def shorten(value: object, limit: int = _ECHO_LIMIT) -> str:
    """A summary of `value` for echoing bad input in messages, at most about `limit`
    characters whatever the value: its type (unless its repr shows it) and a repr cut
    short, a few levels and items deep (a deeply nested list cannot recurse), with
    the length of a long string."""
    text = _ECHO.repr(value)
    if len(text) > limit:
        text = f"{text[: limit - 3]}..."
    kind = type(value)
    if kind not in _LITERALS and not text.lstrip("<").startswith(kind.__name__):
        text = f"{kind.__name__} {text}"
    if isinstance(value, (str, bytes)) and len(value) > limit:
        text = f"{text} ({len(value)} {'characters' if isinstance(value, str) else 'bytes'})"
    return text


class AgentschedError(Exception):
    """Base class of every error agentsched raises on purpose."""


class ValidationError(AgentschedError, ValueError):
    """Input that agentsched refuses; `field` names the offending field.

    Nothing is stored when this is raised. The message is at most `MAX_MESSAGE`
    characters, however large the bad value (or the unknown field's name).
    """

    def __init__(self, field: str, message: str) -> None:
        if len(message) > MAX_MESSAGE:
            message = f"{message[: MAX_MESSAGE - 3]}..."
        super().__init__(message)
        self.field = field[:MAX_MESSAGE]


class InvalidCronExpression(ValidationError):
    """A cron expression that does not parse or can never fire.

    `cron_field` names the cron field at fault (`minute`, `hour`,
    `day-of-month`, `month`, `day-of-week`) when one is to blame.
    """

    def __init__(self, message: str, field: str = "expression", cron_field: str | None = None):
        super().__init__(field, message)
        self.cron_field = cron_field


class UnknownTimezone(ValidationError):
    """A time zone that is not a known IANA name (e.g. `Europe/Paris`).

    `suggestion` is the known name it resembles, if any, which the message offers.
    """

    def __init__(
        self, zone: object, field: str = "timezone", suggestion: str | None = None
    ) -> None:
        hint = "" if suggestion is None else f"; did you mean {suggestion!r}?"
        super().__init__(
            field, f"{field!r} is not a known IANA time zone (got {shorten(zone)}){hint}"
        )
        self.zone = zone
        self.suggestion = suggestion


class ScheduleNotFound(AgentschedError, LookupError):
    """No schedule with that id is visible to the caller.

    Raised alike for ids that never existed, soft-deleted schedules and
    schedules of another owner, so that existence never leaks across owners.
    """

    def __init__(self, schedule_id: str) -> None:
        super().__init__(f"schedule {shorten(schedule_id)} not found")
        self.schedule_id = schedule_id


class InvalidTransition(AgentschedError, RuntimeError):
    """The requested state change is not allowed from the schedule's status."""


class ConflictError(AgentschedError, RuntimeError):
    """A write based on a stale `version`: someone else changed the record first."""


class StoreError(AgentschedError, RuntimeError):
    """The store failed, or a stored row could not be decoded."""
