"""Routing runs by agent: a handler per agent id (`handlers=`, `@sched.agent`), the
scheduler's handler as the fallback, and a clear failure where there is none."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from support.matrix import Factory

from agentsched import (
    AgentschedError,
    Cron,
    RunContext,
    RunResult,
    RunStatus,
    Scheduler,
    ValidationError,
)
from agentsched.testing import FakeClock

UTC = timezone.utc
T0 = datetime(2026, 1, 5, 8, 59, tzinfo=UTC)
NINE = datetime(2026, 1, 5, 9, tzinfo=UTC)


def ok(ctx: RunContext) -> str:
    return f"{ctx.schedule.agent_id} ok"


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
