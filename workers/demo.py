"""The ``gitops up --demo`` world: a local Git repository, three sandbox clusters and a configuration.

Called by workers/up.py (``gitops up --demo``), the workers' end-to-end tests and the benchmarks; it
lives in workers/, the layer that uses it, because it needs both the engine's configuration and the
sandbox (``kubesandbox``), which the core never imports.
Key design choice: everything lives under one data directory and on loopback only — the repository is
a plain ``git`` repository (``file://``, ``allowLocal``) that a person can commit to, the clusters are
in-process :class:`kubesandbox.Sandbox` servers with kubeconfigs, and the configuration is ordinary
YAML that ``gitops validate`` accepts — so the demo exercises exactly the production code paths.
A GitHub-style ``WebhookReceiver`` for the demo repository reads its secret from
``<data-dir>/demo/webhook-secret`` (generated once, 0600), so a signed push to
``/api/v1/webhooks/github`` triggers the demo's targets like a Git host would.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from gitops.errors import GitOpsError
from kubesandbox import Sandbox

CLUSTERS = ("dev", "staging", "prod")
REPLICAS = {"dev": 1, "staging": 2, "prod": 3}
POLL_INTERVAL = "5s"
# dev reports drift and waits for a Sync (no self-heal), so the drift view has something to show;
# staging and prod put Git's values back by themselves
DRIFT_CLUSTER = "dev"
WEBHOOK_RECEIVER = "demo-github"
WEBHOOK_SECRET = "webhook-secret"  # under the demo's directory, generated once, owner-only

BASE: dict[str, str] = {
    "kustomization.yaml": "resources:\n  - deployment.yaml\n  - service.yaml\n  - configmap.yaml\n",
    "deployment.yaml": """apiVersion: apps/v1
kind: Deployment
metadata:
  name: hello
  labels: {app: hello}
spec:
  replicas: 1
  selector:
    matchLabels: {app: hello}
  template:
    metadata:
      labels: {app: hello}
    spec:
      containers:
        - name: hello
          image: nginx:1.27
          ports:
            - containerPort: 80
""",
    "service.yaml": """apiVersion: v1
kind: Service
metadata:
  name: hello
spec:
  selector: {app: hello}
  ports:
    - port: 80
      targetPort: 80
""",
    "configmap.yaml": """apiVersion: v1
kind: ConfigMap
metadata:
  name: hello-config
data:
  greeting: hello from the demo
""",
}


def overlay(cluster: str) -> dict[str, str]:
    return {
        "kustomization.yaml": f"namespace: demo-{cluster}\nresources:\n  - namespace.yaml\n  - ../../base\n"
                              "patches:\n  - path: replicas.yaml\n",
        "namespace.yaml": f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo-{cluster}\n",
        "replicas.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: hello\n"
                         f"spec:\n  replicas: {REPLICAS[cluster]}\n",
    }


def _git(repo: Path, *args: str) -> str:
    cmd = ["git", "-c", "user.name=gitops demo", "-c", "user.email=demo@localhost",
           "-c", "commit.gpgsign=false", "-C", str(repo), *args]
    try:
        done = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        raise GitOpsError(f"demo repository: git {' '.join(args)}: {detail}") from exc
    return done.stdout.strip()


def write_files(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def create_repository(repo: Path, clusters: tuple[str, ...] = CLUSTERS) -> str:
    """A Git repository with ``base/`` and one kustomize overlay per cluster; returns the head commit."""
    if (repo / ".git").exists():
        return _git(repo, "rev-parse", "HEAD")
    repo.mkdir(parents=True, exist_ok=True)
    _git(repo, "init", "-q", "-b", "main")
    # so the commit the instructions suggest works on a machine without a global Git identity
    _git(repo, "config", "user.name", "gitops demo")
    _git(repo, "config", "user.email", "demo@localhost")
    write_files(repo / "base", BASE)
    for cluster in clusters:
        write_files(repo / "overlays" / cluster, overlay(cluster))
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "demo: base and overlays")
    return _git(repo, "rev-parse", "HEAD")


def commit(repo: Path, files: dict[str, str], message: str) -> str:
    """Write ``files`` (relative paths) and commit them; returns the new head (tests, benchmarks)."""
    write_files(repo, files)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message)
    return _git(repo, "rev-parse", "HEAD")


def webhook_secret(root: Path) -> Path:
    """The demo receiver's secret file under ``root`` (created once with a random secret, 0600)."""
    path = root / WEBHOOK_SECRET
    if not path.is_file():
        root.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
    return path


def config_documents(repo: Path, kubeconfigs: dict[str, Path], interval: str = POLL_INTERVAL,
                     secret: Path | None = None) -> str:
    """The demo's configuration; with ``secret``, a GitHub-style WebhookReceiver for the demo repository
    whose secret is read from that file."""
    docs = [f"""apiVersion: gitops.dev/v1alpha1
kind: Repository
metadata:
  name: demo
spec:
  url: {repo.resolve().as_uri()}
  allowLocal: true
  ref: main
  interval: {interval}
"""]
    for cluster, kubeconfig in kubeconfigs.items():
        docs.append(f"""apiVersion: gitops.dev/v1alpha1
kind: Cluster
metadata:
  name: {cluster}
  labels: {{env: {cluster}}}
spec:
  kubeconfig: {kubeconfig.resolve()}
""")
        docs.append(f"""apiVersion: gitops.dev/v1alpha1
kind: Application
metadata:
  name: hello-{cluster}
spec:
  source:
    repository: demo
    path: overlays/{cluster}
    renderer: kustomize
  destination:
    cluster: {cluster}
    namespace: demo-{cluster}
  syncPolicy:
    automated: true
    prune: true
    selfHeal: {"false" if cluster == DRIFT_CLUSTER else "true"}
""")
    if secret is not None:
        docs.append(f"""apiVersion: gitops.dev/v1alpha1
kind: WebhookReceiver
metadata:
  name: {WEBHOOK_RECEIVER}
spec:
  provider: github
  secretRef: {{file: {secret.resolve()}}}
  repositories: [demo]
""")
    return "---\n".join(docs)


@dataclass
class Demo:
    """A running demo: where the repository and configuration are, and the sandboxes to stop."""

    root: Path
    repo: Path
    config: Path
    head: str
    sandboxes: dict[str, Sandbox] = field(default_factory=dict)
    webhook_secret: Path | None = None

    def instructions(self, program: str = "gitops") -> str:
        """What to try next, as commands that work pasted into a shell in the directory where ``gitops
        up`` runs (``program`` is how the user starts the CLI there, e.g. ``scripts/gitops``)."""
        lines = [f"demo repository: {self.repo}",
                 f"configuration:   {self.config}",
                 "clusters:        " + ", ".join(f"{n} ({s.url})" for n, s in self.sandboxes.items()),
                 *([f"webhooks:        POST /api/v1/webhooks/github on the web server (receiver "
                    f"{WEBHOOK_RECEIVER}), X-Hub-Signature-256 with the secret in {self.webhook_secret}"]
                   if self.webhook_secret else []),
                 "try, in another terminal in this directory:",
                 f"  sed -i 's/replicas: 3/replicas: 4/' {self.repo}/overlays/prod/replicas.yaml",
                 f"  git -C {self.repo} commit -qam 'scale prod'",
                 f"  {program} status",
                 f"(the repository is polled every {POLL_INTERVAL}; hello-{DRIFT_CLUSTER} does not "
                 "self-heal: edit one of its objects on the cluster, press Refresh in the dashboard to "
                 "see who changed what, then Sync with Force)"]
        return "\n".join(lines)

    def stop(self) -> None:
        for sandbox in self.sandboxes.values():
            sandbox.stop()
        self.sandboxes.clear()


def start_demo(data_dir: Path, clusters: tuple[str, ...] = CLUSTERS, interval: str = POLL_INTERVAL) -> Demo:
    """Create (or reuse) the demo repository, start one sandbox per cluster, write the configuration."""
    root = Path(data_dir).resolve() / "demo"
    repo = root / "repo"
    head = create_repository(repo, clusters)
    sandboxes: dict[str, Sandbox] = {}
    kubeconfigs = {cluster: root / "kubeconfigs" / f"{cluster}.yaml" for cluster in clusters}
    try:
        for cluster in clusters:
            sandboxes[cluster] = Sandbox.start(kubeconfig=kubeconfigs[cluster], name=cluster)
    except BaseException:
        for sandbox in sandboxes.values():
            sandbox.stop()
        raise
    config = root / "config.yaml"
    secret = webhook_secret(root)
    config.write_text(config_documents(repo, kubeconfigs, interval, secret))
    return Demo(root, repo, config, head, sandboxes, secret)
