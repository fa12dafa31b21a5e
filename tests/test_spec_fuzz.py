"""Specs under arbitrary input: every failure is an agentsched error naming a field."""

from __future__ import annotations

from typing import Any

import pytest

from agentsched import ValidationError
from agentsched.specs import spec_from_dict


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (nested(100_000), "schedule"),
        ({"type": 10**5000}, "schedule.type"),
        ({"type": "interval", "every_seconds": 10**5000}, "every_seconds"),
        ({"type": "cron", "expression": nested(100_000)}, "expression"),
    ],
    ids=["deep", "huge-type", "huge-every", "deep-expression"],
)
def test_deep_or_huge_values_are_validation_errors(data: object, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        spec_from_dict(data)
    assert info.value.field == field
