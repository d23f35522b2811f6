"""``gitops plan`` against the sandbox API server: the server-side dry-run mode on a reachable cluster,
the offline fallback (said per pair) on an unreachable one, in the same plan."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gitops.cli import main
from tests.gitops.fleetplan.conftest import Fleet, _git, pairs


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Path]:
    from kubesandbox import Sandbox

    kubeconfig = tmp_path / "kubeconfig.yaml"
    server = Sandbox.start(kubeconfig=kubeconfig)
    try:
        from kubernetes import client, config

        api = config.new_client_from_config(config_file=str(kubeconfig))
        try:
            client.CoreV1Api(api).create_namespace({"metadata": {"name": "alpha"}})
        finally:
            api.close()
        yield kubeconfig
    finally:
        server.stop()


def test_dry_run_on_the_reachable_cluster_offline_on_the_other(fleet: Fleet, sandbox: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITOPS_REDIS_URL", raising=False)
    fleet.configure(dev=f'{{kubeconfig: "{sandbox}"}}')
    cache = str(fleet.root / "cache")
    assert main(["sync", "-c", str(fleet.config), "hello", "--cache-dir", cache, "--local"]) == 0
    fleet.capsys.readouterr()
    _git(fleet.repo, "checkout", "-q", "-b", "feature")
    template = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: hello-{{ cluster.name }}}\n"
    fleet.commit({"jinja/cm.yaml.j2": template + "data: {greeting: hello}\n",
                  "apps/alpha/kustomization.yaml": "resources: [../../bases/web]\n"})
    code, doc = fleet.plan_json("--revision", "feature")
    by = pairs(doc)
    assert code == 1
    hello = by["hello@dev"]
    assert hello["mode"] == "server-side dry-run" and hello["reason"] == ""
    (obj,) = hello["objects"]
    assert obj["object"] == "ConfigMap/default/hello-dev" and obj["change"] == "changed"
    assert {"path": ".data.greeting", "old": "hi", "new": "hello"} in obj["fields"]
    assert "live/ConfigMap/default/hello-dev" in hello["diff"]  # the engine's own diff: live vs predicted
    alpha = by["alpha-dev@dev"]  # never synced: the dry-run says every object would be created
    assert alpha["mode"] == "server-side dry-run"
    assert {o["change"] for o in alpha["objects"]} == {"added"}
    assert "hunter2" not in str(doc)
    prod = by["alpha-prod@prod"]
    assert prod["mode"] == "offline" and prod["reason"] == "cluster unreachable (ClusterUnavailable)"
    assert prod["objects"][0]["fields"] == [{"path": ".data.size", "old": "2", "new": "1"}]
    code, doc = fleet.plan_json("--revision", "feature", "--offline")  # --offline: never contact them
    assert {p["mode"] for p in doc["pairs"] if p["status"] == "changed"} == {"offline"}
    assert {p["reason"] for p in doc["pairs"] if p["status"] == "changed"} == {"--offline"}
