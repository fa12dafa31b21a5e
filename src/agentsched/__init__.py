"""agentsched: an embeddable, DST-correct scheduler for AI-agent runs."""

from .errors import (
    AgentschedError,
    ConflictError,
    InvalidCronExpression,
    InvalidTransition,
    ScheduleNotFound,
    StoreError,
    UnknownTimezone,
    ValidationError,
)
from .firing.events import Event
from .firing.executors import InlineExecutor
from .firing.handlers import RunContext, RunResult
from .model import Overlap, Retry, Run, RunStatus, Schedule, Status
from .model.specs import Cron, Interval, Once, RRule, next_fire, spec_from_dict
from .schedulers.async_scheduler import AsyncScheduler
from .schedulers.scheduler import Scheduler
from .stores import MemoryStore, SQLiteStore

__version__ = "0.1.0.dev0"

__all__ = [
    "AgentschedError",
    "AsyncScheduler",
    "ConflictError",
    "Cron",
    "Event",
    "InlineExecutor",
    "Interval",
    "InvalidCronExpression",
    "InvalidTransition",
    "MemoryStore",
    "Once",
    "Overlap",
    "RRule",
    "Retry",
    "Run",
    "RunContext",
    "RunResult",
    "RunStatus",
    "SQLiteStore",
    "Schedule",
    "ScheduleNotFound",
    "Scheduler",
    "Status",
    "StoreError",
    "UnknownTimezone",
    "ValidationError",
    "next_fire",
    "spec_from_dict",
]
