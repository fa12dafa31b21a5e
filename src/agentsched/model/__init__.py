"""Records: `Schedule`, `Run` and their friends, the specs, and their JSON shapes.

Every record is a frozen attrs class validated on construction: a bad value
raises `ValidationError` naming the field and echoing the value (shortened).
`to_dict()` gives the `agent.schedule` / `agent.schedule.run` JSON shape
(instants as ISO 8601 UTC with `Z`); `from_dict()` round-trips it exactly.
No I/O and no clock here: "now" is always passed in.

- `specs`: `Cron`, `Once`, `Interval`, `RRule` over the time engine (`timing/`)
- `enums`, `limits`, `validators`: the fields' kinds, bounds and checks
- `retry`, `schedule`, `run`: the records
- `copying`: the firing path's fast copies (`replace`, `updater`)
"""

from __future__ import annotations

from .copying import replace, updater, with_changes
from .enums import Overlap, RunStatus, RunTrigger, Status, to_status
from .limits import (
    MAX_ATTEMPTS,
    MAX_COUNT,
    MAX_ERROR,
    MAX_ID,
    MAX_INPUT,
    MAX_METADATA_KEY,
    MAX_METADATA_KEYS,
    MAX_METADATA_VALUE,
    MAX_NAME,
    MAX_SCHEDULE_ID,
    MAX_TEXT,
    MAX_TRACEBACK,
)
from .retry import PendingRetry, Retry
from .run import Activity, Run
from .schedule import Schedule, check_schedule_id, jitter_offset
from .validators import check_count

__all__ = [
    "MAX_ATTEMPTS",
    "MAX_COUNT",
    "MAX_ERROR",
    "MAX_ID",
    "MAX_INPUT",
    "MAX_METADATA_KEY",
    "MAX_METADATA_KEYS",
    "MAX_METADATA_VALUE",
    "MAX_NAME",
    "MAX_SCHEDULE_ID",
    "MAX_TEXT",
    "MAX_TRACEBACK",
    "Activity",
    "Overlap",
    "PendingRetry",
    "Retry",
    "Run",
    "RunStatus",
    "RunTrigger",
    "Schedule",
    "Status",
    "check_count",
    "check_schedule_id",
    "jitter_offset",
    "replace",
    "to_status",
    "updater",
    "with_changes",
]
