"""The dashboard's routes: server-rendered pages and their pause/resume/trigger forms.

The buttons are plain HTML forms posting to routes here, which answer with a
redirect back to the page (303), so the dashboard needs no JavaScript. The
caller's owner scopes every page exactly as it scopes the API.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from functools import wraps

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import Scope

from ..errors import AgentschedError
from ..model import Schedule, Status
from .access import ApiError, Authenticate, Backend, caller_owner
from .errors import echo, status_of
from .pages import Links, Row, error_page, list_page, schedule_page

__all__ = ["FORMS", "base_path", "dashboard_routes", "refusal_page", "route_path"]

FORMS = "/schedules/"  # where the dashboard's pages and forms live, under the mount path

_PAGE = 50
_NEXT_FIRES = 3
_RECENT_RUNS = 50
_ACTIONS = ("pause", "resume", "trigger")
# What the browser may do with a page: show it, post its own forms. No scripts at all.
_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
_HEADERS = {"Content-Security-Policy": _CSP, "X-Content-Type-Options": "nosniff"}

Endpoint = Callable[[Request], Awaitable[Response]]


def _links(request: Request) -> Links:
    """Links under the path the app is mounted at (the ASGI root_path)."""
    return Links(base_path(request))


def base_path(request: Request) -> str:
    """Where this app is mounted, ending with "/": "/" alone at the root."""
    return _base(request.scope)


def _base(scope: Scope) -> str:
    root: str = scope.get("root_path", "")
    return root.rstrip("/") + "/"


def route_path(scope: Scope) -> str:
    """The request's path within this app: without the mount path, whether the server
    left it in `path` (Starlette's Mount does) or took it out."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root + "/"):
        return path[len(root) :]
    return path


def _html(text: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(text, status_code=status, headers=_HEADERS)


def refusal_page(scope: Scope, message: str) -> Response:
    """The 403 page of a dashboard form another site posted."""
    return _html(error_page(403, message, Links(_base(scope))), 403)


def _pages_errors(endpoint: Endpoint) -> Endpoint:
    """Errors as an HTML page with the API's status code, not as JSON."""

    @wraps(endpoint)
    async def page(request: Request) -> Response:
        try:
            return await endpoint(request)
        except (AgentschedError, ApiError) as exc:
            status, _, message, _ = status_of(exc)
            return _html(error_page(status, echo(message), _links(request)), status)

    return page


class _Dashboard:
    def __init__(self, backend: Backend, authenticate: Authenticate | None) -> None:
        self.backend = backend
        self.authenticate = authenticate

    async def _upcoming(self, schedule: Schedule, owner: str | None, n: int) -> Sequence[datetime]:
        """The next fires to show: none for a paused schedule, which has none until
        resumed (`upcoming` would say what it would do if resumed now)."""
        if schedule.status is Status.PAUSED:
            return []
        return await self.backend.upcoming(schedule.id, owner, n)

    async def home(self, request: Request) -> Response:
        owner = await caller_owner(request, self.authenticate)
        status = request.query_params.get("status") or None
        found = await self.backend.list(
            status=status,
            owner=owner,
            limit=_PAGE + 1,
            after=request.query_params.get("after") or None,
        )
        rows = []
        for schedule in found[:_PAGE]:
            upcoming = await self._upcoming(schedule, owner, _NEXT_FIRES)
            last = await self.backend.runs(schedule.id, owner, 1)
            rows.append(Row(schedule, upcoming, last[0] if last else None))
        more = found[_PAGE - 1].id if len(found) > _PAGE else None
        now = self.backend.scheduler.clock.now()
        text = list_page(
            rows, _links(request), owner=owner, status=status, next_after=more, now=now
        )
        return _html(text)

    async def schedule(self, request: Request) -> Response:
        owner = await caller_owner(request, self.authenticate)
        schedule = await self.backend.get(request.path_params["schedule_id"], owner)
        upcoming = await self._upcoming(schedule, owner, 5)
        runs = await self.backend.runs(schedule.id, owner, _RECENT_RUNS)
        now = self.backend.scheduler.clock.now()
        page = schedule_page(schedule, upcoming, runs, _links(request), owner=owner, now=now)
        return _html(page)

    async def act(self, request: Request) -> Response:
        owner = await caller_owner(request, self.authenticate)
        schedule_id, verb = request.path_params["schedule_id"], request.path_params["verb"]
        if verb not in _ACTIONS:
            raise ApiError(404, "not_found", f"no such action {verb!r}")
        schedule = await self.backend.get(schedule_id, owner)
        if verb == "pause":
            await self.backend.pause(schedule.id, owner)
        elif verb == "resume":
            await self.backend.resume(schedule.id, owner)
        else:
            await self.backend.trigger(schedule.id, owner)
        links = _links(request)
        to_list = request.query_params.get("back") == "list"
        back = links.home() if to_list else links.schedule(schedule.id)
        return RedirectResponse(back, status_code=303)


def dashboard_routes(backend: Backend, authenticate: Authenticate | None) -> list[Route]:
    dashboard = _Dashboard(backend, authenticate)
    return [
        Route("/", _pages_errors(dashboard.home), methods=["GET"], name="dashboard"),
        Route(
            "/schedules/{schedule_id}",
            _pages_errors(dashboard.schedule),
            methods=["GET"],
            name="dashboard_schedule",
        ),
        Route(
            "/schedules/{schedule_id}/{verb}",
            _pages_errors(dashboard.act),
            methods=["POST"],
            name="dashboard_action",
        ),
    ]
