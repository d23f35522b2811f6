"""Trace export over OTLP/HTTP to a real receiver on 127.0.0.1: one trace per operation, decoded with the
opentelemetry-proto classes; export never blocks an operation and a failing collector never fails one."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Status as ProtoStatus
from otlp_receiver import Receiver, attributes
from worker_kit import wait_for

from gitops.env import ENV_OTEL_ENDPOINT
from gitops.state import Operation, TargetStatus
from gitops.state.model import SpanRecord
from gitops.vocabulary import HealthStatus, OperationPhase, SyncStatus, Trigger
from workers import telemetry
from workers.telemetry import TraceExporter

pytestmark = pytest.mark.timeout(60)


def operation(id: str = "op-1", phase: OperationPhase = OperationPhase.SUCCEEDED) -> Operation:
    spans = (SpanRecord("resolve", 1_000.0, 0.25, None, {"revision": "a" * 40}),
             SpanRecord("render", 1_000.25, 1.5, None, {"objects": "3"}),
             SpanRecord("verify", 1_001.75, 0.0),
             SpanRecord("plan", 1_001.75, 0.5, "api down" if phase is OperationPhase.FAILED else None))
    return Operation(id, "web", "prod", Trigger.WEBHOOK, phase, revision="a" * 40, started=999.5,
                     finished=1_002.5, spans=spans, trigger_detail="github delivery 72d3162e",
                     manifests_digest="f" * 64, error="api down" if phase is OperationPhase.FAILED else None)


def target(op: Operation) -> TargetStatus:
    return TargetStatus(op.application, op.cluster, op.revision, SyncStatus.SYNCED, HealthStatus.HEALTHY)


def ns(seconds: float) -> int:
    return round(seconds * 1_000_000_000)


@pytest.fixture
def exporter(receiver: Receiver) -> Iterator[TraceExporter]:
    exporter = TraceExporter.to(receiver.url, schedule_delay_millis=60_000)  # exported when flushed
    yield exporter
    exporter.shutdown()


def test_one_trace_per_operation_with_the_stages_as_children(receiver: Receiver,
                                                             exporter: TraceExporter) -> None:
    op = operation()
    exporter.finished(op, target(op))
    assert exporter.flush()
    [(path, content_type, _)] = receiver.posts
    assert path == "/v1/traces" and content_type == "application/x-protobuf"
    spans = receiver.spans()
    assert {resource["service.name"] for _, resource in spans} == {"gitops-engine"}
    [root] = [s for s, _ in spans if not s.parent_span_id]
    assert root.name == "reconcile web@prod"
    assert (root.start_time_unix_nano, root.end_time_unix_nano) == (ns(999.5), ns(1_002.5))
    assert attributes(root.attributes) == {
        "gitops.application": "web", "gitops.cluster": "prod", "gitops.trigger": "webhook",
        "gitops.trigger_detail": "github delivery 72d3162e", "gitops.revision": "a" * 40,
        "gitops.sync": "Synced", "gitops.health": "Healthy", "gitops.phase": "Succeeded",
        "gitops.operation": "op-1", "gitops.dry_run": "false", "gitops.manifests_digest": "f" * 64}
    assert root.status.code != ProtoStatus.STATUS_CODE_ERROR
    children = sorted((s for s, _ in spans if s.parent_span_id), key=lambda s: s.start_time_unix_nano)
    assert [c.name for c in children] == ["resolve", "render", "verify", "plan"]
    assert all(c.trace_id == root.trace_id and c.parent_span_id == root.span_id for c in children)
    render = children[1]
    assert (render.start_time_unix_nano, render.end_time_unix_nano) == (ns(1_000.25), ns(1_001.75))
    assert attributes(render.attributes) == {"gitops.objects": "3"}
    assert attributes(children[0].attributes) == {"gitops.revision": "a" * 40}


def test_a_failed_stage_and_operation_carry_the_error(receiver: Receiver, exporter: TraceExporter) -> None:
    op = operation(phase=OperationPhase.FAILED)
    exporter.finished(op, target(op))
    assert exporter.flush()
    spans = {s.name: s for s, _ in receiver.spans()}
    plan = spans["plan"]
    assert plan.status.code == ProtoStatus.STATUS_CODE_ERROR and plan.status.message == "api down"
    assert spans["render"].status.code != ProtoStatus.STATUS_CODE_ERROR
    root = spans["reconcile web@prod"]
    assert root.status.code == ProtoStatus.STATUS_CODE_ERROR and root.status.message == "api down"


def test_each_operation_is_its_own_trace(receiver: Receiver, exporter: TraceExporter) -> None:
    for n in range(3):
        op = operation(f"op-{n}")
        exporter.finished(op, target(op))
    assert exporter.flush()
    roots = [s for s, _ in receiver.spans() if not s.parent_span_id]
    assert len(roots) == 3 and len({r.trace_id for r in roots}) == 3
    assert sorted(attributes(r.attributes)["gitops.operation"] for r in roots) == ["op-0", "op-1", "op-2"]


def test_exporting_never_blocks_the_operation(receiver: Receiver) -> None:
    receiver.hold = threading.Event()  # the collector takes the request and does not answer
    exporter = TraceExporter.to(receiver.url, schedule_delay_millis=1)
    try:
        first = operation("op-1")
        exporter.finished(first, target(first))
        assert receiver.arrived.wait(30)  # the export is under way, stuck in the collector...
        second = operation("op-2")
        exporter.finished(second, target(second))  # ...and the next operation is not held by it
        assert receiver.posts == []
        receiver.hold.set()
        assert exporter.flush()
        wait_for(lambda: len([s for s, _ in receiver.spans() if not s.parent_span_id]) == 2)
    finally:
        receiver.hold.set()
        exporter.shutdown()


def test_a_failing_collector_never_fails_an_operation(receiver: Receiver,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    receiver.status = 400  # refused: not retried by the SDK
    exporter = TraceExporter.to(receiver.url, schedule_delay_millis=60_000)
    try:
        op = operation()
        exporter.finished(op, target(op))
        exporter.flush()
        assert len(receiver.posts) == 1
    finally:
        exporter.shutdown()
    assert any("export" in r.getMessage().lower() for r in caplog.records)  # logged by the SDK


def test_an_unfinished_operation_is_not_exported(receiver: Receiver, exporter: TraceExporter) -> None:
    running = Operation("op-1", "web", "prod", Trigger.POLL, OperationPhase.RUNNING, started=1.0)
    exporter.finished(running, target(running))
    assert exporter.flush() and receiver.posts == []


def test_off_unless_the_endpoint_is_set(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    assert telemetry.from_env({}) is None
    assert telemetry.from_env({ENV_OTEL_ENDPOINT: ""}) is None
    monkeypatch.setenv(ENV_OTEL_ENDPOINT, receiver.url)
    exporter = telemetry.from_env()
    assert exporter is not None
    try:
        op = operation()
        exporter.finished(op, target(op))
        assert exporter.flush()
        assert [p for p, _, _ in receiver.posts] == ["/v1/traces"]  # the SDK added the signal's path
    finally:
        exporter.shutdown()
