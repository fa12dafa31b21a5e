"""The bounds of every record field: what every store can hold and every face accepts."""

from __future__ import annotations

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
]

MAX_NAME = 120
MAX_INPUT = 20_000
MAX_METADATA_KEYS = 16
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 512
MAX_ID = 256
MAX_TEXT = 20_000
MAX_ERROR = 1000  # what agentsched writes to `Run.error` and `last_error`: one line
MAX_TRACEBACK = 16_384
MAX_SCHEDULE_ID = 128
MAX_ATTEMPTS = 100
MAX_COUNT = 2**63 - 1
"""The largest whole number a record holds (a count, a limit, a version): what every store
keeps exactly, SQLite's and PostgreSQL's 64-bit integers being the narrowest."""
