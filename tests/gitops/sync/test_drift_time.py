"""When a drifted field was changed: managedFields times parsed (RFC 3339, hostile values refused) and
the entry of the owning manager that holds the field chosen (gitops.plan.managed)."""

from __future__ import annotations

from typing import Any

import pytest

from gitops.plan import field_drift, managed
from gitops.vocabulary import ObjectRef
from renderers.k8s.fieldpath import PathElement

REF = ObjectRef("apps", "Deployment", "demo", "web", "v1")
REPLICAS = (PathElement.field("spec"), PathElement.field("replicas"))


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-01-01T00:00:00Z", 1_767_225_600.0),
    ("2026-01-01T01:00:00+01:00", 1_767_225_600.0),
    ("2026-01-01T00:00:00.5Z", 1_767_225_600.5),
    ("2026-01-01T00:00:00", 1_767_225_600.0),  # no zone: UTC
])
def test_rfc3339_times_parse(text: str, expected: float) -> None:
    assert managed.parse_time(text) == expected


@pytest.mark.parametrize("junk", [None, "", 1_767_225_600, ["2026-01-01T00:00:00Z"], {"t": 1}, "yesterday",
                                  "2026-13-01T00:00:00Z", "9" * 10_000, "2026-01-01T00:00:00Z" + " " * 100,
                                  "\x00", "99999-01-01T00:00:00Z"])
def test_unreadable_times_are_none(junk: Any) -> None:
    assert managed.parse_time(junk) is None


def entry(manager: str, time: Any, fields: Any) -> dict[str, Any]:
    return {"manager": manager, "operation": "Update", "fieldsType": "FieldsV1", "time": time,
            "fieldsV1": fields}


def test_the_entry_holding_the_field_gives_the_time() -> None:
    found = managed.entries([
        entry("kubectl", "2026-01-01T00:00:00Z", {"f:spec": {"f:replicas": {}}}),
        entry("kubectl", "2026-01-02T00:00:00Z", {"f:metadata": {"f:labels": {"f:x": {}}}}),
        entry("hpa", "2026-01-03T00:00:00Z", {"f:spec": {"f:paused": {}}}),
    ])
    assert managed.changed_at(REPLICAS, "kubectl", found) == 1_767_225_600.0
    assert managed.changed_at((PathElement.field("spec"),), "kubectl", found) == 1_767_225_600.0  # a parent
    # a manager owning nothing there: its latest entry is the best answer there is
    assert managed.changed_at(REPLICAS, "hpa", found) == 1_767_398_400.0
    assert managed.changed_at(REPLICAS, "nobody", found) is None
    assert managed.changed_at(REPLICAS, None, found) is None


def test_hostile_managed_fields_give_no_time_and_no_crash() -> None:
    for junk in (None, "text", {"manager": "x"}, 5, [None, "x", 3],
                 [entry("m", "not a time", {"f:spec": {"f:replicas": {}}})],
                 [entry("m", "2026-01-01T00:00:00Z", "not fieldsV1")]):
        found = managed.entries(junk)
        assert managed.changed_at(REPLICAS, "m", found) in (None, 1_767_225_600.0)
    [only] = managed.entries([entry("m", "2026-01-01T00:00:00Z", "not fieldsV1")])
    assert only.paths == frozenset() and only.time == 1_767_225_600.0


def test_field_drift_carries_the_owners_time() -> None:
    owners = [entry("gitops", "2026-01-01T00:00:00Z", {"f:spec": {"f:paused": {}}}),
              entry("kubectl-edit", "2026-01-01T10:30:00Z", {"f:spec": {"f:replicas": {}}})]
    live: dict[str, Any] = {"apiVersion": "apps/v1", "kind": "Deployment",
                            "metadata": {"name": "web", "namespace": "demo", "managedFields": owners},
                            "spec": {"replicas": 5, "paused": False}}
    predicted = {**live, "spec": {"replicas": 2, "paused": False}}
    [drift] = field_drift(REF, live, predicted, [])
    assert (drift.path, drift.manager) == (".spec.replicas", "kubectl-edit")
    assert drift.changed_at == 1_767_263_400.0
    assert drift.to_dict()["changed_at"] == 1_767_263_400.0
