"""Records: `Schedule` and `Run`, their enums, and their JSON shapes.

Both are frozen attrs classes validated on construction: a bad value raises
`ValidationError` naming the field and echoing the value (shortened).
`to_dict()` gives the `agent.schedule` / `agent.schedule.run` JSON shape
(instants as ISO 8601 UTC with `Z`); `from_dict()` round-trips it exactly.
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import attrs

from ._datetimes import format_instant, later, parse_instant, require_instant
from ._validate import check_duration, check_text, text_problem
from .errors import ValidationError, shorten
from .specs import SPEC_TYPES, Spec, spec_from_dict

__all__ = [
    "Activity",
    "Overlap",
    "PendingRetry",
    "Retry",
    "Run",
    "RunStatus",
    "RunTrigger",
    "Schedule",
    "Status",
    "check_count",
    "check_schedule_id",
    "jitter_offset",
    "replace",
    "to_status",
    "updater",
]

MAX_NAME = 120
MAX_INPUT = 20_000
MAX_METADATA_KEYS = 16
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 512
MAX_ID = 256
MAX_TEXT = 20_000
MAX_ERROR = 1000  # what agentsched writes to `Run.error` and `last_error`: one line
MAX_TRACEBACK = 16_384
MAX_SCHEDULE_ID = 128
MAX_ATTEMPTS = 100
MAX_COUNT = 2**63 - 1
"""The largest whole number a record holds (a count, a limit, a version): what every store
keeps exactly, SQLite's and PostgreSQL's 64-bit integers being the narrowest."""
_MICROSECOND = timedelta(microseconds=1)
_ID = re.compile(rf"[A-Za-z0-9_.:-]{{1,{MAX_SCHEDULE_ID}}}")


class _StrEnum(str, enum.Enum):
    def __str__(self) -> str:
        return str(self.value)


class Status(_StrEnum):
    """Where a schedule is in its life (see `states.py`)."""

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


def _to_enum(kind: type[E], field: str, value: object) -> E:
    if value.__class__ is kind:
        return value
    if isinstance(value, str):  # else `kind(value)` puts the whole repr in its message
        try:
            return kind(value)
        except ValueError:
            pass
    allowed = ", ".join(m.value for m in kind)
    raise ValidationError(field, f"{field!r} must be one of {allowed} (got {shorten(value)})")


def _text(
    field: str, low: int, high: int, optional: bool = False
) -> Callable[[Any, Any, Any], None]:
    def check(_: object, __: object, value: object) -> None:
        if value is None and optional:
            return
        check_text(field, value, low, high)

    return check


def check_count(field: str, value: object, low: int, high: int = MAX_COUNT) -> int:
    """`value` if it is a whole number (not a bool) from `low` to `high`."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        most = "2**63 - 1" if high == MAX_COUNT else high
        raise ValidationError(
            field, f"{field!r} must be a whole number from {low} to {most} (got {shorten(value)})"
        )
    return value


def _count(
    field: str, low: int, optional: bool = False, high: int = MAX_COUNT
) -> Callable[[Any, Any, Any], None]:
    def check(_: object, __: object, value: object) -> None:
        if value is not None or not optional:
            check_count(field, value, low, high)

    return check


def _aware(field: str, optional: bool = True) -> Callable[[Any, Any, Any], None]:
    def check(_: object, __: object, value: object) -> None:
        if value is not None or not optional:
            require_instant(value, field)

    return check


def to_status(value: Any) -> Status:
    """A schedule status from itself or its name; `ValidationError` naming `status`."""
    return _to_enum(Status, "status", value)


def _to_run_status(value: Any) -> RunStatus:
    return _to_enum(RunStatus, "status", value)


def _to_overlap(value: Any) -> Overlap:
    return _to_enum(Overlap, "overlap", value)


def _to_trigger(value: Any) -> RunTrigger:
    return _to_enum(RunTrigger, "trigger", value)


def _in_utc(record: Any, names: tuple[str, ...]) -> None:
    """Store every instant of a record in UTC (validators checked they are aware)."""
    for name in names:
        value = getattr(record, name)
        if value is not None and value.tzinfo is not timezone.utc:
            object.__setattr__(record, name, value.astimezone(timezone.utc))


def _duration(field: str, minimum: timedelta, optional: bool) -> Callable[[Any, Any, Any], None]:
    def check(_: object, __: object, value: object) -> None:
        if value is None and optional:
            return
        check_duration(field, value, minimum)

    return check


def _check_spec(_: object, __: attrs.Attribute[Spec], value: Spec) -> None:
    if not isinstance(value, SPEC_TYPES):
        raise ValidationError(
            "schedule",
            f"'schedule' must be a Cron, Once, Interval or RRule (got {shorten(value)})",
        )


def _metadata(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError("metadata", f"'metadata' must be a mapping (got {shorten(value)})")
    if len(value) > MAX_METADATA_KEYS:
        raise ValidationError(
            "metadata", f"'metadata' has {len(value)} keys (at most {MAX_METADATA_KEYS})"
        )
    for key, item in value.items():
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_METADATA_KEY:
            raise ValidationError(
                "metadata",
                f"'metadata' keys must be 1-{MAX_METADATA_KEY} character strings "
                f"(got {shorten(key)})",
            )
        if not isinstance(item, str) or len(item) > MAX_METADATA_VALUE:
            raise ValidationError(
                "metadata",
                f"'metadata' value for {shorten(key)} must be a string of at most "
                f"{MAX_METADATA_VALUE} characters (got {shorten(item)})",
            )
        problem = text_problem(key) or text_problem(item)
        if problem is not None:
            raise ValidationError("metadata", f"'metadata' entry {shorten(key)} {problem}")
    return dict(value)


def _check_bool(field: str) -> Callable[[Any, Any, Any], None]:
    def check(_: object, __: object, value: object) -> None:
        if not isinstance(value, bool):
            raise ValidationError(field, f"{field!r} must be true or false (got {shorten(value)})")

    return check


def _seconds(value: timedelta | None) -> int | float | None:
    if value is None:
        return None
    seconds = value.total_seconds()
    return int(seconds) if seconds.is_integer() else seconds


def _optional_instant_text(value: datetime | None) -> str | None:
    return None if value is None else format_instant(value)


def _object_tag(expected: str) -> Callable[[Any, Any, Any], None]:
    def check(_: object, __: object, value: object) -> None:
        if value != expected:
            raise ValidationError("object", f"'object' must be {expected!r} (got {shorten(value)})")

    return check


def _check_backoff(field: str) -> Callable[[Any, Any, Any], None]:
    def check(_: object, __: object, value: object) -> None:
        check_duration(field, value, timedelta(0))

    return check


@attrs.frozen
class Retry:
    """How a failed scheduled run is retried: up to `attempts` attempts in all (the first
    included), each a new run with the same `scheduled_for`, after `backoff` doubling
    per attempt up to `max_backoff`."""

    attempts: int = attrs.field(default=3, validator=_count("retry.attempts", 1, high=MAX_ATTEMPTS))
    backoff: timedelta = attrs.field(
        default=timedelta(seconds=30), validator=_check_backoff("retry.backoff")
    )
    max_backoff: timedelta = attrs.field(
        default=timedelta(minutes=10), validator=_check_backoff("retry.max_backoff")
    )

    def __attrs_post_init__(self) -> None:
        if self.max_backoff < self.backoff:
            raise ValidationError(
                "retry.max_backoff",
                f"'retry.max_backoff' ({self.max_backoff}) is less than 'retry.backoff' "
                f"({self.backoff})",
            )

    def delay(self, failed_attempt: int) -> timedelta:
        """How long after attempt `failed_attempt` failed the next one starts.

        Doubled in whole microseconds, where a `timedelta` would overflow; past 64
        doublings any non-zero backoff is beyond `max_backoff` (at most 366 days)."""
        doubled = (self.backoff // _MICROSECOND) << min(max(failed_attempt - 1, 0), 64)
        return timedelta(microseconds=min(doubled, self.max_backoff // _MICROSECOND))

    def to_dict(self) -> dict[str, Any]:
        return {
            "attempts": self.attempts,
            "backoff": _seconds(self.backoff),
            "max_backoff": _seconds(self.max_backoff),
        }

    @classmethod
    def from_dict(cls, data: object) -> Retry:
        if not isinstance(data, Mapping):
            raise ValidationError("retry", f"'retry' must be an object (got {shorten(data)})")
        unknown = sorted(set(data) - {"attempts", "backoff", "max_backoff"}, key=str)
        if unknown:
            raise ValidationError("retry", f"unknown field {shorten(unknown[0])} in 'retry'")
        defaults = cls()
        return cls(
            attempts=data.get("attempts", defaults.attempts),
            backoff=_parse_seconds(data.get("backoff", 30), "retry.backoff"),
            max_backoff=_parse_seconds(data.get("max_backoff", 600), "retry.max_backoff"),
        )


@attrs.frozen
class PendingRetry:
    """A retry waiting for its time: the next attempt of the fire at `scheduled_for`."""

    attempt: int = attrs.field(validator=_count("pending_retry.attempt", 2, high=MAX_ATTEMPTS))
    scheduled_for: datetime = attrs.field(
        validator=_aware("pending_retry.scheduled_for", optional=False)
    )
    at: datetime = attrs.field(validator=_aware("pending_retry.at", optional=False))

    def __attrs_post_init__(self) -> None:
        _in_utc(self, ("scheduled_for", "at"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "attempt": self.attempt,
            "scheduled_for": format_instant(self.scheduled_for),
            "at": format_instant(self.at),
        }

    @classmethod
    def from_dict(cls, data: object) -> PendingRetry:
        if not isinstance(data, Mapping):
            raise ValidationError(
                "pending_retry", f"'pending_retry' must be an object (got {shorten(data)})"
            )
        attempt: Any = data.get("attempt")  # the constructor checks it
        return cls(
            attempt,
            parse_instant(data.get("scheduled_for"), "pending_retry.scheduled_for"),
            parse_instant(data.get("at"), "pending_retry.at"),
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

    object: str = attrs.field(default="agent.schedule", validator=_object_tag("agent.schedule"))
    id: str = attrs.field(validator=_check_id)
    agent_id: str = attrs.field(validator=_text("agent_id", 1, MAX_ID))
    owner: str | None = attrs.field(default=None, validator=_text("owner", 1, MAX_ID, True))
    name: str | None = attrs.field(default=None, validator=_text("name", 1, MAX_NAME, True))
    status: Status = attrs.field(default=Status.ACTIVE, converter=to_status)
    schedule: Spec = attrs.field(validator=_check_spec)
    input: str = attrs.field(validator=_text("input", 1, MAX_INPUT))
    conversation: str | None = attrs.field(
        default=None, validator=_text("conversation", 1, MAX_ID, True)
    )
    previous_response_id: str | None = attrs.field(
        default=None, validator=_text("previous_response_id", 1, MAX_ID, True)
    )
    metadata: dict[str, str] = attrs.field(factory=dict, converter=_metadata, hash=False)
    stateful: bool = attrs.field(default=False, validator=_check_bool("stateful"))
    overlap: Overlap = attrs.field(default=Overlap.SKIP, converter=_to_overlap)
    catchup_window: timedelta = attrs.field(
        default=timedelta(hours=1), validator=_duration("catchup_window", timedelta(0), False)
    )
    max_runs: int | None = attrs.field(default=None, validator=_count("max_runs", 1, True))
    end_at: datetime | None = attrs.field(default=None, validator=_aware("end_at"))
    next_run_at: datetime | None = attrs.field(default=None, validator=_aware("next_run_at"))
    last_run_at: datetime | None = attrs.field(default=None, validator=_aware("last_run_at"))
    last_run_id: str | None = attrs.field(
        default=None, validator=_text("last_run_id", 1, MAX_ID, True)
    )
    last_error: str | None = attrs.field(
        default=None, validator=_text("last_error", 0, MAX_TEXT, True)
    )
    run_count: int = attrs.field(default=0, validator=_count("run_count", 0))
    failure_count: int = attrs.field(default=0, validator=_count("failure_count", 0))
    pause_after_failures: int | None = attrs.field(
        default=None, validator=_count("pause_after_failures", 1, True)
    )
    timeout: timedelta | None = attrs.field(
        default=None, validator=_duration("timeout", timedelta(microseconds=1), True)
    )
    paused_at: datetime | None = attrs.field(default=None, validator=_aware("paused_at"))
    created_at: datetime = attrs.field(validator=_aware("created_at", optional=False))
    updated_at: datetime = attrs.field(validator=_aware("updated_at", optional=False))
    deleted_at: datetime | None = attrs.field(default=None, validator=_aware("deleted_at"))
    version: int = attrs.field(default=1, validator=_count("version", 1))
    retry: Retry | None = attrs.field(default=None, converter=_to_retry)
    jitter: timedelta | None = attrs.field(
        default=None, validator=_duration("jitter", timedelta(0), True)
    )
    pending_retry: PendingRetry | None = attrs.field(default=None, converter=_to_pending)

    def __attrs_post_init__(self) -> None:
        _in_utc(self, _SCHEDULE_INSTANTS)

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
            "catchup_window": _seconds(self.catchup_window),
            "max_runs": self.max_runs,
            "end_at": _optional_instant_text(self.end_at),
            "next_run_at": _optional_instant_text(self.next_run_at),
            "last_run_at": _optional_instant_text(self.last_run_at),
            "last_run_id": self.last_run_id,
            "last_error": self.last_error,
            "run_count": self.run_count,
            "failure_count": self.failure_count,
            "pause_after_failures": self.pause_after_failures,
            "timeout": _seconds(self.timeout),
            "paused_at": _optional_instant_text(self.paused_at),
            "created_at": format_instant(self.created_at),
            "updated_at": format_instant(self.updated_at),
            "deleted_at": _optional_instant_text(self.deleted_at),
            "version": self.version,
            "retry": None if self.retry is None else self.retry.to_dict(),
            "jitter": _seconds(self.jitter),
            "pending_retry": None if self.pending_retry is None else self.pending_retry.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Any) -> Schedule:
        """Rebuild from `to_dict()` output; `ValidationError` names any bad field."""
        values = _record_values(
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
                values[key] = _parse_seconds(values[key], key)
        return cls(**values)


def _parse_seconds(value: object, field: str) -> timedelta:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(
            field, f"{field!r} must be a number of seconds (got {shorten(value)})"
        )
    try:
        return timedelta(seconds=value)
    except (OverflowError, ValueError):
        raise ValidationError(field, f"{field!r} is out of range (got {shorten(value)})") from None


@attrs.frozen(kw_only=True)
class Run:
    """One firing of a schedule (or a record that a fire was skipped or missed).

    Written as `running` before the handler starts, then finished as
    `succeeded` or `failed`; `skipped` and `missed` runs are final at once.
    `coalesced` counts the fire times the record stands for.
    """

    object: str = attrs.field(
        default="agent.schedule.run", validator=_object_tag("agent.schedule.run")
    )
    id: str = attrs.field(validator=_text("id", 1, MAX_ID))
    schedule_id: str = attrs.field(validator=_text("schedule_id", 1, MAX_ID))
    agent_id: str = attrs.field(validator=_text("agent_id", 1, MAX_ID))
    owner: str | None = attrs.field(default=None, validator=_text("owner", 1, MAX_ID, True))
    status: RunStatus = attrs.field(converter=_to_run_status)
    trigger: RunTrigger = attrs.field(default=RunTrigger.SCHEDULE, converter=_to_trigger)
    scheduled_for: datetime | None = attrs.field(default=None, validator=_aware("scheduled_for"))
    started_at: datetime | None = attrs.field(default=None, validator=_aware("started_at"))
    finished_at: datetime | None = attrs.field(default=None, validator=_aware("finished_at"))
    attempt: int = attrs.field(default=1, validator=_count("attempt", 1, high=MAX_ATTEMPTS))
    coalesced: int = attrs.field(default=1, validator=_count("coalesced", 1))
    response_id: str | None = attrs.field(
        default=None, validator=_text("response_id", 1, MAX_ID, True)
    )
    output: str | None = attrs.field(default=None, validator=_text("output", 0, MAX_TEXT, True))
    error: str | None = attrs.field(default=None, validator=_text("error", 0, MAX_TEXT, True))
    traceback: str | None = attrs.field(
        default=None, validator=_text("traceback", 0, MAX_TRACEBACK, True), repr=False
    )

    def __attrs_post_init__(self) -> None:
        _in_utc(self, _RUN_INSTANTS)

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
            "scheduled_for": _optional_instant_text(self.scheduled_for),
            "started_at": _optional_instant_text(self.started_at),
            "finished_at": _optional_instant_text(self.finished_at),
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
        values = _record_values(
            cls,
            data,
            "run",
            required=("id", "schedule_id", "agent_id", "status"),
            instants=_RUN_INSTANTS,
        )
        return cls(**values)


def _record_values(
    kind: type[Schedule | Run],
    data: object,
    label: str,
    *,
    required: tuple[str, ...],
    instants: tuple[str, ...],
    ignored: frozenset[str] | set[str] = frozenset(),
) -> dict[str, Any]:
    """The fields of a record's JSON shape, checked (an object, no unknown field, the
    required ones present) and with its instants parsed; the constructor checks the rest."""
    if not isinstance(data, Mapping):
        raise ValidationError(label, f"a {label} must be an object (got {shorten(data)})")
    fields = _SLOT_SETS[kind]
    unknown = data.keys() - fields
    if unknown and (unknown := unknown - ignored):
        first = sorted(unknown, key=str)[0]
        raise ValidationError(str(first), f"unknown field {shorten(first)} in a {label}")
    values: dict[str, Any] = {k: v for k, v in data.items() if k in fields}
    for key in required:
        if key not in values:
            raise ValidationError(key, f"{key!r} is required")
    for key in instants:
        if values.get(key) is not None:
            values[key] = parse_instant(values[key], key)
    return values


@attrs.frozen
class Activity:
    """A schedule's unfinished runs: started ones, and buffered ones not yet started.

    What a store tells the claim planner, so that overlap policies hold across
    every process sharing the store.
    """

    running: int = 0
    waiting: int = 0


_SCHEDULE_INSTANTS = (
    "end_at",
    "next_run_at",
    "last_run_at",
    "paused_at",
    "created_at",
    "updated_at",
    "deleted_at",
)
_RUN_INSTANTS = ("scheduled_for", "started_at", "finished_at")
_SLOTS: dict[type, tuple[str, ...]] = {
    Schedule: tuple(f.name for f in attrs.fields(Schedule)),
    Run: tuple(f.name for f in attrs.fields(Run)),
}

_SLOT_SETS = {kind: frozenset(names) for kind, names in _SLOTS.items()}
_COPIER_CACHE_SIZE = 256  # the firing path uses a handful of change sets


def _writable_twin(kind: type) -> type:
    """A subclass of `kind` with its slots and ordinary attribute assignment.

    A copy is built as the twin, where `made.field = value` is a plain slot
    store, then becomes a `kind` (same layout, so `__class__` may change);
    that is several times faster than going through the frozen class.
    """
    return type(
        f"_Writable{kind.__name__}",
        (kind,),
        {
            "__slots__": (),
            # both, or the type keeps the frozen class's slow attribute-setting slot
            "__setattr__": object.__setattr__,
            "__delattr__": object.__delattr__,
            "__module__": __name__,
        },
    )


_TWINS = {kind: _writable_twin(kind) for kind in _SLOTS}
R = TypeVar("R", Schedule, Run)


def _compile_copier(
    kind: type, changed: tuple[str, ...], positional: bool = False
) -> Callable[..., Any]:
    """A function copying a `kind` record with new values for the fields `changed`,
    one line per field: `copy(record, changes)` reading `changes` only for the fields
    that change, or with `positional`, `copy(record, *values)` in `changed`'s order."""
    namespace: dict[str, Any] = {"new": object.__new__, "twin": _TWINS[kind], "kind": kind}
    values = {name: f"value{index}" for index, name in enumerate(changed)}
    arguments = ", ".join(values.values()) if positional else "changes"
    lines = [f"def copy(record, {arguments}):", "    made = new(twin)"]
    for name in _SLOTS[kind]:
        if name not in changed:
            value = f"record.{name}"
        elif positional:
            value = values[name]
        else:
            value = f"changes[{name!r}]"
        lines.append(f"    made.{name} = {value}")
    lines += ["    made.__class__ = kind", "    return made"]
    exec("\n".join(lines), namespace)
    copier: Callable[..., Any] = namespace["copy"]
    return copier


def updater(kind: type[R], *names: str) -> Callable[..., R]:
    """`replace` for a fixed set of fields, made once: `updater(Run, "a", "b")(run, a, b)`.

    For the firing path, which changes the same fields of every record: no
    keyword dict to build or look up. The same rules as `replace` apply.
    """
    unknown = set(names) - _SLOT_SETS[kind]
    if unknown or len(set(names)) != len(names):
        raise TypeError(f"unknown or repeated fields: {names}")
    return _compile_copier(kind, names, positional=True)


_COPIERS: dict[tuple[type, tuple[str, ...]], Callable[[Any, dict[str, Any]], Any]] = {}


def _copier(kind: type, changes: dict[str, Any]) -> Callable[[Any, dict[str, Any]], Any]:
    """The copier for this kind and these changed fields (in the dict's order), made once."""
    key = (kind, tuple(changes))
    copier = _COPIERS.get(key)
    if copier is None:
        if not changes.keys() <= _SLOT_SETS[kind]:
            raise TypeError(f"unknown fields: {sorted(set(changes) - _SLOT_SETS[kind])}")
        copier = _compile_copier(kind, key[1])
        if len(_COPIERS) < _COPIER_CACHE_SIZE:
            _COPIERS[key] = copier
    return copier


def replace(record: R, **changes: Any) -> R:
    """A copy of `record` with `changes`, *without* re-running validation.

    For agentsched's own transitions only, where every new value comes from
    an already validated record, our own arithmetic, or the clock (aware
    UTC). It is several times cheaper than `attrs.evolve`, which matters on
    the firing path. Anything that takes user input uses `attrs.evolve`.
    """
    return with_changes(record, changes)


def with_changes(record: R, changes: dict[str, Any]) -> R:
    """`replace` with the changes in a dict the caller built (no keyword re-packing)."""
    copied: R = _copier(type(record), changes)(record, changes)
    return copied
