"""kubectl against ``gitops sandbox`` (the CLI, started as a subprocess): get, apply (server-side and
client-side), patch, wait, delete and a brief watch. Skipped when kubectl is not on PATH."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl not on PATH")

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.25
        ports:
        - containerPort: 80
"""


@pytest.fixture(scope="module")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("kubectl")
    kubeconfig = tmp / "kubeconfig"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gitops",
            "sandbox",
            "--port",
            "0",
            "--kubeconfig",
            str(kubeconfig),
            "--controller-delay",
            "0.1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert "listening on http://127.0.0.1:" in first, first + (proc.stderr.read() if proc.stderr else "")
    proc.stdout.readline()
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(tmp), "KUBECACHEDIR": str(tmp / "cache")}
    yield tmp, env
    proc.terminate()
    assert proc.wait(timeout=10) == 0
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


def kubectl(
    env: dict[str, str], *args: str, stdin: str | None = None, ok: bool = True
) -> subprocess.CompletedProcess[str]:
    assert KUBECTL is not None
    result = subprocess.run(
        [KUBECTL, *args], env=env, input=stdin, capture_output=True, text=True, timeout=60
    )
    if ok:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_get_namespaces_and_api_resources(kube: tuple[Path, dict[str, str]]) -> None:
    _, env = kube
    assert "default" in kubectl(env, "get", "namespaces").stdout
    resources = kubectl(env, "api-resources").stdout
    assert "deployments" in resources and "deploy" in resources


def test_server_side_apply_conflict_patch_wait_delete(kube: tuple[Path, dict[str, str]]) -> None:
    _, env = kube
    out = kubectl(env, "apply", "--server-side", "-f", "-", stdin=DEPLOYMENT.format(replicas=2)).stdout
    assert "serverside-applied" in out
    clash = kubectl(
        env,
        "apply",
        "--server-side",
        "--field-manager=other",
        "-f",
        "-",
        stdin=DEPLOYMENT.format(replicas=5),
        ok=False,
    )
    assert clash.returncode != 0 and "conflict" in clash.stderr.lower() and ".spec.replicas" in clash.stderr
    forced = kubectl(
        env,
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=other",
        "-f",
        "-",
        stdin=DEPLOYMENT.format(replicas=5),
    )
    assert "serverside-applied" in forced.stdout
    live = json.loads(kubectl(env, "get", "deployment", "web", "-o", "json").stdout)
    assert live["spec"]["replicas"] == 5
    assert "patched" in kubectl(env, "patch", "deployment", "web", "-p", '{"spec":{"replicas":3}}').stdout
    kubectl(
        env,
        "patch",
        "deployment",
        "web",
        "--type=json",
        "-p",
        '[{"op":"replace","path":"/spec/replicas","value":4}]',
    )
    bad = kubectl(
        env,
        "patch",
        "deployment",
        "web",
        "--type=json",
        "-p",
        '[{"op":"remove","path":"/spec/nope"}]',
        ok=False,
    )
    assert bad.returncode != 0
    kubectl(env, "wait", "--for=condition=Available", "deployment/web", "--timeout=20s")
    assert "scaled" in kubectl(env, "scale", "deployment", "web", "--replicas=3").stdout
    assert (
        "successfully rolled out"
        in kubectl(env, "rollout", "status", "deployment/web", "--timeout=20s").stdout
    )
    assert json.loads(kubectl(env, "get", "deployment", "web", "-o", "json").stdout)["spec"]["replicas"] == 3
    assert "deleted" in kubectl(env, "delete", "deployment", "web").stdout
    gone = kubectl(env, "get", "deployment", "web", ok=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr


def test_client_side_apply_and_dry_run(kube: tuple[Path, dict[str, str]]) -> None:
    _, env = kube
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: '1'\n"
    assert "created" in kubectl(env, "apply", "-f", "-", stdin=cm).stdout
    assert "unchanged" in kubectl(env, "apply", "-f", "-", stdin=cm).stdout
    preview = kubectl(env, "apply", "--dry-run=server", "-f", "-", stdin=cm.replace("'1'", "'2'")).stdout
    assert "server dry run" in preview
    live = json.loads(kubectl(env, "get", "configmap", "settings", "-o", "json").stdout)
    assert live["data"] == {"a": "1"}
    assert "kubectl.kubernetes.io/last-applied-configuration" in live["metadata"]["annotations"]


def test_protobuf_bodies_are_refused_clearly(kube: tuple[Path, dict[str, str]]) -> None:
    _, env = kube  # kubectl's typed generators (create configmap ...) send protobuf, which we do not decode
    refused = kubectl(env, "create", "configmap", "proto", "--from-literal=a=b", ok=False)
    assert refused.returncode != 0 and "does not decode application/vnd.kubernetes.protobuf" in refused.stderr


def test_watch_briefly(kube: tuple[Path, dict[str, str]]) -> None:
    _, env = kube
    assert KUBECTL is not None
    marker = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: watch-marker\n"
    kubectl(env, "create", "-f", "-", stdin=marker)
    proc = subprocess.Popen(
        [KUBECTL, "get", "configmaps", "--watch", "-o", "name"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        # kubectl lists, prints the list, then watches from the list's resourceVersion: once the
        # marker is printed, anything created later reaches kubectl only through the watch
        assert "configmap/watch-marker" in read_until(proc.stdout, "watch-marker")
        made = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: watched\n"
        kubectl(env, "create", "-f", "-", stdin=made)
        assert "configmap/watched" in read_until(proc.stdout, "watched")
    finally:
        proc.terminate()
        proc.wait(timeout=5)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


def read_until(stream: IO[str], text: str) -> str:
    """Lines of ``stream`` up to the first containing ``text`` (the test's timeout guards a hang)."""
    seen = ""
    for line in stream:
        seen += line
        if text in line:
            return seen
    raise AssertionError(f"the stream ended before {text!r}: {seen!r}")
