"""`SQLiteStore`: one file with WAL, the embedded default, safe for several processes."""

from .store import SQLiteStore

__all__ = ["SQLiteStore"]
