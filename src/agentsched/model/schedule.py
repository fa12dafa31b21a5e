"""`Schedule`: the stored schedule record, the `agent.schedule` object of the hosted APIs."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

from .._instants import format_instant, later
from ..errors import ValidationError, shorten
from .enums import Overlap, Status, to_enum, to_status
from .limits import MAX_ID, MAX_INPUT, MAX_NAME, MAX_SCHEDULE_ID, MAX_TEXT
from .retry import PendingRetry, Retry
from .specs import SPEC_TYPES, Spec, spec_from_dict
from .validators import (
    aware,
    check_bool,
    count,
    duration,
    in_utc,
    object_tag,
    optional_instant_text,
    parse_seconds,
    record_values,
    seconds,
    text,
    to_metadata,
)

__all__ = ["Schedule", "check_schedule_id", "jitter_offset"]

_MICROSECOND = timedelta(microseconds=1)
_ID = re.compile(rf"[A-Za-z0-9_.:-]{{1,{MAX_SCHEDULE_ID}}}")
_SCHEDULE_INSTANTS = (
    "end_at",
    "next_run_at",
    "last_run_at",
    "paused_at",
    "created_at",
    "updated_at",
    "deleted_at",
)


def _to_overlap(value: Any) -> Overlap:
    return to_enum(Overlap, "overlap", value)


def _check_spec(_: object, __: attrs.Attribute[Spec], value: Spec) -> None:
    if not isinstance(value, SPEC_TYPES):
        raise ValidationError(
            "schedule",
            f"'schedule' must be a Cron, Once, Interval or RRule (got {shorten(value)})",
        )


def jitter_offset(schedule_id: str, fire: datetime, jitter: timedelta) -> timedelta:
    """The deterministic delay in `[0, jitter)` of one fire: derived from the schedule id
    and the fire time, so every process computes the same one."""
    micros = jitter // _MICROSECOND
    if micros <= 0:
        return timedelta(0)
    digest = hashlib.sha256(f"{schedule_id}\x00{format_instant(fire)}".encode()).digest()
    return timedelta(microseconds=int.from_bytes(digest[:8], "big") % micros)


def _check_id(_: Any, __: Any, value: Any) -> None:
    check_schedule_id(value)


def check_schedule_id(value: object) -> str:
    """A schedule id: 1-128 characters of `A-Za-z0-9_.:-` (safe in URLs and file names)."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise ValidationError(
            "id",
            f"'id' must be 1-{MAX_SCHEDULE_ID} characters of A-Z a-z 0-9 _ . : - "
            f"(got {shorten(value)})",
        )
    return value


def _to_retry(value: object) -> Retry | None:
    if value is None or isinstance(value, Retry):
        return value
    if isinstance(value, Mapping):
        return Retry.from_dict(value)
    raise ValidationError("retry", f"'retry' must be a Retry (got {shorten(value)})")


def _to_pending(value: object) -> PendingRetry | None:
    if value is None or isinstance(value, PendingRetry):
        return value
    return PendingRetry.from_dict(value)


@attrs.frozen(kw_only=True)
class Schedule:
    """A stored schedule: which agent to run, with what input, and when.

    Built by `Scheduler.create`; changed only through the state machine and
    the scheduler, each change bumping `version`. `next_run_at` is None when
    the schedule is not going to fire (paused, completed, deleted).
    """

    object: str = attrs.field(default="agent.schedule", validator=object_tag("agent.schedule"))
    id: str = attrs.field(validator=_check_id)
    agent_id: str = attrs.field(validator=text("agent_id", 1, MAX_ID))
    owner: str | None = attrs.field(default=None, validator=text("owner", 1, MAX_ID, True))
    name: str | None = attrs.field(default=None, validator=text("name", 1, MAX_NAME, True))
    status: Status = attrs.field(default=Status.ACTIVE, converter=to_status)
    schedule: Spec = attrs.field(validator=_check_spec)
    input: str = attrs.field(validator=text("input", 1, MAX_INPUT))
    conversation: str | None = attrs.field(
        default=None, validator=text("conversation", 1, MAX_ID, True)
    )
    previous_response_id: str | None = attrs.field(
        default=None, validator=text("previous_response_id", 1, MAX_ID, True)
    )
    metadata: dict[str, str] = attrs.field(factory=dict, converter=to_metadata, hash=False)
    stateful: bool = attrs.field(default=False, validator=check_bool("stateful"))
    overlap: Overlap = attrs.field(default=Overlap.SKIP, converter=_to_overlap)
    catchup_window: timedelta = attrs.field(
        default=timedelta(hours=1), validator=duration("catchup_window", timedelta(0), False)
    )
    max_runs: int | None = attrs.field(default=None, validator=count("max_runs", 1, True))
    end_at: datetime | None = attrs.field(default=None, validator=aware("end_at"))
    next_run_at: datetime | None = attrs.field(default=None, validator=aware("next_run_at"))
    last_run_at: datetime | None = attrs.field(default=None, validator=aware("last_run_at"))
    last_run_id: str | None = attrs.field(
        default=None, validator=text("last_run_id", 1, MAX_ID, True)
    )
    last_error: str | None = attrs.field(
        default=None, validator=text("last_error", 0, MAX_TEXT, True)
    )
    run_count: int = attrs.field(default=0, validator=count("run_count", 0))
    failure_count: int = attrs.field(default=0, validator=count("failure_count", 0))
    pause_after_failures: int | None = attrs.field(
        default=None, validator=count("pause_after_failures", 1, True)
    )
    timeout: timedelta | None = attrs.field(
        default=None, validator=duration("timeout", timedelta(microseconds=1), True)
    )
    paused_at: datetime | None = attrs.field(default=None, validator=aware("paused_at"))
    created_at: datetime = attrs.field(validator=aware("created_at", optional=False))
    updated_at: datetime = attrs.field(validator=aware("updated_at", optional=False))
    deleted_at: datetime | None = attrs.field(default=None, validator=aware("deleted_at"))
    version: int = attrs.field(default=1, validator=count("version", 1))
    retry: Retry | None = attrs.field(default=None, converter=_to_retry)
    jitter: timedelta | None = attrs.field(
        default=None, validator=duration("jitter", timedelta(0), True)
    )
    pending_retry: PendingRetry | None = attrs.field(default=None, converter=_to_pending)

    def __attrs_post_init__(self) -> None:
        in_utc(self, _SCHEDULE_INSTANTS)

    @property
    def due_at(self) -> datetime | None:
        """When the scheduler must next look at this schedule, what stores index: its next
        fire (delayed by its jitter) or a pending retry, whichever comes first."""
        due = self.next_run_at
        if due is not None and self.jitter:
            due = later(due, jitter_offset(self.id, due, self.jitter))
        if self.pending_retry is not None and (due is None or self.pending_retry.at < due):
            return self.pending_retry.at
        return due

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of `agent.schedule`, plus agentsched's own fields."""
        return {
            "object": self.object,
            "id": self.id,
            "agent_id": self.agent_id,
            "owner": self.owner,
            "name": self.name,
            "status": self.status._value_,
            "schedule": self.schedule.to_dict(),
            "input": self.input,
            "conversation": self.conversation,
            "previous_response_id": self.previous_response_id,
            "metadata": dict(self.metadata),
            "temporal_schedule_id": None,
            "stateful": self.stateful,
            "overlap": self.overlap._value_,
            "catchup_window": seconds(self.catchup_window),
            "max_runs": self.max_runs,
            "end_at": optional_instant_text(self.end_at),
            "next_run_at": optional_instant_text(self.next_run_at),
            "last_run_at": optional_instant_text(self.last_run_at),
            "last_run_id": self.last_run_id,
            "last_error": self.last_error,
            "run_count": self.run_count,
            "failure_count": self.failure_count,
            "pause_after_failures": self.pause_after_failures,
            "timeout": seconds(self.timeout),
            "paused_at": optional_instant_text(self.paused_at),
            "created_at": format_instant(self.created_at),
            "updated_at": format_instant(self.updated_at),
            "deleted_at": optional_instant_text(self.deleted_at),
            "version": self.version,
            "retry": None if self.retry is None else self.retry.to_dict(),
            "jitter": seconds(self.jitter),
            "pending_retry": None if self.pending_retry is None else self.pending_retry.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Any) -> Schedule:
        """Rebuild from `to_dict()` output; `ValidationError` names any bad field."""
        values = record_values(
            cls,
            data,
            "schedule",
            required=("id", "agent_id", "schedule", "input", "created_at", "updated_at"),
            instants=_SCHEDULE_INSTANTS,
            ignored={"temporal_schedule_id"},
        )
        values["schedule"] = spec_from_dict(values["schedule"])
        for key in ("catchup_window", "timeout", "jitter"):
            if values.get(key) is not None:
                values[key] = parse_seconds(values[key], key)
        return cls(**values)
