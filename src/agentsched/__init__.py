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
from .specs import Cron, Interval, Once, RRule, next_fire

__version__ = "0.1.0.dev0"

__all__ = [
    "AgentschedError",
    "ConflictError",
    "Cron",
    "Interval",
    "InvalidCronExpression",
    "InvalidTransition",
    "Once",
    "RRule",
    "ScheduleNotFound",
    "StoreError",
    "UnknownTimezone",
    "ValidationError",
    "next_fire",
]
