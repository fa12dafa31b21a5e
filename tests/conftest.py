from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from drivers import make  # noqa: F401  (the store x scheduler fixture)
from hypothesis import HealthCheck, settings

from agentsched.firing.core import FiringCore
from agentsched.model import Run
from agentsched.stores.base import Store

settings.register_profile(
    "ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "dev", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def need(available: bool, reason: str) -> None:
    """Skip a test whose environment is missing locally; in CI (`CI=true`) fail instead,
    because `.ci/run` provides everything the suite needs."""
    if available:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must provide it)")
    pytest.skip(reason)


@contextlib.contextmanager
def mounted_tmpfs(where: Path, size: str = "1m") -> Iterator[Path]:
    """A small tmpfs at `where` (needs root, or skips): for full and read-only disks."""
    where.mkdir(parents=True, exist_ok=True)
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    need(made.returncode == 0, f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


def remount_read_only(where: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True, capture_output=True)


def claim_and_die(
    store: Store, now: datetime, lease: timedelta = timedelta(minutes=5)
) -> list[Run]:
    """What a scheduler that claims due work and dies before running any of it leaves:
    the runs it claimed, `running`, leased until `now + lease`."""
    return FiringCore(store, launch=lambda launch: None, lease=lease).tick(now)
