"""Every failure as a JSON error: `{"error": {"type", "message", "field"}}`.

Library errors map to status codes once, here, so no route can forget one:
bad input 422 (naming the field), unknown or invisible ids 404, stale writes
and impossible transitions 409, a failing store 503. Anything else is a bug:
logged with its traceback, answered with a plain 500 that shows none.

A message or field may echo what the caller sent (an unknown key, say), so
both are made safe here, once: lone surrogates and NUL replaced, length
bounded. A key like `"\ud800"` cannot make the answer unencodable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .._checks import clean_text
from .._log import log
from ..errors import (
    AgentschedError,
    ConflictError,
    InvalidTransition,
    ScheduleNotFound,
    StoreError,
    ValidationError,
)
from .access import ApiError
from .bodies import BadRequest

__all__ = ["EXCEPTION_HANDLERS", "MAX_ECHO", "echo", "error_response", "status_of"]

_HTTP_KINDS = {404: "not_found", 405: "method_not_allowed"}
MAX_ECHO = 1000  # characters of a message or field; far above any the library writes


def echo(text: str) -> str:
    """`text` safe to send back: valid Unicode without NUL, at most `MAX_ECHO` characters."""
    text = clean_text(text)
    return text if len(text) <= MAX_ECHO else text[: MAX_ECHO - 1] + "…"


def error_response(
    status: int, kind: str, message: str, field: str | None = None, **headers: str
) -> JSONResponse:
    safe_field = None if field is None else echo(field)
    return JSONResponse(
        {"error": {"type": kind, "message": echo(message), "field": safe_field}},
        status_code=status,
        headers=headers or None,
    )


def status_of(exc: Exception) -> tuple[int, str, str, str | None]:
    """(status, type, message, field) of an exception a route raised."""
    if isinstance(exc, ApiError):
        return exc.status, exc.kind, str(exc), exc.field
    if isinstance(exc, BadRequest):
        return 400, "invalid_request", str(exc), None
    if isinstance(exc, ValidationError):
        return 422, "validation_error", str(exc), exc.field
    if isinstance(exc, ScheduleNotFound):
        return 404, "not_found", str(exc), None
    if isinstance(exc, InvalidTransition):
        return 409, "invalid_transition", str(exc), None
    if isinstance(exc, ConflictError):
        return 409, "conflict", str(exc), None
    if isinstance(exc, StoreError):
        # Its message may name files or hosts; the log has it, the client gets the gist.
        log.error("store error while serving a request: %s", exc)
        return 503, "store_unavailable", "the schedule store is unavailable; try again", None
    if isinstance(exc, AgentschedError):  # e.g. a scheduler with no handler to trigger
        return 503, "unavailable", str(exc), None
    log.error("unexpected error while serving a request", exc_info=exc)
    return 500, "internal_error", "internal error", None


async def _library_error(request: Request, exc: Exception) -> Response:
    return error_response(*status_of(exc))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    kind = _HTTP_KINDS.get(exc.status_code, "invalid_request")
    return error_response(exc.status_code, kind, str(exc.detail), None, **(exc.headers or {}))


EXCEPTION_HANDLERS: Mapping[Any, Callable[[Request, Exception], Any]] = {
    HTTPException: _http_error,
    ApiError: _library_error,
    BadRequest: _library_error,
    AgentschedError: _library_error,
    Exception: _library_error,
}
