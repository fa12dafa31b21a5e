"""Pick a store from a URL: `sqlite:///path.db`, `memory://`, `postgresql://...`."""

from __future__ import annotations

from ..errors import ValidationError, shorten
from .base import Store
from .memory import MemoryStore
from .sqlite import SQLiteStore

__all__ = ["store_from_url"]


def store_from_url(url: str, create: bool = True) -> Store:
    """The store a URL names; `ValidationError` (field `url`) for anything else.

    With `create=False` a SQLite file that does not exist is a `StoreError`
    rather than a new, empty database (for commands that only read).
    """
    if not isinstance(url, str):
        raise ValidationError("url", f"'url' must be a string (got {shorten(url)})")
    if url in ("memory://", "memory:"):
        return MemoryStore()
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if not path:
            raise ValidationError("url", f"'url' names no file (got {shorten(url)})")
        return SQLiteStore(path, create=create)
    if url.startswith(("postgresql://", "postgres://")):
        raise ValidationError(
            "url", "PostgreSQL is not available in this version of agentsched (use sqlite:///)"
        )
    raise ValidationError(
        "url", f"'url' must start with sqlite:///, memory:// or postgresql:// (got {shorten(url)})"
    )
