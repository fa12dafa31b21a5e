"""Embedding in real apps: routing by agent, stable ids and ensure(), events, structured
logs, retries and jitter — on every store and both schedulers (`make`)."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import postgres
from support.matrix import Factory, settle

from agentsched import (
    AgentschedError,
    ConflictError,
    Cron,
    Event,
    Interval,
    Once,
    Overlap,
    Retry,
    RunContext,
    RunResult,
    RunStatus,
    Scheduler,
    Status,
    ValidationError,
)
from agentsched.model import jitter_offset
from agentsched.stores.urls import store_from_url
from agentsched.testing import FakeClock

UTC = timezone.utc
T0 = datetime(2026, 1, 5, 8, 59, tzinfo=UTC)
NINE = datetime(2026, 1, 5, 9, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def ok(ctx: RunContext) -> str:
    return f"{ctx.schedule.agent_id} ok"


# -- routing ---------------------------------------------------------------------


def test_runs_are_routed_by_agent_with_the_handler_as_fallback(make: Factory) -> None:
    seen: list[tuple[str, str]] = []

    def triage(ctx: RunContext) -> str:
        seen.append(("triage", ctx.schedule.agent_id))
        return "triaged"

    def fallback(ctx: RunContext) -> str:
        seen.append(("fallback", ctx.schedule.agent_id))
        return "fell back"

    sched = make(fallback, handlers={"support-bot": triage}, clock=FakeClock(T0))

    @sched.agent("reporter")
    def report(ctx: RunContext) -> str:
        seen.append(("report", ctx.schedule.agent_id))
        return "reported"

    for agent in ("support-bot", "reporter", "other"):
        sched.create(agent_id=agent, schedule=Cron("0 9 * * *"), input="go", name=agent)
    runs = {r.agent_id: r for r in sched.tick(now=NINE)}
    assert {a: r.output for a, r in runs.items()} == {
        "support-bot": "triaged",
        "reporter": "reported",
        "other": "fell back",
    }
    assert sorted(seen) == [
        ("fallback", "other"),
        ("report", "reporter"),
        ("triage", "support-bot"),
    ]


def test_a_fire_with_no_handler_for_its_agent_fails_saying_so(make: Factory) -> None:
    sched = make(None, handlers={"known": ok}, clock=FakeClock(T0))
    s = sched.create(agent_id="unknown-bot", schedule=Cron("0 9 * * *"), input="go")
    (run,) = sched.tick(now=NINE)
    assert run.status is RunStatus.FAILED and run.error == "no handler for agent 'unknown-bot'"
    assert sched.get(s.id).failure_count == 1


def test_routes_take_async_handlers_too(make: Factory) -> None:
    async def chat(ctx: RunContext) -> RunResult:
        return RunResult(response_id=f"resp_{ctx.attempt}", output="async ok")

    sched = make(None, handlers={"chat": chat}, clock=FakeClock(T0))
    sched.create(agent_id="chat", schedule=Cron("0 9 * * *"), input="go", stateful=True)
    (run,) = sched.tick(now=NINE)
    assert (run.status, run.output, run.response_id) == (RunStatus.SUCCEEDED, "async ok", "resp_1")


def test_firing_without_any_handler_is_refused(make: Factory) -> None:
    sched = make(None, clock=FakeClock(T0))
    sched.create(agent_id="bot", schedule=Cron("0 9 * * *"), input="go")
    with pytest.raises(AgentschedError, match="handler"):
        sched.tick(now=NINE)


def test_a_route_must_be_callable() -> None:
    with pytest.raises(ValidationError) as info:
        Scheduler(handlers={"bot": "not a function"})  # type: ignore[dict-item]
    assert info.value.field == "handlers"


# -- ids and ensure ------------------------------------------------------------------


def test_create_with_a_chosen_id_and_conflicts(make: Factory) -> None:
    sched = make(ok, clock=FakeClock(T0))
    s = sched.create(id="daily-summary", agent_id="bot", schedule=Cron("0 9 * * *"), input="go")
    assert s.id == "daily-summary" and sched.get("daily-summary") == s
    with pytest.raises(ConflictError):
        sched.create(id="daily-summary", agent_id="bot", schedule=Cron("0 9 * * *"), input="x")
    sched.delete("daily-summary")
    with pytest.raises(ConflictError):  # deleted ids are never reused
        sched.create(id="daily-summary", agent_id="bot", schedule=Cron("0 9 * * *"), input="x")


@pytest.mark.parametrize("bad", ["", "has space", "é", "a/b", "x" * 129, 7])
def test_bad_ids_are_validation_errors(make: Factory, bad: object) -> None:
    sched = make(ok, clock=FakeClock(T0))
    with pytest.raises(ValidationError) as info:
        sched.create(id=bad, agent_id="bot", schedule=Cron("0 9 * * *"), input="go")
    assert info.value.field == "id"
    assert sched.list(include_deleted=True) == []


def test_ensure_creates_then_changes_only_what_differs_keeping_history(make: Factory) -> None:
    clock = FakeClock(T0)
    sched = make(lambda ctx: RunResult(response_id=f"resp_{ctx.run_id}"), clock=clock)
    declared: dict[str, Any] = {
        "id": "summary",
        "agent_id": "bot",
        "schedule": Cron("0 * * * *"),
        "input": "summarise",
        "stateful": True,
        "previous_response_id": "resp_seed",
    }
    first = sched.ensure(**declared)
    assert first.id == "summary" and first.version == 1
    (run,) = sched.tick(now=NINE)
    after_run = sched.get("summary")
    assert after_run.previous_response_id == f"resp_{run.id}"
    again = sched.ensure(**declared)  # an app restart: nothing differs, nothing is written
    assert again == after_run
    changed = sched.ensure(**{**declared, "input": "summarise briefly", "name": "summary"})
    assert (changed.input, changed.name) == ("summarise briefly", "summary")
    assert changed.version == after_run.version + 1
    assert changed.run_count == 1 and changed.previous_response_id == f"resp_{run.id}"
    assert [r.id for r in sched.runs("summary")] == [run.id]
    reverted = sched.ensure(**declared)  # left out means default: the name goes again
    assert reverted.name is None and reverted.input == "summarise"


def test_ensure_keeps_an_intervals_phase_across_restarts(make: Factory) -> None:
    """An app restarted every 4 hours still fires its 6-hourly schedule, on time."""
    clock = FakeClock(T0)
    store = make.store()
    fired: list[datetime | None] = []
    for restart in range(6):  # a new scheduler every 4 hours, ticking every 30 minutes
        clock.set(T0 + timedelta(hours=4 * restart))
        sched = make(lambda ctx: fired.append(ctx.scheduled_for), clock=clock, store=store)
        s = sched.ensure(
            id="six-hourly", agent_id="bot", schedule=Interval(timedelta(hours=6)), input="go"
        )
        assert s.next_run_at is not None
        assert (s.next_run_at - T0) % timedelta(hours=6) == timedelta(0)
        for half_hour in range(8):
            sched.tick(now=T0 + timedelta(hours=4 * restart, minutes=30 * half_hour))
    assert fired == [T0 + timedelta(hours=6 * k) for k in (1, 2, 3)]


def test_ensure_refuses_a_deleted_or_another_owners_id(make: Factory) -> None:
    sched = make(ok, clock=FakeClock(T0))
    base = {"agent_id": "bot", "schedule": Cron("0 9 * * *"), "input": "go"}
    sched.ensure(id="mine", owner="alice", **base)
    with pytest.raises(ConflictError, match="owner"):
        sched.ensure(id="mine", owner="bob", **base)
    sched.ensure(id="gone", **base)
    sched.delete("gone")
    with pytest.raises(ConflictError, match="deleted"):
        sched.ensure(id="gone", **base)


_RACER = textwrap.dedent(
    """
    import sys, time
    from datetime import timedelta
    from agentsched import Interval, Scheduler
    url, start, name = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    sched = Scheduler.from_url(url)
    while time.time() < start:
        pass
    s = sched.ensure(id="declared", agent_id="bot", input="go",
                     schedule=Interval(timedelta(hours=6)), name=name)
    print(s.version)
    """
)


@pytest.mark.parametrize("store_kind", ["sqlite", "postgres"])  # the stores processes share
def test_ensure_raced_by_four_processes_makes_one_schedule(store_kind: str, tmp_path: Path) -> None:
    for round_number in range(3):
        if store_kind == "sqlite":
            url = f"sqlite:///{tmp_path / f'race-{round_number}.db'}"
        else:
            postgres.require()
            url = postgres.url(postgres.new_schema())
        store_from_url(url).close()  # made before the race: the race is ensure's
        start = time.time() + 0.5
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _RACER, url, str(start), "same name"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        outputs = [p.communicate(timeout=60) for p in procs]
        assert [p.returncode for p in procs] == [0] * 4, outputs
        store = store_from_url(url)
        try:
            (only,) = store.list(include_deleted=True)
        finally:
            store.close()
        assert only.id == "declared" and only.version == 1  # created once, never rewritten


# -- events ----------------------------------------------------------------------------


class Recorded:
    def __init__(self, sched: Any) -> None:
        self.events: list[Event] = []
        self.stored: list[Any] = []
        self.sched = sched

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        if event.kind.startswith("schedule.") and event.kind != "schedule.deleted":
            self.stored.append(self.sched.store.get(event.schedule_id))

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]


def test_events_follow_a_schedules_life(make: Factory) -> None:
    clock = FakeClock(T0)
    failing = {"now": False}

    def handler(ctx: RunContext) -> str:
        if failing["now"]:
            raise RuntimeError("agent down")
        return "ok"

    sched = make(handler, clock=clock)
    recorded = Recorded(sched)
    sched.subscribe(recorded)
    s = sched.create(agent_id="bot", schedule=Cron("0 * * * *"), input="go", max_runs=3)
    sched.update(s.id, name="renamed")
    sched.pause(s.id)
    clock.set(NINE - MINUTE)
    sched.resume(s.id)
    sched.tick(now=NINE)
    failing["now"] = True
    sched.tick(now=NINE + timedelta(hours=1))
    sched.tick(now=NINE + timedelta(hours=4, minutes=30))  # 11:00, 12:00 missed; 13:00 runs
    sched.delete(s.id)
    settle(sched)
    assert recorded.kinds() == [
        "schedule.created",
        "schedule.updated",
        "schedule.paused",
        "schedule.resumed",
        "run.started",
        "run.succeeded",
        "run.started",
        "run.failed",
        "run.missed",
        "schedule.completed",
        "run.started",
        "run.failed",
        "schedule.deleted",
    ]
    # delivered after the write: the store already holds what the event shows
    for event, stored in zip(
        [
            e
            for e in recorded.events
            if e.kind.startswith("schedule.") and e.kind != "schedule.deleted"
        ],
        recorded.stored,
        strict=True,
    ):
        assert stored == event.schedule
    ends = [e for e in recorded.events if e.kind in ("run.succeeded", "run.failed")]
    assert all(e.run is not None and e.run_id == e.run.id for e in ends)
    assert ends[1].run is not None and ends[1].run.error == "RuntimeError: agent down"


def test_kinds_filter_unsubscribe_and_a_raising_callback(
    make: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    sched = make(ok, clock=FakeClock(T0))
    failed: list[str] = []
    unsubscribe = sched.subscribe(lambda e: failed.append(e.kind), kinds=["run.failed"])

    def broken(event: Event) -> None:
        raise RuntimeError("alerting is down")

    sched.subscribe(broken)
    with caplog.at_level(logging.ERROR, logger="agentsched"):
        s = sched.create(agent_id="bot", schedule=Cron("* * * * *"), input="go")
        (run,) = sched.tick(now=NINE)
        settle(sched)
    assert run.status is RunStatus.SUCCEEDED  # the broken callback changed nothing
    assert failed == []
    assert any("event callback failed" in r.getMessage() for r in caplog.records)
    sched.handler = lambda ctx: 1 / 0
    sched.tick(now=NINE + MINUTE)
    settle(sched)
    assert failed == ["run.failed"]
    unsubscribe()
    sched.tick(now=NINE + 2 * MINUTE)
    settle(sched)
    assert failed == ["run.failed"] and sched.get(s.id).failure_count == 2
    with pytest.raises(ValidationError) as info:
        sched.subscribe(print, kinds=["run.exploded"])
    assert info.value.field == "kinds"


def test_async_callbacks_run_on_the_loop() -> None:
    import asyncio

    from agentsched import AsyncScheduler, InlineExecutor

    async def main() -> None:
        seen: list[str] = []

        async def on_event(event: Event) -> None:
            await asyncio.sleep(0)
            seen.append(event.kind)

        sched = AsyncScheduler(handler=ok, executor=InlineExecutor(), clock=FakeClock(T0))
        sched.subscribe(on_event, kinds=["schedule.created", "run.succeeded"])
        await sched.create(agent_id="bot", schedule=Cron("0 9 * * *"), input="go")
        await sched.tick(now=NINE)
        await asyncio.sleep(0.01)
        assert seen == ["schedule.created", "run.succeeded"]

    asyncio.run(asyncio.wait_for(main(), 10))


# -- logging -----------------------------------------------------------------------


def test_every_log_record_carries_the_ids_and_iso_times(
    make: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    sched = make(lambda ctx: 1 / 0, clock=FakeClock(T0))
    s = sched.create(agent_id="bot", schedule=Cron("*/10 * * * *"), input="go")
    with caplog.at_level(logging.DEBUG, logger="agentsched"):
        sched.tick(now=NINE)
        sched.tick(now=NINE + timedelta(hours=3))  # catch-up: a missed record
    records = [r for r in caplog.records if r.name == "agentsched"]
    messages = [r.getMessage() for r in records]
    assert any("started" in m for m in messages) and any("failed" in m for m in messages)
    assert any("missed" in m for m in messages)
    for record in records:
        assert record.schedule_id == s.id and record.agent_id == "bot"  # type: ignore[attr-defined]
        assert record.run_id is not None  # type: ignore[attr-defined]
    assert any("2026-01-05T09:00:00Z" in m for m in messages)
    assert not any("+00:00" in m for m in messages)


# -- retries --------------------------------------------------------------------------


def test_a_failed_run_is_retried_with_backoff_and_only_the_last_failure_counts(
    make: Factory,
) -> None:
    clock = FakeClock(T0)
    attempts: list[tuple[datetime | None, int]] = []

    def flaky(ctx: RunContext) -> str:
        attempts.append((ctx.scheduled_for, ctx.attempt))
        raise RuntimeError(f"attempt {ctx.attempt} failed")

    sched = make(flaky, clock=clock)
    retrying: list[int] = []
    sched.subscribe(lambda e: retrying.append(e.run.attempt), kinds=["run.retrying"])
    retry = Retry(attempts=3, backoff=timedelta(seconds=30), max_backoff=timedelta(seconds=45))
    s = sched.create(agent_id="bot", schedule=Cron("0 9 * * *"), input="go", retry=retry)
    (first,) = sched.tick(now=NINE)
    pending = sched.get(s.id)
    assert first.status is RunStatus.FAILED and pending.failure_count == 0
    assert pending.pending_retry is not None and pending.due_at == NINE + timedelta(seconds=30)
    assert sched.tick(now=NINE + timedelta(seconds=29)) == []  # not before its backoff
    (second,) = sched.tick(now=NINE + timedelta(seconds=30))
    assert (second.attempt, second.scheduled_for) == (2, NINE)
    assert sched.get(s.id).due_at == NINE + timedelta(seconds=75)  # 60 s, capped at 45 s
    (third,) = sched.tick(now=NINE + timedelta(seconds=75))
    assert third.attempt == 3 and third.status is RunStatus.FAILED
    done = sched.get(s.id)
    assert done.failure_count == 1 and done.pending_retry is None
    assert (
        done.next_run_at == NINE + timedelta(days=1)
        and done.last_error == "RuntimeError: attempt 3 failed"
    )
    assert sched.tick(now=NINE + timedelta(minutes=10)) == []
    assert attempts == [(NINE, 1), (NINE, 2), (NINE, 3)]
    settle(sched)
    assert retrying == [1, 2]
    assert [r.attempt for r in sched.runs(s.id)] == [3, 2, 1]


def test_a_retry_that_succeeds_resets_and_a_once_completes_after_its_retries(
    make: Factory,
) -> None:
    clock = FakeClock(T0)
    results = iter([RuntimeError("down"), "fine"])

    def handler(ctx: RunContext) -> str:
        outcome = next(results)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    sched = make(handler, clock=clock)
    s = sched.create(
        agent_id="bot", schedule=Once(NINE), input="go", retry=Retry(attempts=2, backoff=MINUTE)
    )
    sched.tick(now=NINE)
    waiting = sched.get(s.id)
    assert waiting.status is Status.ACTIVE and waiting.pending_retry is not None
    (retried,) = sched.tick(now=NINE + MINUTE)
    assert retried.status is RunStatus.SUCCEEDED and retried.attempt == 2
    final = sched.get(s.id)
    assert final.status is Status.COMPLETED and final.failure_count == 0


def test_a_new_fire_supersedes_a_pending_retry_and_pause_drops_it(make: Factory) -> None:
    clock = FakeClock(T0)
    sched = make(lambda ctx: 1 / 0, clock=clock)
    s = sched.create(
        agent_id="bot",
        schedule=Cron("* * * * *"),
        input="go",
        retry=Retry(attempts=5, backoff=timedelta(minutes=5), max_backoff=timedelta(minutes=5)),
    )
    sched.tick(now=NINE)
    (fire,) = sched.tick(now=NINE + MINUTE)  # the next fire comes before the retry
    assert (fire.attempt, fire.scheduled_for) == (1, NINE + MINUTE)
    after = sched.get(s.id)
    assert after.failure_count == 1  # the superseded fire's failure is final
    assert after.pending_retry is not None and after.pending_retry.scheduled_for == NINE + MINUTE
    paused = sched.pause(s.id)
    assert paused.pending_retry is None and paused.due_at is None


def test_two_schedulers_run_each_attempt_once(make: Factory) -> None:
    clock = FakeClock(T0)
    calls: list[int] = []

    def failing(ctx: RunContext) -> None:
        calls.append(ctx.attempt)
        raise RuntimeError("no")

    store = make.store()
    one = make(failing, clock=clock, store=store)
    two = make(failing, clock=clock, store=make.reopen(store))
    s = one.create(
        agent_id="bot",
        schedule=Cron("0 9 * * *"),
        input="go",
        retry=Retry(attempts=3, backoff=MINUTE),
    )
    for at in (NINE, NINE + MINUTE, NINE + 3 * MINUTE):
        one.tick(now=at)
        two.tick(now=at)
    assert calls == [1, 2, 3]
    keys = [(r.scheduled_for, r.attempt) for r in one.runs(s.id)]
    assert sorted(keys) == [(NINE, 1), (NINE, 2), (NINE, 3)]


def test_retry_is_validated() -> None:
    for kwargs, field in [
        ({"attempts": 0}, "retry.attempts"),
        ({"attempts": True}, "retry.attempts"),
        ({"backoff": timedelta(days=400)}, "retry.backoff"),
        ({"backoff": timedelta(minutes=5), "max_backoff": MINUTE}, "retry.max_backoff"),
    ]:
        with pytest.raises(ValidationError) as info:
            Retry(**kwargs)  # type: ignore[arg-type]
        assert info.value.field == field


# -- jitter --------------------------------------------------------------------------


def test_jitter_delays_each_start_but_never_scheduled_for(make: Factory) -> None:
    clock = FakeClock(T0)
    sched = make(ok, clock=clock)
    jitter = timedelta(seconds=50)
    s = sched.create(agent_id="bot", schedule=Cron("* * * * *"), input="go", jitter=jitter)
    for minute in range(20):
        fire = NINE + minute * MINUTE
        offset = jitter_offset(s.id, fire, jitter)
        assert timedelta(0) <= offset < jitter
        if offset > timedelta(0):
            assert sched.tick(now=fire + offset - timedelta(microseconds=1)) == []
        (run,) = sched.tick(now=fire + offset)
        assert run.scheduled_for == fire and run.started_at == fire + offset
    offsets = {jitter_offset(s.id, NINE + m * MINUTE, jitter) for m in range(20)}
    assert len(offsets) > 10  # spread, not one fixed delay


@settings(max_examples=50)
@given(st.text(min_size=1, max_size=20), st.integers(1, 10**9), st.integers(0, 10**6))
def test_jitter_offsets_are_deterministic_and_in_range(key: str, micros: int, minute: int) -> None:
    jitter = timedelta(microseconds=micros)
    fire = NINE + minute * MINUTE
    offset = jitter_offset(key, fire, jitter)
    assert timedelta(0) <= offset < jitter and offset == jitter_offset(key, fire, jitter)


def test_overlap_and_jitter_together(make: Factory) -> None:
    clock = FakeClock(T0)
    sched = make(ok, clock=clock)
    s = sched.create(
        agent_id="bot",
        schedule=Cron("0 * * * *"),
        input="go",
        jitter=timedelta(minutes=30),
        overlap=Overlap.ALLOW_ALL,
    )
    runs = [r for h in range(4) for r in sched.tick(now=NINE + timedelta(hours=h, minutes=30))]
    assert [r.scheduled_for for r in runs] == [NINE + timedelta(hours=h) for h in range(4)]
    assert sched.get(s.id).run_count == 4
