"""OpenTelemetry export of every finished operation's trace, over OTLP/HTTP, when an endpoint is set.

An observer of the workers' runtime (:class:`workers.ports.Observer`): workers/runtime.py attaches
:func:`from_env`'s exporter when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (``gitops.env.ENV_OTEL_ENDPOINT``) is
set; off otherwise. One trace per operation: a root span ``reconcile <app>@<cluster>`` from the
operation's start to its end, with the operation's attributes (application, cluster, trigger and its
detail, revision, sync, health, phase, operation id), and one child span per stage the engine timed
(resolve, render, verify, plan, apply, health) with its real start and end and its attributes; a
failed stage or operation has the error status and message.

Key design choices: the spans are built after the fact from the recorded operation (the engine knows
nothing of OpenTelemetry; the same trace is what the dashboard shows), with the SDK's explicit
``start_time``/``end_time`` in nanoseconds; the exporter is the SDK's own OTLP/HTTP exporter behind a
``BatchSpanProcessor`` on a private ``TracerProvider`` (never the global one), so a reconcile only
queues spans: export runs in the processor's thread, a full queue drops spans, and an unreachable
collector is logged by the SDK and never fails or delays a reconcile. The SDK reads the other
``OTEL_*`` variables itself (headers, timeout, compression, ``OTEL_SERVICE_NAME``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Status, StatusCode

from gitops.env import ENV_OTEL_ENDPOINT
from gitops.state import Operation, TargetStatus
from gitops.vocabulary import OperationPhase

log = logging.getLogger(__name__)
SERVICE_NAME = "gitops-engine"
TRACES_PATH = "/v1/traces"


def _ns(seconds: float) -> int:
    return round(seconds * 1_000_000_000)


def operation_attributes(operation: Operation, status: TargetStatus) -> dict[str, str]:
    """The root span's attributes (strings only; empty values left out)."""
    values = {"gitops.application": operation.application, "gitops.cluster": operation.cluster,
              "gitops.trigger": str(operation.trigger), "gitops.trigger_detail": operation.trigger_detail,
              "gitops.revision": operation.revision, "gitops.sync": str(status.sync),
              "gitops.health": str(status.health), "gitops.phase": str(operation.phase),
              "gitops.operation": operation.id, "gitops.dry_run": str(operation.dry_run).lower(),
              "gitops.manifests_digest": operation.manifests_digest}
    return {k: v for k, v in values.items() if v}


class TraceExporter:
    """Exports each finished operation as one trace (see the module docstring)."""

    def __init__(self, exporter: SpanExporter, *, service_name: str = SERVICE_NAME,
                 schedule_delay_millis: float | None = None) -> None:
        """``schedule_delay_millis``: the batch's delay (None: ``OTEL_BSP_SCHEDULE_DELAY``, else 5 s)."""
        self.provider = TracerProvider(resource=Resource.create({"service.name": service_name}),
                                       shutdown_on_exit=True)
        processor = BatchSpanProcessor(exporter, schedule_delay_millis=schedule_delay_millis)
        self.provider.add_span_processor(processor)
        self.tracer = self.provider.get_tracer("gitops.workers")

    @staticmethod
    def to(endpoint: str, *, service_name: str = SERVICE_NAME,
           schedule_delay_millis: float | None = None) -> TraceExporter:
        """An exporter to the OTLP/HTTP collector at ``endpoint`` (its base URL: ``/v1/traces`` added)."""
        return TraceExporter(OTLPSpanExporter(endpoint=endpoint.rstrip("/") + TRACES_PATH),
                             service_name=service_name, schedule_delay_millis=schedule_delay_millis)

    def finished(self, operation: Operation, status: TargetStatus) -> None:
        """Queue the operation's trace for export (returns at once)."""
        if operation.finished is None:
            return
        root = self.tracer.start_span(f"reconcile {operation.target.key}", start_time=_ns(operation.started),
                                      attributes=operation_attributes(operation, status))
        context = trace.set_span_in_context(root)
        for stage in operation.spans:
            child = self.tracer.start_span(stage.name, context=context, start_time=_ns(stage.start),
                                           attributes=_stage_attributes(stage.attributes))
            if stage.error:
                child.set_status(Status(StatusCode.ERROR, stage.error))
            child.end(end_time=_ns(max(stage.end, stage.start)))
        if operation.phase is OperationPhase.FAILED:
            root.set_status(Status(StatusCode.ERROR, operation.error or "failed"))
        root.end(end_time=_ns(max(operation.finished, operation.started)))

    def flush(self, timeout_millis: int = 30_000) -> bool:
        """Export what is queued now (tests, shutdown); True when everything went out in time."""
        return self.provider.force_flush(timeout_millis)

    def shutdown(self) -> None:
        self.provider.shutdown()


def _stage_attributes(attributes: Mapping[str, str]) -> dict[str, str]:
    return {f"gitops.{k}": v for k, v in attributes.items()}


def from_env(environ: Mapping[str, str] | None = None) -> TraceExporter | None:
    """The exporter when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (None: tracing is off). The SDK's
    exporter resolves the endpoint itself (``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` wins when set)."""
    env = os.environ if environ is None else environ
    if not env.get(ENV_OTEL_ENDPOINT):
        return None
    try:
        return TraceExporter(OTLPSpanExporter(), service_name=env.get("OTEL_SERVICE_NAME") or SERVICE_NAME)
    except Exception as exc:  # a bad OTEL_* setting turns tracing off, never the workers
        log.warning("OpenTelemetry export disabled: %s", exc)
        return None
