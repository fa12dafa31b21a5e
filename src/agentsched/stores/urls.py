"""Pick a store from a URL: `sqlite:///path.db`, `memory://`, `postgresql://...`.

The query string (after `?`) holds options, read for every scheme and never
part of a file name. `sqlite:///` takes `mode`: `rwc` (the default: read and
write, creating the file if it is missing), `rw` (the file must exist) or
`ro` (read only: never created, never written). `memory://` takes none.
`postgresql://` takes `schema` (ours) and hands every other parameter to
libpq as it is. Any other option is a `ValidationError` naming it.
"""

from __future__ import annotations

from urllib.parse import unquote

from .._checks import text_problem
from ..errors import StoreError, ValidationError, shorten
from .base import Store
from .memory import MemoryStore
from .sqlite import SQLiteStore

__all__ = ["store_from_url"]

_SQLITE = "sqlite:///"
_MEMORY = ("memory://", "memory:")
_POSTGRES = ("postgresql://", "postgres://")
_SQLITE_MODES = ("rwc", "rw", "ro")


def store_from_url(url: str, create: bool = True) -> Store:
    """The store a URL names, with the options of its query string (see the module
    docstring); `ValidationError` (field `url`) for anything else.

    With `create=False` a SQLite file, or a PostgreSQL schema, that does not
    exist is a `StoreError` rather than a new, empty store (for commands that
    only read), whatever the URL's `mode`.
    """
    if not isinstance(url, str):
        raise ValidationError("url", f"'url' must be a string (got {shorten(url)})")
    if "\x00" in url:
        raise ValidationError("url", f"'url' contains a NUL character (got {shorten(url)})")
    base, _, query = url.partition("?")
    if base.startswith(_SQLITE):
        return _sqlite(url, base[len(_SQLITE) :], query, create)
    if base in _MEMORY:
        if query:
            raise ValidationError("url", f"'url' memory:// takes no options (got {shorten(url)})")
        return MemoryStore()
    if base.startswith(_POSTGRES):
        return _postgres(url, create)
    raise ValidationError(
        "url", f"'url' must start with sqlite:///, memory:// or postgresql:// (got {shorten(url)})"
    )


def _options(url: str, query: str) -> dict[str, str]:
    """`key=value&...` as a dict (percent-decoded); a key given twice is refused."""
    options: dict[str, str] = {}
    for item in query.split("&"):
        if not item:
            continue
        key, _, value = (unquote(part) for part in item.partition("="))
        if key in options:
            raise ValidationError(
                "url", f"'url' gives option {shorten(key)} twice (got {shorten(url)})"
            )
        options[key] = value
    return options


def _sqlite(url: str, path: str, query: str, create: bool) -> Store:
    if not path:
        raise ValidationError("url", f"'url' names no file (got {shorten(url)})")
    options = _options(url, query)
    mode = options.pop("mode", "rwc")
    if options:
        raise ValidationError(
            "url",
            f"'url' has an unknown option {shorten(next(iter(options)))} (sqlite:/// takes "
            f"mode=ro, rw or rwc; got {shorten(url)})",
        )
    if mode not in _SQLITE_MODES:
        raise ValidationError(
            "url", f"'url' option mode must be ro, rw or rwc (got {shorten(mode)})"
        )
    return SQLiteStore(path, create=create and mode == "rwc", read_only=mode == "ro")


def _postgres(url: str, create: bool) -> Store:
    problem = text_problem(url)  # libpq reads UTF-8 text
    if problem is not None:
        raise ValidationError("url", f"'url' {problem}")
    try:
        from .postgres import PostgresStore
    except ImportError as exc:  # psycopg, psycopg-pool or libpq missing
        raise StoreError(
            f"PostgreSQL URLs need the postgres extra: pip install 'agentsched[postgres]' ({exc})"
        ) from None
    dsn, schema = _take_schema(url)
    try:
        return PostgresStore(dsn, schema=schema, create=create)
    except ValidationError as exc:  # named for the URL it came from
        if exc.field == "schema":
            raise ValidationError("url", f"'url' option {exc}") from None
        if exc.field == "dsn_or_pool":
            raise ValidationError("url", f"'url' is {exc}") from None
        raise


def _take_schema(url: str) -> tuple[str, str]:
    """The URL without our `schema` parameter (libpq's are kept verbatim), and the schema."""
    base, _, query = url.partition("?")
    items = [item for item in query.split("&") if item]
    ours = [item for item in items if item.partition("=")[0] == "schema"]
    if len(ours) > 1:
        raise ValidationError("url", f"'url' gives option 'schema' twice (got {shorten(url)})")
    kept = [item for item in items if item not in ours]
    schema = unquote(ours[0].partition("=")[2]) if ours else "agentsched"
    return (f"{base}?{'&'.join(kept)}" if kept else base), schema
