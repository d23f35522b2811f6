"""The state model's trace fields: spans, trigger detail, manifests digest, commit time, drift time.

Bounded when built from a result (hostile sizes and control characters), round-tripped through
``to_dict``/``from_dict`` and JSON, and records written before the fields existed still read back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from gitops.errors import Failure
from gitops.results import FieldDrift, ImageCheck, ObjectResult, Span
from gitops.state.model import (
    MAX_DETAIL,
    MAX_SPAN_ATTRIBUTES,
    MAX_SPANS,
    Operation,
    SpanRecord,
    TargetStatus,
    clip_detail,
    records_from_result,
)
from gitops.vocabulary import HealthStatus, ObjectRef, SyncStatus, Target, Trigger

T = Target("web", "prod")
REF = ObjectRef("apps", "Deployment", "default", "web", "v1")


@dataclass(frozen=True)
class Result:
    target: Target = T
    revision: str | None = "a" * 40
    sync: SyncStatus = SyncStatus.SYNCED
    health: HealthStatus = HealthStatus.HEALTHY
    objects: tuple[ObjectResult, ...] = ()
    drift: tuple[FieldDrift, ...] = ()
    failure: Failure | None = None
    started: float = 100.0
    finished: float = 102.0
    spans: tuple[Span, ...] = ()
    commit_time: float | None = 50.0
    manifests_digest: str | None = "f" * 64
    corrected: tuple[FieldDrift, ...] = ()
    verification: tuple[ImageCheck, ...] | None = None
    applied: bool = False


def _roundtrip(operation: Operation) -> Operation:
    return Operation.from_dict(json.loads(json.dumps(operation.to_dict())))


def test_trace_fields_are_recorded_and_read_back() -> None:
    spans = (Span("resolve", 100.0, 0.25, attributes={"revision": "a" * 40}),
             Span("render", 100.25, 1.0, error="render failed: boom"))
    drift = (FieldDrift(REF, ".spec.replicas", 3, 2, "kubectl-edit", changed_at=90.5),)
    status, operation = records_from_result(Result(spans=spans, drift=drift), operation_id="o1",
                                            trigger=Trigger.WEBHOOK,
                                            trigger_detail="github delivery 72d3162e")
    assert operation.spans == (SpanRecord("resolve", 100.0, 0.25, None, {"revision": "a" * 40}),
                               SpanRecord("render", 100.25, 1.0, "render failed: boom", {}))
    assert operation.trigger_detail == "github delivery 72d3162e"
    assert operation.manifests_digest == "f" * 64
    assert operation.commit_time == 50.0
    assert status.drift[0].changed_at == 90.5 and status.drift[0].manager == "kubectl-edit"
    assert _roundtrip(operation) == operation
    assert TargetStatus.from_dict(json.loads(json.dumps(status.to_dict()))) == status
    assert operation.spans[1].end == 101.25


def test_records_written_before_the_fields_read_back_with_defaults() -> None:
    old = {"id": "o1", "application": "web", "cluster": "prod", "trigger": "poll", "phase": "Succeeded",
           "revision": "a" * 40, "started": 1.0, "finished": 2.0, "objects": [], "error": None}
    operation = Operation.from_dict(old)
    assert (operation.spans, operation.trigger_detail, operation.manifests_digest,
            operation.commit_time) == ((), None, None, None)
    status = TargetStatus.from_dict({"application": "web", "cluster": "prod", "drift": [
        {"object": "x", "path": ".a", "live": "1", "predicted": "2", "manager": "m"}]})
    assert status.drift[0].changed_at is None


def test_a_failed_reconcile_without_a_trace_records_none() -> None:
    _, operation = records_from_result(Result(failure=Failure("SourceUnavailable", "down", True),
                                              commit_time=None, manifests_digest=None),
                                       operation_id="o1", trigger=Trigger.POLL)
    assert (operation.spans, operation.manifests_digest, operation.commit_time,
            operation.trigger_detail) == ((), None, None, None)


def test_hostile_trace_values_are_bounded() -> None:
    many = tuple(Span(f"s{i}" * 100, float(i), 1.0, error="e" * 100_000,
                      attributes={f"k{j}" * 50: "v" * 10_000 for j in range(100)}) for i in range(200))
    detail = "evil\x1b[31m\r\nInjected: yes\x00" + "x" * 100_000
    _, operation = records_from_result(Result(spans=many, manifests_digest="d" * 10_000,
                                              commit_time=float("nan")),
                                       operation_id="o1", trigger=Trigger.WEBHOOK, trigger_detail=detail)
    assert len(operation.spans) == MAX_SPANS
    for span in operation.spans:
        assert len(span.name) <= 64 and span.error is not None and len(span.error) <= 1024
        assert len(span.attributes) == MAX_SPAN_ATTRIBUTES
        assert all(len(k) <= 64 and len(v) <= 256 for k, v in span.attributes.items())
    assert operation.trigger_detail is not None and len(operation.trigger_detail) <= MAX_DETAIL
    assert operation.trigger_detail.startswith("evil [31m Injected: yes x")
    assert all(c.isprintable() for c in operation.trigger_detail)
    assert operation.manifests_digest is not None and len(operation.manifests_digest) <= 128
    assert operation.commit_time is None  # NaN is no time
    assert len(json.dumps(operation.to_dict())) < 300_000


def test_clip_detail_of_blank_or_odd_values() -> None:
    assert clip_detail(None) is None
    assert clip_detail(" \t\n ") is None
    assert clip_detail(42) == "42"
    assert clip_detail("alice via dashboard") == "alice via dashboard"


def test_stored_spans_with_junk_read_back_safely() -> None:
    junk = {"id": "o1", "application": "web", "cluster": "prod", "phase": "Succeeded",
            "spans": [{"name": "x", "start": "nope", "duration": None, "attributes": ["not", "a", "map"]},
                      "not a span", {"name": 5, "start": 1, "duration": 2, "error": 3,
                                     "attributes": {"a": 1}}],
            "commit_time": "soon", "trigger_detail": 7}
    operation = Operation.from_dict(junk)
    assert operation.spans == (SpanRecord("x", 0.0, 0.0, None, {}),
                               SpanRecord("5", 1.0, 2.0, "3", {"a": "1"}))
    assert operation.commit_time is None and operation.trigger_detail == "7"


def test_corrected_drift_is_kept_on_the_operation_not_the_status() -> None:
    fixed = FieldDrift(ObjectRef("apps", "Deployment", "demo", "web", "v1"), ".spec.replicas", 5, 1,
                       "kubectl-edit", 1_700_000_000.0)
    status, operation = records_from_result(Result(corrected=(fixed,) * 150), operation_id="op-1",
                                            trigger=Trigger.SELF_HEAL)
    assert status.drift_count == 0 and status.drift == ()
    assert len(operation.corrected) == 100 and operation.corrected_dropped == 50
    assert (operation.corrected[0].manager, operation.corrected[0].changed_at) == ("kubectl-edit", 1.7e9)
    again = Operation.from_dict(json.loads(json.dumps(operation.to_dict())))
    assert again == operation
    old = operation.to_dict()
    del old["corrected"], old["corrected_dropped"]
    assert Operation.from_dict(old).corrected == ()  # records written before it read back


def test_an_operation_says_whether_it_wrote() -> None:
    _, compared = records_from_result(Result(), operation_id="op-1", trigger=Trigger.POLL)
    _, wrote = records_from_result(Result(applied=True), operation_id="op-2", trigger=Trigger.MANUAL)
    assert (compared.applied, wrote.applied) == (False, True)
    assert _roundtrip(compared).applied is False and _roundtrip(wrote).applied is True
    old = wrote.to_dict()
    del old["applied"]
    assert Operation.from_dict(old).applied is None  # written before it was kept: not known


def test_image_verdicts_are_kept_on_the_status_bounded_and_read_back() -> None:
    good = ImageCheck("reg.example/web:1", "sha256:" + "a" * 64, "verified", ("key SHA256:abc",), (), 99.0)
    hostile = ImageCheck("reg.example/x:" + "y" * 5000, None, "refused", ("s",) * 50, ("r" * 9000,) * 50, 1.0)
    status, _ = records_from_result(Result(verification=(good, hostile) + (good,) * 200), operation_id="o",
                                    trigger=Trigger.POLL)
    assert status.verification is not None and len(status.verification) == 100
    assert status.verification[0] == good
    stored = status.verification[1]
    assert len(stored.image) <= 512 and len(stored.signers) == 8 and len(stored.reasons) == 8
    assert all(len(r) <= 1024 for r in stored.reasons)
    again = TargetStatus.from_dict(json.loads(json.dumps(status.to_dict())))
    assert again == status
    unverified, _ = records_from_result(Result(), operation_id="o", trigger=Trigger.POLL)
    assert unverified.verification is None
    old = status.to_dict()
    del old["verification"]
    assert TargetStatus.from_dict(old).verification is None  # written before it was kept
    junk = {**status.to_dict(), "verification": [{"image": 5, "signers": [1], "verified_at": "x"}, "no"]}
    assert TargetStatus.from_dict(junk).verification == (ImageCheck("5", None, "", ("1",), (), 0.0),)
