"""The JSON API: the hosted scheduled-agent routes over a scheduler.

Every route is scoped by the path's agent and the caller's owner: a schedule
of another agent or owner is a 404 with the same body as an id that never
existed. Library errors become JSON error responses in `errors.py`.

Each path is one route serving all its methods, so that a method it does not
serve is a 405 whose `Allow` names every one it does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..model import Run, Schedule, Status
from .access import ApiError, Authenticate, Backend, caller_owner
from .bodies import BadRequest, create_arguments, page_limit, parse_json, update_changes

__all__ = ["MAX_BODY", "api_routes", "page"]

PREFIX = "/api/v1/agents/{agent_id}/schedules"
MAX_BODY = 1 << 20  # far above the largest valid body (input is at most 20,000 characters)

Transition = Callable[[str, "str | None"], Awaitable[Schedule]]
"""`Backend.pause`, `resume` or `delete`: (schedule id, owner) to the schedule changed."""


def page(records: Sequence[Schedule | Run], limit: int) -> dict[str, Any]:
    """The list envelope: `{"object": "list", "data", "first_id", "last_id", "has_more"}`.
    `records` holds up to `limit + 1` items; the extra one only says there is more."""
    data = [r.to_dict() for r in records[:limit]]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": len(records) > limit,
    }


async def read_json(request: Request) -> Mapping[str, Any]:
    """The request's JSON object body, at most `MAX_BODY` bytes."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    json_like = media.startswith("application/") and media.endswith("+json")
    if media != "application/json" and not json_like:
        raise BadRequest(
            f"send the body as JSON with Content-Type: application/json (got {media or 'none'})"
        )
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_BODY:
            raise ApiError(413, "payload_too_large", f"the body is over {MAX_BODY} bytes")
    return parse_json(bytes(data))


class _Api:
    def __init__(self, backend: Backend, authenticate: Authenticate | None) -> None:
        self.backend = backend
        self.authenticate = authenticate

    async def _scope(self, request: Request) -> tuple[str, str | None]:
        owner = await caller_owner(request, self.authenticate)
        return request.path_params["agent_id"], owner

    async def create(self, request: Request) -> JSONResponse:
        agent_id, owner = await self._scope(request)
        arguments = create_arguments(await read_json(request))
        made = await self.backend.create(agent_id, owner, arguments)
        return JSONResponse(made.to_dict(), status_code=201)

    async def list(self, request: Request) -> JSONResponse:
        agent_id, owner = await self._scope(request)
        query = request.query_params
        limit = page_limit(query.get("limit"))
        status = query.get("status")
        found = await self.backend.list(
            agent_id=agent_id,
            status=status,
            owner=owner,
            limit=limit + 1,
            after=query.get("after"),
            include_deleted=status == Status.DELETED,
        )
        return JSONResponse(page(found, limit))

    async def get(self, request: Request) -> JSONResponse:
        agent_id, owner = await self._scope(request)
        found = await self.backend.visible(agent_id, request.path_params["schedule_id"], owner)
        return JSONResponse(found.to_dict())

    async def update(self, request: Request) -> JSONResponse:
        agent_id, owner = await self._scope(request)
        schedule_id = request.path_params["schedule_id"]
        await self.backend.visible(agent_id, schedule_id, owner)
        changes = update_changes(await read_json(request))
        updated = await self.backend.update(schedule_id, owner, changes)
        return JSONResponse(updated.to_dict())

    async def _transition(self, request: Request, action: Transition) -> JSONResponse:
        agent_id, owner = await self._scope(request)
        schedule_id = request.path_params["schedule_id"]
        await self.backend.visible(agent_id, schedule_id, owner)
        changed = await action(schedule_id, owner)
        return JSONResponse(changed.to_dict())

    async def delete(self, request: Request) -> JSONResponse:
        return await self._transition(request, self.backend.delete)

    async def pause(self, request: Request) -> JSONResponse:
        return await self._transition(request, self.backend.pause)

    async def resume(self, request: Request) -> JSONResponse:
        return await self._transition(request, self.backend.resume)

    async def trigger(self, request: Request) -> JSONResponse:
        agent_id, owner = await self._scope(request)
        schedule_id = request.path_params["schedule_id"]
        await self.backend.visible(agent_id, schedule_id, owner)
        run = await self.backend.trigger(schedule_id, owner)
        return JSONResponse(run.to_dict(), status_code=201)

    async def runs(self, request: Request) -> JSONResponse:
        agent_id, owner = await self._scope(request)
        schedule_id = request.path_params["schedule_id"]
        limit = page_limit(request.query_params.get("limit"))
        await self.backend.visible(agent_id, schedule_id, owner)
        found = await self.backend.runs(schedule_id, owner, limit + 1)
        return JSONResponse(page(found, limit))


Endpoint = Callable[[Request], Awaitable[Response]]


def _route(path: str, name: str, **by_method: Endpoint) -> Route:
    """One route for `path`, calling the endpoint of the request's method (HEAD is GET's)."""

    async def endpoint(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await by_method[method](request)

    return Route(path, endpoint, methods=list(by_method), name=name)


def api_routes(backend: Backend, authenticate: Authenticate | None) -> list[Route]:
    api = _Api(backend, authenticate)
    one = PREFIX + "/{schedule_id}"
    return [
        _route(PREFIX, "schedules", POST=api.create, GET=api.list),
        _route(one, "schedule", GET=api.get, POST=api.update, DELETE=api.delete),
        _route(one + "/pause", "pause_schedule", POST=api.pause),
        _route(one + "/resume", "resume_schedule", POST=api.resume),
        _route(one + "/trigger", "trigger_schedule", POST=api.trigger),
        _route(one + "/runs", "list_runs", GET=api.runs),
    ]
