"""Record ids: a prefix and 120 random bits, URL-safe (`sched_...`, `run_...`).

Schedule ids come from `secrets`. Run ids are made far more often, on the
firing path, so they come from a Mersenne Twister seeded from `os.urandom`
(and reseeded in a forked child): just as unique, not meant to be secret.
"""

from __future__ import annotations

import base64
import os
import random
import secrets

__all__ = ["new_id", "new_run_id"]

_fast = random.Random(os.urandom(32))


def _reseed() -> None:
    _fast.seed(os.urandom(32))


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reseed)


def new_id(prefix: str) -> str:
    """A unique, URL-safe id such as `sched_3q2X...` (20 characters after the prefix)."""
    return f"{prefix}_{secrets.token_urlsafe(15)}"


def new_run_id() -> str:
    """A unique, URL-safe run id (`run_` and 20 characters), cheap to make."""
    return "run_" + base64.urlsafe_b64encode(_fast.getrandbits(120).to_bytes(15, "big")).decode()
