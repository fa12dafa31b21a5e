"""The web app over the family's schedulers: a client of `create_app`, with the scheduler,
its store and a fake clock, for the tests of the API, the dashboard and the OpenAPI
document.

Handlers run inline and time is a `FakeClock` at `T0`, so runs are deterministic;
an `AsyncScheduler` is awaited by the app on the client's event loop, and ticked there.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pytest
from starlette.testclient import TestClient

from agentsched import AsyncScheduler, RunContext, RunResult, ScheduleNotFound, Scheduler
from agentsched.asgi import create_app
from agentsched.stores.base import Store
from agentsched.testing import FakeClock
from support.matrix import Factory

T0 = datetime(2026, 1, 5, 7, 0, tzinfo=timezone.utc)  # a Monday, 08:00 in Paris
API = "/api/v1/agents/bot/schedules"
CRON = {"type": "cron", "expression": "0 9 * * mon-fri", "timezone": "Europe/Paris"}
JSON = {"content-type": "application/json"}


def handler(ctx: RunContext) -> RunResult:
    """The agent of the web tests: input "fail" fails, anything else is done."""
    if ctx.input == "fail":
        raise RuntimeError("the agent fell over")
    return RunResult(response_id=f"resp_{ctx.run_id[-4:]}", output=f"did {ctx.input}")


def body(**changes: Any) -> dict[str, Any]:
    """A valid create body with `changes`; a field given as `...` is left out."""
    made: dict[str, Any] = {"name": "daily summary", "schedule": CRON, "input": "Summarise"}
    made.update(changes)
    return {k: v for k, v in made.items() if v is not ...}


def not_found(schedule_id: str) -> dict[str, Any]:
    """The one 404 body: a missing id, another owner's and another agent's look alike."""
    return {
        "error": {"type": "not_found", "message": str(ScheduleNotFound(schedule_id)), "field": None}
    }


@dataclass
class Web:
    """A scheduler, its store, its clock, and a client of the app over it."""

    sched: Scheduler | AsyncScheduler
    store: Store
    clock: FakeClock
    client: TestClient

    def tick(self) -> None:
        """One tick at the clock's time, on the app's loop for an `AsyncScheduler`."""
        if isinstance(self.sched, AsyncScheduler):
            portal = self.client.portal
            assert portal is not None
            portal.call(self.sched.tick)
        else:
            self.sched.tick()

    def snapshot(self) -> list[dict[str, Any]]:
        """Every stored schedule, deleted ones too, as JSON."""
        return [s.to_dict() for s in self.store.list(include_deleted=True, limit=1000)]

    def create(self, agent: str = "bot", owner: str | None = None, **changes: Any) -> Any:
        """Create through the API (as `owner`, if given) and return the schedule's JSON."""
        headers = {"X-On-Behalf-Of": owner} if owner else {}
        made = self.client.post(
            f"/api/v1/agents/{agent}/schedules", json=body(**changes), headers=headers
        )
        assert made.status_code == 201, made.text
        return made.json()


@contextlib.contextmanager
def app_over(
    make: Factory,
    *,
    authenticate: Callable[..., Any] | None = None,
    with_handler: bool = True,
    raise_server_exceptions: bool = True,
) -> Iterator[Web]:
    """The app over a scheduler of `make`'s kind, with a client, until the block ends."""
    clock = FakeClock(T0)
    store = make.store()
    sched = make.native(handler if with_handler else None, clock=clock, store=store)
    app = create_app(sched, authenticate=authenticate)
    with TestClient(app, raise_server_exceptions=raise_server_exceptions) as client:
        yield Web(sched, store, clock, client)


@pytest.fixture
def web(make: Factory) -> Iterator[Web]:
    """The app over each store and shell of the family."""
    with app_over(make) as opened:
        yield opened
