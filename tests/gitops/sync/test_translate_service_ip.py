"""A Service's clusterIP is immutable in kube-apiserver's own words ("may not change once set", not
"field is immutable"): the translation must say ImmutableField, so allowRecreate can recreate it.

The body is what kube-apiserver v1.36.3 answered (tests/realcluster/test_apply.py finds it again on the
real server)."""

from __future__ import annotations

import json

from gitops.cluster.translate import translate
from gitops.errors import ImmutableField, Invalid

CLUSTER_IP_CHANGED = {
    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
    "message": 'Service "web" is invalid: spec.clusterIPs[0]: Invalid value: ["10.0.0.10"]: may not change '
               "once set",
    "reason": "Invalid",
    "details": {"name": "web", "kind": "Service", "causes": [{
        "reason": "FieldValueInvalid", "message": 'Invalid value: ["10.0.0.10"]: may not change once set',
        "field": "spec.clusterIPs[0]"}]},
    "code": 422,
}


def test_a_services_cluster_ip_change_is_an_immutable_field() -> None:
    err = translate(422, json.dumps(CLUSTER_IP_CHANGED))
    assert isinstance(err, ImmutableField) and err.fields == ["spec.clusterIPs[0]"]


def test_the_words_count_only_in_a_structured_invalid_cause() -> None:
    loose = {**CLUSTER_IP_CHANGED, "details": {"causes": [
        {"reason": "FieldValueRequired", "message": "may not change once set", "field": "spec.clusterIP"}]}}
    assert type(translate(422, json.dumps(loose))) is Invalid
