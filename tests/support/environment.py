"""What a test needs of the machine it runs on: a PostgreSQL server, root for a tmpfs,
a browser. Missing locally, the test skips and says why; in CI (`CI` set) it fails,
because `.ci/run` provides everything the suite needs. Tests that load the machine
run one at a time."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ONE_AT_A_TIME = pytest.mark.xdist_group("one-at-a-time")
"""For tests that load the machine itself (a PostgreSQL cluster of their own, a browser,
mounts, storms of processes): run by pytest-xdist (`--dist loadgroup`) one after another
on one worker, never beside each other."""


def need(available: bool, reason: str) -> None:
    """Skip a test whose environment is missing locally; in CI (`CI=true`) fail instead."""
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
