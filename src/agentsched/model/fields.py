"""The schedule's fields, in one table: which a caller gives at create, which `update`
changes and which only the scheduler writes; each one's kind, bounds, default and
description, and the command-line flag that gives it.

Everything that lists schedule fields is made from `FIELDS`: the keywords of
`Scheduler.create`, `ensure` and `update` (their signatures, defaults and
checks), the state machine's updatable fields, the web app's request bodies
and their OpenAPI schemas, the command line's `add` and `update` flags. A new
field is a new row here. The TypedDicts at the end type those keywords for mypy
and IDEs (a type checker cannot read a table); a test holds them to it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypedDict

import attrs

from .._checks import MAX_DURATION
from ..errors import ValidationError, shorten
from .enums import Overlap
from .limits import (
    MAX_ATTEMPTS,
    MAX_COUNT,
    MAX_ID,
    MAX_INPUT,
    MAX_METADATA_KEYS,
    MAX_NAME,
    MAX_SCHEDULE_ID,
)
from .retry import Retry
from .schedule import Schedule
from .specs import Spec

__all__ = [
    "BY_NAME",
    "CREATED",
    "FIELDS",
    "READ_ONLY",
    "REQUIRED",
    "UPDATABLE",
    "DeclaredSchedule",
    "Field",
    "Flag",
    "Kind",
    "NewSchedule",
    "ScheduleChanges",
    "arguments",
]


class Kind(enum.Enum):
    """What a field's value is: each face reads, checks and shows a field by its kind."""

    ID = "id"  # a schedule id: 1-128 characters of A-Za-z0-9_.:-
    TEXT = "text"
    SPEC = "spec"  # a Cron, Once, Interval or RRule, or its to_dict() shape
    METADATA = "metadata"  # text keys to text values
    FLAG = "flag"  # True or False
    OVERLAP = "overlap"
    DURATION = "duration"  # a timedelta; a number of seconds in JSON
    COUNT = "count"  # a whole number
    INSTANT = "instant"  # an aware datetime
    RETRY = "retry"  # a Retry, whose own fields are the field's parts


_TYPES: dict[Kind, Any] = {
    Kind.ID: str,
    Kind.TEXT: str,
    Kind.SPEC: Spec | Mapping[str, Any],
    Kind.METADATA: Mapping[str, str],
    Kind.FLAG: bool,
    Kind.OVERLAP: Overlap | str,
    Kind.DURATION: timedelta,
    Kind.COUNT: int,
    Kind.INSTANT: datetime,
    Kind.RETRY: Retry,
}


@attrs.frozen
class Flag:
    """The option of `agentsched add` and `update` that gives a field."""

    option: str
    help: str
    group: str | None = None  # "what" or "how"; None: among the command's own options
    metavar: str | None = None  # None: its kind's, else argparse's (the dest, capitalised)
    help_on_update: str | None = None  # where `update` does something else with it

    @property
    def dest(self) -> str:
        return self.option.removeprefix("--").replace("-", "_")


@attrs.frozen
class Field:
    """One field of a schedule (or of its retry policy, for a `Kind.RETRY` field's parts).

    `low` and `high` bound it: the characters of text, the seconds of a
    duration, a count's value, the keys of metadata. `default` is what
    `create` takes when the field is not given; `nullable` says that None is
    a value it takes (at create, and to clear it with `update`).
    """

    name: str
    kind: Kind | None = None  # None: read-only, written only by the scheduler
    description: str = ""  # what a request body's field means (the OpenAPI document says it)
    required: bool = False
    at_create: bool = False
    updatable: bool = False
    nullable: bool = False
    low: float | None = None
    high: float | None = None
    default: object = None
    flag: Flag | None = None
    parts: tuple[Field, ...] = ()

    @property
    def read_only(self) -> bool:
        return not (self.at_create or self.updatable)

    @property
    def bounds(self) -> tuple[float, float]:
        """`(low, high)`, for a field of text, a duration, a count or metadata."""
        if self.low is None or self.high is None:
            raise ValueError(f"{self.name} has no bounds")
        return self.low, self.high

    def annotation(self, required: bool = False) -> Any:
        """The Python type a caller gives for it: with None too where None is a value it
        takes and the call does not require it (`ensure`'s `id`)."""
        if self.kind is None:
            raise ValueError(f"{self.name} is read-only: no caller gives it")
        kind = _TYPES[self.kind]
        return kind | None if self.nullable and not (required or self.required) else kind


def _default(record: type, name: str) -> object:
    """What `create` uses for a field left out: the record's default, and None where the
    record makes one (metadata's `{}`) or has none (an id: generated)."""
    default = attrs.fields_dict(record)[name].default
    if default is attrs.NOTHING or isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        return None
    return default


def _given(
    name: str,
    kind: Kind,
    description: str = "",
    *,
    low: float | None = None,
    high: float | None = None,
    flag: Flag | None = None,
    parts: tuple[Field, ...] = (),
    required: bool = False,
    updatable: bool = True,
) -> Field:
    """A field a caller gives at create: required, or defaulting as the record does (and
    then nullable when that default is None)."""
    default = None if required else _default(Schedule, name)
    return Field(
        name,
        kind,
        description,
        required=required,
        at_create=True,
        updatable=updatable,
        nullable=not required and default is None,
        low=low,
        high=high,
        default=default,
        flag=flag,
        parts=parts,
    )


def _part(name: str, kind: Kind, description: str, *, low: float, high: float, flag: Flag) -> Field:
    return Field(
        name,
        kind,
        description,
        at_create=True,
        low=low,
        high=high,
        default=_default(Retry, name),
        flag=flag,
    )


_DAYS_366 = MAX_DURATION.total_seconds()

FIELDS: tuple[Field, ...] = (
    Field("object"),
    _given(
        "id",
        Kind.ID,
        "yours to choose; generated (sched_...) if null",
        low=1,
        high=MAX_SCHEDULE_ID,
        flag=Flag("--id", "your id for it (1-128 of A-Z a-z 0-9 _ . : -; default: made up)"),
        updatable=False,
    ),
    _given(
        "agent_id",
        Kind.TEXT,
        low=1,
        high=MAX_ID,
        flag=Flag("--agent", "the agent id to run", "what"),
        required=True,
    ),
    _given("owner", Kind.TEXT, low=1, high=MAX_ID, updatable=False),
    _given(
        "name",
        Kind.TEXT,
        "shown in lists, which sort by it",
        low=1,
        high=MAX_NAME,
        flag=Flag("--name", "a name (1-120 characters)", "what"),
    ),
    Field("status"),
    _given("schedule", Kind.SPEC, "when it fires", required=True),
    _given(
        "input",
        Kind.TEXT,
        "what each run gives the agent",
        low=1,
        high=MAX_INPUT,
        flag=Flag("--input", "the agent's input", "what", "TEXT"),
        required=True,
    ),
    _given(
        "conversation",
        Kind.TEXT,
        "the conversation its runs belong to",
        low=1,
        high=MAX_ID,
        flag=Flag("--conversation", "the conversation the runs belong to", "what", "ID"),
    ),
    _given(
        "previous_response_id",
        Kind.TEXT,
        "the response the next run continues from",
        low=1,
        high=MAX_ID,
        flag=Flag(
            "--previous-response-id", "the response the next run continues from", "what", "ID"
        ),
    ),
    _given(
        "metadata",
        Kind.METADATA,
        "your own labels, kept with it",
        low=0,
        high=MAX_METADATA_KEYS,
        flag=Flag(
            "--metadata",
            "metadata (repeatable)",
            "what",
            help_on_update="metadata (repeatable; replaces all of it)",
        ),
    ),
    Field("temporal_schedule_id"),
    _given(
        "stateful",
        Kind.FLAG,
        "chain each run's response_id into the next run",
        flag=Flag("--stateful", "chain response ids from run to run", "what"),
    ),
    _given(
        "overlap",
        Kind.OVERLAP,
        "a fire while the last run still runs: skip it, queue one, or run both",
        flag=Flag("--overlap", "a fire while the last run is still running (default: skip)", "how"),
    ),
    _given(
        "catchup_window",
        Kind.DURATION,
        "after downtime, how late a missed fire may still run",
        low=0,
        high=_DAYS_366,
        flag=Flag(
            "--catchup-window",
            "after downtime, run missed fires this recent (default: 1h; 0: none)",
            "how",
        ),
    ),
    _given(
        "max_runs",
        Kind.COUNT,
        "complete after this many runs",
        low=1,
        high=MAX_COUNT,
        flag=Flag("--max-runs", "complete after N runs", "how"),
    ),
    _given(
        "end_at",
        Kind.INSTANT,
        "complete after this instant",
        flag=Flag("--end-at", "complete after this instant (Z or offset)", "how"),
    ),
    Field("next_run_at"),
    Field("last_run_at"),
    Field("last_run_id"),
    Field("last_error"),
    Field("run_count"),
    Field("failure_count"),
    _given(
        "pause_after_failures",
        Kind.COUNT,
        "pause after this many failed runs in a row",
        low=1,
        high=MAX_COUNT,
        flag=Flag("--pause-after-failures", "pause after N failures in a row", "how"),
    ),
    _given(
        "timeout",
        Kind.DURATION,
        "fail a run that takes longer",
        low=1e-6,  # a microsecond: the least timeout a record takes
        high=_DAYS_366,
        flag=Flag("--timeout", "fail a run that takes longer", "how"),
    ),
    Field("paused_at"),
    Field("created_at"),
    Field("updated_at"),
    Field("deleted_at"),
    Field("version"),
    _given(
        "retry",
        Kind.RETRY,
        "how a failed run is tried again",
        parts=(
            _part(
                "attempts",
                Kind.COUNT,
                "attempts per fire, the first included",
                low=1,
                high=MAX_ATTEMPTS,
                flag=Flag("--retry", "up to N attempts per fire in all", "how"),
            ),
            _part(
                "backoff",
                Kind.DURATION,
                "the wait before the second attempt, doubling after",
                low=0,
                high=_DAYS_366,
                flag=Flag(
                    "--retry-backoff",
                    "with --retry: wait before the 2nd attempt, doubling (default: 30s)",
                    "how",
                ),
            ),
            _part(
                "max_backoff",
                Kind.DURATION,
                "the longest wait, not below backoff",
                low=0,
                high=_DAYS_366,
                flag=Flag(
                    "--retry-max-backoff", "with --retry: the longest wait (default: 10m)", "how"
                ),
            ),
        ),
    ),
    _given(
        "jitter",
        Kind.DURATION,
        "delay each start by a stable offset below this",
        low=0,
        high=_DAYS_366,
        flag=Flag("--jitter", "delay each start by a stable offset in [0, DURATION)", "how"),
    ),
    Field("pending_retry"),
)
"""Every field of `Schedule.to_dict()`, in its order."""

BY_NAME = {field.name: field for field in FIELDS}
CREATED = tuple(field for field in FIELDS if field.at_create)
"""The keywords of `create`, in the record's order."""
REQUIRED = tuple(field.name for field in CREATED if field.required)
"""The keywords `create` requires."""
UPDATABLE = tuple(field.name for field in FIELDS if field.updatable)
"""The fields `update` may change, in the record's order."""
READ_ONLY = frozenset(field.name for field in FIELDS if field.read_only)


def arguments(given: Mapping[str, object], required: Sequence[str]) -> dict[str, Any]:
    """The keywords of a `create` or `ensure` call checked against the table, every one
    left out given its default: a `ValidationError` names an unknown or missing one."""
    for name in given:
        field = BY_NAME.get(name) if isinstance(name, str) else None
        if field is None or not field.at_create:
            known = ", ".join(field.name for field in CREATED)
            raise ValidationError(
                str(name), f"unknown field {shorten(name)} (the fields are: {known})"
            )
    for name in required:
        if name not in given:
            raise ValidationError(name, f"{name!r} is required")
    return {field.name: given.get(field.name, field.default) for field in CREATED}


# -- the keywords, for type checkers (tests/test_fields.py holds them to FIELDS) --------


class _Declared(TypedDict):
    agent_id: str
    schedule: Spec | Mapping[str, Any]
    input: str


class _Settings(TypedDict, total=False):
    name: str | None
    conversation: str | None
    previous_response_id: str | None
    metadata: Mapping[str, str] | None
    stateful: bool
    overlap: Overlap | str
    catchup_window: timedelta
    max_runs: int | None
    end_at: datetime | None
    pause_after_failures: int | None
    timeout: timedelta | None
    retry: Retry | None
    jitter: timedelta | None


class _Identified(TypedDict):
    id: str


class NewSchedule(_Declared, _Settings, total=False):
    """The keywords of `create`."""

    id: str | None
    owner: str | None


class DeclaredSchedule(_Declared, _Identified, _Settings, total=False):
    """The keywords of `ensure`: those of `create`, `id` required."""

    owner: str | None


class ScheduleChanges(_Settings, total=False):
    """The keywords of `update`: any of the updatable fields."""

    agent_id: str
    schedule: Spec | Mapping[str, Any]
    input: str
