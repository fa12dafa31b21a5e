"""OpenTelemetry for agentsched (extra `agentsched[otel]`): a span per run, and metrics.

    from agentsched.otel import instrument
    uninstrument = instrument(sched)          # the global tracer and meter providers

Each run that starts gets a span named `agentsched.run <agent_id>`, current
inside the handler (the agent's own spans become its children), from its
start to its outcome, with `faas.trigger="timer"`, `faas.cron` where the spec
is a cron, `faas.invocation_id`, `agentsched.schedule_id`, `agentsched.run_id`,
`agentsched.agent_id`, `agentsched.attempt`, `agentsched.scheduled_for` and
`agentsched.status`; a failed run's span has status ERROR with the error.

Metrics, each with an `agentsched.agent_id` attribute: counters
`agentsched.fires` (runs started), `agentsched.skipped`, `agentsched.missed`,
`agentsched.failures`; histograms `agentsched.lag` (seconds from
`scheduled_for` to start) and `agentsched.duration` (seconds a run took).

Nothing here is imported by agentsched itself: without opentelemetry-api
installed, only calling `instrument` fails, saying what to install.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from ._instants import format_instant
from .errors import AgentschedError
from .firing.events import Event
from .firing.handlers import RunContext
from .model.specs import Cron
from .schedulers.async_scheduler import AsyncScheduler
from .schedulers.scheduler import Scheduler

__all__ = ["instrument"]

try:
    from opentelemetry import metrics, trace
except ImportError:  # pragma: no cover - exercised by the clear error below
    metrics = trace = None  # type: ignore[assignment]


def _nanos(value: datetime) -> int:
    return int(value.timestamp() * 1e9)


def instrument(
    scheduler: Scheduler | AsyncScheduler,
    tracer_provider: Any = None,
    meter_provider: Any = None,
) -> Callable[[], None]:
    """Trace every run of `scheduler` (a `Scheduler` or `AsyncScheduler`) and record its
    metrics; returns a function that stops both."""
    if trace is None or metrics is None:
        raise AgentschedError("agentsched.otel needs OpenTelemetry: pip install 'agentsched[otel]'")
    from . import __version__

    tracer = trace.get_tracer("agentsched", __version__, tracer_provider=tracer_provider)
    meter = metrics.get_meter("agentsched", __version__, meter_provider=meter_provider)
    fires = meter.create_counter("agentsched.fires", unit="{run}", description="runs started")
    skipped = meter.create_counter("agentsched.skipped", unit="{run}", description="fires skipped")
    missed = meter.create_counter(
        "agentsched.missed", unit="{fire}", description="fires missed (downtime)"
    )
    failures = meter.create_counter("agentsched.failures", unit="{run}", description="runs failed")
    lag = meter.create_histogram(
        "agentsched.lag", unit="s", description="from scheduled_for to the run's start"
    )
    duration = meter.create_histogram("agentsched.duration", unit="s", description="run duration")
    spans: dict[str, Any] = {}
    lock = threading.Lock()

    def span_of(context: RunContext) -> Any:
        with lock:
            return spans.get(context.run_id)

    @contextmanager
    def current_span(context: RunContext) -> Iterator[None]:
        span = span_of(context)
        if span is None:
            yield
            return
        with trace.use_span(span, end_on_exit=False):
            yield

    def on_event(event: Event) -> None:
        run = event.run
        if run is None:
            return
        agent = {"agentsched.agent_id": run.agent_id}
        if event.kind == "run.started":
            fires.add(1, agent)
            if run.started_at is not None and run.scheduled_for is not None:
                lag.record((run.started_at - run.scheduled_for).total_seconds(), agent)
            span = tracer.start_span(
                f"agentsched.run {run.agent_id}",
                kind=trace.SpanKind.INTERNAL,
                start_time=_nanos(run.started_at or event.at),
                attributes=_attributes(event),
            )
            with lock:
                spans[run.id] = span
        elif event.kind == "run.skipped":
            skipped.add(1, agent)
        elif event.kind == "run.missed":
            missed.add(run.coalesced, agent)
        elif event.kind in ("run.succeeded", "run.failed"):
            if event.kind == "run.failed":
                failures.add(1, agent)
            if run.started_at is not None and run.finished_at is not None:
                duration.record((run.finished_at - run.started_at).total_seconds(), agent)
            with lock:
                span = spans.pop(run.id, None)
            if span is not None:
                span.set_attribute("agentsched.status", str(run.status))
                if run.status == "failed":
                    span.set_status(trace.Status(trace.StatusCode.ERROR, run.error or "failed"))
                span.end(end_time=_nanos(run.finished_at or event.at))

    # at once, in the writing thread: a run's span must exist before its handler starts
    unsubscribe = scheduler.subscribe(on_event, immediate=True)
    unwrap = scheduler.around_runs(current_span)

    def uninstrument() -> None:
        unsubscribe()
        unwrap()

    return uninstrument


def _attributes(event: Event) -> dict[str, Any]:
    run = event.run
    assert run is not None
    attributes: dict[str, Any] = {
        "faas.trigger": "timer",
        "faas.invocation_id": run.id,
        "agentsched.schedule_id": run.schedule_id,
        "agentsched.run_id": run.id,
        "agentsched.agent_id": run.agent_id,
        "agentsched.attempt": run.attempt,
        "agentsched.trigger": str(run.trigger),
    }
    if run.scheduled_for is not None:
        attributes["agentsched.scheduled_for"] = format_instant(run.scheduled_for)
    if event.schedule is not None and isinstance(event.schedule.schedule, Cron):
        attributes["faas.cron"] = event.schedule.schedule.expression
    return attributes
