"""CEL health rules on a real API server: a CRD with a status subresource, a custom resource whose
status is written through ``/status`` (as its controller would, with the real server's status
strategy: a write to the main resource cannot touch it), and the application's CEL rule judging it
Healthy, then Degraded; a custom resource no rule judges is Unknown."""

from __future__ import annotations

from gitops.health import rules_for
from gitops.health.wait import wait_healthy
from gitops.vocabulary import HealthStatus, ObjectRef
from tests.gitops.health.kit import cr, crd, health_of, rule, sync, write_status
from tests.realcluster.conftest import Env, eventually, live, ref


def test_a_cel_rule_judges_a_real_custom_resource_as_its_status_changes(env: Env,
                                                                         leftovers: list[ObjectRef]) -> None:
    group = f"{env.app}.example.com"
    leftovers.append(ObjectRef("apiextensions.k8s.io", "CustomResourceDefinition", "", f"gadgets.{group}",
                               "v1"))
    manifests = [crd(group), cr(group, "g1")]
    first = sync(env, manifests, wait_seconds=30)
    assert first.error is None, first.error
    health, message = health_of(first, "g1")
    assert health == "Unknown" and message.endswith(f"no health rule for {group}/Gadget and no status")

    rules = rules_for((rule(group),))
    gadget = ref(env, f"{group}/v1", "Gadget", "g1")
    assert wait_healthy(env.cluster, [gadget], timeout=0, rules=rules).health[gadget].status is (
        HealthStatus.PROGRESSING)  # the rule waits for a status; nothing judges it without the rule

    write_status(env, group, "gadgets", "g1", {"phase": "Ready"})
    eventually(lambda: (live(env, f"{group}/v1", "Gadget", "g1") or {}).get("status"), "status written")
    waited = wait_healthy(env.cluster, [gadget], timeout=30, interval=0.1, rules=rules)
    assert waited.health[gadget].status is HealthStatus.HEALTHY and not waited.timed_out
    assert waited.health[gadget].message == "cel: current: has(status.phase) && status.phase == 'Ready'"

    write_status(env, group, "gadgets", "g1", {"phase": "Failed"})
    waited = wait_healthy(env.cluster, [gadget], timeout=30, interval=0.1, rules=rules)
    assert waited.health[gadget].status is HealthStatus.DEGRADED
    assert waited.health[gadget].message == "cel: failed: has(status.phase) && status.phase == 'Failed'"

    again = sync(env, manifests)  # the spec is Git's: the apply leaves the status to its controller
    assert again.error is None and (live(env, f"{group}/v1", "Gadget", "g1") or {})["status"] == {
        "phase": "Failed"}
