"""Retries: a failed run is tried again after its backoff, doubled up to its cap; only
the last failure counts; a new fire supersedes a pending retry and pause drops it;
two schedulers on one store run each attempt once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from support.matrix import Factory, settle

from agentsched import (
    Cron,
    Event,
    Once,
    Retry,
    RunContext,
    RunStatus,
    Status,
    ValidationError,
)
from agentsched.testing import FakeClock

UTC = timezone.utc
T0 = datetime(2026, 1, 5, 8, 59, tzinfo=UTC)
NINE = datetime(2026, 1, 5, 9, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


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

    def heard(event: Event) -> None:
        assert event.run is not None
        retrying.append(event.run.attempt)

    sched.subscribe(heard, kinds=["run.retrying"])
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
    results: Iterator[Exception | str] = iter([RuntimeError("down"), "fine"])

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
