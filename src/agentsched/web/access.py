"""Who is calling, and one awaitable face over both schedulers.

`Backend` lets the routes treat `Scheduler` and `AsyncScheduler` alike: the
first's store calls run in Starlette's worker threads (never on the event
loop), the second's coroutines are awaited (they leave the loop themselves).

`caller_owner` is the owner every call is scoped to: what `authenticate`
returns when the app was given one (None is a 401), else the
`X-On-Behalf-Of` header, else None (unscoped: every owner's schedules).

`cross_site_refusal` says whether a write came from another site's page.
"""

from __future__ import annotations

import builtins
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from .._checks import text_problem
from ..errors import ScheduleNotFound, ValidationError, shorten
from ..model import MAX_ID, Run, Schedule, check_schedule_id
from ..schedulers.async_scheduler import AsyncScheduler
from ..schedulers.scheduler import Scheduler

__all__ = [
    "ApiError",
    "Authenticate",
    "Backend",
    "caller_owner",
    "cross_site_refusal",
]

Authenticate = Callable[[Request], str | Awaitable[str | None] | None]
OWNER_HEADER = "X-On-Behalf-Of"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFAULT_PORTS = {"http": "80", "https": "443"}


class ApiError(Exception):
    """An error response decided by the web layer itself (400, 401, 403, 413)."""

    def __init__(self, status: int, kind: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.field = field


async def caller_owner(request: Request, authenticate: Authenticate | None) -> str | None:
    """The owner this request acts as (see the module docstring)."""
    if authenticate is None:
        header = request.headers.get(OWNER_HEADER)
        if header is not None and not 1 <= len(header) <= MAX_ID:
            raise ApiError(
                400,
                "invalid_request",
                f"{OWNER_HEADER} must be 1-{MAX_ID} characters",
                OWNER_HEADER,
            )
        problem = None if header is None else text_problem(header)
        if problem is not None:
            raise ApiError(400, "invalid_request", f"{OWNER_HEADER} {problem}", OWNER_HEADER)
        return header
    if inspect.iscoroutinefunction(authenticate):
        owner = await authenticate(request)
    else:  # it may well do I/O (a session or key lookup): keep it off the loop
        owner = await run_in_threadpool(authenticate, request)
        if inspect.isawaitable(owner):
            owner = await owner
    if owner is None:
        raise ApiError(401, "unauthorized", "authentication required")
    if not isinstance(owner, str) or not 1 <= len(owner) <= MAX_ID:
        raise TypeError(f"authenticate() must return an owner string or None, not {owner!r}")
    return owner


def _authority(scheme: str, netloc: str) -> str:
    """`host[:port]` as compared: no user info, lower case, no default port of `scheme`."""
    authority = netloc.rpartition("@")[2].lower()
    default = _DEFAULT_PORTS.get(scheme)
    if default is not None:
        authority = authority.removesuffix(f":{default}")
    return authority


def _same_host(url: str, host: str | None) -> bool:
    """Whether `url` (an Origin or a Referer) is on `host`, the request's Host header."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return False
    if host is None or parts.scheme not in _DEFAULT_PORTS or not parts.netloc:
        return False  # "null" (an opaque origin) included
    return _authority(parts.scheme, parts.netloc) == _authority(parts.scheme, host)


def cross_site_refusal(method: str, headers: Mapping[str, str]) -> str | None:
    """Why a write must be refused as started by another site's page, or None.

    Browsers say where a request comes from; other clients (a server calling the
    API) say nothing, and pass. A write is refused when `Sec-Fetch-Site` is
    `cross-site` or `same-site` (a sibling sub-domain is another origin), or when
    its `Origin`, or its `Referer` if it has no `Origin`, is not on the request's
    own `Host`. Reads (GET, HEAD, OPTIONS) are never refused.
    """
    if method in _SAFE_METHODS:
        return None
    site = headers.get("sec-fetch-site", "").lower()
    if site in ("cross-site", "same-site"):
        return f"a page of another site may not change schedules here (Sec-Fetch-Site: {site})"
    for name in ("origin", "referer"):
        source = headers.get(name)
        if source is None:
            continue
        if _same_host(source, headers.get("host")):
            return None
        return (
            f"a page of another site may not change schedules here "
            f"({name.capitalize()}: {shorten(source)})"
        )
    return None


class Backend:
    """The scheduler calls the routes make, as coroutines, whichever scheduler it is."""

    def __init__(self, scheduler: Scheduler | AsyncScheduler) -> None:
        if not isinstance(scheduler, (Scheduler, AsyncScheduler)):
            raise TypeError(
                f"create_app() needs a Scheduler or an AsyncScheduler, not {type(scheduler)!r}"
            )
        self.scheduler = scheduler

    async def _call(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        method = getattr(self.scheduler, name)
        if isinstance(self.scheduler, AsyncScheduler):
            return await method(*args, **kwargs)
        return await run_in_threadpool(method, *args, **kwargs)

    async def get(
        self, schedule_id: str, owner: str | None, include_deleted: bool = False
    ) -> Schedule:
        """The schedule, or `ScheduleNotFound`: an id from a URL that no schedule can
        have is simply not found, not a validation error."""
        try:
            check_schedule_id(schedule_id)
        except ValidationError:
            raise ScheduleNotFound(schedule_id) from None
        found: Schedule = await self._call(
            "get", schedule_id, owner=owner, include_deleted=include_deleted
        )
        return found

    async def visible(
        self, agent_id: str, schedule_id: str, owner: str | None, include_deleted: bool = False
    ) -> Schedule:
        """The schedule if this owner may see it under this agent; else `ScheduleNotFound`,
        the same for a missing id, another owner's and another agent's schedule."""
        found = await self.get(schedule_id, owner, include_deleted)
        if found.agent_id != agent_id:
            raise ScheduleNotFound(schedule_id)
        return found

    async def list(self, **query: Any) -> builtins.list[Schedule]:
        """A page of schedules; an `after` naming no schedule this caller can see is a
        404 naming `after`, as an unknown id in a path is."""
        try:
            found: builtins.list[Schedule] = await self._call("list", **query)
        except ValidationError as exc:
            if exc.field != "after":
                raise
            message = f"'after' names no schedule you can see (got {shorten(query['after'])})"
            raise ApiError(404, "not_found", message, "after") from None
        return found

    async def create(self, **arguments: Any) -> Schedule:
        made: Schedule = await self._call("create", **arguments)
        return made

    async def change(self, action: str, schedule_id: str, owner: str | None, **kw: Any) -> Schedule:
        """`update`, `pause`, `resume` or `delete`."""
        changed: Schedule = await self._call(action, schedule_id, owner=owner, **kw)
        return changed

    async def trigger(self, schedule_id: str, owner: str | None) -> Run:
        run: Run = await self._call("trigger", schedule_id, owner=owner)
        return run

    async def runs(self, schedule_id: str, owner: str | None, limit: int) -> builtins.list[Run]:
        found: builtins.list[Run] = await self._call("runs", schedule_id, limit=limit, owner=owner)
        return found

    async def upcoming(self, schedule_id: str, owner: str | None, n: int) -> Sequence[datetime]:
        """The next `n` fires; none for a schedule deleted meanwhile."""
        try:
            found: Sequence[datetime] = await self._call("upcoming", schedule_id, n=n, owner=owner)
        except ScheduleNotFound:
            return []
        return found
