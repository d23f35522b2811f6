"""The real Cluster implementation: connection settings, discovery, errors over HTTP, waits."""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from pathlib import Path
from typing import Any

import pytest

from gitops.cluster.rest import ClusterSettings, KubeCluster, KubeClusters
from gitops.cluster.throttle import RetryPolicy
from gitops.errors import ClusterError, ClusterUnavailable, Invalid, NotFound
from gitops.health.wait import wait_healthy
from gitops.testing import FakeCluster
from gitops.vocabulary import HealthStatus, ObjectRef


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connection_refused_is_temporary_after_bounded_retries() -> None:
    cluster = KubeCluster(
        ClusterSettings("down", server=f"http://127.0.0.1:{free_port()}", timeout_seconds=1),
        retry_policy=RetryPolicy(attempts=2, base_delay=0.01),
    )
    with pytest.raises(ClusterUnavailable) as info:
        cluster.get(ObjectRef("", "ConfigMap", "default", "x", "v1"))
    assert info.value.temporary and "down" in str(info.value)


def test_bad_settings_are_clear_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ClusterError, match="neither kubeconfig nor server"):
        KubeCluster(ClusterSettings("none"))
    bad = tmp_path / "kubeconfig"
    bad.write_text("clusters: [not: valid")
    with pytest.raises(ClusterError, match="bad kubeconfig"):
        KubeCluster(ClusterSettings("bad", kubeconfig=str(bad)))
    monkeypatch.delenv("NO_SUCH_TOKEN", raising=False)
    with pytest.raises(ClusterError, match="NO_SUCH_TOKEN"):
        KubeCluster(ClusterSettings("tok", server="http://127.0.0.1:1", token_env="NO_SUCH_TOKEN"))
    with pytest.raises(ClusterError, match="token file"):
        KubeCluster(ClusterSettings("tok", server="http://127.0.0.1:1", token_file=str(tmp_path / "none")))


def test_settings_from_config_and_factory_caches() -> None:
    from gitops.domain import Cluster

    def configured() -> Cluster:
        return Cluster("c", {"env": "x"}, server="http://127.0.0.1:1", qps=5.0, timeout_seconds=3.0)

    factory = KubeClusters()
    first = factory.connect(configured())
    assert factory.connect(configured()) is first and first.settings.qps == 5.0
    assert first.settings == ClusterSettings("c", server="http://127.0.0.1:1", qps=5.0, timeout_seconds=3.0)
    factory.close()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from kubesandbox import Sandbox

    sb = Sandbox.start(kubeconfig=tmp_path_factory.mktemp("rest") / "kubeconfig.yaml")
    yield sb
    sb.stop()


def test_server_and_token_settings_reach_the_sandbox(sandbox: Any, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("sandbox-token\n")
    cluster = KubeCluster(ClusterSettings("sb", server=sandbox.url, token_file=str(token)))
    assert cluster.get(ObjectRef("", "Namespace", "", "default", "v1")) is not None
    with pytest.raises(NotFound):
        cluster.resource_for("nothere.example.com/v1", "Thing")
    with pytest.raises(Invalid):
        cluster.apply(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "x", "namespace": "default"},
                "data": {"k": {"nested": "not a string"}},
            },
            field_manager="t",
        )
    assert not cluster.delete(ObjectRef("", "ConfigMap", "default", "never-existed", "v1"))


def test_discovery_finds_crd_kinds_after_invalidation(sandbox: Any) -> None:
    cluster = KubeCluster(ClusterSettings("sb", kubeconfig=str(sandbox.kubeconfig_path)))
    with pytest.raises(NotFound):
        cluster.resource_for("disc.example.com/v1", "Gadget")
    cluster.apply(
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "gadgets.disc.example.com"},
            "spec": {
                "group": "disc.example.com",
                "scope": "Cluster",
                "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            }
                        },
                    }
                ],
            },
        },
        field_manager="t",
    )
    cluster.invalidate_discovery()
    info = cluster.resource_for("disc.example.com/v1", "Gadget")
    assert (info.plural, info.namespaced) == ("gadgets", False)
    cluster.apply(
        {"apiVersion": "disc.example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}}, field_manager="t"
    )
    assert [g["metadata"]["name"] for g in cluster.list("disc.example.com/v1", "Gadget")] == ["g"]


def test_wait_returns_progressing_at_the_deadline_instead_of_blocking() -> None:
    cluster = FakeCluster()
    dep = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "n"},
        "spec": {"replicas": 1},
    }
    cluster.apply(dep, field_manager="t")
    ref = ObjectRef("apps", "Deployment", "n", "d", "v1")
    now = [0.0]

    def sleep(s: float) -> None:
        now[0] += s
        if now[0] >= 3:  # the "controller" finishes the rollout after 3 seconds
            cluster.objects[("apps", "Deployment", "n", "d")]["status"] = {
                "replicas": 1,
                "updatedReplicas": 1,
                "availableReplicas": 1,
            }

    done = wait_healthy(cluster, [ref], timeout=10, interval=1, clock=lambda: now[0], sleep=sleep)
    assert not done.timed_out and done.status is HealthStatus.HEALTHY and now[0] == 3
    cluster.objects[("apps", "Deployment", "n", "d")]["status"] = {}
    now[0] = 0.0
    stuck = wait_healthy(
        cluster,
        [ref, ObjectRef("", "ConfigMap", "n", "gone", "v1")],
        timeout=2,
        interval=1,
        clock=lambda: now[0],
        sleep=lambda s: now.__setitem__(0, now[0] + s),
    )
    assert stuck.timed_out and stuck.status is HealthStatus.MISSING


class _CutServer:
    """A loopback HTTP server answering every request with a JSON object; the first ``cut``
    responses send their headers and half the body, then close the connection."""

    BODY = json.dumps(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "x", "namespace": "default"},
            "data": {"k": "v" * 200},
        }
    ).encode()

    def __init__(self, cut: int | None) -> None:
        self.cut = cut
        self.served = 0
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                while True:
                    length = 0
                    line = self.rfile.readline()
                    if not line:
                        return
                    while line not in (b"\r\n", b"\n", b""):
                        name, _, value = line.decode("latin-1").partition(":")
                        if name.strip().lower() == "content-length":
                            length = int(value.strip())
                        line = self.rfile.readline()
                    self.rfile.read(length)
                    outer.served += 1
                    head = (
                        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        f"Content-Length: {len(outer.BODY)}\r\n\r\n"
                    ).encode()
                    if outer.cut is None or outer.served <= outer.cut:
                        self.wfile.write(head + outer.BODY[: len(outer.BODY) // 2])
                        self.wfile.flush()
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    self.wfile.write(head + outer.BODY)
                    self.wfile.flush()

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> _CutServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_body_cut_mid_response_is_a_temporary_error_and_retried() -> None:
    ref = ObjectRef("", "ConfigMap", "default", "x", "v1")
    with _CutServer(cut=1) as server:  # the first answer is cut, the retry is whole
        cluster = KubeCluster(
            ClusterSettings("cut", server=server.url, timeout_seconds=5),
            retry_policy=RetryPolicy(attempts=3, base_delay=0.0),
        )
        got = cluster.get(ref)
        assert got is not None and got["data"]["k"] == "v" * 200 and server.served == 2
        cluster.close()
    with _CutServer(cut=None) as server:  # every answer is cut: a temporary error, never urllib3's
        cluster = KubeCluster(
            ClusterSettings("cut", server=server.url, timeout_seconds=5),
            retry_policy=RetryPolicy(attempts=2, base_delay=0.0),
        )
        with pytest.raises(ClusterUnavailable) as info:
            cluster.apply(
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "default"}},
                field_manager="t",
            )
        assert info.value.temporary and server.served == 2 and "cut" in str(info.value)
        cluster.close()
