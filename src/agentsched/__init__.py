"""agentsched: an embeddable, DST-correct scheduler for AI-agent runs."""

from .aio import AsyncScheduler
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
from .events import Event
from .executors import InlineExecutor
from .handlers import RunContext, RunResult
from .model import Overlap, Retry, Run, RunStatus, Schedule, Status
from .scheduler import Scheduler
from .specs import Cron, Interval, Once, RRule, next_fire, spec_from_dict
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
