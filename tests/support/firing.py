"""What firing leaves behind when a scheduler dies, for the tests of what comes after."""

from __future__ import annotations

from datetime import datetime, timedelta

from agentsched.firing.core import FiringCore
from agentsched.model import Run
from agentsched.stores.base import Store


def claim_and_die(
    store: Store, now: datetime, lease: timedelta = timedelta(minutes=5)
) -> list[Run]:
    """What a scheduler that claims due work and dies before running any of it leaves:
    the runs it claimed, `running`, leased until `now + lease`."""
    return FiringCore(store, launch=lambda launch: None, lease=lease).tick(now)
