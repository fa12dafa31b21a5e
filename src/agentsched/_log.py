"""The `agentsched` logger: every record carries `schedule_id`, `run_id`, `agent_id`.

Records about a schedule or a run pass them in `extra` (`fields`); a filter
gives every other record the same attributes, set to None, so a formatter
or a log pipeline can always use them.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

__all__ = ["fields", "log"]

log = logging.getLogger("agentsched")


class _Fields(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for name in ("schedule_id", "run_id", "agent_id"):
            if not hasattr(record, name):
                setattr(record, name, None)
        return True


log.addFilter(_Fields())
log.addHandler(logging.NullHandler())  # a library's records go where the app sends them


class _ScheduleLike(Protocol):
    """What a record about a schedule needs of it (a `Schedule`)."""

    @property
    def id(self) -> str: ...
    @property
    def agent_id(self) -> str: ...


class _RunLike(_ScheduleLike, Protocol):
    """What a record about a run needs of it (a `Run`)."""

    @property
    def schedule_id(self) -> str: ...


def fields(
    schedule: _ScheduleLike | None = None,
    run: _RunLike | None = None,
    *,
    schedule_id: str | None = None,
    run_id: str | None = None,
) -> dict[str, Any]:
    """The `extra` of a record about a schedule and/or a run."""
    return {
        "schedule_id": schedule.id
        if schedule is not None
        else run.schedule_id
        if run is not None
        else schedule_id,
        "run_id": run.id if run is not None else run_id,
        "agent_id": schedule.agent_id
        if schedule is not None
        else run.agent_id
        if run is not None
        else None,
    }
