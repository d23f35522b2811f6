"""Error translation, rate limit, retries, REST paths and manifest validation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gitops import keys
from gitops.cluster import ResourceInfo, collection_path, object_path
from gitops.cluster.throttle import RetryPolicy, TokenBucket, retry
from gitops.cluster.translate import translate
from gitops.errors import (
    ClusterError,
    ClusterUnavailable,
    Conflict,
    Forbidden,
    ImmutableField,
    InputError,
    Invalid,
    NotFound,
)
from gitops.render.manifests import prepare, validate
from gitops.testing import FakeCluster
from gitops.vocabulary import Target


def status(code: int, reason: str, message: str, causes: list[dict[str, str]] | None = None) -> str:
    return json.dumps(
        {
            "kind": "Status",
            "code": code,
            "reason": reason,
            "message": message,
            "details": {"causes": causes or []},
        }
    )


def test_immutable_recognised_only_from_structured_causes() -> None:
    body = status(
        422,
        "Invalid",
        'Deployment.apps "web" is invalid: spec.selector: Invalid value',
        [
            {
                "reason": "FieldValueInvalid",
                "message": "Invalid value: ...: field is immutable",
                "field": "spec.selector",
            }
        ],
    )
    err = translate(422, body)
    assert isinstance(err, ImmutableField) and err.fields == ["spec.selector"]
    # "field is immutable" in the message only, without a matching cause, is plain Invalid
    loose = status(
        422,
        "Invalid",
        "field is immutable",
        [{"reason": "FieldValueRequired", "message": "field is immutable", "field": "x"}],
    )
    assert type(translate(422, loose)) is Invalid


def test_conflict_causes_and_temporary_errors() -> None:
    body = status(
        409,
        "Conflict",
        "Apply failed with 1 conflict",
        [
            {
                "reason": "FieldManagerConflict",
                "message": 'conflict with "kubectl-edit" using apps/v1',
                "field": ".spec.replicas",
            }
        ],
    )
    err = translate(409, body)
    assert isinstance(err, Conflict) and err.causes == [("kubectl-edit", ".spec.replicas")]
    assert not err.temporary
    busy = translate(429, status(429, "TooManyRequests", "slow down"), {"Retry-After": "3"})
    assert isinstance(busy, ClusterUnavailable) and busy.temporary and busy.retry_after == 3.0
    assert isinstance(translate(503, b"<html>oops</html>"), ClusterUnavailable)
    assert isinstance(translate(404, status(404, "NotFound", "nope")), NotFound)
    assert isinstance(translate(403, None), Forbidden)
    assert type(translate(418, "teapot")) is ClusterError
    assert len(str(translate(400, "x" * 100_000))) < 3000


def test_token_bucket_limits_rate() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    bucket = TokenBucket(10, burst=2, clock=lambda: now[0], sleep=sleep)
    for _ in range(12):
        bucket.acquire()
    assert now[0] == pytest.approx(1.0, abs=0.01)  # 2 free, then 10 at 10 qps


def test_retry_is_bounded_and_only_for_temporary_errors() -> None:
    calls: list[int] = []
    waits: list[float] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ClusterUnavailable("busy", retry_after=0.5 if len(calls) == 1 else None)
        return "ok"

    assert retry(flaky, RetryPolicy(attempts=4, base_delay=0.1), sleep=waits.append, rand=lambda: 0.5) == "ok"
    assert waits == [0.5, 0.2]
    with pytest.raises(ClusterUnavailable):
        retry(
            lambda: (_ for _ in ()).throw(ClusterUnavailable("down")),
            RetryPolicy(attempts=2),
            sleep=waits.append,
        )
    calls.clear()

    def bad() -> None:
        calls.append(1)
        raise Invalid("no")

    with pytest.raises(Invalid):
        retry(bad, RetryPolicy(attempts=5), sleep=waits.append)
    assert len(calls) == 1


def test_paths_reject_traversal() -> None:
    info = ResourceInfo("apps", "v1", "Deployment", "deployments", True)
    assert object_path(info, "ns", "web") == "/apis/apps/v1/namespaces/ns/deployments/web"
    assert (
        collection_path(ResourceInfo("", "v1", "Namespace", "namespaces", False), None)
        == "/api/v1/namespaces"
    )
    for bad in ("../secrets", "a/b", "..", "", "x" * 300, "a%2fb", "a\nb"):
        with pytest.raises(InputError):
            object_path(info, "ns", bad)
    with pytest.raises(InputError):
        object_path(info, "../kube-system", "web")
    with pytest.raises(InputError):
        object_path(info, None, "web")


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"kind": "ConfigMap", "metadata": {"name": "x"}}, "apiVersion"),
        ({"apiVersion": "v1", "metadata": {"name": "x"}}, "kind"),
        ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}, "metadata.name"),
        ({"apiVersion": "v1", "kind": "ConfigMap"}, "metadata.name"),
        ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "../../etc"}}, "metadata.name"),
        (
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "a/b"}},
            "namespace",
        ),
        ({"apiVersion": "../v1", "kind": "ConfigMap", "metadata": {"name": "x"}}, "apiVersion"),
        ({"apiVersion": "v1", "kind": "Config/Map", "metadata": {"name": "x"}}, "kind"),
        ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "labels": ["a"]}}, "labels"),
    ],
)
def test_validate_rejects_malformed_manifests(doc: dict[str, Any], field: str) -> None:
    ok = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ok"}}
    with pytest.raises(InputError) as info:
        validate([ok, doc])
    assert "manifest #2" in str(info.value) and field in str(info.value)


def test_validate_rejects_duplicates_and_non_mappings() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "n"}}
    with pytest.raises(InputError, match="duplicate of manifest #1"):
        validate([cm, dict(cm)])
    with pytest.raises(InputError, match="must be a mapping"):
        validate(["just a string"])


def test_prepare_stamps_ownership_and_namespace() -> None:
    cluster = FakeCluster()
    objs = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n", "namespace": "junk"}},
    ]
    out = prepare(objs, cluster, Target("app", "c1"), "dest")
    assert out[0]["metadata"]["namespace"] == "dest" and "namespace" not in out[1]["metadata"]
    assert out[0]["metadata"]["labels"][keys.APP_LABEL] == "app"
    assert out[1]["metadata"]["annotations"][keys.OWNED_BY] == "app@c1"
    assert "labels" not in objs[0]["metadata"]  # inputs untouched
    with pytest.raises(InputError, match="no destination namespace"):
        prepare(objs, cluster, Target("app", "c1"), None)
    assert keys.app_label("a" * 80).startswith("h-") and len(keys.app_label("a" * 80)) <= 63


def test_manifest_errors_name_the_source_file_and_document() -> None:
    ok = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ok"}}
    located = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "x",
            "deletionGracePeriodSeconds": 30,
            "annotations": {
                "internal.config.kubernetes.io/path": "base/cm.yaml",
                "internal.config.kubernetes.io/index": "1",
            },
        },
    }
    with pytest.raises(InputError) as info:
        validate([ok, located], source="apps/web")
    assert info.value.problem.file == "base/cm.yaml#1" and "<input>" not in str(info.value)
    assert info.value.problem.field == "metadata.deletionGracePeriodSeconds"
    origin = {
        "apiVersion": "v1",
        "metadata": {
            "name": "y",
            "annotations": {"config.kubernetes.io/origin": "path: overlays/prod/cm.yaml\n"},
        },
    }
    with pytest.raises(InputError) as info:
        validate([ok, origin], source="apps/web")
    assert info.value.problem.file == "overlays/prod/cm.yaml" and info.value.problem.field == "kind"
    bad_name = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a/b"}}
    with pytest.raises(InputError) as info:
        validate([ok, bad_name], source="apps/web")
    assert str(info.value).startswith("apps/web: ") and "manifest #2" in str(info.value)


def test_prepare_strips_server_owned_metadata_and_location_annotations() -> None:
    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "a",
            "uid": "u",
            "resourceVersion": "1",
            "generation": 2,
            "creationTimestamp": "2020-01-01T00:00:00Z",
            "selfLink": "/x",
            "managedFields": [{"manager": "m"}],
            "finalizers": ["example.com/mine"],
            "annotations": {"internal.config.kubernetes.io/path": "a.yaml", "team": "x"},
        },
        "status": {"phase": "kept for the server to judge"},
    }
    [out] = prepare([obj], FakeCluster(), Target("app", "c1"), "dest")
    meta = out["metadata"]
    assert not {
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "selfLink",
        "managedFields",
    } & set(meta)
    assert meta["finalizers"] == ["example.com/mine"] and out["status"] == obj["status"]
    assert (
        "internal.config.kubernetes.io/path" not in meta["annotations"] and meta["annotations"]["team"] == "x"
    )
