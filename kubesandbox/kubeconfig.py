"""Writes a kubeconfig pointing at a sandbox, for kubectl and the kubernetes Python client.

Called by :meth:`kubesandbox.Sandbox.start` and ``gitops sandbox``. The file holds one cluster
(plain HTTP on loopback), one user with a dummy bearer token (the sandbox does not authenticate) and
one context named after the sandbox, made current. It is written atomically with mode 0600, as kubectl
itself writes kubeconfigs.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import yaml

DUMMY_TOKEN = "sandbox-token"


def render(url: str, name: str) -> str:
    config = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": name, "cluster": {"server": url}}],
        "users": [{"name": f"{name}-user", "user": {"token": DUMMY_TOKEN}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": f"{name}-user",
                                                "namespace": "default"}}],
        "current-context": name,
    }
    return yaml.safe_dump(config, sort_keys=False)


def write(path: Path, url: str, name: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".kubeconfig-")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(render(url, name))
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
