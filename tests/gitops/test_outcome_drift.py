"""outcome.split_drift: what a write corrected and what remains (pure)."""

from __future__ import annotations

from gitops.outcome import split_drift
from gitops.results import FieldDrift, ObjectResult
from gitops.vocabulary import Action, ObjectRef

WEB = ObjectRef("apps", "Deployment", "demo", "web", "v1")
API = ObjectRef("apps", "Deployment", "demo", "api", "v1")
CFG = ObjectRef("", "ConfigMap", "demo", "cfg", "v1")
DRIFT = [FieldDrift(WEB, ".spec.replicas", 5, 1, "kubectl-edit"),
         FieldDrift(API, ".spec.replicas", 3, 1, "hpa"),
         FieldDrift(CFG, ".data.a", "x", "y", "kubectl-edit")]


def test_without_a_write_everything_remains() -> None:
    results = [ObjectResult(WEB, Action.CONFIGURED), ObjectResult(API, Action.CONFIGURED)]
    assert split_drift(DRIFT, results, wrote=False) == (DRIFT, [])


def test_a_write_corrects_only_objects_applied_without_error() -> None:
    results = [ObjectResult(WEB, Action.CONFIGURED),
               ObjectResult(API, Action.FAILED, error="conflict with hpa"),
               ObjectResult(CFG, Action.SKIPPED, "not applied: the inventory could not be written first")]
    remaining, corrected = split_drift(DRIFT, results, wrote=True)
    assert corrected == DRIFT[:1] and remaining == DRIFT[1:]


def test_created_and_recreated_objects_hold_gits_values() -> None:
    results = [ObjectResult(WEB, Action.RECREATED), ObjectResult(API, Action.CREATED),
               ObjectResult(CFG, Action.UNCHANGED)]
    remaining, corrected = split_drift(DRIFT, results, wrote=True)
    assert corrected == DRIFT[:2] and remaining == DRIFT[2:]
