"""Pick a store from a URL: `sqlite:///path.db`, `memory://`, `postgresql://...`."""

from __future__ import annotations

from urllib.parse import unquote

from ..errors import StoreError, ValidationError, shorten
from .base import Store
from .memory import MemoryStore
from .sqlite import SQLiteStore

__all__ = ["store_from_url"]


def store_from_url(url: str, create: bool = True) -> Store:
    """The store a URL names; `ValidationError` (field `url`) for anything else.

    `postgresql://` (or `postgres://`) URLs go to libpq as they are, except
    for one parameter of ours: `?schema=NAME` picks the schema (default
    `agentsched`). With `create=False` a SQLite file, or a PostgreSQL
    schema, that does not exist is a `StoreError` rather than a new, empty
    store (for commands that only read).
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
        return _postgres(url, create)
    raise ValidationError(
        "url", f"'url' must start with sqlite:///, memory:// or postgresql:// (got {shorten(url)})"
    )


def _postgres(url: str, create: bool) -> Store:
    try:
        from .postgres import PostgresStore
    except ImportError as exc:  # psycopg, psycopg-pool or libpq missing
        raise StoreError(
            f"PostgreSQL URLs need the postgres extra: pip install 'agentsched[postgres]' ({exc})"
        ) from None
    dsn, schema = _take_schema(url)
    return PostgresStore(dsn, schema=schema, create=create)


def _take_schema(url: str) -> tuple[str, str]:
    """The URL without our `schema` parameter (the rest is kept verbatim), and the schema."""
    base, _, query = url.partition("?")
    schema = "agentsched"
    kept = []
    for item in query.split("&") if query else []:
        key, _, value = item.partition("=")
        if key == "schema":
            schema = unquote(value)
        else:
            kept.append(item)
    return (f"{base}?{'&'.join(kept)}" if kept else base), schema
