"""agentsched.otel: a span per run (current inside the handler) and run metrics, read
back through OpenTelemetry's in-memory exporters, on both schedulers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from support.matrix import Factory, shell_of

from agentsched import Cron, Interval, Overlap, RunContext, RunStatus
from agentsched.otel import instrument
from agentsched.testing import FakeClock

otel_sdk = pytest.importorskip("opentelemetry.sdk", reason="needs opentelemetry-sdk (test extra)")

from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

UTC = timezone.utc
T0 = datetime(2026, 1, 5, 8, 59, tzinfo=UTC)
NINE = datetime(2026, 1, 5, 9, tzinfo=UTC)


@pytest.fixture
def providers() -> tuple[TracerProvider, InMemorySpanExporter, MeterProvider, InMemoryMetricReader]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    return tracer_provider, exporter, MeterProvider(metric_readers=[reader]), reader


def _metrics(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    found: dict[str, list[Any]] = {}
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                found[metric.name] = list(metric.data.data_points)
    return found


def test_a_span_per_run_with_the_handlers_spans_as_children(make: Factory, providers: Any) -> None:
    tracer_provider, exporter, meter_provider, reader = providers
    inner = tracer_provider.get_tracer("the agent")

    def handler(ctx: RunContext) -> str:
        with inner.start_as_current_span("llm call"):
            pass
        if ctx.input == "fail":
            raise RuntimeError("model overloaded")
        return "ok"

    sched = make(handler, clock=FakeClock(T0))
    uninstrument = instrument(shell_of(sched), tracer_provider, meter_provider)
    good = sched.create(agent_id="writer", schedule=Cron("0 9 * * *"), input="go")
    bad = sched.create(
        agent_id="critic",
        schedule=Interval(timedelta(hours=1), NINE - timedelta(hours=1)),
        input="fail",
    )
    sched.tick(now=NINE)
    runs = {r.schedule_id: r for r in sched.runs(good.id) + sched.runs(bad.id)}
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {"agentsched.run writer", "agentsched.run critic", "llm call"}
    ok_span, failed_span = spans["agentsched.run writer"], spans["agentsched.run critic"]
    assert ok_span.attributes is not None and failed_span.attributes is not None
    assert ok_span.attributes["faas.trigger"] == "timer"
    assert ok_span.attributes["faas.cron"] == "0 9 * * *"
    assert "faas.cron" not in failed_span.attributes
    assert ok_span.attributes["agentsched.run_id"] == runs[good.id].id
    assert ok_span.attributes["agentsched.schedule_id"] == good.id
    assert ok_span.attributes["agentsched.agent_id"] == "writer"
    assert ok_span.attributes["agentsched.status"] == "succeeded"
    assert ok_span.status.status_code is trace.StatusCode.UNSET
    assert failed_span.status.status_code is trace.StatusCode.ERROR
    assert "model overloaded" in (failed_span.status.description or "")
    children = [s for s in exporter.get_finished_spans() if s.name == "llm call"]
    assert len(children) == 2
    parents = {c.parent.span_id for c in children if c.parent is not None}
    run_spans = {ok_span.context.span_id, failed_span.context.span_id}
    assert parents == run_spans  # each agent call is a child of its own run's span
    metrics = _metrics(reader)
    assert sum(p.value for p in metrics["agentsched.fires"]) == 2
    assert sum(p.value for p in metrics["agentsched.failures"]) == 1
    assert sum(p.count for p in metrics["agentsched.duration"]) == 2
    assert sum(p.count for p in metrics["agentsched.lag"]) == 2
    uninstrument()
    sched.tick(now=NINE + timedelta(days=1))
    names = [s.name for s in exporter.get_finished_spans()]
    assert sum(n.startswith("agentsched.run") for n in names) == 2  # none after uninstrument
    assert names.count("llm call") == 4  # the agents' own spans go on, parentless


def test_skipped_and_missed_fires_are_counted(make: Factory, providers: Any) -> None:
    tracer_provider, _, meter_provider, reader = providers
    sched = make(lambda ctx: None, clock=FakeClock(T0))
    instrument(shell_of(sched), tracer_provider, meter_provider)
    s = sched.create(
        agent_id="bot",
        schedule=Cron("*/10 * * * *"),
        input="go",
        overlap=Overlap.SKIP,
        catchup_window=timedelta(minutes=30),
    )
    missed, ran = sched.tick(now=NINE + timedelta(hours=2))  # 13 fires: 9 missed, 4 run as 1
    assert (missed.status, missed.coalesced) == (RunStatus.MISSED, 9)
    assert (ran.status, ran.coalesced) == (RunStatus.SUCCEEDED, 4)
    metrics = _metrics(reader)
    assert sum(p.value for p in metrics["agentsched.missed"]) == 9
    assert sum(p.value for p in metrics["agentsched.fires"]) == 1
    assert s.id
