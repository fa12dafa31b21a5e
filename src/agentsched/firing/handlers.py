"""What a handler receives (`RunContext`) and may return (`RunResult`).

A handler is `handler(ctx: RunContext)`, sync or `async def`. It may return a
`RunResult`, a `str` (stored as the run's `output`) or None. Anything else,
or an exception, fails the run; it never stops the scheduler.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import re
import threading
import traceback
from collections.abc import Callable, Coroutine
from concurrent.futures import Executor
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import attrs

from .._checks import clean_text, text_problem
from ..errors import shorten
from ..model import MAX_ERROR, MAX_ID, MAX_TEXT, MAX_TRACEBACK, Schedule
from ..rules.outcomes import Outcome
from .executors.inline import InlineExecutor

__all__ = [
    "CancelSignal",
    "Handler",
    "RunContext",
    "RunResult",
    "RunWrapper",
    "describe_error",
    "error_line",
    "failure_of",
    "format_traceback",
    "is_async",
    "no_handler",
    "not_started",
    "outcome_of",
    "run_handler",
    "run_handler_async",
    "wrap_handler",
]

_TRUNCATED = "... [truncated]"
_MORE = " …"
_LINE_BREAK = re.compile("[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")  # str.splitlines' breaks
_CUT = "[... earlier lines cut]\n"


@attrs.frozen
class RunResult:
    """What a handler may return: the agent's response id and output text."""

    response_id: str | None = None
    output: str | None = None


class CancelSignal:
    """A cancel flag whose `threading.Event` is only built if someone asks for it.

    Most handlers never look at `ctx.cancel`; not building an Event (a lock,
    a condition and a queue) for each of their runs keeps the firing path lean.
    """

    __slots__ = ("_event", "_set")
    _lock = threading.Lock()

    def __init__(self) -> None:
        self._event: threading.Event | None = None
        self._set = False

    def set(self) -> None:
        # No lock: `event()` reads `_set` after publishing its Event, so whichever
        # of the two runs second sets that Event.
        self._set = True
        event = self._event
        if event is not None:
            event.set()

    def is_set(self) -> bool:
        return self._set

    def event(self) -> threading.Event:
        with self._lock:
            if self._event is None:
                self._event = threading.Event()
                if self._set:
                    self._event.set()
            return self._event


class RunContext:
    """Everything a handler needs about the run it is doing.

    `cancel` is a `threading.Event` set when the run times out or the
    scheduler stops; a long-running handler should check `cancel.is_set()`
    (or `ctx.cancelled`) and return early.
    """

    __slots__ = ("attempt", "run_id", "schedule", "scheduled_for", "signal")

    def __init__(
        self,
        schedule: Schedule,
        run_id: str,
        scheduled_for: datetime | None,
        attempt: int,
        signal: CancelSignal,
    ) -> None:
        self.schedule = schedule
        self.run_id = run_id
        self.scheduled_for = scheduled_for
        self.attempt = attempt
        self.signal = signal

    def __repr__(self) -> str:
        return (
            f"RunContext(schedule_id={self.schedule.id!r}, run_id={self.run_id!r}, "
            f"scheduled_for={self.scheduled_for!r}, attempt={self.attempt})"
        )

    @property
    def cancel(self) -> threading.Event:
        return self.signal.event()

    @property
    def input(self) -> str:
        return self.schedule.input

    @property
    def conversation(self) -> str | None:
        return self.schedule.conversation

    @property
    def previous_response_id(self) -> str | None:
        return self.schedule.previous_response_id

    @property
    def metadata(self) -> dict[str, str]:
        return dict(self.schedule.metadata)

    @property
    def cancelled(self) -> bool:
        return self.signal.is_set()


def _clip(text: str) -> str:
    """Text a handler produced, made storable: at most `MAX_TEXT` characters, with NUL
    and lone surrogates replaced (the run is kept rather than lost over a character)."""
    text = clean_text(text)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - len(_TRUNCATED)] + _TRUNCATED


def _first_line(text: str) -> tuple[str, bool]:
    """The first non-blank line of `text`, made storable, and whether more follows."""
    text = clean_text(text).strip()
    found = _LINE_BREAK.search(text)
    return (text, False) if found is None else (text[: found.start()].rstrip(), True)


def _one_line(line: str, more: bool) -> str:
    """`line` cut to `MAX_ERROR` characters, marked " …" when anything was left out."""
    if not more and len(line) <= MAX_ERROR:
        return line
    return line[: MAX_ERROR - len(_MORE)] + _MORE


def error_line(text: str) -> str:
    """`text` as `Run.error` and `last_error` hold it: one line (its first non-blank
    one) of at most `MAX_ERROR` characters, ending " …" when anything was left out."""
    return _one_line(*_first_line(text))


def describe_error(exc: BaseException) -> str:
    """The exception as one line for `Run.error` (its traceback keeps the rest): the
    type as a traceback names it and the message's first line, `KeyError: 'missing'`."""
    kind = type(exc)
    name = kind.__qualname__
    if kind.__module__ not in ("builtins", "__main__"):
        name = f"{kind.__module__}.{name}"
    try:
        message = str(exc)
    except Exception:  # as `traceback` says of an exception that cannot be shown
        message = "<exception str() failed>"
    line, more = _first_line(message)
    return _one_line(f"{name}: {line}" if line else name, more)


def format_traceback(exc: BaseException) -> str:
    """The formatted traceback of `exc`, its last `MAX_TRACEBACK` characters (the frames
    nearest the error matter most), made storable."""
    text = clean_text("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    if len(text) <= MAX_TRACEBACK:
        return text
    return _CUT + text[len(text) - MAX_TRACEBACK + len(_CUT) :]


def failure_of(exc: BaseException, finished_at: datetime) -> Outcome:
    """The outcome of a handler that raised: a one-line error and the traceback."""
    return Outcome(False, finished_at, error=describe_error(exc), traceback=format_traceback(exc))


def outcome_of(returned: object, finished_at: datetime) -> Outcome:
    """Turn a handler's return value into an `Outcome` (garbage fails the run)."""
    if returned is None:
        return Outcome(True, finished_at)
    if isinstance(returned, str):
        return Outcome(True, finished_at, output=_clip(returned))
    if isinstance(returned, RunResult):
        response_id, output = returned.response_id, returned.output
        if response_id is not None and (
            not isinstance(response_id, str)
            or not 1 <= len(response_id) <= MAX_ID
            or text_problem(response_id) is not None
        ):
            return Outcome(
                False,
                finished_at,
                error=f"handler returned a response_id that is not a 1-{MAX_ID} character "
                f"string of valid text (got {shorten(response_id)})",
            )
        if output is not None and not isinstance(output, str):
            return Outcome(False, finished_at, error="handler returned a non-string output")
        return Outcome(
            True,
            finished_at,
            response_id=response_id,
            output=None if output is None else _clip(output),
        )
    return Outcome(
        False,
        finished_at,
        error=f"handler returned {type(returned).__name__}; expected RunResult, str or None",
    )


Handler = Callable[[RunContext], Any]
"""`handler(ctx)`, a plain function or an `async def` one."""


@functools.lru_cache(maxsize=256)
def is_async(handler: Handler) -> bool:
    """Whether calling `handler` gives a coroutine to await."""
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        getattr(handler, "__call__", None)  # noqa: B004 - an object with `async def __call__`
    )


def no_handler(agent_id: str, at: datetime) -> Outcome:
    """A fire whose agent has no handler: a failed run saying so (it counts: the schedule
    cannot work until a handler is added)."""
    return Outcome(False, at, error=f"no handler for agent {agent_id!r}")


def not_started(error: str, at: datetime) -> Outcome:
    """A run whose handler never started (no handler, executor shut down): recorded
    failed, but not counted against the agent's `failure_count`."""
    return Outcome(False, at, error=error_line(error), counts=False)


def _escaped(exc: BaseException, at: datetime) -> Outcome:
    """SystemExit, KeyboardInterrupt, CancelledError raised *by a handler*."""
    return Outcome(
        False,
        at,
        error=error_line(f"handler raised {describe_error(exc)}"),
        traceback=format_traceback(exc),
    )


def run_handler(
    handler: Handler,
    context: RunContext,
    now: Callable[[], datetime],
    coroutines: Callable[[Coroutine[Any, Any, Any]], Any],
) -> tuple[Outcome, BaseException | None]:
    """Call `handler` from synchronous code and say how it went; never raises.

    `coroutines` runs an `async def` handler's coroutine to completion. Returns
    the outcome and, if the handler raised a `BaseException` that is not an
    `Exception` (SystemExit, KeyboardInterrupt), that exception: the caller
    records the run first, then decides whether to re-raise it.
    """
    try:
        returned = handler(context)
        if returned is not None and inspect.iscoroutine(returned):
            returned = coroutines(returned)
    except Exception as exc:
        return failure_of(exc, now()), None
    except BaseException as exc:
        return _escaped(exc, now()), exc
    return outcome_of(returned, now()), None


async def run_handler_async(
    handler: Handler,
    context: RunContext,
    now: Callable[[], datetime],
    executor: Executor | None,
) -> Outcome:
    """Await `handler` on the running loop (a plain function runs on `executor`, or in
    the loop's default executor); never raises but when the task itself is cancelled
    from outside, which the caller handles."""
    try:
        if is_async(handler):
            returned = await handler(context)
        elif isinstance(executor, InlineExecutor):
            returned = handler(context)
        else:
            try:
                started = asyncio.get_running_loop().run_in_executor(executor, handler, context)
            except RuntimeError as exc:  # the executor is shut down
                return not_started(f"not started: the executor refused it ({exc})", now())
            returned = await started
            if inspect.iscoroutine(returned):
                returned = await returned
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        return failure_of(exc, now())
    except BaseException as exc:  # SystemExit, KeyboardInterrupt raised by the handler
        return _escaped(exc, now())
    return outcome_of(returned, now())


RunWrapper = Callable[[RunContext], AbstractContextManager[Any]]
"""A context manager factory entered around each handler call (see `around_runs`)."""


def wrap_handler(handler: Handler, wrappers: tuple[RunWrapper, ...]) -> Handler:
    """`handler` with `wrappers` entered around each call, in the thread or task the
    handler runs in (so that context variables they set are seen by the handler)."""
    if is_async(handler):

        async def call_async(context: RunContext) -> Any:
            with contextlib.ExitStack() as stack:
                for wrapper in wrappers:
                    stack.enter_context(wrapper(context))
                return await handler(context)

        return call_async

    def call(context: RunContext) -> Any:
        with contextlib.ExitStack() as stack:
            for wrapper in wrappers:
                stack.enter_context(wrapper(context))
            return handler(context)

    return call
