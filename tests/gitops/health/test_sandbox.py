"""CEL health rules on real custom resources: a CRD with a status subresource and its objects applied
to the sandbox API server through the engine (gitops.engine.reconcile), their status written through
``/status`` as a controller would, and the target's health following it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitops import keys
from gitops import plan as diff
from gitops.apply import ApplyOptions, apply_plan
from gitops.health import rules_for
from gitops.health.wait import wait_healthy
from gitops.outcome import held_health
from gitops.plan import ref_key
from gitops.render.manifests import prepare
from gitops.vocabulary import Action, HealthStatus, ObjectRef, Target
from kubesandbox import Sandbox
from tests.gitops.health.kit import cr, crd, health_of, rule, sync, write_status
from tests.gitops.sync.conftest import Backend, Env


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    kubeconfig = tmp_path_factory.mktemp("sandbox") / "kubeconfig.yaml"
    sandbox = Sandbox.start(kubeconfig=kubeconfig, controller_delay=0.1)
    try:
        yield Backend("sandbox", kubeconfig, sandbox)
    finally:
        sandbox.stop()


@pytest.fixture
def env(backend: Backend, tmp_path: Path) -> Iterator[Env]:
    suffix = uuid.uuid4().hex[:8]
    cluster = backend.cluster()
    namespace = f"health-{suffix}"
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
                  field_manager="health-setup")
    yield Env(backend, tmp_path, f"app-{suffix}", namespace, cluster)
    cluster.close()


def test_a_custom_resource_without_status_or_rule_is_unknown_and_does_not_block_waves(env: Env) -> None:
    group = f"{env.app}.example.com"
    first = cr(group, "first", **{keys.SYNC_WAVE: "-1"})
    later = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "later"}, "data": {"v": "1"}}
    definition = crd(group)
    definition["metadata"]["annotations"] = {keys.SYNC_WAVE: "-2"}
    result = sync(env, [definition, first, later], wave_timeout=20)
    assert result.error is None, result.error
    assert {o.ref.name: o.action for o in result.objects} == {
        f"gadgets.{group}": Action.CREATED, "first": Action.CREATED, "later": Action.CREATED}
    health, message = health_of(result, "first")
    assert health == "Unknown" and message.endswith(f"; no health rule for {group}/Gadget and no status")
    assert result.health is HealthStatus.UNKNOWN


def test_a_library_rule_judges_a_custom_resource_through_the_unchanged_engine(env: Env) -> None:
    """cert-manager's Certificate kind, served by a CRD of the same group: the library rule decides."""
    group = "cert-manager.io"
    certs = crd(group, "Certificate", "certificates")
    cert = {**cr(group, f"tls-{env.app}", "Certificate"),
            "spec": {"secretName": "tls", "dnsNames": ["example.com"], "issuerRef": {"name": "le"}}}
    name = cert["metadata"]["name"]
    try:
        assert sync(env, [certs, cert]).health is HealthStatus.PROGRESSING  # no status yet: waiting
        write_status(env, group, "certificates", name, {"conditions": [
            {"type": "Ready", "status": "False", "reason": "DoesNotExist",
             "message": "Issuing certificate as Secret does not exist"},
            {"type": "Issuing", "status": "True", "reason": "DoesNotExist", "message": "Issuing"}]})
        issuing = sync(env, [certs, cert])
        assert health_of(issuing, name) == (
            "Progressing",
            "cert-manager/Certificate: inProgress: Issuing certificate as Secret does not exist")
        write_status(env, group, "certificates", name, {"conditions": [
            {"type": "Ready", "status": "True", "reason": "Ready",
             "message": "Certificate is up to date and has not expired"}]})
        assert sync(env, [certs, cert]).health is HealthStatus.HEALTHY
    finally:
        env.cluster.delete(ObjectRef("apiextensions.k8s.io", "CustomResourceDefinition", "",
                                     "certificates.cert-manager.io", "v1"))


def test_an_application_rule_judges_through_apply_waves_and_waits(env: Env) -> None:
    """The pieces the engine calls, given the application's rules: the wave gate of gitops.apply
    (ApplyOptions.rules), the bounded wait (wait_healthy) and the held health (gitops.outcome)."""
    group = f"{env.app}.example.com"
    rules = rules_for((rule(group),))
    sync(env, [crd(group)])  # the kind exists and is served
    gadget = cr(group, "g1", **{keys.SYNC_WAVE: "-1"})
    later = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "later"}, "data": {"v": "1"}}
    ref = ObjectRef(group, "Gadget", env.namespace, "g1", "v1")

    plan = env_plan(env, [crd(group), gadget, later])
    stopped = apply_plan(env.cluster, plan, ApplyOptions(wave_timeout=0.5, poll_interval=0.05, rules=rules))
    assert stopped.stopped is not None and stopped.temporary
    assert stopped.stopped.startswith("sync wave -1 is Progressing")
    assert "cel: no expression is true yet" in stopped.stopped
    assert {r.ref.name: r.action for r in stopped.results}["later"] is Action.SKIPPED

    write_status(env, group, "gadgets", "g1", {"phase": "Failed"})
    waited = wait_healthy(env.cluster, [ref], timeout=5, interval=0.05, rules=rules)
    assert waited.health[ref].status is HealthStatus.DEGRADED and not waited.timed_out
    assert waited.health[ref].message == "cel: failed: has(status.phase) && status.phase == 'Failed'"
    failed = apply_plan(env.cluster, env_plan(env, [crd(group), gadget, later]),
                        ApplyOptions(wave_timeout=5, poll_interval=0.05, rules=rules))
    assert failed.stopped is not None and not failed.temporary and "is Degraded" in failed.stopped

    write_status(env, group, "gadgets", "g1", {"phase": "Ready"})
    done = apply_plan(env.cluster, env_plan(env, [crd(group), gadget, later]),
                      ApplyOptions(wave_timeout=5, poll_interval=0.05, rules=rules))
    assert done.stopped is None and {r.ref.name: r.action for r in done.results}["later"] is Action.CREATED
    held = held_health([ref], {ref_key(ref): done.objects[ref_key(ref)]}, rules)
    assert held[ref].status is HealthStatus.HEALTHY
    assert held_health([ref], {ref_key(ref): done.objects[ref_key(ref)]})[ref].status is HealthStatus.UNKNOWN


def test_an_application_rule_decides_the_target_health_as_its_status_changes(env: Env) -> None:
    group = f"{env.app}.example.com"
    checks = (rule(group),)
    manifests = [crd(group), cr(group, "g1")]
    first = sync(env, manifests, checks)
    health, message = health_of(first, "g1")
    assert health == "Progressing" and message.endswith("; cel: no expression is true yet")
    for phase, want in [("Provisioning", HealthStatus.PROGRESSING), ("Failed", HealthStatus.DEGRADED),
                        ("Ready", HealthStatus.HEALTHY)]:
        write_status(env, group, "gadgets", "g1", {"phase": phase})
        assert sync(env, manifests, checks).health is want, phase
    write_status(env, group, "gadgets", "g1", {"phase": "Failed"})
    assert health_of(sync(env, manifests, checks), "g1") == (
        "Degraded", "cel: failed: has(status.phase) && status.phase == 'Failed'")


def env_plan(env: Env, manifests: list[dict[str, Any]]) -> diff.Plan:
    """The plan the engine would make of ``manifests`` (prepare, then plan)."""
    target = Target(env.app, "e2e")
    desired = prepare(manifests, env.cluster, target, env.namespace)
    return diff.plan(env.cluster, desired, diff.DiffOptions(application=env.app))
