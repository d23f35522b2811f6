"""Configuration text for tests that sync a local Git repository to a cluster reached by kubeconfig
(the sandbox or the real control plane): one Repository (``allowLocal``), one Cluster and one
Application, as `gitops validate` reads them."""

from __future__ import annotations

from pathlib import Path


def local_app(repo: Path, kubeconfig: Path | str, *, app: str, cluster: str = "dev",
              namespace: str = "default", path: str = "app", policy: str = "") -> str:
    """The three documents; ``policy`` is a flow mapping for ``syncPolicy`` (none when empty)."""
    sync_policy = f"\n  syncPolicy: {policy}" if policy else ""
    return f"""\
apiVersion: gitops.dev/v1alpha1
kind: Repository
metadata: {{name: repo}}
spec: {{url: "{repo}", allowLocal: true}}
---
apiVersion: gitops.dev/v1alpha1
kind: Cluster
metadata: {{name: {cluster}}}
spec: {{kubeconfig: "{kubeconfig}"}}
---
apiVersion: gitops.dev/v1alpha1
kind: Application
metadata: {{name: {app}}}
spec:
  source: {{repository: repo, path: {path}}}
  destination: {{cluster: {cluster}, namespace: {namespace}}}{sync_policy}
"""
