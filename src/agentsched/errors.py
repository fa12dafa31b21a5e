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

__all__ = [
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

_ECHO_LIMIT = 60


def shorten(value: object, limit: int = _ECHO_LIMIT) -> str:
    """`repr(value)` cut to `limit` characters, for echoing bad input in messages."""
    text = repr(value)
    if len(text) > limit:
        return f"{text[: limit - 3]}..."
    return text


class AgentschedError(Exception):
    """Base class of every error agentsched raises on purpose."""


class ValidationError(AgentschedError, ValueError):
    """Input that agentsched refuses; `field` names the offending field.

    Nothing is stored when this is raised.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class InvalidCronExpression(ValidationError):
    """A cron expression that does not parse or can never fire.

    `cron_field` names the cron field at fault (`minute`, `hour`,
    `day-of-month`, `month`, `day-of-week`) when one is to blame.
    """

    def __init__(self, message: str, field: str = "expression", cron_field: str | None = None):
        super().__init__(field, message)
        self.cron_field = cron_field


class UnknownTimezone(ValidationError):
    """A time zone that is not a known IANA name (e.g. `Europe/Paris`)."""

    def __init__(self, zone: object, field: str = "timezone") -> None:
        super().__init__(field, f"{field!r} is not a known IANA time zone (got {shorten(zone)})")
        self.zone = zone


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
