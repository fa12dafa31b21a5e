"""Waiting for something another thread or process does: a condition polled with short
sleeps until it holds, under a deadline generous enough that only a hang reaches it.

A test never asserts how fast something happens; the deadline only turns a hang into
a failure that says what it waited for.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

DEADLINE = 30.0
"""Seconds any wait of the suite may take before the test fails (events, threads,
processes, polled conditions): far beyond what a loaded machine needs."""

_T = TypeVar("_T")


def eventually(predicate: Callable[[], _T], timeout: float = DEADLINE, what: str = "") -> _T:
    """Call `predicate` every few milliseconds until it returns something true, and
    return that; fail the test if `timeout` seconds pass first (naming `what`, else the
    predicate)."""
    deadline = time.monotonic() + timeout
    while True:
        found = predicate()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout:g}s: {what or predicate}")
        time.sleep(0.002)
