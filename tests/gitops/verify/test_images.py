"""Which images rendered manifests run: every pod-spec kind, every container list, custom resources'
policy paths, invalid references as errors per use, and digest pinning that never mutates its input."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gitops.config.verification import ImagePath
from gitops.errors import VerificationFailed
from gitops.verify.images import POD_SPECS, ImageUse, collect_images, distinct, pin_digests
from gitops.verify.reference import parse

SHA = "sha256:" + "c" * 64
SHA2 = "sha256:" + "d" * 64


def pod_spec(*images: str, init: tuple[str, ...] = (), ephemeral: tuple[str, ...] = ()) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": f"c{i}", "image": im} for i, im in enumerate(images)]}
    if init:
        spec["initContainers"] = [{"name": f"i{i}", "image": im} for i, im in enumerate(init)]
    if ephemeral:
        spec["ephemeralContainers"] = [{"name": f"e{i}", "image": im} for i, im in enumerate(ephemeral)]
    return spec


def workload(api_version: str, kind: str, spec: dict[str, Any], name: str = "w",
             namespace: str | None = "ns") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, "spec": spec}


def templated(spec: dict[str, Any]) -> dict[str, Any]:
    return {"template": {"metadata": {"labels": {"a": "b"}}, "spec": spec}}


ALL_KINDS = [
    (workload("v1", "Pod", pod_spec("nginx:1")), "spec.containers[0].image"),
    ({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t", "namespace": "ns"},
      "template": {"spec": pod_spec("nginx:1")}}, "template.spec.containers[0].image"),
    (workload("v1", "ReplicationController", templated(pod_spec("nginx:1"))),
     "spec.template.spec.containers[0].image"),
    *[(workload("apps/v1", kind, templated(pod_spec("nginx:1"))), "spec.template.spec.containers[0].image")
      for kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")],
    (workload("batch/v1", "Job", templated(pod_spec("nginx:1"))), "spec.template.spec.containers[0].image"),
    (workload("batch/v1", "CronJob", {"schedule": "* * * * *", "jobTemplate": {"spec": templated(
        pod_spec("nginx:1"))}}), "spec.jobTemplate.spec.template.spec.containers[0].image"),
]


@pytest.mark.parametrize(("manifest", "path"), ALL_KINDS, ids=[m["kind"] for m, _ in ALL_KINDS])
def test_every_pod_spec_kind(manifest: dict[str, Any], path: str) -> None:
    (use,) = collect_images([manifest])
    assert use.path == path and use.reference == "nginx:1" and use.image == parse("nginx:1")
    assert use.error is None and use.obj.startswith(manifest["kind"])


def test_the_table_covers_the_kinds_kubernetes_runs_pods_from() -> None:
    assert {kind for _, kind in POD_SPECS} == {"Pod", "PodTemplate", "ReplicationController", "Deployment",
                                               "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"}


def test_every_container_list_in_order_with_object_and_pointer() -> None:
    manifest = workload("apps/v1", "Deployment", templated(pod_spec("app:1", "sidecar:2", init=("init:3",),
                                                                    ephemeral=("debug:4",))), name="web")
    uses = collect_images([manifest])
    assert [(u.obj, u.path, u.reference) for u in uses] == [
        ("Deployment.apps/ns/web", "spec.template.spec.initContainers[0].image", "init:3"),
        ("Deployment.apps/ns/web", "spec.template.spec.containers[0].image", "app:1"),
        ("Deployment.apps/ns/web", "spec.template.spec.containers[1].image", "sidecar:2"),
        ("Deployment.apps/ns/web", "spec.template.spec.ephemeralContainers[0].image", "debug:4"),
    ]
    assert uses[1].pointer == "/spec/template/spec/containers/0/image"


def test_other_kinds_with_a_pod_template_where_workloads_keep_theirs_are_read_too() -> None:
    rollout = workload("argoproj.io/v1alpha1", "Rollout", templated(pod_spec("app:1", init=("init:1",))))
    scheduled = workload("example.com/v1", "CronJob", {"jobTemplate": {"spec": templated(pod_spec("job:1"))}})
    assert [(u.obj, u.path) for u in collect_images([rollout, scheduled])] == [
        ("Rollout.argoproj.io/ns/w", "spec.template.spec.initContainers[0].image"),
        ("Rollout.argoproj.io/ns/w", "spec.template.spec.containers[0].image"),
        ("CronJob.example.com/ns/w", "spec.jobTemplate.spec.template.spec.containers[0].image"),
    ]


def test_a_template_without_a_containers_list_is_not_a_pod_template() -> None:
    other = workload("example.com/v1", "Thing", {"template": {"spec": {"initContainers": [{"image": "x"}]}}})
    known = workload("v1", "Pod", {"initContainers": [{"name": "i", "image": "init"}]})
    assert [u.reference for u in collect_images([other, known])] == ["init"]


def test_objects_without_images_and_odd_shapes_do_not_crash() -> None:
    odd: list[Any] = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"image": "x"}},
        workload("v1", "Pod", {"containers": "not a list"}),
        workload("v1", "Pod", {"containers": [None, "x", {"name": "no-image"}]}),
        workload("apps/v1", "Deployment", {"template": None}),
        {"kind": "Pod"},
        {"apiVersion": 5, "kind": ["Pod"], "metadata": "m", "spec": {}},
        "not a manifest",
    ]
    assert collect_images(odd) == []


@pytest.mark.parametrize(("value", "error"), [
    ("Nginx", "must be lowercase"),
    ("nginx@sha256:123", "sha256 digest"),
    ("", "empty"),
    ("x" * 100_000, "longer than 1024"),
    ("nginx\x00", "control"),
    (42, "must be a string, not int"),
    (None, "must be a string, not NoneType"),
])
def test_an_invalid_reference_is_an_error_of_its_use(value: Any, error: str) -> None:
    manifest = workload("v1", "Pod", {"containers": [{"name": "a", "image": value},
                                                     {"name": "b", "image": "nginx"}]})
    bad, good = collect_images([manifest])
    assert bad.image is None and bad.error is not None and error in bad.error
    assert len(bad.reference) <= 100_000 and good.image == parse("nginx")
    assert len(str(bad)) < 400


def test_duplicates_are_kept_per_use_and_distinct_gives_each_image_once() -> None:
    manifests = [workload("v1", "Pod", pod_spec("nginx", "docker.io/library/nginx:latest", "redis"),
                          name="a"),
                 workload("v1", "Pod", pod_spec("nginx"), name="b")]
    uses = collect_images(manifests)
    assert len(uses) == 4
    assert distinct(uses) == [parse("nginx"), parse("nginx:latest"), parse("redis")]
    assert distinct([ImageUse("Pod/x", (), "Nginx", None, "bad")]) == []


WORKFLOW: dict[str, Any] = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
                            "metadata": {"name": "wf"},
            "spec": {"templates": [{"container": {"image": "ghcr.io/org/step:1"}},
                                   {"script": {"image": "python:3.12"}},
                                   {"container": {"image": "Bad"}}],
                     "tools": {"lint": {"image": "ghcr.io/org/lint"}, "test": {"image": "ghcr.io/org/test"}},
                     "main": {"image": "ghcr.io/org/main"}}}


def test_custom_resource_paths_with_wildcards_over_lists_and_maps() -> None:
    paths = [ImagePath(group="argoproj.io", kind="Workflow",
                       paths=["/spec/templates/*/container/image", "/spec/tools/*/image", "/spec/main/image",
                              "/spec/templates/1/script/image", "/spec/absent/*/image"])]
    uses = collect_images([WORKFLOW], paths)
    assert [(u.path, u.reference, u.error is None) for u in uses] == [
        ("spec.templates[0].container.image", "ghcr.io/org/step:1", True),
        ("spec.templates[2].container.image", "Bad", False),
        ("spec.tools.lint.image", "ghcr.io/org/lint", True),
        ("spec.tools.test.image", "ghcr.io/org/test", True),
        ("spec.main.image", "ghcr.io/org/main", True),
        ("spec.templates[1].script.image", "python:3.12", True),
    ]
    assert uses[0].obj == "Workflow.argoproj.io/wf"


def test_a_path_applies_to_its_kind_and_group_only() -> None:
    other_group = [ImagePath(group="example.com", kind="Workflow", paths=["/spec/main/image"])]
    any_group = [ImagePath(kind="Workflow", paths=["/spec/main/image"])]
    other_kind = [ImagePath(kind="CronWorkflow", paths=["/spec/main/image"])]
    assert collect_images([WORKFLOW], other_group) == collect_images([WORKFLOW], other_kind) == []
    assert [u.reference for u in collect_images([WORKFLOW], any_group)] == ["ghcr.io/org/main"]


def test_a_policy_path_repeating_a_pod_spec_field_is_one_use() -> None:
    pod = workload("v1", "Pod", pod_spec("nginx"))
    paths = [ImagePath(group="", kind="Pod", paths=["/spec/containers/*/image"])]
    assert len(collect_images([pod], paths)) == 1


def test_pin_digests_rewrites_copies_and_never_the_input() -> None:
    manifests = [workload("apps/v1", "Deployment", templated(pod_spec("nginx:1.25", f"redis@{SHA2}",
                                                                      init=("ghcr.io/org/init",))))]
    before = copy.deepcopy(manifests)
    resolved = {"docker.io/library/nginx:1.25": SHA, "ghcr.io/org/init": SHA2}
    (pinned,) = pin_digests(manifests, resolved)
    assert manifests == before
    spec = pinned["spec"]["template"]["spec"]
    assert [c["image"] for c in spec["containers"]] == [f"nginx:1.25@{SHA}", f"redis@{SHA2}"]
    assert spec["initContainers"][0]["image"] == f"ghcr.io/org/init@{SHA2}"
    assert pinned["spec"]["template"]["metadata"] is not manifests[0]["spec"]["template"]["metadata"]


def test_pin_digests_in_custom_resources() -> None:
    paths = [ImagePath(kind="Workflow", paths=["/spec/main/image"])]
    (pinned,) = pin_digests([WORKFLOW], {"ghcr.io/org/main": SHA}, paths)
    assert pinned["spec"]["main"]["image"] == f"ghcr.io/org/main@{SHA}"
    assert WORKFLOW["spec"]["main"]["image"] == "ghcr.io/org/main"


@pytest.mark.parametrize(("image", "resolved", "message"), [
    ("nginx:1", {}, "no verified digest for docker.io/library/nginx:1"),
    ("Nginx", {}, "must be lowercase"),
    ("nginx:1", {"docker.io/library/nginx:1": "sha256:short"}, "sha256 digest"),
])
def test_pin_digests_fails_closed(image: str, resolved: dict[str, str], message: str) -> None:
    with pytest.raises(VerificationFailed, match=message) as info:
        pin_digests([workload("v1", "Pod", pod_spec(image))], resolved)
    assert info.value.obj == "Pod/ns/w"


def test_a_hostile_number_of_image_fields_stops_the_walk_with_an_error_use(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gitops.verify.images.MAX_USES", 3)
    uses = collect_images([workload("v1", "Pod", pod_spec(*["nginx"] * 10))])
    assert len(uses) == 4 and uses[-1].image is None and uses[-1].error is not None
    assert "more than 3 image fields" in uses[-1].error
    with pytest.raises(VerificationFailed, match="more than 3 image fields"):
        pin_digests([workload("v1", "Pod", pod_spec(*["nginx"] * 10))], {"docker.io/library/nginx": SHA})


def test_a_path_through_an_absent_index_or_a_scalar_finds_nothing() -> None:
    paths = [ImagePath(kind="Workflow", paths=["/spec/templates/9/container/image", "/spec/templates/01/x",
                                               "/spec/main/image/deeper", "/metadata/name/*"])]
    assert collect_images([WORKFLOW], paths) == []
