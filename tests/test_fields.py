"""The schedule's field table (`agentsched.model.fields`) is the one list of its fields:
it names every field of the record in order, its types, defaults and bounds are the
records' own, the keywords of `create`, `ensure` and `update` (their TypedDicts and
signatures) are its, and a keyword it does not name is refused, naming it."""

from __future__ import annotations

import inspect
from datetime import datetime, timedelta, timezone
from typing import Any, get_type_hints

import pytest
from support.matrix import Factory

from agentsched import AsyncScheduler, Cron, Overlap, Retry, Schedule, Scheduler, ValidationError
from agentsched.model import fields
from agentsched.model.fields import BY_NAME, CREATED, FIELDS, REQUIRED, UPDATABLE, Field, Kind
from agentsched.testing import FakeClock

UTC = timezone.utc
T0 = datetime(2026, 1, 5, 8, 59, tzinfo=UTC)
GOOD: dict[str, Any] = {"agent_id": "bot", "schedule": Cron("0 9 * * *"), "input": "go"}
MICROSECOND = timedelta(microseconds=1)

# What docs/api.md documents: `create`'s keywords beyond the three required, in the order
# its signature shows them, and their defaults.
DOCUMENTED_DEFAULTS: dict[str, Any] = {
    "id": None,
    "owner": None,
    "name": None,
    "conversation": None,
    "previous_response_id": None,
    "metadata": None,
    "stateful": False,
    "overlap": Overlap.SKIP,
    "catchup_window": timedelta(hours=1),
    "max_runs": None,
    "end_at": None,
    "pause_after_failures": None,
    "timeout": None,
    "retry": None,
    "jitter": None,
}


def _record(**changes: Any) -> Schedule:
    return Schedule(id="s", created_at=T0, updated_at=T0, **{**GOOD, **changes})


def test_the_table_names_every_field_of_the_record_in_its_order() -> None:
    assert [field.name for field in FIELDS] == list(_record().to_dict())


def test_what_callers_give_and_change() -> None:
    assert REQUIRED == ("agent_id", "schedule", "input")
    assert [field.name for field in CREATED] == ["id", "agent_id", "owner", *UPDATABLE[1:]]
    assert {field.name for field in FIELDS if field.read_only} == set(_record().to_dict()) - {
        field.name for field in CREATED
    }
    # every field a caller gives has a command-line flag, but those `add` gives otherwise
    # (the spec by --cron, --once, ...; the owner by --owner)
    unflagged = {f.name for f in CREATED if f.flag is None and not f.parts}
    assert unflagged == {"schedule", "owner"}


@pytest.mark.parametrize(
    ("typed", "required"),
    [
        (fields.NewSchedule, set(REQUIRED)),
        (fields.DeclaredSchedule, {"id", *REQUIRED}),
        (fields.ScheduleChanges, set()),
    ],
)
def test_the_typed_keywords_are_the_tables(typed: Any, required: set[str]) -> None:
    names = UPDATABLE if typed is fields.ScheduleChanges else [f.name for f in CREATED]
    hints = get_type_hints(typed)
    assert set(hints) == set(names)
    assert typed.__required_keys__ == required
    for name, hint in hints.items():
        assert hint == BY_NAME[name].annotation(required=name in required), name


def test_create_and_ensure_show_the_documented_keywords_and_defaults() -> None:
    for shell in (Scheduler, AsyncScheduler):
        create = inspect.signature(shell.create).parameters
        ensure = inspect.signature(shell.ensure).parameters
        optional = [name for name in DOCUMENTED_DEFAULTS if name != "id"]
        assert list(create) == ["self", *REQUIRED, "id", *optional]
        assert list(ensure) == ["self", "id", *REQUIRED, *optional]
        for name in REQUIRED:
            assert create[name].default is inspect.Parameter.empty
        assert create["id"].default is None and ensure["id"].default is inspect.Parameter.empty
        for name, default in DOCUMENTED_DEFAULTS.items():
            assert create[name].default == default, name
            assert create[name].kind is inspect.Parameter.KEYWORD_ONLY
        assert "changes" in inspect.signature(shell.update).parameters


def test_a_schedule_created_with_the_defaults_is_the_records_default() -> None:
    sched = Scheduler(clock=FakeClock(T0))
    made = sched.create(**GOOD)
    given = sched.create(**GOOD, **{**DOCUMENTED_DEFAULTS, "id": "explicit"})
    for field in CREATED:
        if field.name not in ("id", "schedule"):  # a cron's H is hashed from the id
            assert getattr(made, field.name) == getattr(given, field.name), field.name
    assert made.metadata == {}


def _edges(field: Field) -> tuple[list[object], list[object]]:
    """Values at the field's bounds, and just past them."""
    low, high = field.bounds
    if field.kind is Kind.TEXT:
        refused: list[object] = ["x" * (int(high) + 1)]
        return ["x" * int(low), "x" * int(high)], refused + (
            ["x" * (int(low) - 1)] if low > 0 else []
        )
    if field.kind is Kind.DURATION:
        least, most = timedelta(seconds=low), timedelta(seconds=high)
        return [least, most], [least - MICROSECOND, most + MICROSECOND]
    if field.kind is Kind.COUNT:
        return [int(low), int(high)], [int(low) - 1, int(high) + 1]
    assert field.kind is Kind.METADATA
    return [{}, {str(n): "" for n in range(int(high))}], [
        {str(n): "" for n in range(int(high) + 1)}
    ]


BOUNDED = [
    field
    for field in FIELDS
    if field.low is not None and field.name != "id"  # the id: tests/test_embedding.py
]


@pytest.mark.parametrize("field", BOUNDED, ids=lambda field: field.name)
def test_the_tables_bounds_are_the_records(field: Field) -> None:
    taken, refused = _edges(field)
    for value in taken:
        assert getattr(_record(**{field.name: value}), field.name) == value
    for value in refused:
        with pytest.raises(ValidationError) as info:
            _record(**{field.name: value})
        assert info.value.field == field.name


@pytest.mark.parametrize("part", BY_NAME["retry"].parts, ids=lambda part: part.name)
def test_the_tables_bounds_of_a_retry_are_its_own(part: Field) -> None:
    taken, refused = _edges(part)
    # in order either way
    base: dict[str, Any] = {"backoff": timedelta(0), "max_backoff": timedelta(days=366)}
    assert getattr(Retry(), part.name) == part.default
    for value in taken:
        assert getattr(Retry(**{**base, part.name: value}), part.name) == value
    for value in refused:
        with pytest.raises(ValidationError) as info:
            Retry(**{**base, part.name: value})
        assert info.value.field == f"retry.{part.name}"


def test_keywords_that_are_no_field_or_are_missing_are_refused_by_name(make: Factory) -> None:
    sched = make(clock=FakeClock(T0))
    for call, given, field in [
        (sched.create, {**GOOD, "colour": "red"}, "colour"),
        (sched.create, {**GOOD, "status": "paused"}, "status"),
        (sched.create, {"agent_id": "bot", "input": "go"}, "schedule"),
        (sched.ensure, GOOD, "id"),
        (sched.ensure, {**GOOD, "id": "s", "run_count": 3}, "run_count"),
    ]:
        with pytest.raises(ValidationError) as info:
            call(**given)
        assert info.value.field == field
    assert sched.list() == []
    made = sched.create(**GOOD)
    with pytest.raises(ValidationError) as info:
        sched.update(made.id, status="paused")  # type: ignore[call-arg]  # what is refused
    assert info.value.field == "status"


def test_update_takes_a_specs_dict_shape_as_create_does(make: Factory) -> None:
    sched = make(clock=FakeClock(T0))
    made = sched.create(**{**GOOD, "schedule": {"type": "cron", "expression": "0 9 * * *"}})
    changed = sched.update(made.id, schedule={"type": "cron", "expression": "30 8 * * *"})
    assert changed.schedule == Cron("30 8 * * *", hash_key=made.id)
    assert changed.next_run_at == datetime(2026, 1, 6, 8, 30, tzinfo=UTC)
    with pytest.raises(ValidationError) as info:
        sched.update(made.id, schedule={"type": "cron", "expression": "0 61 * * *"})
    assert info.value.field == "expression"  # as `create` names it
    assert sched.get(made.id) == changed
