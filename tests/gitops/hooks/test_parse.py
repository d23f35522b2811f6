"""The pure part of sync hooks (gitops.hooks): annotations parsed into typed values, hooks split from
the regular objects, bad values refused with the object and the annotation named, hostile input."""

from __future__ import annotations

from typing import Any

import pytest

from gitops import keys
from gitops.errors import InputError
from gitops.hooks import (
    DEFAULT_TIMEOUT,
    MAX_HOOKS,
    DeletePolicy,
    Phase,
    of_phase,
    parse_duration,
    prepare,
    split,
)
from gitops.testing import FakeCluster
from gitops.vocabulary import Target


def job(name: str, annotations: dict[str, Any] | None = None, **meta: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, **meta}
    if annotations is not None:
        metadata["annotations"] = annotations
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata,
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}],
                                           "restartPolicy": "Never"}}}}


def cm(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "1"}}


def test_hooks_are_split_from_the_regular_objects_with_typed_values() -> None:
    out = split([cm("a"), job("pre", {keys.HOOK: "PreSync", keys.HOOK_TIMEOUT: "5m",
                                       keys.HOOK_DELETE_POLICY: "HookSucceeded,HookFailed",
                                       keys.SYNC_WAVE: "-2"})])
    assert [o["metadata"]["name"] for o in out.regular] == ["a"]
    (hook,) = out.hooks
    assert hook.phases == {Phase.PRE_SYNC}
    assert hook.delete_policies == {DeletePolicy.HOOK_SUCCEEDED, DeletePolicy.HOOK_FAILED}
    assert (hook.timeout, hook.wave, hook.label) == (300.0, -2, "Job.batch/pre")


def test_argo_cd_annotations_work_unchanged_with_argo_defaults() -> None:
    out = split([job("a", {keys.ARGO_HOOK: "PreSync,PostSync", keys.ARGO_SYNC_WAVE: "3"}),
                 job("b", {keys.ARGO_HOOK: "SyncFail", keys.ARGO_HOOK_DELETE_POLICY: "HookSucceeded"}),
                 job("skipped", {keys.ARGO_HOOK: "Skip"})])
    a, b = out.hooks
    assert a.phases == {Phase.PRE_SYNC, Phase.POST_SYNC} and a.wave == 3
    assert a.delete_policies == {DeletePolicy.BEFORE_HOOK_CREATION}  # Argo CD's default
    assert a.timeout == DEFAULT_TIMEOUT
    assert b.delete_policies == {DeletePolicy.HOOK_SUCCEEDED}
    assert out.skipped == 1 and out.regular == []


def test_helm_hooks_map_as_argo_cd_maps_them() -> None:
    out = split([job("pre", {keys.HELM_HOOK: "pre-install,pre-upgrade", keys.HELM_HOOK_WEIGHT: "5",
                             keys.HELM_HOOK_DELETE_POLICY: "before-hook-creation,hook-succeeded"}),
                 job("post", {keys.HELM_HOOK: "post-install"}),
                 job("test", {keys.HELM_HOOK: "test"}),
                 cm("crd") | {"metadata": {"name": "crd", "annotations": {keys.HELM_HOOK: "crd-install"}}}])
    pre, post = out.hooks
    assert pre.phases == {Phase.PRE_SYNC} and pre.wave == 5
    assert pre.delete_policies == {DeletePolicy.BEFORE_HOOK_CREATION, DeletePolicy.HOOK_SUCCEEDED}
    assert post.phases == {Phase.POST_SYNC}
    assert out.skipped == 1  # a Helm test hook is not run
    assert [o["metadata"]["name"] for o in out.regular] == ["crd"]


def test_ours_win_over_argo_cd_over_helm() -> None:
    (hook,) = split([job("a", {keys.HOOK: "PostSync", keys.ARGO_HOOK: "PreSync",
                               keys.HELM_HOOK: "pre-install"})]).hooks
    assert hook.phases == {Phase.POST_SYNC}


@pytest.mark.parametrize(("annotations", "key", "words"), [
    ({keys.HOOK: "PreSnyc"}, keys.HOOK, "unknown phase 'PreSnyc'"),
    ({keys.ARGO_HOOK: ""}, keys.ARGO_HOOK, "empty list"),
    ({keys.ARGO_HOOK: "Skip,PreSync"}, keys.ARGO_HOOK, "cannot be combined"),
    ({keys.HELM_HOOK: "pre-instal"}, keys.HELM_HOOK, "unknown Helm hook"),
    ({keys.HOOK: "PreSync", keys.ARGO_HOOK_DELETE_POLICY: "Always"}, keys.ARGO_HOOK_DELETE_POLICY,
     "unknown delete policy 'Always'"),
    ({keys.HOOK: "PreSync", keys.HOOK_TIMEOUT: "soon"}, keys.HOOK_TIMEOUT, "not a duration"),
    ({keys.HOOK: "PreSync", keys.HOOK_TIMEOUT: "99999h"}, keys.HOOK_TIMEOUT, "out of range"),
    ({keys.HOOK: "PreSync", keys.HOOK_TIMEOUT: "0s"}, keys.HOOK_TIMEOUT, "out of range"),
    ({keys.HOOK: "PreSync", keys.HOOK_TIMEOUT: "9" * 5000}, keys.HOOK_TIMEOUT, "longer than"),
    ({keys.HOOK: "PreSync", keys.HOOK_TIMEOUT: 5}, keys.HOOK_TIMEOUT, "must be a string"),
    ({keys.HOOK: "PreSync", keys.ARGO_SYNC_WAVE: "1e9"}, keys.ARGO_SYNC_WAVE, "not an integer"),
    ({keys.HOOK: "PreSync", keys.SYNC_WAVE: "99999999999"}, keys.SYNC_WAVE, "not an integer"),
    ({keys.HOOK: "PreSync\n; rm -rf /"}, keys.HOOK, "unknown phase"),
])
def test_a_bad_hook_annotation_names_the_object_and_the_annotation(annotations: dict[str, Any], key: str,
                                                                   words: str) -> None:
    with pytest.raises(InputError) as err:
        split([cm("fine"), job("migrate", annotations)], source="apps/db")
    assert err.value.problem.field == key
    assert "manifest #2 (Job/migrate)" in str(err.value) and words in str(err.value)
    assert err.value.problem.file == "apps/db"


@pytest.mark.parametrize(("text", "seconds"), [("90", 90.0), ("30s", 30.0), ("5m", 300.0),
                                               ("1h30m", 5400.0), ("6h", 21600.0), (" 2m ", 120.0)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "1.5h", "-5s", "5d", "7h", "1h2h", "0", "\uff15m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_generate_name_hooks_are_validated_with_their_prefix() -> None:
    (hook,) = split([job("", {keys.HOOK: "PreSync"}, generateName="migrate-")]).hooks
    assert hook.generated and hook.label == "Job.batch/migrate-*"
    with pytest.raises(InputError, match="generateName"):
        split([job("", {keys.HOOK: "PreSync"}, generateName="../x-")])
    with pytest.raises(InputError, match=r"missing metadata.name"):
        split([job("", {keys.HOOK: "PreSync"})])


def test_a_hook_is_validated_like_any_manifest() -> None:
    with pytest.raises(InputError, match="duplicate"):
        split([job("a", {keys.HOOK: "PreSync"}), job("a", {keys.HOOK: "PostSync"})])
    with pytest.raises(InputError, match="invalid name"):
        split([job("../../secrets", {keys.HOOK: "PreSync"})])


def test_many_hook_annotations_are_bounded() -> None:
    objects = [job(f"j{i}", {keys.HOOK: "PreSync"}) for i in range(10_000)]
    with pytest.raises(InputError, match=f"more than {MAX_HOOKS} hooks"):
        split(objects)
    out = split(objects[:MAX_HOOKS] + [cm(f"c{i}") for i in range(10_000)])
    assert len(out.hooks) == MAX_HOOKS and len(out.regular) == 10_000


def test_prepared_hooks_carry_no_ownership_marks_and_get_the_namespace() -> None:
    out = split([job("pre", {keys.HOOK: "PreSync"}), job("", {keys.HOOK: "Sync"}, generateName="g-")])
    target = Target("app", "c1")
    pre, gen = prepare(out.hooks, FakeCluster(), target, "team")
    for hook in (pre, gen):
        meta = hook.manifest["metadata"]
        assert meta["namespace"] == "team" and meta["annotations"][keys.HOOK_OF] == "app@c1"
        assert keys.OWNED_BY not in meta["annotations"] and keys.APP_LABEL not in (meta.get("labels") or {})
    assert "name" not in gen.manifest["metadata"] and gen.manifest["metadata"]["generateName"] == "g-"
    assert out.hooks[0].manifest["metadata"].get("namespace") is None  # the input is not changed


def test_of_phase_orders_by_wave() -> None:
    out = split([job("b", {keys.HOOK: "PreSync", keys.SYNC_WAVE: "1"}),
                 job("a", {keys.HOOK: "PreSync", keys.SYNC_WAVE: "1"}),
                 job("z", {keys.HOOK: "PreSync", keys.SYNC_WAVE: "-1"}),
                 job("p", {keys.HOOK: "PostSync"})])
    assert [h.ref.name for h in of_phase(out.hooks, Phase.PRE_SYNC)] == ["z", "a", "b"]


def test_a_hook_cannot_also_be_a_regular_object() -> None:
    with pytest.raises(InputError, match="both a hook and a regular object"):
        split([job("migrate", {}), job("migrate", {keys.HOOK: "PreSync"})])
