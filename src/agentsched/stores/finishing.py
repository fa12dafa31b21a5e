"""What finishing a run does to its schedule, the same in every store.

A store writes; these decide: how an outcome folds into the schedule (an
update that raises leaves the schedule as it is and is logged, so the run is
recorded all the same), and which buffered run starts next (the oldest one
that can be read; a corrupt one is handed back to be set aside).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from .._log import log
from ..errors import StoreError
from ..model import Run, Schedule, replace
from .rows import decode

__all__ = ["fold", "start_oldest"]


def fold(schedule: Schedule, run: Run, update: Callable[[Schedule], Schedule]) -> Schedule:
    """`update(schedule)` for a run that finished; the schedule as it is if that raises."""
    try:
        return update(schedule)
    except Exception as exc:
        log.error(
            "run %s finished, but its schedule could not record it: %s",
            run.id,
            exc,
            extra={"schedule_id": run.schedule_id, "run_id": run.id, "agent_id": run.agent_id},
        )
        return schedule


def start_oldest(
    waiting: Iterable[tuple[Any, bytes | str]],
    at: datetime | None,
    text: Callable[[Any], str],
    set_aside: Callable[[Any, StoreError], None],
) -> Run | None:
    """The first of a schedule's buffered runs (`(id, body)` rows, oldest first) that
    decodes, started at `at`; each corrupt one before it goes to `set_aside`."""
    for raw_id, body in waiting:
        try:
            buffered = decode(Run, text(raw_id), body)
        except StoreError as exc:
            set_aside(raw_id, exc)
            continue
        return replace(buffered, started_at=at)
    return None
