"""Configuration text for tests that sync to a cluster reached by kubeconfig (the sandbox or the real
control plane): :func:`local_app` (a local Git repository, ``allowLocal``) and :func:`e2e_app` (a
repository the engine tests never read: their renderer is static), one Repository, one Cluster and one
Application each, as `gitops validate` reads them."""

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


def e2e_app(kubeconfig: Path | str, *, app: str, namespace: str, policy: str, ignore: str = "[]",
            timeout: str = "5s") -> str:
    """The engine tests' target: cluster ``e2e`` with a short ``timeout``; ``policy`` and ``ignore``
    are flow values for ``syncPolicy`` and ``ignoreDifferences``."""
    return f"""\
apiVersion: gitops.dev/v1alpha1
kind: Repository
metadata: {{name: repo}}
spec: {{url: "https://127.0.0.1/repo.git"}}
---
apiVersion: gitops.dev/v1alpha1
kind: Cluster
metadata: {{name: e2e}}
spec: {{kubeconfig: "{kubeconfig}", timeout: {timeout}}}
---
apiVersion: gitops.dev/v1alpha1
kind: Application
metadata: {{name: {app}}}
spec:
  source: {{repository: repo, path: app}}
  destination: {{cluster: e2e, namespace: {namespace}}}
  syncPolicy: {policy}
  ignoreDifferences: {ignore}
"""
