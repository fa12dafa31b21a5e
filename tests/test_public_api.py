"""The public surface equals what docs/api.md documents; protocols hold."""

from __future__ import annotations

import re
from pathlib import Path

import agentsched
from agentsched import MemoryStore
from agentsched.stores import Store

API = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def documented_names() -> set[str]:
    text = API.read_text().split("## Scheduler methods")[0]
    return set(re.findall(r"^\| `(\w+)` \|", text, re.M))


def test_all_equals_documented_names() -> None:
    assert set(agentsched.__all__) == documented_names()
    for name in agentsched.__all__:
        assert getattr(agentsched, name) is not None


def test_shipped_stores_satisfy_the_protocol() -> None:
    assert isinstance(MemoryStore(), Store)


def test_errors_subclass_the_fitting_builtins() -> None:
    assert issubclass(agentsched.ValidationError, ValueError)
    assert issubclass(agentsched.ScheduleNotFound, LookupError)
    assert issubclass(agentsched.InvalidCronExpression, agentsched.ValidationError)
    assert issubclass(agentsched.UnknownTimezone, agentsched.ValidationError)
    for name in ("InvalidTransition", "ConflictError", "StoreError", "ValidationError"):
        assert issubclass(getattr(agentsched, name), agentsched.AgentschedError)
