"""The app against its own OpenAPI document: schemathesis, every check, over ASGI, on a
`MemoryStore` behind `Scheduler` (the document is the subject; every route on every
store and shell is test_web_api.py's).

Each operation is tested with examples, coverage cases (boundaries, every
documented status, unsupported methods) and fuzzed requests, valid and not;
then workflows follow the document's links (create, then pause, delete,
read what was deleted...). Every check is on: no 5xx, only documented
statuses, headers and bodies as documented, valid requests accepted, invalid
ones refused, `Allow` naming the methods, deleted schedules gone.

Once with a fixed seed and once with a new one each run, printed on failure
(`AGENTSCHED_SCHEMATHESIS_SEED=<seed>` reruns it). `openapi_hooks` says what
the document says beyond JSON Schema.
"""

from __future__ import annotations

import os
import random
from datetime import datetime, timezone
from typing import Any

import hypothesis
import pytest
import schemathesis
import support.openapi_hooks  # noqa: F401  (the formats and rules of the document)
from hypothesis import HealthCheck
from starlette.types import ASGIApp

from agentsched import InlineExecutor, MemoryStore, RunContext, Scheduler
from agentsched.asgi import create_app
from agentsched.testing import FakeClock

FIXED_SEED = 20_260_105


def _random_seed() -> int:
    """A new seed each run, the same in every pytest-xdist worker of the run (they must
    collect the same tests, and the seed is in their ids)."""
    chosen = os.environ.get("AGENTSCHED_SCHEMATHESIS_SEED")
    if chosen:
        return int(chosen)
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run:
        return int(run[:8], 16)
    return random.SystemRandom().getrandbits(32)


RANDOM_SEED = _random_seed()
EXAMPLES = 20  # fuzzed requests per operation; the coverage cases come on top
WORKFLOWS, STEPS = 15, 6


def handler(ctx: RunContext) -> str:
    return f"did {ctx.input[:20]}"


def _app() -> ASGIApp:
    """A fresh app over a memory store, inline runs and a fake clock."""
    sched = Scheduler(
        handler=handler,
        store=MemoryStore(),
        executor=InlineExecutor(),
        clock=FakeClock(datetime(2026, 1, 5, 7, tzinfo=timezone.utc)),
    )
    return create_app(sched)


def _schema(seed: int) -> schemathesis.BaseSchema:
    config = schemathesis.Config.from_dict(
        {"seed": seed, "generation": {"max-examples": EXAMPLES, "database": "none"}}
    )
    return schemathesis.openapi.from_asgi("/openapi.json", _app(), config=config)


fixed = _schema(FIXED_SEED)
fresh = _schema(RANDOM_SEED)


# Each test takes its seed as a parameter, printed should it fail; being parametrized also
# gives each operation's test an id of its own (schemathesis leaves the operation out of
# the id otherwise, and pytest-xdist, which tells tests apart by id, ran one of nine).


@fixed.parametrize()
@pytest.mark.parametrize("seed", [FIXED_SEED])
def test_each_operation_with_the_fixed_seed(case: schemathesis.Case[Any], seed: int) -> None:
    print(f"schemathesis seed {seed}")
    case.call_and_validate()


@fresh.parametrize()
@pytest.mark.parametrize("seed", [RANDOM_SEED])
def test_each_operation_with_a_random_seed(case: schemathesis.Case[Any], seed: int) -> None:
    print(f"schemathesis seed {seed}")
    case.call_and_validate()


@pytest.mark.parametrize(("schema", "seed"), [(fixed, FIXED_SEED), (fresh, RANDOM_SEED)])
def test_workflows_along_the_links(schema: schemathesis.BaseSchema, seed: int) -> None:
    print(f"schemathesis seed {seed}")

    class Workflows(schema.as_state_machine()):  # type: ignore[misc]
        """Each workflow on an app of its own: a replayed one meets the same state."""

        def setup(self) -> None:
            self.app = _app()

        def get_call_kwargs(self, case: schemathesis.Case[Any]) -> dict[str, Any]:
            return {"app": self.app}

    hypothesis.seed(seed)(Workflows).run(
        settings=hypothesis.settings(
            max_examples=WORKFLOWS,
            stateful_step_count=STEPS,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
