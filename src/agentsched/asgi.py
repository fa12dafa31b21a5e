"""`create_app(scheduler)`: the hosted scheduled-agent API and a dashboard, as ASGI.

Mount it into the app you already run (FastAPI, Starlette, any ASGI server)
or let `agentsched serve` run it. Needs the `web` extra (Starlette); the rest
of agentsched never imports it. Routes, bodies and errors: docs/web.md.
"""

from __future__ import annotations

try:
    import starlette  # noqa: F401  (only to fail early, with the fix in the message)
except ImportError as exc:  # pragma: no cover - exercised by a test with starlette hidden
    raise ImportError(
        "agentsched.asgi needs Starlette: install the web extra, pip install 'agentsched[web]'"
    ) from exc

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from . import __version__
from .schedulers.async_scheduler import AsyncScheduler
from .schedulers.scheduler import Scheduler
from .web.access import Authenticate, Backend, caller_owner, cross_site_refusal
from .web.api import api_routes
from .web.dashboard import FORMS, base_path, dashboard_routes, refusal_page, route_path
from .web.errors import EXCEPTION_HANDLERS, error_response
from .web.openapi import openapi_document

__all__ = ["Authenticate", "create_app"]


class _NoCrossSiteWrites:
    """Refuse a write another site's page started (a form posting here with this
    site's cookies), before any route runs: 403, as a page for the dashboard's
    forms and as JSON for the rest. `cross_site_refusal` says which writes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = cross_site_refusal(scope["method"], Headers(scope=scope))
            if refusal is not None:
                if route_path(scope).startswith(FORMS):
                    response = refusal_page(scope, refusal)
                else:
                    response = error_response(403, "forbidden", refusal)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(
    scheduler: Scheduler | AsyncScheduler, authenticate: Authenticate | None = None
) -> Starlette:
    """An ASGI app serving `scheduler`: the JSON API under `/api/v1/agents/...`, the
    dashboard at `/` and the OpenAPI description at `/openapi.json`.

    `authenticate(request)` (a function or a coroutine function) returns the
    caller's owner, or None for a 401; given, it guards every route and its
    owner scopes every call. Without it the `X-On-Behalf-Of` header sets the
    owner, and a request without one sees every owner's schedules.

    The app does not start the scheduler: `start()` it (or run `agentsched
    serve`) for schedules to fire.
    """
    backend = Backend(scheduler)

    async def openapi(request: Request) -> JSONResponse:
        await caller_owner(request, authenticate)
        server = base_path(request).rstrip("/") or "/"
        return JSONResponse(openapi_document(server, __version__))

    return Starlette(
        routes=[
            *api_routes(backend, authenticate),
            Route("/openapi.json", openapi, methods=["GET"], name="openapi"),
            *dashboard_routes(backend, authenticate),
        ],
        middleware=[Middleware(_NoCrossSiteWrites)],
        exception_handlers=EXCEPTION_HANDLERS,
    )
