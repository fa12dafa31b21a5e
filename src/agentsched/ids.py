"""Record ids: a prefix and 120 random bits, URL-safe (`sched_...`, `run_...`)."""

from __future__ import annotations

import secrets

__all__ = ["new_id"]


def new_id(prefix: str) -> str:
    """A unique, URL-safe id such as `sched_3q2X...` (20 characters after the prefix)."""
    return f"{prefix}_{secrets.token_urlsafe(15)}"
