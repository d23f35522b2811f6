"""charts/gitops rendered and linted with the Helm library: default values and the documented value sets,
values.schema.json refusing bad and hostile values with Helm's own message, the security settings of
every container, exactly one beat whatever the values say, and every object valid against the
Kubernetes 1.36 schema."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.charts.chartkit import (
    CHART,
    ROOT,
    HelmFailed,
    check_openapi,
    find,
    lint,
    one,
    pod_specs,
    render,
    render_pieces,
)

pytest.importorskip("helm_python", reason="the helm extra is not installed")

EXTERNAL_REDIS = {"redis": {"bundled": {"enabled": False},
                            "external": {"url": "redis://redis.infra.svc:6379/2"}}}
EXTERNAL_REDIS_SECRET = {"redis": {"bundled": {"enabled": False},
                                   "external": {"urlSecret": {"name": "redis-url", "key": "url"}}}}
INGRESS_TLS = {"web": {"replicas": 2, "forwardedAllowIps": "10.0.0.0/8",
                       "ingress": {"enabled": True, "className": "nginx",
                                   "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"},
                                   "hosts": [{"host": "gitops.example.com"}],
                                   "tls": [{"secretName": "gitops-tls", "hosts": ["gitops.example.com"]}]}}}
TWO_POOLS = {"workers": {"pools": [
    {"name": "poll", "queues": "poll", "replicas": 1, "concurrency": 1},
    {"name": "sync", "queues": "reconcile,sync", "replicas": 3, "concurrency": 4,
     "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]}}
RBAC_OFF = {"rbac": {"create": False}, "serviceAccount": {"create": False, "name": "existing"}}
RBAC_NAMESPACED = {"rbac": {"clusterAdmin": False,
                            "rules": [{"apiGroups": ["", "apps"], "resources": ["*"], "verbs": ["*"]}]}}
SECRETS = {"envFromSecrets": ["git-credentials", "webhook-secrets"],
           "extraSecretMounts": [{"name": "cosign", "secretName": "cosign-keys",
                                  "mountPath": "/secrets/cosign"}],
           "env": {"GITOPS_RESYNC_SECONDS": 120, "GITOPS_WEB_SECURE_COOKIES": "0"},
           "networkPolicy": {"restrictEgress": True,
                             "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}],
                                         "ports": [{"port": 443, "protocol": "TCP"}]}]}}
SENTINEL = {"redis": {"bundled": {"enabled": False}, "external": {"sentinel": {
    "masterName": "gitops", "hosts": ["sentinel-0:26379", "sentinel-1", "[fd00::1]:26380"], "db": 2,
    "passwordSecret": {"name": "redis-auth", "key": "password"}, "sentinelAuth": True}}}}
VALUE_SETS: dict[str, dict[str, Any]] = {
    "default": {}, "external-redis": EXTERNAL_REDIS, "external-redis-secret": EXTERNAL_REDIS_SECRET,
    "ingress-tls": INGRESS_TLS, "two-pools": TWO_POOLS, "rbac-off": RBAC_OFF,
    "rbac-namespaced": RBAC_NAMESPACED, "secrets": SECRETS, "sentinel": SENTINEL,
}


def containers(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    return [(name, spec, c) for name, spec in pod_specs(objects)
            for c in spec.get("initContainers", []) + spec["containers"]]


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


@pytest.fixture(scope="module", params=sorted(VALUE_SETS))
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, render(VALUE_SETS[request.param])


# --- what every value set must hold ----------------------------------------------------------------


def test_lint_passes_for_every_value_set() -> None:
    for name, values in VALUE_SETS.items():
        report = lint(values)
        serious = [m for m in report["messages"] if m["severity"] >= 2]
        assert report["errors"] == [] and serious == [], (name, report)


def test_every_object_is_valid_kubernetes(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    name, objects = rendered
    assert objects
    for obj in objects:
        assert check_openapi(obj) == [], (name, obj["kind"], obj["metadata"]["name"])
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?", obj["metadata"]["name"])
        assert "namespace" not in obj["metadata"]  # Helm's (or the engine's) namespace applies


def test_every_container_is_locked_down(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    name, objects = rendered
    for workload, spec, c in containers(objects):
        sc = c["securityContext"]
        where = (name, workload, c["name"])
        assert spec["securityContext"]["runAsNonRoot"] is True, where
        assert spec["securityContext"]["runAsUser"] > 0, where
        assert sc["runAsNonRoot"] is True and sc["readOnlyRootFilesystem"] is True, where
        assert sc["allowPrivilegeEscalation"] is False and sc.get("privileged") is False, where
        assert sc["capabilities"] == {"drop": ["ALL"]}, where
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert c["resources"]["requests"], where  # limits: the defaults set memory, a pool may not
        # a read-only root filesystem: every writable path is a volume
        mounts = {m["mountPath"] for m in c["volumeMounts"] if not m.get("readOnly")}
        assert "/tmp" in mounts, where


def test_exactly_one_beat(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, objects = rendered
    beats = [o for o in find(objects, "Deployment") if o["metadata"]["labels"]["app.kubernetes.io/component"]
             == "beat"]
    assert len(beats) == 1
    assert beats[0]["spec"]["replicas"] == 1 and beats[0]["spec"]["strategy"] == {"type": "Recreate"}


# --- the default values ----------------------------------------------------------------------------


def test_default_render_runs_the_engine_with_its_configuration() -> None:
    objects = render()
    kinds = sorted({o["kind"] for o in objects})
    assert kinds == ["ClusterRoleBinding", "ConfigMap", "Deployment", "NetworkPolicy", "PodDisruptionBudget",
                     "Secret", "Service", "ServiceAccount", "StatefulSet"]
    web = one(objects, "Deployment", "gitops-web")["spec"]["template"]["spec"]
    [c] = web["containers"]
    assert c["image"] == "ghcr.io/gitops-engine-py/gitops:0.1.0"
    assert c["args"] == ["web", "--host", "0.0.0.0", "--port", "8080", "-c", "/config"]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    env = env_of(c)
    assert env["GITOPS_CONFIG"] == "/config" and env["GITOPS_DATA_DIR"] == "/data"
    assert env["GITOPS_REDIS_URL"] == "redis://:$(GITOPS_REDIS_PASSWORD)@gitops-redis:6379/0"
    assert env["GITOPS_REDIS_PASSWORD"] == {"secretKeyRef": {"name": "gitops-redis", "key": "redis-password"}}
    assert web["serviceAccountName"] == "gitops"
    worker = one(objects, "Deployment", "gitops-worker-default")
    assert worker["spec"]["replicas"] == 2
    assert worker["spec"]["template"]["spec"]["containers"][0]["args"] == [
        "worker", "-c", "/config", "--queues", "poll,reconcile,sync", "--concurrency", "2",
        "--pool", "prefork"]
    assert "livenessProbe" not in worker["spec"]["template"]["spec"]["containers"][0]  # docs say why
    # the in-cluster Cluster is the default configuration
    config = one(objects, "ConfigMap", "gitops-config")["data"]
    cluster = yaml.safe_load(config["in-cluster.yaml"])
    assert cluster["spec"] == {"server": "https://kubernetes.default.svc",
                               "caFile": "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
                               "tokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token"}
    binding = one(objects, "ClusterRoleBinding", "gitops-gitops-cluster-admin")
    assert binding["roleRef"]["name"] == "cluster-admin"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "gitops", "namespace": "gitops"}]


def test_default_configuration_validates(tmp_path: Path) -> None:
    from gitops.cli import main

    for name, text in yaml.safe_load((CHART / "values.yaml").read_text())["config"]["files"].items():
        (tmp_path / name).write_text(text)
    assert main(["validate", "-c", str(tmp_path)]) == 0


def test_bundled_redis_is_persistent_private_and_password_protected() -> None:
    objects = render()
    sts = one(objects, "StatefulSet", "gitops-redis")
    [c] = sts["spec"]["template"]["spec"]["containers"]
    assert c["image"] == "redis:7"
    assert c["args"][:3] == ["redis-server", "--appendonly", "yes"]
    assert c["args"][-2:] == ["--requirepass", "$(REDISCLI_AUTH)"]
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "8Gi"
    assert sts["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 999
    secret = one(objects, "Secret", "gitops-redis")
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    policy = one(objects, "NetworkPolicy", "gitops-redis")["spec"]
    [rule] = policy["ingress"]
    components = rule["from"][0]["podSelector"]["matchExpressions"][2]
    assert components == {"key": "app.kubernetes.io/component", "operator": "In",
                          "values": ["web", "worker", "beat"]}
    engine = one(objects, "NetworkPolicy", "gitops-engine")["spec"]
    assert engine["policyTypes"] == ["Ingress"]  # egress open by default
    assert engine["ingress"] == [{"ports": [{"port": 8080, "protocol": "TCP"}]}]


# --- the other value sets --------------------------------------------------------------------------


def test_external_redis_by_url_or_secret() -> None:
    objects = render(EXTERNAL_REDIS)
    assert not find(objects, "StatefulSet") and not find(objects, "Secret")
    assert [p["metadata"]["name"] for p in find(objects, "NetworkPolicy")] == ["gitops-engine"]
    for _, _, c in containers(objects):
        assert env_of(c)["GITOPS_REDIS_URL"] == "redis://redis.infra.svc:6379/2"
        assert "GITOPS_REDIS_PASSWORD" not in env_of(c)
    for _, _, c in containers(render(EXTERNAL_REDIS_SECRET)):
        assert env_of(c)["GITOPS_REDIS_URL"] == {"secretKeyRef": {"name": "redis-url", "key": "url"}}


def test_redis_sentinel_url_is_one_the_engine_accepts() -> None:
    from gitops.state import parse_redis_url

    for _, _, c in containers(render(SENTINEL)):
        env = env_of(c)
        assert env["GITOPS_REDIS_PASSWORD"] == {"secretKeyRef": {"name": "redis-auth", "key": "password"}}
        url = env["GITOPS_REDIS_URL"]
        assert url.startswith("redis+sentinel://:$(GITOPS_REDIS_PASSWORD)@")
        parsed = parse_redis_url(url.replace("$(GITOPS_REDIS_PASSWORD)", "s3cret"))  # as the kubelet does
        assert parsed is not None
        assert parsed.sentinels == (("sentinel-0", 26379), ("sentinel-1", 26379), ("fd00::1", 26380))
        got = (parsed.master, parsed.db, parsed.password, parsed.sentinel_auth)
        assert got == ("gitops", 2, "s3cret", True)
    bare = {"redis": {"bundled": {"enabled": False},
                      "external": {"sentinel": {"masterName": "m", "hosts": ["s0"]}}}}
    for _, _, c in containers(render(bare)):
        assert env_of(c)["GITOPS_REDIS_URL"] == "redis+sentinel://s0/m/0"
        assert "GITOPS_REDIS_PASSWORD" not in env_of(c)


def test_ingress_with_tls() -> None:
    objects = render(INGRESS_TLS)
    ingress = one(objects, "Ingress", "gitops-web")["spec"]
    assert ingress["ingressClassName"] == "nginx"
    assert ingress["tls"] == [{"secretName": "gitops-tls", "hosts": ["gitops.example.com"]}]
    [rule] = ingress["rules"]
    assert rule["host"] == "gitops.example.com"
    backend = rule["http"]["paths"][0]["backend"]
    assert backend == {"service": {"name": "gitops-web", "port": {"name": "http"}}}
    web = one(objects, "Deployment", "gitops-web")
    assert web["spec"]["replicas"] == 2
    assert web["spec"]["template"]["spec"]["containers"][0]["args"][-2:] == ["--forwarded-allow-ips",
                                                                            "10.0.0.0/8"]


def test_worker_pools_are_sharded_by_queue() -> None:
    objects = render(TWO_POOLS)
    workers = {o["metadata"]["name"]: o for o in find(objects, "Deployment")
               if o["metadata"]["labels"]["app.kubernetes.io/component"] == "worker"}
    assert sorted(workers) == ["gitops-worker-poll", "gitops-worker-sync"]
    sync = workers["gitops-worker-sync"]
    assert sync["spec"]["replicas"] == 3
    [c] = sync["spec"]["template"]["spec"]["containers"]
    assert c["args"][3:] == ["--queues", "reconcile,sync", "--concurrency", "4", "--pool", "prefork"]
    assert c["resources"] == {"requests": {"cpu": "1", "memory": "1Gi"}}
    # each pool has its own selector and budget: pools never select each other's pods
    selectors = {n: w["spec"]["selector"]["matchLabels"]["gitops.dev/worker-pool"]
                 for n, w in workers.items()}
    assert selectors == {"gitops-worker-poll": "poll", "gitops-worker-sync": "sync"}
    for n, w in workers.items():
        assert w["spec"]["template"]["metadata"]["labels"]["gitops.dev/worker-pool"] == selectors[n]
    assert {p["metadata"]["name"] for p in find(objects, "PodDisruptionBudget")} == {
        "gitops-web", "gitops-worker-poll", "gitops-worker-sync"}
    # shard queues of clusters labelled gitops.dev/shard are accepted too
    render({"workers": {"pools": [{"name": "eu", "queues": "reconcile.eu,sync.eu", "replicas": 1}]}})


def test_rbac_off_and_namespaced() -> None:
    objects = render(RBAC_OFF)
    assert not find(objects, "ClusterRoleBinding") and not find(objects, "Role")
    assert not find(objects, "ServiceAccount")
    assert {spec["serviceAccountName"] for name, spec in pod_specs(objects) if "redis" not in name} == {
        "existing"}
    objects = render(RBAC_NAMESPACED)
    assert not find(objects, "ClusterRoleBinding")
    assert one(objects, "Role", "gitops")["rules"] == RBAC_NAMESPACED["rbac"]["rules"]
    assert one(objects, "RoleBinding", "gitops")["roleRef"]["name"] == "gitops"


def test_secrets_are_mounted_by_reference() -> None:
    objects = render(SECRETS)
    for name, spec, c in containers(objects):
        if "redis" in name:
            assert "envFrom" not in c  # Redis sees none of the engine's secrets
            continue
        assert c["envFrom"] == [{"secretRef": {"name": "git-credentials"}},
                                {"secretRef": {"name": "webhook-secrets"}}]
        assert {"name": "cosign", "mountPath": "/secrets/cosign", "readOnly": True} in c["volumeMounts"]
        volume = {"name": "cosign", "secret": {"secretName": "cosign-keys", "defaultMode": 256}}
        assert volume in spec["volumes"]
        assert env_of(c)["GITOPS_RESYNC_SECONDS"] == "120"
    egress = one(objects, "NetworkPolicy", "gitops-engine")["spec"]
    assert egress["policyTypes"] == ["Ingress", "Egress"]
    assert egress["egress"][-1]["ports"] == [{"port": 443, "protocol": "TCP"}]
    # no secret value anywhere in the objects but the generated Redis password
    assert [s["metadata"]["name"] for s in find(objects, "Secret")] == ["gitops-redis"]


def test_notes_tell_how_to_log_in() -> None:
    notes = render_pieces(INGRESS_TLS)["gitops/templates/NOTES.txt"]
    assert "gitops user add admin --role admin" in notes
    assert "https://gitops.example.com/" in notes


# --- values.schema.json: bad and hostile values ----------------------------------------------------

REFUSED: list[tuple[dict[str, Any], str]] = [
    ({"web": {"replicas": "2"}}, "at '/web/replicas': got string, want integer"),
    ({"replicaCount": 3}, "additional properties 'replicaCount' not allowed"),
    ({"beat": {"replicas": 3}}, "at '/beat': additional properties 'replicas' not allowed"),
    ({"workers": {"pools": [{"name": "x", "queues": "poll", "replicas": -1}]}}, "/workers/pools/0/replicas"),
    ({"workers": {"pools": []}}, "/workers/pools"),
    ({"workers": {"pools": [{"name": "x", "queues": "poll;rm -rf /", "replicas": 1}]}},
     "/workers/pools/0/queues"),
    ({"workers": {"pools": [{"name": "x\nkind: Secret", "queues": "poll", "replicas": 1}]}},
     "/workers/pools/0/name"),
    ({"workers": {"pools": [{"name": "x" * 300, "queues": "poll", "replicas": 1}]}}, "/workers/pools/0/name"),
    ({"redis": {"bundled": {"enabled": False}}}, "/redis/external"),
    ({"redis": {"bundled": {"enabled": False}, "external": {"url": "http://evil.example.com"}}},
     "/redis/external/url"),
    ({"redis": {"bundled": {"enabled": False}, "external": {"sentinel": {"masterName": "m"}}}},
     "/redis/external/sentinel/hosts"),
    ({"redis": {"bundled": {"enabled": False}, "external": {"sentinel": {
        "masterName": "m", "hosts": ["evil/host@x"]}}}}, "/redis/external/sentinel/hosts/0"),
    ({"redis": {"bundled": {"enabled": False}, "external": {"sentinel": {
        "masterName": "m", "hosts": [f"s{i}" for i in range(17)]}}}}, "/redis/external/sentinel/hosts"),
    ({"redis": {"bundled": {"enabled": False}, "external": {"sentinel": {
        "masterName": "m/../x", "hosts": ["s"]}}}}, "/redis/external/sentinel/masterName"),
    ({"redis": {"external": {"url": "redis://other:6379/0"}}}, "/redis/external/url"),
    ({"workers": {"pools": [{"name": "x", "queues": "poll", "replicas": 1, "pool": "eventlet"}]}},
     "/workers/pools/0/pool"),
    ({"env": {"GITOPS_REDIS_URL": "redis://elsewhere:6379/0"}}, "invalid propertyName 'GITOPS_REDIS_URL'"),
    ({"env": {"BAD NAME": "x"}}, "invalid propertyName 'BAD NAME'"),
    ({"extraSecretMounts": [{"name": "k", "secretName": "k", "mountPath": "relative"}]},
     "/extraSecretMounts/0/mountPath"),
    ({"config": {"files": {"../escape.yaml": "x"}}}, "invalid propertyName '../escape.yaml'"),
    ({"image": {"digest": "sha256:nothex"}}, "/image/digest"),
    ({"web": {"service": {"type": "ExternalName"}}}, "/web/service/type"),
    ({"podSecurityContext": {"runAsUser": 0}}, "/podSecurityContext/runAsUser"),
    ({"web": {"ingress": {"enabled": True, "hosts": [{"host": "a", "bogus": 1}]}}},
     "additional properties 'bogus' not allowed"),
]


@pytest.mark.parametrize(("values", "message"), REFUSED, ids=[str(i) for i in range(len(REFUSED))])
def test_schema_refuses_bad_values(values: dict[str, Any], message: str) -> None:
    with pytest.raises(HelmFailed, match=r"^gitops:") as caught:
        render(values)
    assert message in str(caught.value)


def test_schema_accepts_the_engine_renderer_parameters() -> None:
    """The engine's helm renderer adds ``cluster``, ``application`` and ``namespace`` to the values."""
    render({"cluster": {"name": "in-cluster", "labels": {}}, "application": "gitops", "namespace": "gitops"})


def test_one_beat_even_without_the_schema(tmp_path: Path) -> None:
    """The template does not read a replicas value for the beat: a chart copy without the schema (as
    ``helm template --skip-schema-validation`` would) still renders one beat."""
    chart = tmp_path / "gitops"
    shutil.copytree(CHART, chart)
    (chart / "values.schema.json").unlink()
    objects = render({"beat": {"replicas": 5, "strategy": {"type": "RollingUpdate"}}}, chart=chart)
    beat = one(objects, "Deployment", "gitops-beat")
    assert beat["spec"]["replicas"] == 1 and beat["spec"]["strategy"] == {"type": "Recreate"}


def test_chart_version_follows_the_engine() -> None:
    import gitops

    meta = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert meta["apiVersion"] == "v2" and meta["appVersion"] == gitops.__version__
    assert (ROOT / "Dockerfile").read_text().count('ENTRYPOINT ["gitops"]') == 1


@pytest.mark.parametrize("queues", ["poll", "reconcile,sync", "reconcile.eu,sync.eu", "poll,sync.a-1",
                                    "reconcile.", "poll.eu", "sync.EU", "poll,,sync", "reconcile.-eu",
                                    "sync." + "a" * 64, "poll;rm"])
def test_schema_queues_are_what_gitops_worker_accepts(queues: str) -> None:
    """The schema's queue pattern and ``gitops worker --queues`` (workers/cli.py) agree, so a pool the
    chart accepts never starts a worker that exits on its arguments."""
    from gitops.errors import InputError
    from workers.cli import check_queues

    try:
        check_queues(queues)
        engine_accepts = True
    except InputError:
        engine_accepts = False
    try:
        render({"workers": {"pools": [{"name": "p", "queues": queues, "replicas": 1}]}})
        chart_accepts = True
    except HelmFailed as exc:
        assert "/workers/pools/0/queues" in str(exc)
        chart_accepts = False
    assert chart_accepts == engine_accepts


def test_existing_config_map() -> None:
    objects = render({"config": {"existingConfigMap": "my-config"}})
    assert not find(objects, "ConfigMap")
    for name, spec in pod_specs(objects):
        if "redis" not in name:
            assert {"name": "config", "configMap": {"name": "my-config"}} in spec["volumes"]
