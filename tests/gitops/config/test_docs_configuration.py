"""The examples of docs/configuration.md for issue 15's configuration (``dependsOn``,
``healthCheckExprs``, ``SyncWindow``, ``Notification``) load with the real loader, together with the
Repository, Cluster and dependency they name, and say what the page says they say."""

from __future__ import annotations

import re
from pathlib import Path

from gitops.cli import main
from gitops.config import load_config, to_fleet

DOC = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"
BASE = """\
apiVersion: gitops.dev/v1alpha1
kind: Repository
metadata: {name: demo}
spec: {url: "https://git.example.com/demo.git"}
---
apiVersion: gitops.dev/v1alpha1
kind: Cluster
metadata: {name: dev}
spec: {server: "https://127.0.0.1:6443", tokenEnv: DEV_TOKEN}
---
apiVersion: gitops.dev/v1alpha1
kind: Application
metadata: {name: database}
spec:
  source: {repository: demo, path: apps/database}
  destination: {cluster: dev}
"""


def examples() -> list[str]:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S)
    return [b for b in blocks if "dependsOn:" in b or "kind: SyncWindow" in b or "kind: Notification" in b]


def test_the_examples_validate_and_convert(tmp_path: Path, capsys: object) -> None:
    found = examples()
    assert len(found) == 3
    config = tmp_path / "config"
    config.mkdir()
    (config / "base.yaml").write_text(BASE)
    for i, block in enumerate(found):
        (config / f"example{i}.yaml").write_text(block)
    assert main(["validate", "-c", str(config)]) == 0
    fleet = to_fleet(load_config(config))
    shop = fleet.applications["shop"]
    assert [(d.application, d.cluster) for d in shop.depends_on] == [("database", None)]
    assert [(h.api_version, h.kind) for h in shop.health_checks] == [("example.com/v1", "Widget")]
    window = fleet.sync_windows["night-freeze"]
    assert (window.kind, window.schedule, window.duration_seconds, window.time_zone, window.manual_sync) == (
        "deny", "0 22 * * *", 8 * 3600.0, "Europe/Berlin", True)
    assert window.applications.matches("shop", {"tier": "production"})
    assert not window.clusters.matches("dev", {})
    notification = fleet.notifications["shop-team"]
    assert notification.events == ("SyncFailed", "HealthDegraded")
