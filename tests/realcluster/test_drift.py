"""Drift on a real API server: a ``kubectl edit``-like change (a JSON merge PATCH by the field manager
``kubectl-edit``) is reported field by field with the manager that made it, and an application in
detect-only mode writes nothing, not even when a sync is asked for.

Marker: real_cluster (set on collection by tests/conftest.py): the real API server, never the sandbox.
"""

from __future__ import annotations

from typing import Any

from gitops import prune
from gitops.plan import managed
from gitops.vocabulary import Action, SyncStatus, Target
from tests.gitops.sync.test_e2e_sync import cm, deploy
from tests.realcluster.conftest import Env, live

IMAGE = '.spec.template.spec.containers[name="web"].image'


def ours(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in obj["metadata"]["managedFields"] if e["manager"] in ("gitops", "kubectl-edit")]


def test_detect_only_reports_a_hand_edit_with_its_manager_and_writes_nothing(env: Env) -> None:
    assert env.sync([cm("settings", "git"), deploy(image="nginx:1.27")]).error is None
    env.kubectl_patch(f"/api/v1/namespaces/{env.namespace}/configmaps/settings", {"data": {"v": "by hand"}})
    # a merge patch replaces the whole list: the container is sent as it was, but for its image
    hotfix = {"name": "web", "image": "nginx:hotfix", "ports": [{"containerPort": 80}]}
    env.kubectl_patch(f"/apis/apps/v1/namespaces/{env.namespace}/deployments/web",
                      {"spec": {"template": {"spec": {"containers": [hotfix]}}}})
    inventory = prune.inventory_name(Target(env.app, "e2e"))

    def state() -> dict[str, Any]:
        settings = live(env, "v1", "ConfigMap", "settings")
        web = live(env, "apps/v1", "Deployment", "web")
        recorded = live(env, "v1", "ConfigMap", inventory, prune.NAMESPACE)
        assert settings is not None and web is not None and recorded is not None
        return {"settings": (settings["metadata"]["resourceVersion"], settings["metadata"]["managedFields"]),
                # the rollout the edit started moves the Deployment's status and the controller's
                # managedFields entries: its spec and the entries of gitops and kubectl-edit stay
                "web": (web["metadata"]["generation"], web["spec"], ours(web)),
                "inventory": recorded["metadata"]["resourceVersion"]}

    before = state()
    for request in ({"sync": None}, {"sync": True}):  # a poll, and even a manual sync
        result = env.sync(policy="{automated: true, selfHeal: true, detectOnly: true}", **request)
        assert result.error is None and not result.applied and result.sync is SyncStatus.OUT_OF_SYNC
        assert {r.ref.name: r.action for r in result.objects} == {"settings": Action.CONFIGURED,
                                                                  "web": Action.CONFIGURED}
        drift = {(d.ref.kind, d.path): d for d in result.drift}
        assert set(drift) == {("ConfigMap", ".data.v"), ("Deployment", IMAGE)}, sorted(drift)
        edit = drift[("ConfigMap", ".data.v")]
        assert (edit.live, edit.predicted, edit.manager) == ("by hand", "git", "kubectl-edit")
        image = drift[("Deployment", IMAGE)]
        assert (image.live, image.predicted, image.manager) == ("nginx:hotfix", "nginx:1.27", "kubectl-edit")
        settings = live(env, "v1", "ConfigMap", "settings")
        assert settings is not None
        [entry] = [e for e in settings["metadata"]["managedFields"] if e["manager"] == "kubectl-edit"]
        assert edit.changed_at == managed.parse_time(entry["time"]) is not None
        assert "-  v: by hand" in result.diff and "+  v: git" in result.diff
        assert state() == before
