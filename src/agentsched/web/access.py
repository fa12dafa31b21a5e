"""Who is calling, and one awaitable face over both schedulers.

`Backend` lets the routes treat `Scheduler` and `AsyncScheduler` alike: the
first's calls run in Starlette's worker threads (never on the event loop),
through `_InThreads`, which shows them as the coroutines the second has (they
leave the loop themselves). Every call is a typed method call, which mypy
checks against the scheduler's own signature.

`caller_owner` is the owner every call is scoped to: what `authenticate`
returns when the app was given one (None is a 401), else the
`X-On-Behalf-Of` header, else None (unscoped: every owner's schedules).

`cross_site_refusal` says whether a write came from another site's page.
"""

from __future__ import annotations

import builtins
import inspect
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, TypeVar
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

P = ParamSpec("P")
T = TypeVar("T")


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


def _in_threadpool(
    method: Callable[Concatenate[Scheduler, P], T],
) -> Callable[Concatenate[_InThreads, P], Coroutine[Any, Any, T]]:
    """`Scheduler.method` as a coroutine method of `_InThreads`, run in a worker thread."""

    async def call(self: _InThreads, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await run_in_threadpool(method, self.scheduler, *args, **kwargs)

    return call


class _InThreads:
    """A `Scheduler` with the coroutine methods of an `AsyncScheduler`, each running in
    Starlette's worker threads."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler

    create = _in_threadpool(Scheduler.create)
    get = _in_threadpool(Scheduler.get)
    list = _in_threadpool(Scheduler.list)
    update = _in_threadpool(Scheduler.update)
    pause = _in_threadpool(Scheduler.pause)
    resume = _in_threadpool(Scheduler.resume)
    delete = _in_threadpool(Scheduler.delete)
    upcoming = _in_threadpool(Scheduler.upcoming)
    runs = _in_threadpool(Scheduler.runs)
    trigger = _in_threadpool(Scheduler.trigger)


class Backend:
    """The scheduler calls the routes make, as coroutines, whichever scheduler it is."""

    def __init__(self, scheduler: Scheduler | AsyncScheduler) -> None:
        calls: AsyncScheduler | _InThreads
        if isinstance(scheduler, AsyncScheduler):
            calls = scheduler
        elif isinstance(scheduler, Scheduler):
            calls = _InThreads(scheduler)
        else:
            raise TypeError(
                f"create_app() needs a Scheduler or an AsyncScheduler, not {type(scheduler)!r}"
            )
        self.scheduler = scheduler
        self._calls = calls

    async def get(
        self, schedule_id: str, owner: str | None, include_deleted: bool = False
    ) -> Schedule:
        """The schedule, or `ScheduleNotFound`: an id from a URL that no schedule can
        have is simply not found, not a validation error."""
        try:
            check_schedule_id(schedule_id)
        except ValidationError:
            raise ScheduleNotFound(schedule_id) from None
        return await self._calls.get(schedule_id, owner=owner, include_deleted=include_deleted)

    async def visible(
        self, agent_id: str, schedule_id: str, owner: str | None, include_deleted: bool = False
    ) -> Schedule:
        """The schedule if this owner may see it under this agent; else `ScheduleNotFound`,
        the same for a missing id, another owner's and another agent's schedule."""
        found = await self.get(schedule_id, owner, include_deleted)
        if found.agent_id != agent_id:
            raise ScheduleNotFound(schedule_id)
        return found

    async def list(
        self,
        *,
        owner: str | None,
        limit: int,
        after: str | None,
        status: str | None,
        agent_id: str | None = None,
        include_deleted: bool = False,
    ) -> builtins.list[Schedule]:
        """A page of schedules; an `after` naming no schedule this caller can see is a
        404 naming `after`, as an unknown id in a path is."""
        try:
            return await self._calls.list(
                agent_id,
                status=status,
                owner=owner,
                limit=limit,
                after=after,
                include_deleted=include_deleted,
            )
        except ValidationError as exc:
            if exc.field != "after":
                raise
            message = f"'after' names no schedule you can see (got {shorten(after)})"
            raise ApiError(404, "not_found", message, "after") from None

    async def create(
        self, agent_id: str, owner: str | None, arguments: Mapping[str, Any]
    ) -> Schedule:
        """A new schedule of `agent_id` and `owner`, from a body's arguments."""
        return await self._calls.create(agent_id=agent_id, owner=owner, **arguments)

    async def update(
        self, schedule_id: str, owner: str | None, changes: Mapping[str, Any]
    ) -> Schedule:
        return await self._calls.update(schedule_id, owner=owner, **changes)

    async def pause(self, schedule_id: str, owner: str | None) -> Schedule:
        return await self._calls.pause(schedule_id, owner=owner)

    async def resume(self, schedule_id: str, owner: str | None) -> Schedule:
        return await self._calls.resume(schedule_id, owner=owner)

    async def delete(self, schedule_id: str, owner: str | None) -> Schedule:
        return await self._calls.delete(schedule_id, owner=owner)

    async def trigger(self, schedule_id: str, owner: str | None) -> Run:
        return await self._calls.trigger(schedule_id, owner=owner)

    async def runs(self, schedule_id: str, owner: str | None, limit: int) -> builtins.list[Run]:
        return await self._calls.runs(schedule_id, limit=limit, owner=owner)

    async def upcoming(self, schedule_id: str, owner: str | None, n: int) -> Sequence[datetime]:
        """The next `n` fires; none for a schedule deleted meanwhile."""
        try:
            return await self._calls.upcoming(schedule_id, n=n, owner=owner)
        except ScheduleNotFound:
            return []
