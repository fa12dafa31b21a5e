"""Bad input of every kind: a `ValidationError` naming the field, nothing stored or changed.

One grid of bad values, checked on every store behind both shells (the command
line's: test_cli_errors.py), and hostile values in every keyword of the scheduler and
every field of a record (the decoders, fuzzed: test_record_fuzz.py).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.hostile import hostile
from support.matrix import EACH_STORE_AND_SHELL, Factory, family

from agentsched import (
    Cron,
    Interval,
    Once,
    Retry,
    RRule,
    Run,
    RunContext,
    RunResult,
    RunStatus,
    Schedule,
    Scheduler,
    ValidationError,
)
from agentsched.errors import MAX_MESSAGE
from agentsched.rules.states import UPDATABLE
from agentsched.testing import FakeClock

UTC = timezone.utc
T0 = datetime(2026, 1, 5, 8, 59, tzinfo=UTC)
SURROGATE = "\ud800"
NUL = "\x00"


def _scheduler(make: Factory, handler: Callable[[RunContext], Any] | None = None) -> Any:
    return make(handler or (lambda ctx: None), clock=FakeClock(T0))


def _snapshot(sched: Any) -> list[dict[str, Any]]:
    return [s.to_dict() for s in sched.list(include_deleted=True, limit=1000)]


GOOD: dict[str, Any] = {"agent_id": "bot", "schedule": Cron("0 9 * * *"), "input": "go"}

# (the bad keyword arguments of `create`, the field the error must name)
BAD_CREATE: list[tuple[dict[str, Any], str]] = [
    ({"name": SURROGATE}, "name"),
    ({"name": f"a{NUL}b"}, "name"),
    ({"name": "x" * 121}, "name"),
    ({"name": ""}, "name"),
    ({"name": 7}, "name"),
    ({"input": f"hi{SURROGATE}"}, "input"),
    ({"input": NUL}, "input"),
    ({"input": "x" * 20_001}, "input"),
    ({"input": ""}, "input"),
    ({"input": ["list"]}, "input"),
    ({"agent_id": SURROGATE}, "agent_id"),
    ({"agent_id": ""}, "agent_id"),
    ({"agent_id": None}, "agent_id"),
    ({"owner": f"al{NUL}ice"}, "owner"),
    ({"owner": "\udfff"}, "owner"),
    ({"conversation": SURROGATE}, "conversation"),
    ({"previous_response_id": NUL}, "previous_response_id"),
    ({"metadata": {SURROGATE: "v"}}, "metadata"),
    ({"metadata": {"k": NUL}}, "metadata"),
    ({"metadata": {"k": "v" * 513}}, "metadata"),
    ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
    ({"metadata": ["k"]}, "metadata"),
    ({"timeout": timedelta.max}, "timeout"),
    ({"timeout": timedelta(days=366, seconds=1)}, "timeout"),
    ({"timeout": timedelta(0)}, "timeout"),
    ({"timeout": 30}, "timeout"),
    ({"catchup_window": timedelta.max}, "catchup_window"),
    ({"catchup_window": timedelta(seconds=-1)}, "catchup_window"),
    ({"end_at": datetime(2030, 1, 1)}, "end_at"),
    ({"end_at": datetime(1969, 12, 31, tzinfo=UTC)}, "end_at"),
    ({"end_at": datetime.min.replace(tzinfo=UTC)}, "end_at"),
    ({"max_runs": 0}, "max_runs"),
    ({"max_runs": True}, "max_runs"),
    ({"pause_after_failures": "3"}, "pause_after_failures"),
    ({"overlap": "sometimes"}, "overlap"),
    ({"stateful": "yes"}, "stateful"),
    ({"schedule": "0 9 * * *"}, "schedule"),
]

# (a spec built from bad arguments, the field the error must name)
BAD_SPECS: list[tuple[Callable[[], object], str]] = [
    (lambda: Cron([], "UTC"), "expression"),  # type: ignore[arg-type]
    (lambda: Cron(None), "expression"),  # type: ignore[arg-type]
    (lambda: Cron("0 9 * * *", "Nowhere/City"), "timezone"),
    (lambda: Cron("0 9 * * *", ["UTC"]), "timezone"),  # type: ignore[arg-type]
    (lambda: Cron("0 9 * * *", hash_key=SURROGATE), "hash_key"),
    (lambda: Cron("0 0 31 2 *"), "expression"),
    (lambda: Interval(timedelta.max), "every"),
    (lambda: Interval(timedelta(days=99_999_999)), "every"),
    (lambda: Interval(timedelta(days=367)), "every"),
    (lambda: Interval(timedelta(minutes=5), datetime(1960, 1, 1, tzinfo=UTC)), "start_at"),
    (lambda: Interval(timedelta(minutes=5), datetime(2030, 1, 1)), "start_at"),
    (lambda: Once(datetime(1969, 12, 31, 23, tzinfo=UTC)), "run_at"),
    (lambda: Once(datetime(1, 1, 1)), "run_at"),
    (lambda: Once(datetime(9999, 12, 31, 23), "America/New_York"), "run_at"),
    (lambda: Once("2026-01-05T09:00:00Z"), "run_at"),  # type: ignore[arg-type]
    (lambda: RRule("FREQ=DAILY", datetime(1, 1, 1)), "dtstart"),
    (lambda: RRule("FREQ=DAILY", datetime(1969, 6, 1)), "dtstart"),
    (lambda: RRule(["FREQ=DAILY"], datetime(2026, 1, 1)), "rrule"),  # type: ignore[arg-type]
]


@pytest.fixture
def seeded(make: Factory) -> tuple[Any, Schedule]:
    sched = _scheduler(make)
    return sched, sched.create(**GOOD, name="keep me")


@pytest.mark.parametrize(("bad", "field"), BAD_CREATE, ids=[f for _, f in BAD_CREATE])
def test_create_refuses_bad_input_and_stores_nothing(
    seeded: tuple[Any, Schedule], bad: dict[str, Any], field: str
) -> None:
    sched, kept = seeded
    before = _snapshot(sched)
    with pytest.raises(ValidationError) as info:
        sched.create(**{**GOOD, **bad})
    assert info.value.field == field
    assert field.split(".", maxsplit=1)[0] in str(info.value)
    assert _snapshot(sched) == before
    assert sched.get(kept.id) == kept


@pytest.mark.parametrize(
    ("bad", "field"),
    [case for case in BAD_CREATE if case[0].keys() - {"agent_id", "owner"}],
    ids=[f for b, f in BAD_CREATE if b.keys() - {"agent_id", "owner"}],
)
def test_update_refuses_bad_input_and_changes_nothing(
    seeded: tuple[Any, Schedule], bad: dict[str, Any], field: str
) -> None:
    sched, kept = seeded
    with pytest.raises(ValidationError) as info:
        sched.update(kept.id, **bad)
    assert info.value.field == field
    assert sched.get(kept.id) == kept


@pytest.mark.parametrize(("build", "field"), BAD_SPECS, ids=[f for _, f in BAD_SPECS])
def test_bad_specs_name_the_field(build: Callable[[], object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        build()
    assert info.value.field == field


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.get(SURROGATE),
        lambda s: s.get(f"sched{NUL}"),
        lambda s: s.get("sched_x", owner=SURROGATE),
        lambda s: s.list(agent_id=SURROGATE),
        lambda s: s.list(owner=NUL),
        lambda s: s.list(after=SURROGATE),
        lambda s: s.pause(SURROGATE),
        lambda s: s.resume(SURROGATE),
        lambda s: s.delete(SURROGATE),
        lambda s: s.runs(SURROGATE),
        lambda s: s.upcoming(SURROGATE),
        lambda s: s.trigger(SURROGATE),
        lambda s: s.update(SURROGATE, name="x"),
    ],
)
def test_lookups_with_unstorable_text_are_validation_errors(
    seeded: tuple[Any, Schedule], call: Callable[[Any], object]
) -> None:
    sched, _ = seeded
    before = _snapshot(sched)
    with pytest.raises(ValidationError):
        call(sched)
    assert _snapshot(sched) == before


def test_year_9999_is_in_range_and_fires(make: Factory) -> None:
    """The last representable hour still fires; nothing past it is silently 'completed'."""
    sched = _scheduler(make)
    once = sched.create(**{**GOOD, "schedule": Once(datetime(9999, 12, 31, 23, tzinfo=UTC))})
    assert once.status == "active" and once.next_run_at == datetime(9999, 12, 31, 23, tzinfo=UTC)
    rule = sched.create(**{**GOOD, "schedule": RRule("FREQ=YEARLY", datetime(9999, 12, 31, 23))})
    assert rule.status == "active" and rule.next_run_at == datetime(9999, 12, 31, 23, tzinfo=UTC)
    assert sched.upcoming(rule.id, n=3) == [datetime(9999, 12, 31, 23, tzinfo=UTC)]


@pytest.mark.parametrize(
    ("spec", "name"),
    [
        (lambda z: Cron("0 9 * * *", z), "Europe/Paris"),
        (lambda z: Once(datetime(2026, 1, 5, 14), z), "Asia/Tokyo"),
        (lambda z: RRule("FREQ=WEEKLY", datetime(2026, 1, 5, 9), z), "America/New_York"),
    ],
)
def test_zoneinfo_objects_are_accepted_and_stored_by_name(
    spec: Callable[[object], Any], name: str
) -> None:
    by_object = spec(ZoneInfo(name))
    assert by_object == spec(name)
    assert by_object.to_dict()["timezone"] == name


def test_a_zoneinfo_without_a_name_is_refused(tmp_path: Path) -> None:
    with open("/usr/share/zoneinfo/Europe/Paris", "rb") as source:
        nameless = ZoneInfo.from_file(source)
    with pytest.raises(ValidationError) as info:
        Cron("0 9 * * *", nameless)
    assert info.value.field == "timezone" and "name" in str(info.value)


# -- what handlers return ---------------------------------------------------------


@pytest.mark.parametrize(
    ("returned", "status", "output"),
    [
        (f"ok{SURROGATE}", RunStatus.SUCCEEDED, "ok\ufffd"),
        (f"ok{NUL}", RunStatus.SUCCEEDED, "ok\ufffd"),
        (RunResult(output=f"a{SURROGATE}b"), RunStatus.SUCCEEDED, "a\ufffdb"),
        (RunResult(response_id=f"resp{SURROGATE}"), RunStatus.FAILED, None),
        (RunResult(response_id=NUL), RunStatus.FAILED, None),
    ],
)
def test_unstorable_handler_output_is_recorded_never_left_running(
    make: Factory, returned: object, status: RunStatus, output: str | None
) -> None:
    sched = _scheduler(make, lambda ctx: returned)
    s = sched.create(**GOOD, stateful=True)
    (run,) = sched.tick(datetime(2026, 1, 5, 9, tzinfo=UTC))
    assert run.status is status and run.output == output
    assert sched.runs(s.id) == [run]
    if status is RunStatus.FAILED:
        assert run.error is not None and "response_id" in run.error
        assert sched.get(s.id).previous_response_id is None


def test_an_exception_message_with_bad_text_is_recorded(make: Factory) -> None:
    def handler(ctx: RunContext) -> None:
        raise RuntimeError(f"broke on {SURROGATE} and {NUL}")

    sched = _scheduler(make, handler)
    s = sched.create(**GOOD)
    (run,) = sched.tick(datetime(2026, 1, 5, 9, tzinfo=UTC))
    assert run.status is RunStatus.FAILED
    assert run.error == "RuntimeError: broke on \ufffd and \ufffd"
    assert sched.get(s.id).last_error == run.error


# -- hostile values, in every keyword and every record field ---------------------------


def _refused(call: Callable[[], object], field: str) -> None:
    """`call` raises a `ValidationError` naming `field` (or a part of it) briefly."""
    with pytest.raises(ValidationError) as info:
        call()
    assert info.value.field == field or info.value.field.startswith(f"{field}.")
    assert len(str(info.value)) <= MAX_MESSAGE


_KEYWORDS = {
    "create": sorted(inspect.signature(Scheduler.create).parameters.keys() - {"self"}),
    "ensure": sorted(inspect.signature(Scheduler.ensure).parameters.keys() - {"self"}),
    "update": sorted(UPDATABLE),
}


@pytest.mark.parametrize(("store_kind", "shell"), EACH_STORE_AND_SHELL)
@settings(max_examples=100)  # an example makes a store and a scheduler: a few seconds each
@given(st.data())
def test_every_scheduler_keyword_refuses_hostile_values_briefly(
    store_kind: str, shell: str, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    # Drawn before a store opens: a PostgreSQL pool's threads use `random`, which
    # hypothesis refuses to see used while it draws.
    method = data.draw(st.sampled_from(sorted(_KEYWORDS)))
    keyword = data.draw(st.sampled_from(_KEYWORDS[method]))
    bad = {keyword: data.draw(hostile(keyword)).value}
    directory = tmp_path_factory.mktemp("h")
    with family(store_kind, shell, directory) as make:
        sched = _scheduler(make)
        kept = sched.create(**GOOD, id="kept")
        if method == "update":
            _refused(lambda: sched.update(kept.id, **bad), keyword)
        else:
            given_id = {"id": "new"} if method == "ensure" else {}
            _refused(lambda: getattr(sched, method)(**{**GOOD, **given_id, **bad}), keyword)
        assert _snapshot(sched) == [kept.to_dict()]


_GOOD_RECORDS: dict[type[Schedule] | type[Run] | type[Retry], dict[str, Any]] = {
    Schedule: {"id": "s", "agent_id": "a", "schedule": Cron("0 9 * * *"), "input": "go"}
    | {"created_at": T0, "updated_at": T0},
    Run: {"id": "r", "schedule_id": "s", "agent_id": "a", "status": RunStatus.RUNNING},
    Retry: {},
}


@given(st.data())
def test_every_record_field_refuses_hostile_values_briefly(data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(list(_GOOD_RECORDS)))
    field = data.draw(st.sampled_from([f.name for f in attrs.fields(kind)]))
    value = data.draw(hostile(field)).value
    good = _GOOD_RECORDS[kind]
    label = f"retry.{field}" if kind is Retry else field
    _refused(lambda: kind(**{**good, field: value}), label)
    as_dict = kind(**good).to_dict()
    _refused(lambda: kind.from_dict({**as_dict, field: value}), label)
