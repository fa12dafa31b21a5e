"""The suite's settings: hypothesis profiles, the store x shell fixture family
(`support.matrix`), and the options that run one store or one shell of it:

    python -m pytest --store sqlite --shell async    # also --store memory,postgres
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings
from support.cli import agents, db
from support.matrix import SHELLS, STORES, make, shell, store, store_kind, stores
from support.web import web

__all__ = ["agents", "db", "make", "shell", "store", "store_kind", "stores", "web"]

settings.register_profile(
    "ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "dev", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("agentsched")
    for axis, choices in (("store", STORES), ("shell", SHELLS)):
        group.addoption(
            f"--{axis}",
            action="append",
            default=[],
            metavar="NAME[,NAME]",
            help=f"run the {axis} x shell family on these {axis}s only ({', '.join(choices)})",
        )


def _chosen(config: pytest.Config, axis: str, choices: tuple[str, ...]) -> set[str]:
    named = {name for value in config.getoption(axis) for name in value.split(",") if name}
    unknown = named - set(choices)
    if unknown:
        raise pytest.UsageError(f"--{axis}: no {axis} named {', '.join(sorted(unknown))}")
    return named or set(choices)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the family's tests of the stores and shells not chosen."""
    chosen = {
        "store_kind": _chosen(config, "store", STORES),
        "shell": _chosen(config, "shell", SHELLS),
    }

    def wanted(item: pytest.Item) -> bool:
        callspec = getattr(item, "callspec", None)
        params: dict[str, object] = callspec.params if callspec is not None else {}
        return all(params[axis] in names for axis, names in chosen.items() if axis in params)

    dropped = [item for item in items if not wanted(item)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if wanted(item)]
