"""Fuzzing the records' decoders (any JSON in any field, any mutation of a valid document,
any value at all) and the scheduler's ways in (tick, create): whatever comes in, nothing
but an `AgentschedError` comes out, and the valid schedules a store holds stay as they
were (or, for a tick that is accepted, fire as they should: every run it writes ends).
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from support.hostile import HOSTILE, Hostile, labelled
from support.matrix import EACH_STORE_AND_SHELL, family

from agentsched import (
    AgentschedError,
    Cron,
    Interval,
    Once,
    Overlap,
    Retry,
    RRule,
    Run,
    RunContext,
    RunStatus,
    Schedule,
    Scheduler,
    Status,
    ValidationError,
)
from agentsched.model.specs import spec_from_dict
from agentsched.testing import FakeClock, schedules, specs

UTC = timezone.utc
T0 = datetime(2026, 1, 5, 8, 59, tzinfo=UTC)

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=10,
).map(labelled)
"""Any JSON document (NaN and infinities included, as Python's `json` reads them)."""

ANYTHING = st.one_of(
    JSON,
    HOSTILE,
    st.datetimes(timezones=st.none() | st.timezones()).map(labelled),
    st.sampled_from(
        [
            datetime.min,
            datetime.max,
            datetime.max.replace(tzinfo=UTC),
            datetime.min.replace(tzinfo=UTC),
        ]
    ).map(labelled),
    st.timedeltas().map(labelled),
    st.dates().map(labelled),
    st.sampled_from([object(), Cron("0 9 * * *"), Retry(), Overlap.SKIP, Status.ACTIVE, type]).map(
        labelled
    ),
)
"""Any value at all: JSON, hostile values, datetimes of every kind, library objects."""


def _only_agentsched_errors(call: Callable[[], object]) -> bool:
    """Call; True if it returned, False if it raised an `AgentschedError` (anything
    else propagates and fails the test)."""
    try:
        call()
    except AgentschedError:
        return False
    return True


# -- decoders ----------------------------------------------------------------------------


_RUNS = st.builds(
    Run,
    id=st.just("run_1"),
    schedule_id=st.just("sched_1"),
    agent_id=st.just("a"),
    status=st.sampled_from(list(RunStatus)),
    scheduled_for=st.none() | st.just(T0),
    started_at=st.none() | st.just(T0),
    finished_at=st.none() | st.just(T0 + timedelta(seconds=1)),
    attempt=st.integers(1, 100),
    coalesced=st.integers(1, 2**63 - 1),
    output=st.none() | st.text(max_size=20).filter(lambda t: "\x00" not in t),
    error=st.none() | st.just("ValueError: no"),
)
_RETRIES = st.builds(
    Retry,
    attempts=st.integers(1, 100),
    backoff=st.timedeltas(timedelta(0), timedelta(minutes=10)),
    max_backoff=st.just(timedelta(minutes=10)),
)
_DECODERS: list[tuple[Callable[[Any], object], st.SearchStrategy[Any]]] = [
    (Schedule.from_dict, schedules()),
    (Run.from_dict, _RUNS),
    (Retry.from_dict, _RETRIES),
]


@st.composite
def mutated(draw: st.DrawFn, document: Mapping[str, Any]) -> dict[str, Any]:
    """`document` with a few of its fields (nested ones too) replaced by any value,
    removed, or joined by unknown ones."""
    changed = dict(document)
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from([*sorted(changed), "surprise"]))
        action = draw(st.sampled_from(["replace", "remove", "nested"]))
        if action == "remove":
            changed.pop(key, None)
        elif action == "nested" and isinstance(changed.get(key), Mapping):
            changed[key] = draw(mutated(changed[key]))
        else:
            changed[key] = draw(ANYTHING).value
    return changed


@pytest.mark.parametrize("decode", [d for d, _ in _DECODERS], ids=lambda d: d.__qualname__)
@given(document=ANYTHING)
def test_decoders_take_any_value(decode: Callable[[Any], object], document: Hostile) -> None:
    _only_agentsched_errors(lambda: decode(document.value))


@pytest.mark.parametrize(
    ("decode", "records"), _DECODERS, ids=lambda d: getattr(d, "__qualname__", "")
)
@settings(max_examples=150)
@given(data=st.data())
def test_decoders_take_any_mutation_of_a_valid_document(
    decode: Callable[[Any], Any], records: st.SearchStrategy[Any], data: st.DataObject
) -> None:
    record = data.draw(records)
    document = data.draw(mutated(record.to_dict()))
    if _only_agentsched_errors(lambda: decode(document)):
        decoded = decode(document)
        assert decode(decoded.to_dict()) == decoded  # what is accepted is valid throughout


# -- decoders, any JSON in any field -----------------------------------------------------


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)


_SCHEDULE_DICT = (
    Scheduler(clock=FakeClock(T0))
    .create(
        agent_id="bot",
        schedule=Cron("0 9 * * mon-fri", "Europe/Paris"),
        input="go",
        timeout=timedelta(seconds=30),
        end_at=datetime(2027, 1, 1, tzinfo=UTC),
        metadata={"team": "support"},
    )
    .to_dict()
)


_RUN_DICT = Run(
    id="run_1",
    schedule_id="sched_1",
    agent_id="bot",
    status=RunStatus.SUCCEEDED,
    scheduled_for=T0,
    started_at=T0,
    finished_at=T0,
    output="done",
).to_dict()


_SPEC_DICTS = [
    Cron("0 9 * * *", "Europe/Paris").to_dict(),
    Once(T0).to_dict(),
    Interval(timedelta(minutes=90), T0).to_dict(),
    RRule("FREQ=WEEKLY;BYDAY=MO", datetime(2026, 1, 5, 9)).to_dict(),
]


def _only_validation_errors(decode: Callable[[Any], object], data: Any) -> None:
    with contextlib.suppress(ValidationError):
        decode(data)


@given(st.sampled_from(sorted(_SCHEDULE_DICT)), _JSON)
def test_schedule_from_dict_with_any_value_in_any_field(field: str, value: Any) -> None:
    _only_validation_errors(Schedule.from_dict, {**_SCHEDULE_DICT, field: value})


@given(st.sampled_from(sorted(_SCHEDULE_DICT["schedule"])), _JSON)
def test_schedule_from_dict_with_any_value_in_the_spec(field: str, value: Any) -> None:
    spec = {**_SCHEDULE_DICT["schedule"], field: value}
    _only_validation_errors(Schedule.from_dict, {**_SCHEDULE_DICT, "schedule": spec})


@given(st.sampled_from(sorted(_RUN_DICT)), _JSON)
def test_run_from_dict_with_any_value_in_any_field(field: str, value: Any) -> None:
    _only_validation_errors(Run.from_dict, {**_RUN_DICT, field: value})


@given(st.sampled_from(_SPEC_DICTS), st.data())
def test_spec_from_dict_with_any_value_in_any_field(spec: dict[str, Any], data: Any) -> None:
    field = data.draw(st.sampled_from([*sorted(spec), "extra"]))
    value = data.draw(_JSON)
    _only_validation_errors(spec_from_dict, {**spec, field: value})


@given(_JSON)
def test_decoders_take_any_json_document(value: Any) -> None:
    for decode in (Schedule.from_dict, Run.from_dict, spec_from_dict):
        _only_validation_errors(decode, value)
    # and a document that went through JSON text stays decodable or refused cleanly
    text = json.dumps(value, allow_nan=True)
    _only_validation_errors(Schedule.from_dict, json.loads(text))


def test_nan_and_infinite_durations_are_refused() -> None:
    for value in (math.nan, math.inf, -math.inf, 1e300):
        with pytest.raises(ValidationError) as info:
            Schedule.from_dict({**_SCHEDULE_DICT, "timeout": value})
        assert info.value.field == "timeout"


# -- the scheduler -----------------------------------------------------------------------


@contextmanager
def seeded(store_kind: str, shell: str, directory: Path) -> Iterator[tuple[Any, FakeClock]]:
    """A scheduler of the family over a fresh store holding valid schedules of every
    status, whose fires all end within a week (so a tick at any instant walks a few
    fires, not millennia)."""
    clock = FakeClock(T0)

    def handler(ctx: RunContext) -> str:
        if ctx.schedule.name == "failing":
            raise RuntimeError("no\nluck")
        return "done"

    with family(store_kind, shell, directory) as make:
        yield _seed(make(handler, clock=clock)), clock


def _seed(sched: Any) -> Any:
    week = T0 + timedelta(days=7)
    base: dict[str, Any] = {"agent_id": "a", "input": "go", "end_at": week}
    sched.create(**base, id="daily", schedule=Cron("0 9 * * *", "Europe/Paris"))
    sched.create(
        **base, id="once", schedule=Once(T0 + timedelta(hours=1)), jitter=timedelta(hours=1)
    )
    sched.create(
        **base,
        id="failing",
        name="failing",
        schedule=Interval(timedelta(hours=5)),
        retry=Retry(attempts=3),
        timeout=timedelta(minutes=1),
    )
    sched.pause(sched.create(**base, id="paused", schedule=Cron("* * * * *")).id)
    sched.delete(sched.create(**base, id="deleted", schedule=Cron("* * * * *")).id)
    return sched


def _snapshot(sched: Any) -> dict[str, Any]:
    schedules = sched.list(include_deleted=True, limit=1000)
    return {s.id: (s, sched.store.runs(s.id, limit=1000)) for s in schedules}


def _check_fired(sched: Any, before: dict[str, Any]) -> None:
    """After an accepted tick: paused and deleted schedules as they were, every record
    still valid, every run it wrote finished."""
    after = _snapshot(sched)
    assert after.keys() == before.keys()
    for schedule_id in ("paused", "deleted"):
        assert after[schedule_id] == before[schedule_id]
    for schedule, runs in after.values():
        assert Schedule.from_dict(schedule.to_dict()) == schedule
        assert all(run.status is not RunStatus.RUNNING for run in runs)


_NOW = st.one_of(
    ANYTHING,
    st.datetimes(
        min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.timezones()
    ).map(labelled),
    st.datetimes(T0.replace(tzinfo=None), datetime(2026, 2, 1), timezones=st.just(UTC)).map(
        labelled
    ),
)


@pytest.mark.parametrize(("store_kind", "shell"), EACH_STORE_AND_SHELL)
@settings(max_examples=60)
@given(now=_NOW)
def test_tick_takes_any_now(
    store_kind: str, shell: str, now: Hostile, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with seeded(store_kind, shell, tmp_path_factory.mktemp("tick")) as (sched, _):
        before = _snapshot(sched)
        accepted = _only_agentsched_errors(lambda: sched.tick(now=now.value))
        event("accepted" if accepted else "refused")
        if accepted:
            _check_fired(sched, before)
        else:
            assert _snapshot(sched) == before


def _either(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly values of the right kind (some of them out of range), sometimes anything."""
    anything = ANYTHING.map(lambda drawn: drawn.value)
    return st.integers(0, 9).flatmap(lambda roll: anything if roll == 0 else valid)


_TEXT = st.text(min_size=1, max_size=150)
_OPTIONAL_TEXT = st.none() | _TEXT
_CREATE = {
    "agent_id": _either(_TEXT),
    "schedule": _either(specs() | specs().map(lambda spec: spec.to_dict())),
    "input": _either(_TEXT),
    "id": _either(
        st.none() | st.from_regex(r"[A-Za-z0-9_.:-]{1,129}", fullmatch=True) | st.just("daily")
    ),
    "name": _either(_OPTIONAL_TEXT),
    "owner": _either(_OPTIONAL_TEXT),
    "metadata": _either(st.none() | st.dictionaries(_TEXT, _TEXT, max_size=20)),
    "conversation": _either(_OPTIONAL_TEXT),
    "previous_response_id": _either(_OPTIONAL_TEXT),
    "stateful": _either(st.booleans()),
    "overlap": _either(st.sampled_from([*Overlap, "skip", "never"])),
    "catchup_window": _either(st.timedeltas()),
    "max_runs": _either(st.none() | st.integers()),
    "end_at": _either(st.none() | st.datetimes(timezones=st.none() | st.timezones())),
    "pause_after_failures": _either(st.none() | st.integers()),
    "timeout": _either(st.none() | st.timedeltas()),
    "retry": _either(st.none() | _RETRIES | _RETRIES.map(lambda retry: retry.to_dict())),
    "jitter": _either(st.none() | st.timedeltas()),
}


@pytest.mark.parametrize(("store_kind", "shell"), EACH_STORE_AND_SHELL)
@settings(max_examples=60)
@given(data=st.data())
def test_create_takes_any_keywords(
    store_kind: str, shell: str, data: st.DataObject, tmp_path_factory: pytest.TempPathFactory
) -> None:
    required = {"agent_id", "schedule", "input"}
    chosen = data.draw(st.sets(st.sampled_from(sorted(_CREATE.keys() - required))))
    keywords = {name: data.draw(_CREATE[name], label=name) for name in sorted(required | chosen)}
    # drawn before a store opens: a PostgreSQL pool's threads use `random`, which
    # hypothesis refuses to see used while it draws
    later = data.draw(st.timedeltas(timedelta(0), timedelta(days=1)), label="later")
    with seeded(store_kind, shell, tmp_path_factory.mktemp("create")) as (sched, clock):
        before = _snapshot(sched)
        made: list[Schedule] = []
        accepted = _only_agentsched_errors(lambda: made.append(sched.create(**keywords)))
        event("accepted" if accepted else "refused")
        if not accepted:
            assert _snapshot(sched) == before
            return
        (schedule,) = made
        assert sched.get(schedule.id, include_deleted=True) == schedule
        assert Schedule.from_dict(schedule.to_dict()) == schedule
        assert {k: v for k, v in _snapshot(sched).items() if k != schedule.id} == before
        clock.advance(later)
        sched.tick()
        _check_fired(sched, before | {schedule.id: _snapshot(sched)[schedule.id]})
