"""Schedule and Run records: shape, round trips, limits."""

from __future__ import annotations

import copy
import itertools
import json
import pickle
import weakref
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentsched import (
    Cron,
    Once,
    Overlap,
    Retry,
    Run,
    RunStatus,
    Schedule,
    Status,
    ValidationError,
)
from agentsched._instants import parse_instant
from agentsched.errors import MAX_MESSAGE
from agentsched.model import MAX_ATTEMPTS, MAX_COUNT, PendingRetry, RunTrigger, replace, updater
from agentsched.testing import schedules

UTC = timezone.utc
T = datetime(2023, 11, 7, 5, 31, 56, tzinfo=UTC)


def schedule_of(**changes: Any) -> Schedule:
    fields: dict[str, Any] = {
        "id": "sched_1",
        "agent_id": "agent_1",
        "schedule": Cron("0 9 * * *"),
        "input": "hi",
        "created_at": T,
        "updated_at": T,
    }
    fields.update(changes)
    return Schedule(**fields)


def test_enums_are_strings() -> None:
    texts: list[str] = ["active", "skipped", "buffer_one"]
    assert texts == [Status.ACTIVE, RunStatus.SKIPPED, Overlap.BUFFER_ONE]
    assert str(Status.PAUSED) == "paused"
    assert schedule_of(status="paused").status is Status.PAUSED


def test_seed_example_object_reproduced() -> None:
    """The `agent.schedule` example of seeds/000 from a real Schedule."""
    schedule = Schedule(
        id="sched_string",  # the seed's "<string>" placeholder, as a valid id
        agent_id="<string>",
        name="<string>",
        status=Status.ACTIVE,
        schedule=Once(T, "UTC"),
        input="<string>",
        conversation="<string>",
        previous_response_id="<string>",
        metadata={},
        last_run_at=T,
        last_run_id="<string>",
        run_count=123,
        created_at=T,
        updated_at=T,
        deleted_at=T,
    )
    seed = {
        "object": "agent.schedule",
        "id": "sched_string",
        "agent_id": "<string>",
        "name": "<string>",
        "status": "active",
        "schedule": {"type": "once", "run_at": "2023-11-07T05:31:56Z", "timezone": "UTC"},
        "input": "<string>",
        "conversation": "<string>",
        "previous_response_id": "<string>",
        "metadata": {},
        "temporal_schedule_id": None,
        "last_run_at": "2023-11-07T05:31:56Z",
        "last_run_id": "<string>",
        "run_count": 123,
        "created_at": "2023-11-07T05:31:56Z",
        "updated_at": "2023-11-07T05:31:56Z",
        "deleted_at": "2023-11-07T05:31:56Z",
    }
    data = schedule.to_dict()
    # every key of the seed is present with the seed's value ("temporal_schedule_id" is null here)
    assert {k: data[k] for k in seed} == {**seed, "temporal_schedule_id": None}
    assert Schedule.from_dict(data) == schedule


@given(schedules())
def test_schedule_round_trips_exactly(schedule: Schedule) -> None:
    data = schedule.to_dict()
    assert Schedule.from_dict(json.loads(json.dumps(data))) == schedule


def test_run_round_trips() -> None:
    run = Run(
        id="run_1",
        schedule_id="sched_1",
        agent_id="a",
        status="succeeded",
        scheduled_for=T,
        started_at=T,
        finished_at=T + timedelta(seconds=3),
        coalesced=2,
        response_id="resp_1",
        output="done",
    )
    assert Run.from_dict(json.loads(json.dumps(run.to_dict()))) == run
    assert run.to_dict()["object"] == "agent.schedule.run"


def test_instants_are_stored_in_utc() -> None:
    paris = T.astimezone(ZoneInfo("Europe/Paris"))
    schedule = schedule_of(created_at=paris, updated_at=paris)
    assert schedule.created_at.tzinfo is UTC and schedule.created_at == T


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 121}, "name"),
        ({"name": 5}, "name"),
        ({"input": ""}, "input"),
        ({"input": "x" * 20_001}, "input"),
        ({"input": None}, "input"),
        ({"agent_id": ""}, "agent_id"),
        ({"agent_id": "x" * 257}, "agent_id"),
        ({"metadata": {str(i): "v" for i in range(17)}}, "metadata"),
        ({"metadata": {"k" * 65: "v"}}, "metadata"),
        ({"metadata": {"k": "v" * 513}}, "metadata"),
        ({"metadata": {"k": 5}}, "metadata"),
        ({"metadata": [1]}, "metadata"),
        ({"max_runs": 0}, "max_runs"),
        ({"max_runs": True}, "max_runs"),
        ({"max_runs": 1.5}, "max_runs"),
        ({"pause_after_failures": 0}, "pause_after_failures"),
        ({"status": "sleeping"}, "status"),
        ({"overlap": "sometimes"}, "overlap"),
        ({"catchup_window": timedelta(seconds=-1)}, "catchup_window"),
        ({"catchup_window": 60}, "catchup_window"),
        ({"timeout": timedelta(0)}, "timeout"),
        ({"end_at": datetime(2026, 1, 1)}, "end_at"),
        ({"created_at": None}, "created_at"),
        ({"schedule": "0 9 * * *"}, "schedule"),
        ({"stateful": "yes"}, "stateful"),
        ({"version": 0}, "version"),
        ({"run_count": -1}, "run_count"),
        ({"object": "agent"}, "object"),
    ],
)
def test_limits_name_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        schedule_of(**changes)
    assert info.value.field == field
    assert repr(field) in str(info.value)


def test_long_bad_values_are_echoed_shortened() -> None:
    with pytest.raises(ValidationError) as info:
        schedule_of(status="x" * 10_000)
    assert len(str(info.value)) < 200


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.pop("id"), "id"),
        (lambda d: d.update(schedule={"type": "nope"}), "schedule.type"),
        (lambda d: d.update(created_at="yesterday"), "created_at"),
        (lambda d: d.update(catchup_window="1h"), "catchup_window"),
        (lambda d: d.update(surprise=1), "surprise"),
        (lambda d: d.update(next_run_at="2026-01-01T00:00:00"), "next_run_at"),
    ],
)
def test_from_dict_rejects_malformed(mutate: Any, field: str) -> None:
    data = schedule_of().to_dict()
    mutate(data)
    with pytest.raises(ValidationError) as info:
        Schedule.from_dict(data)
    assert info.value.field == field


def test_records_are_frozen() -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        schedule_of().name = "x"  # type: ignore[misc]


@given(schedule=schedules(), other=schedules(), data=st.data())
def test_replace_equals_evolve_for_any_fields_in_any_order(
    schedule: Schedule, other: Schedule, data: st.DataObject
) -> None:
    """The firing path's unchecked copy (one generated copier per set of changed fields)
    gives what attrs.evolve gives, whichever fields change and in whatever order."""
    names = [f.name for f in attrs.fields(Schedule)]
    changed = data.draw(
        st.permutations(names).flatmap(
            lambda p: st.sampled_from([p[:k] for k in range(len(p) + 1)])
        )
    )
    changes = {name: getattr(other, name) for name in changed}
    copied = replace(schedule, **changes)
    assert copied == attrs.evolve(schedule, **changes)
    assert all(getattr(copied, n) is getattr(other, n) for n in changed)
    assert all(getattr(copied, n) is getattr(schedule, n) for n in names if n not in changes)


@given(schedule=schedules(), other=schedules(), data=st.data())
def test_an_updater_equals_evolve_and_leaves_a_plain_frozen_record(
    schedule: Schedule, other: Schedule, data: st.DataObject
) -> None:
    """The positional copier made once for a fixed set of fields (the firing path's)
    gives what attrs.evolve gives, and its copy is an ordinary, frozen `Schedule`."""
    names = [f.name for f in attrs.fields(Schedule)]
    changed = data.draw(
        st.permutations(names).flatmap(
            lambda p: st.sampled_from([p[:k] for k in range(len(p) + 1)])
        )
    )
    copied = updater(Schedule, *changed)(schedule, *(getattr(other, n) for n in changed))
    assert copied == attrs.evolve(schedule, **{n: getattr(other, n) for n in changed})
    assert type(copied) is Schedule
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        copied.name = "x"  # type: ignore[misc]


@given(schedule=schedules(), other=schedules(), data=st.data())
def test_a_copy_pickles_hashes_and_copies_as_the_evolved_record(
    schedule: Schedule, other: Schedule, data: st.DataObject
) -> None:
    """A record copied through the writable twin (`replace`, an updater; a `Run` too)
    is indistinguishable from attrs.evolve's: same type, hash, pickle, copies, weak
    references, and still frozen against deletion."""
    names = data.draw(st.lists(st.sampled_from([f.name for f in attrs.fields(Schedule)])))
    changes = {name: getattr(other, name) for name in names}
    run = Run(id="run_1", schedule_id=schedule.id, agent_id="a", status=RunStatus.RUNNING)
    finished = {"status": RunStatus.SUCCEEDED, "finished_at": T, "output": "done"}
    pairs: list[tuple[object, object]] = [
        (replace(schedule, **changes), attrs.evolve(schedule, **changes)),
        (
            updater(Run, *finished)(run, *finished.values()),
            attrs.evolve(run, **finished),  # type: ignore[arg-type]
        ),
    ]
    for copied, evolved in pairs:
        assert type(copied) is type(evolved)
        assert copied == evolved and hash(copied) == hash(evolved)
        clones: list[Callable[[object], object]] = [_unpickled, copy.deepcopy]
        for clone in clones:
            try:  # an RRule spec holds a lock: neither kind of record clones then
                expected = clone(evolved)
            except TypeError:
                with pytest.raises(TypeError):
                    clone(copied)
            else:
                assert clone(copied) == expected
        assert copy.copy(copied) == evolved
        assert weakref.ref(copied)() is copied
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            del copied.id  # type: ignore[attr-defined]


def _unpickled(record: object) -> object:
    return pickle.loads(pickle.dumps(record))


def test_an_updater_refuses_unknown_or_repeated_fields() -> None:
    with pytest.raises(TypeError, match="unknown or repeated"):
        updater(Run, "status", "nope")
    with pytest.raises(TypeError, match="unknown or repeated"):
        updater(Run, "status", "status")


def test_replace_refuses_unknown_fields() -> None:
    run = Run(
        id="run_1",
        schedule_id="sched_1",
        agent_id="bot",
        status=RunStatus.RUNNING,
        scheduled_for=datetime(2026, 1, 1, tzinfo=timezone.utc),
    )
    with pytest.raises(TypeError, match="unknown fields: \\['nope'\\]"):
        replace(run, status=RunStatus.SUCCEEDED, nope=1)
    assert replace(run, status=RunStatus.FAILED).status is RunStatus.FAILED


@given(
    st.datetimes(
        min_value=datetime(1970, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]),
    )
)
def test_parsed_instants_are_exact_in_utc_and_shared(value: datetime) -> None:
    """A stored instant's text parses to the same aware UTC instant every time (recent
    texts share one object); bad texts still name their field."""
    text = value.isoformat()
    parsed = parse_instant(text, "next_run_at")
    assert parsed == value and parsed.tzinfo is UTC
    assert parse_instant(text, "created_at") is parsed
    with pytest.raises(ValidationError, match="'end_at'"):
        parse_instant("not " + text, "end_at")
    with pytest.raises(ValidationError, match="'end_at'"):
        parse_instant(text[:19], "end_at")  # no offset


# -- whole numbers: what every store holds ------------------------------------------------

# (record, field, lowest, highest)
WHOLE_NUMBERS: list[tuple[type, str, int, int]] = [
    (Schedule, "max_runs", 1, MAX_COUNT),
    (Schedule, "pause_after_failures", 1, MAX_COUNT),
    (Schedule, "run_count", 0, MAX_COUNT),
    (Schedule, "failure_count", 0, MAX_COUNT),
    (Schedule, "version", 1, MAX_COUNT),
    (Run, "attempt", 1, MAX_ATTEMPTS),
    (Run, "coalesced", 1, MAX_COUNT),
    (Retry, "attempts", 1, MAX_ATTEMPTS),
]
_RECORDS: dict[type[Schedule] | type[Run] | type[Retry], Callable[..., Any]] = {
    Schedule: schedule_of,
    Run: partial(Run, id="run_1", schedule_id="sched_1", agent_id="a", status="running"),
    Retry: Retry,
}


@pytest.mark.parametrize(("kind", "field", "low", "high"), WHOLE_NUMBERS)
@given(
    st.integers(max_value=-1).map(lambda below: ("below", below))
    | st.integers(min_value=1).map(lambda above: ("above", above))
)
def test_whole_numbers_beyond_their_bounds_are_refused(
    kind: type[Schedule] | type[Run] | type[Retry],
    field: str,
    low: int,
    high: int,
    beyond: tuple[str, int],
) -> None:
    side, distance = beyond
    value = low + distance if side == "below" else high + distance
    label = f"retry.{field}" if kind is Retry else field
    with pytest.raises(ValidationError) as info:
        _RECORDS[kind](**{field: value})
    assert info.value.field == label and len(str(info.value)) <= MAX_MESSAGE
    with pytest.raises(ValidationError) as info:
        kind.from_dict({**_RECORDS[kind]().to_dict(), field: value})
    assert info.value.field == label
    for edge in (low, high):
        record = _RECORDS[kind](**{field: edge})
        assert kind.from_dict(json.loads(json.dumps(record.to_dict()))) == record


def test_a_pending_retry_attempt_is_bounded_like_a_runs() -> None:
    for attempt in (1, MAX_ATTEMPTS + 1, True):
        with pytest.raises(ValidationError) as info:
            PendingRetry(attempt, T, T)
        assert info.value.field == "pending_retry.attempt"
    with pytest.raises(ValidationError) as info:
        schedule_of(
            pending_retry={"attempt": 10**40, "scheduled_for": "2026-01-01T00:00:00Z", "at": T}
        )
    assert info.value.field == "pending_retry.attempt"


def test_record_copies_are_right_whatever_the_order_and_number_of_changed_fields() -> None:
    """More change sets than the copier cache holds, in every order: each copy equals
    `attrs.evolve`, and an unknown field is refused even once the cache is full."""
    base = Run(
        id="run_1",
        schedule_id="sched_1",
        agent_id="bot",
        status=RunStatus.RUNNING,
        trigger=RunTrigger.SCHEDULE,
        scheduled_for=T,
        started_at=T,
    )
    values: dict[str, Any] = {
        "output": "out",
        "error": "err",
        "traceback": "tb",
        "response_id": "resp",
        "attempt": 3,
        "coalesced": 2,
        "finished_at": T + timedelta(minutes=1),
    }
    for size in (1, 2, 4, 7):
        for names in itertools.islice(itertools.permutations(values, size), 200):
            changes = {name: values[name] for name in names}
            assert replace(base, **changes) == attrs.evolve(base, **changes)
    with pytest.raises(TypeError):
        replace(base, output="x", bogus=1)
