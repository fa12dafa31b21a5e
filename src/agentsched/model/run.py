"""`Run`: one firing of a schedule, the `agent.schedule.run` object; `Activity`: a
schedule's unfinished runs, as a store reports them to the claim planner."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from .enums import RunStatus, RunTrigger, to_enum
from .limits import MAX_ATTEMPTS, MAX_ID, MAX_TEXT, MAX_TRACEBACK
from .validators import aware, count, in_utc, object_tag, optional_instant_text, record_values, text

__all__ = ["Activity", "Run"]

_RUN_INSTANTS = ("scheduled_for", "started_at", "finished_at")


def _to_run_status(value: Any) -> RunStatus:
    return to_enum(RunStatus, "status", value)


def _to_trigger(value: Any) -> RunTrigger:
    return to_enum(RunTrigger, "trigger", value)


@attrs.frozen(kw_only=True)
class Run:
    """One firing of a schedule (or a record that a fire was skipped or missed).

    Written as `running` before the handler starts, then finished as
    `succeeded` or `failed`; `skipped` and `missed` runs are final at once.
    `coalesced` counts the fire times the record stands for.
    """

    object: str = attrs.field(
        default="agent.schedule.run", validator=object_tag("agent.schedule.run")
    )
    id: str = attrs.field(validator=text("id", 1, MAX_ID))
    schedule_id: str = attrs.field(validator=text("schedule_id", 1, MAX_ID))
    agent_id: str = attrs.field(validator=text("agent_id", 1, MAX_ID))
    owner: str | None = attrs.field(default=None, validator=text("owner", 1, MAX_ID, True))
    status: RunStatus = attrs.field(converter=_to_run_status)
    trigger: RunTrigger = attrs.field(default=RunTrigger.SCHEDULE, converter=_to_trigger)
    scheduled_for: datetime | None = attrs.field(default=None, validator=aware("scheduled_for"))
    started_at: datetime | None = attrs.field(default=None, validator=aware("started_at"))
    finished_at: datetime | None = attrs.field(default=None, validator=aware("finished_at"))
    attempt: int = attrs.field(default=1, validator=count("attempt", 1, high=MAX_ATTEMPTS))
    coalesced: int = attrs.field(default=1, validator=count("coalesced", 1))
    response_id: str | None = attrs.field(
        default=None, validator=text("response_id", 1, MAX_ID, True)
    )
    output: str | None = attrs.field(default=None, validator=text("output", 0, MAX_TEXT, True))
    error: str | None = attrs.field(default=None, validator=text("error", 0, MAX_TEXT, True))
    traceback: str | None = attrs.field(
        default=None, validator=text("traceback", 0, MAX_TRACEBACK, True), repr=False
    )

    def __attrs_post_init__(self) -> None:
        in_utc(self, _RUN_INSTANTS)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of `agent.schedule.run`."""
        return {
            "object": self.object,
            "id": self.id,
            "schedule_id": self.schedule_id,
            "agent_id": self.agent_id,
            "owner": self.owner,
            "status": self.status._value_,
            "trigger": self.trigger._value_,
            "scheduled_for": optional_instant_text(self.scheduled_for),
            "started_at": optional_instant_text(self.started_at),
            "finished_at": optional_instant_text(self.finished_at),
            "attempt": self.attempt,
            "coalesced": self.coalesced,
            "response_id": self.response_id,
            "output": self.output,
            "error": self.error,
            "traceback": self.traceback,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Run:
        """Rebuild from `to_dict()` output; `ValidationError` names any bad field."""
        values = record_values(
            cls,
            data,
            "run",
            required=("id", "schedule_id", "agent_id", "status"),
            instants=_RUN_INSTANTS,
        )
        return cls(**values)


@attrs.frozen
class Activity:
    """A schedule's unfinished runs: started ones, and buffered ones not yet started.

    What a store tells the claim planner, so that overlap policies hold across
    every process sharing the store.
    """

    running: int = 0
    waiting: int = 0
