"""Stores: where schedules and runs live. The scheduler knows only `Store`."""

from .base import Claim, ClaimPlan, Store
from .memory import MemoryStore
from .sqlite import SQLiteStore

__all__ = ["Claim", "ClaimPlan", "MemoryStore", "SQLiteStore", "Store"]
