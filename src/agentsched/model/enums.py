"""The records' enums: `str`-valued, so each compares equal to its lowercase value."""

from __future__ import annotations

import enum
from typing import Any, TypeVar

from ..errors import ValidationError, shorten

__all__ = ["Overlap", "RunStatus", "RunTrigger", "Status", "to_enum", "to_status"]


class _StrEnum(str, enum.Enum):
    def __str__(self) -> str:
        return str(self.value)


class Status(_StrEnum):
    """Where a schedule is in its life (see `rules/states.py`)."""

    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    DELETED = "deleted"


class RunStatus(_StrEnum):
    """The outcome of one run."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    MISSED = "missed"


class RunTrigger(_StrEnum):
    """Why a run happened: its schedule, or a manual `trigger()`."""

    SCHEDULE = "schedule"
    MANUAL = "manual"


class Overlap(_StrEnum):
    """What to do when a fire comes while the previous run is still running."""

    SKIP = "skip"
    BUFFER_ONE = "buffer_one"
    ALLOW_ALL = "allow_all"


E = TypeVar("E", bound=_StrEnum)


def to_enum(kind: type[E], field: str, value: object) -> E:
    """`value` as a member of `kind`; a `ValidationError` naming `field` otherwise."""
    if value.__class__ is kind:
        return value
    if isinstance(value, str):  # else `kind(value)` puts the whole repr in its message
        try:
            return kind(value)
        except ValueError:
            pass
    allowed = ", ".join(m.value for m in kind)
    raise ValidationError(field, f"{field!r} must be one of {allowed} (got {shorten(value)})")


def to_status(value: Any) -> Status:
    """A schedule status from itself or its name; `ValidationError` naming `status`."""
    return to_enum(Status, "status", value)
