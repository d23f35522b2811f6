"""The bundled example, end to end: the walkthrough in README.md and docs/sync.md holds.

The example's Repository is this project's own Git repository (``file://../..``), so the test copies
the example's Cluster and Application files unchanged into a temporary configuration whose Repository
points at the same repository by absolute path, and whose kubeconfigs come from two sandboxes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gitops.cli import main
from kubesandbox import Sandbox

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "config"


def _committed_on_main() -> bool:
    probe = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", "main:examples/manifests/guestbook"],
                           capture_output=True)
    return probe.returncode == 0


@pytest.fixture
def config(tmp_path: Path) -> Iterator[tuple[Path, dict[str, Sandbox]]]:
    if not _committed_on_main():
        pytest.skip("examples/manifests is not committed on a local main branch")
    cfg = tmp_path / "config"
    cfg.mkdir()
    for name in ("clusters.yaml", "applications.yaml"):
        shutil.copy(EXAMPLE / name, cfg / name)
    repo = (EXAMPLE / "repository.yaml").read_text().replace("url: file://../..", f"url: file://{ROOT}")
    (cfg / "repository.yaml").write_text(repo)
    sandboxes = {name: Sandbox.start(kubeconfig=tmp_path / "kubeconfigs" / f"{name}.yaml", name=name)
                 for name in ("dev", "prod")}
    try:
        yield cfg, sandboxes
    finally:
        for sandbox in sandboxes.values():
            sandbox.stop()


def gitops(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_example_walkthrough(config: tuple[Path, dict[str, Sandbox]], tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    cfg, sandboxes = config
    cache = ["--cache-dir", str(tmp_path / "cache")]
    assert gitops(capsys, "validate", "-c", str(EXAMPLE))[0] == 0
    code, out = gitops(capsys, "sync", "-c", str(cfg), "guestbook", *cache)
    assert code == 0, out
    assert out.count("created") >= 4 and "Deployment" in out
    code, out = gitops(capsys, "sync", "-c", str(cfg), "guestbook", *cache)
    assert (code, out.count("unchanged")) == (0, 5), out  # 4 rows and the summary
    assert sandboxes["dev"].stats.count(write=True) > 0
    sandboxes["dev"].stats.reset()
    assert gitops(capsys, "diff", "-c", str(cfg), "guestbook", *cache)[0] == 0
    assert sandboxes["dev"].stats.count(write=True) == 0
    patch = {"spec": {"replicas": 9, "template": {"spec": {"containers": [
        {"name": "guestbook", "image": "evil/guestbook:latest"}]}}}}
    response = httpx.patch(f"{sandboxes['dev'].url}/apis/apps/v1/namespaces/guestbook/deployments/guestbook",
                           params={"fieldManager": "kubectl-edit"}, json=patch,
                           headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert response.status_code == 200, response.text
    code, out = gitops(capsys, "diff", "-c", str(cfg), "guestbook", "-o", "json", *cache)
    drift = json.loads(out)["drift"]
    assert code == 1
    # The image drift is attributed to kubectl-edit; /spec/replicas is ignored by the Application.
    assert [(d["path"], d["manager"]) for d in drift] == [
        ('.spec.template.spec.containers[name="guestbook"].image', "kubectl-edit")]
    assert gitops(capsys, "sync", "-c", str(cfg), "guestbook", *cache)[0] == 0
    live = httpx.get(f"{sandboxes['dev'].url}/apis/apps/v1/namespaces/guestbook/deployments/guestbook").json()
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.k8s.io/guestbook:v3"
    # As in Argo CD, jsonPointers only hide a difference from the comparison; once a sync writes, Git's
    # value is applied. Only fields owned by a listed managedFieldsManagers entry are left alone.
    assert live["spec"]["replicas"] == 2
    assert gitops(capsys, "diff", "-c", str(cfg), "guestbook", *cache)[0] == 0
