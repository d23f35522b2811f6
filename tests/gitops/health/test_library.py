"""The library of health rules shipped as data, one test per rule with objects shaped as each project
documents them (cert-manager, Argo Rollouts, Flux, Crossplane)."""

from __future__ import annotations

from typing import Any

import pytest

from gitops.domain import HealthCheck
from gitops.health import assess, library, rules_for
from gitops.health.cel import Rules
from gitops.health.library import parse
from gitops.vocabulary import HealthStatus as H


def cond(kind: str, status: str, reason: str = "", message: str = "", **extra: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2025-01-01T00:00:00Z",
        **extra,
    }


def cr(
    api: str,
    kind: str,
    spec: dict[str, Any] | None = None,
    status: dict[str, Any] | None = None,
    generation: int = 1,
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": api,
        "kind": kind,
        "metadata": {"name": "x", "namespace": "ns", "generation": generation},
        "spec": spec or {},
    }
    if status is not None:
        obj["status"] = status
    return obj


def test_every_library_rule_compiles_and_names_its_project() -> None:
    rules = library().library
    assert {r.name for r in rules} >= {
        "cert-manager/Certificate",
        "cert-manager/Issuer",
        "cert-manager/ClusterIssuer",
        "argo-rollouts/Rollout",
        "flux/HelmRelease",
        "flux/Kustomization",
        "crossplane/resource",
    }
    assert [(r.name, r.errors) for r in rules if r.errors] == []


# -- cert-manager (https://cert-manager.io/docs/usage/certificate/) -----------------------------------
CERT_SPEC = {
    "secretName": "example-com-tls",
    "dnsNames": ["example.com"],
    "issuerRef": {"name": "letsencrypt", "kind": "ClusterIssuer"},
}


@pytest.mark.parametrize(
    ("conditions", "want", "message"),
    [
        (
            [
                cond(
                    "Ready",
                    "False",
                    "DoesNotExist",
                    "Issuing certificate as Secret does not exist",
                    observedGeneration=1,
                ),
                cond(
                    "Issuing",
                    "True",
                    "DoesNotExist",
                    "Issuing certificate as Secret does not exist",
                    observedGeneration=1,
                ),
            ],
            H.PROGRESSING,
            "cert-manager/Certificate: inProgress: Issuing certificate as Secret does not exist",
        ),
        (
            [
                cond(
                    "Ready",
                    "True",
                    "Ready",
                    "Certificate is up to date and has not expired",
                    observedGeneration=1,
                )
            ],
            H.HEALTHY,
            "cert-manager/Certificate: current: Certificate is up to date and has not expired",
        ),
        (
            [
                cond(
                    "Ready",
                    "False",
                    "DoesNotExist",
                    "Issuing certificate as Secret does not exist",
                    observedGeneration=1,
                ),
                cond(
                    "Issuing",
                    "False",
                    "Failed",
                    "The certificate request has failed to complete and will be retried",
                    observedGeneration=1,
                ),
            ],
            H.DEGRADED,
            "cert-manager/Certificate: failed: Issuing certificate as Secret does not exist",
        ),
        (
            [
                cond(
                    "Ready",
                    "True",
                    "Ready",
                    "Certificate is up to date and has not expired",
                    observedGeneration=1,
                )
            ],
            H.HEALTHY,
            None,
        ),
    ],
)
def test_cert_manager_certificate(conditions: list[dict[str, Any]], want: H, message: str | None) -> None:
    status = {
        "conditions": conditions,
        "notAfter": "2025-04-01T00:00:00Z",
        "renewalTime": "2025-03-02T00:00:00Z",
    }
    health = assess(cr("cert-manager.io/v1", "Certificate", CERT_SPEC, status))
    assert health.status is want
    if message is not None:
        assert health.message == message


def test_cert_manager_certificate_ready_for_an_older_generation_is_not_healthy() -> None:
    status = {"conditions": [cond("Ready", "True", "Ready", "up to date", observedGeneration=1)]}
    health = assess(cr("cert-manager.io/v1", "Certificate", CERT_SPEC, status, generation=2))
    assert health.status is H.PROGRESSING


def test_cert_manager_certificate_without_status_waits() -> None:
    health = assess(cr("cert-manager.io/v1", "Certificate", CERT_SPEC))
    assert health.status is H.PROGRESSING
    assert health.message == "cert-manager/Certificate: no expression is true yet"


@pytest.mark.parametrize("kind", ["Issuer", "ClusterIssuer"])
def test_cert_manager_issuers(kind: str) -> None:
    acme = {"acme": {"server": "https://acme-v02.api.letsencrypt.org/directory"}}
    ok = cr(
        "cert-manager.io/v1",
        kind,
        acme,
        {
            "acme": {"uri": "https://acme/acct/1"},
            "conditions": [
                cond(
                    "Ready",
                    "True",
                    "ACMEAccountRegistered",
                    "The ACME account was registered with the ACME server",
                )
            ],
        },
    )
    bad = cr(
        "cert-manager.io/v1",
        kind,
        acme,
        {
            "conditions": [
                cond("Ready", "False", "ErrRegisterACMEAccount", "Failed to register ACME account: 429")
            ]
        },
    )
    assert assess(ok).status is H.HEALTHY
    assert assess(bad) == assess(bad)  # pure
    assert assess(bad).status is H.DEGRADED
    assert assess(bad).message == f"cert-manager/{kind}: failed: Failed to register ACME account: 429"


# -- Argo Rollouts (Argo CD's argoproj.io/Rollout health.lua) ------------------------------------------
ROLLOUT_SPEC = {"replicas": 5, "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}}}


@pytest.mark.parametrize(
    ("spec", "status", "want", "message"),
    [
        (
            {},
            {"phase": "Healthy", "message": "", "stableRS": "6b8d9c", "availableReplicas": 5},
            H.HEALTHY,
            "argo-rollouts/Rollout: current",
        ),
        (
            {"paused": True},
            {
                "phase": "Paused",
                "message": "CanaryPauseStep",
                "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2025-01-01T00:00:00Z"}],
            },
            H.SUSPENDED,
            "argo-rollouts/Rollout: suspended: CanaryPauseStep",
        ),
        (
            {},
            {"phase": "Progressing", "message": "more replicas need to be updated"},
            H.PROGRESSING,
            "argo-rollouts/Rollout: inProgress: more replicas need to be updated",
        ),
        (
            {},
            {
                "phase": "Degraded",
                "message": 'ProgressDeadlineExceeded: ReplicaSet "guest-6b8d" has timed out progressing.',
            },
            H.DEGRADED,
            'argo-rollouts/Rollout: failed: ProgressDeadlineExceeded: ReplicaSet "guest-6b8d" has timed out '
            "progressing.",
        ),
    ],
)
def test_argo_rollouts_rollout(spec: dict[str, Any], status: dict[str, Any], want: H, message: str) -> None:
    health = assess(cr("argoproj.io/v1alpha1", "Rollout", {**ROLLOUT_SPEC, **spec}, status))
    assert (health.status, health.message) == (want, message)


def test_argo_rollouts_rollout_not_yet_observed_is_progressing() -> None:
    status = {"phase": "Healthy", "observedGeneration": "1", "message": ""}
    assert assess(cr("argoproj.io/v1alpha1", "Rollout", ROLLOUT_SPEC, status, generation=2)).status is (
        H.PROGRESSING)
    assert assess(cr("argoproj.io/v1alpha1", "Rollout", ROLLOUT_SPEC, {**status, "observedGeneration": "2"},
                     generation=2)).status is H.HEALTHY


# -- Flux (https://fluxcd.io/flux/components/helm/helmreleases/) ---------------------------------------
@pytest.mark.parametrize(
    ("api", "kind"),
    [("helm.toolkit.fluxcd.io/v2", "HelmRelease"), ("kustomize.toolkit.fluxcd.io/v1", "Kustomization")],
)
def test_flux_objects(api: str, kind: str) -> None:
    name = f"flux/{kind}"
    failed = cr(
        api,
        kind,
        {"interval": "5m"},
        {
            "observedGeneration": 1,
            "conditions": [
                cond(
                    "Ready",
                    "False",
                    "InstallFailed",
                    "Helm install failed for release default/podinfo with chart podinfo@6.5.4: timed out",
                    observedGeneration=1,
                ),
                cond("Released", "False", "InstallFailed", "Helm install failed", observedGeneration=1),
            ],
        },
    )
    assert assess(failed).status is H.DEGRADED
    assert assess(failed).message == (
        f"{name}: failed: Helm install failed for release default/podinfo with "
        "chart podinfo@6.5.4: timed out"
    )
    stalled = cr(
        api,
        kind,
        {},
        {
            "conditions": [
                cond("Stalled", "True", "InvalidChartReference", "no chart"),
                cond("Ready", "Unknown", "Progressing", ""),
            ]
        },
    )
    assert assess(stalled).status is H.DEGRADED
    reconciling = cr(
        api,
        kind,
        {},
        {
            "conditions": [
                cond("Reconciling", "True", "Progressing", "Fulfilling prerequisites"),
                cond("Ready", "False", "Progressing", "Reconciliation in progress"),
            ]
        },
    )
    assert assess(reconciling).status is H.PROGRESSING
    ready = cr(
        api,
        kind,
        {},
        {
            "observedGeneration": 1,
            "conditions": [
                cond("Ready", "True", "InstallSucceeded", "Helm install succeeded", observedGeneration=1)
            ],
        },
    )
    assert assess(ready).status is H.HEALTHY
    assert assess({**ready, "spec": {"suspend": True}}).status is H.SUSPENDED
    stale = cr(
        api,
        kind,
        {},
        {"conditions": [cond("Ready", "True", "Succeeded", "", observedGeneration=1)]},
        generation=2,
    )
    assert assess(stale).status is H.PROGRESSING


# -- Crossplane (https://docs.crossplane.io/latest/concepts/claims/) ----------------------------------
CLAIM_SPEC = {
    "parameters": {"storageGB": 20},
    "compositionRef": {"name": "production"},
    "resourceRef": {
        "apiVersion": "database.example.org/v1alpha1",
        "kind": "XPostgreSQLInstance",
        "name": "my-db-x7h2c",
    },
    "writeConnectionSecretToRef": {"name": "db-conn"},
}


@pytest.mark.parametrize(
    ("conditions", "want"),
    [
        ([cond("Synced", "True", "ReconcileSuccess"), cond("Ready", "False", "Creating")], H.PROGRESSING),
        ([cond("Synced", "True", "ReconcileSuccess"), cond("Ready", "True", "Available")], H.HEALTHY),
        (
            [
                cond(
                    "Synced",
                    "False",
                    "ReconcileError",
                    "cannot compose resources: cannot render composed resource",
                ),
                cond("Ready", "True", "Available"),
            ],
            H.DEGRADED,
        ),
        (
            [
                cond("Synced", "True", "ReconcileSuccess"),
                cond("Ready", "False", "Unavailable", "bucket is gone"),
            ],
            H.DEGRADED,
        ),
    ],
)
def test_crossplane_claim_in_a_group_its_user_defined(conditions: list[dict[str, Any]], want: H) -> None:
    claim = cr("database.example.org/v1alpha1", "PostgreSQLInstance", CLAIM_SPEC, {"conditions": conditions})
    health = assess(claim)
    assert health.status is want
    assert health.message.startswith("crossplane/resource: ")


def test_crossplane_claim_failure_quotes_the_condition() -> None:
    claim = cr(
        "database.example.org/v1alpha1",
        "PostgreSQLInstance",
        CLAIM_SPEC,
        {
            "conditions": [
                cond("Synced", "False", "ReconcileError", "cannot compose resources"),
                cond("Ready", "False", "Creating"),
            ]
        },
    )
    assert assess(claim).message == "crossplane/resource: failed: cannot compose resources"


def test_crossplane_managed_resource_and_composite_by_shape() -> None:
    bucket = cr(
        "s3.aws.upbound.io/v1beta1",
        "Bucket",
        {"forProvider": {"region": "us-east-1"}, "providerConfigRef": {"name": "default"}},
    )
    assert assess(bucket).status is H.PROGRESSING  # the provider has not written a status yet
    bucket["status"] = {
        "atProvider": {"arn": "arn:aws:s3:::b"},
        "conditions": [cond("Synced", "True", "ReconcileSuccess"), cond("Ready", "True", "Available")],
    }
    assert assess(bucket).status is H.HEALTHY
    xr = cr(
        "example.crossplane.io/v1",
        "XNetwork",
        {"crossplane": {"compositionRef": {"name": "net"}}},
        {"conditions": [cond("Synced", "True", "ReconcileSuccess"), cond("Ready", "False", "Creating")]},
    )
    assert assess(xr).status is H.PROGRESSING


def test_crossplane_package() -> None:
    provider = cr(
        "pkg.crossplane.io/v1",
        "Provider",
        {"package": "xpkg.upbound.io/upbound/provider-aws-s3:v1"},
        {
            "conditions": [
                cond("Installed", "True", "ActivePackageRevision"),
                cond("Healthy", "True", "HealthyPackageRevision"),
            ]
        },
    )
    assert assess(provider).status is H.HEALTHY
    provider["status"]["conditions"][1] = cond("Healthy", "False", "UnhealthyPackageRevision", "cannot pull")
    assert assess(provider).status is H.DEGRADED


def test_a_shape_rule_does_not_claim_other_custom_resources() -> None:
    widget = cr("example.com/v1", "Widget", {"size": 3}, {"conditions": [cond("Ready", "True")]})
    assert assess(widget).status is H.HEALTHY  # generic conditions, not the Crossplane rule
    assert assess(widget).message == ""


# -- precedence --------------------------------------------------------------------------------------
def test_user_rules_override_the_library_and_built_ins() -> None:
    cert = cr("cert-manager.io/v1", "Certificate", CERT_SPEC, {"conditions": [cond("Ready", "True")]})
    mine = rules_for(
        (HealthCheck("cert-manager.io/v1", "Certificate", current="status.conditions.size() > 5"),)
    )
    assert assess(cert).status is H.HEALTHY
    health = assess(cert, mine)
    assert (health.status, health.message) == (H.PROGRESSING, "cel: no expression is true yet")
    deploy = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {"replicas": 1},
        "status": {"replicas": 0},
    }
    assert assess(deploy).status is H.PROGRESSING
    ours = rules_for((HealthCheck("apps/v1", "Deployment", current="has(spec.replicas)"),))
    assert assess(deploy, ours).status is H.HEALTHY
    assert assess(deploy, ours).message == "cel: current: has(spec.replicas)"


def test_the_library_never_overrides_a_built_in_kind() -> None:
    rule = parse("rules: [{name: greedy, group: '*', kind: '*', current: 'true'}]", "greedy.yaml")[0]
    greedy = Rules((), (rule,))
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "status": {"phase": "Pending"}}
    assert assess(pod, greedy).status is H.PROGRESSING
    assert assess(cm, greedy).message == ""
    assert assess(cr("example.com/v1", "Widget"), greedy).message == "greedy: current"


def test_rules_for_is_cached_per_tuple_of_checks() -> None:
    checks = (HealthCheck("example.com/v1", "Widget", current="status.ready == true"),)
    assert rules_for(checks) is rules_for(tuple(checks))


@pytest.mark.parametrize(
    "text",
    [
        "rules: {a: 1}",
        "[1, 2]",
        "rules: [{name: x}]",
        "rules: [{name: x, group: g, kind: K, current: 'true', extra: 1}]",
    ],
)
def test_a_malformed_library_file_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"bad\.yaml"):
        parse(text, "bad.yaml")
