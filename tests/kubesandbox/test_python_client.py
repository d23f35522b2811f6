"""The official kubernetes Python client against the sandbox: typed APIs through ``ApiClient``,
``DynamicClient`` discovery and server-side apply, watch, and error translation."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes import dynamic, watch
from kubernetes.client.rest import ApiException
from urllib3.util.retry import Retry

from gitops.clock import poll_until
from kubesandbox import FaultRule, Sandbox


@pytest.fixture
def api(sandbox: Sandbox) -> Iterator[k8s.ApiClient]:
    assert sandbox.kubeconfig_path is not None
    api_client = k8s_config.new_client_from_config(config_file=str(sandbox.kubeconfig_path))
    yield api_client
    api_client.close()


def test_typed_api_crud(api: k8s.ApiClient) -> None:
    core = k8s.CoreV1Api(api)
    names = [n.metadata.name for n in core.list_namespace().items]
    assert "default" in names
    cm = k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="typed", labels={"a": "b"}), data={"k": "v"})
    made = core.create_namespaced_config_map("default", cm)
    assert made.metadata.uid and made.metadata.resource_version
    assert core.read_namespaced_config_map("typed", "default").data == {"k": "v"}
    assert [
        c.metadata.name for c in core.list_namespaced_config_map("default", label_selector="a=b").items
    ] == ["typed"]
    core.patch_namespaced_config_map("typed", "default", {"data": {"k": "w"}})
    assert core.read_namespaced_config_map("typed", "default").data == {"k": "w"}
    core.delete_namespaced_config_map("typed", "default")
    with pytest.raises(ApiException) as err:
        core.read_namespaced_config_map("typed", "default")
    assert err.value.status == 404


def test_typed_apps_api_and_status(sandbox: Sandbox, api: k8s.ApiClient) -> None:
    apps = k8s.AppsV1Api(api)
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]},
            },
        },
    }
    apps.create_namespaced_deployment("default", body)
    assert sandbox.settle()  # the simulated rollout is over
    status = apps.read_namespaced_deployment_status("web", "default").status
    assert status.available_replicas == 1 and status.observed_generation == 1


def test_dynamic_client_discovery_and_server_side_apply(api: k8s.ApiClient) -> None:
    dyn = dynamic.DynamicClient(api)
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    assert deployments.namespaced and deployments.name == "deployments"
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]},
            },
        },
    }
    applied = deployments.server_side_apply(
        body=manifest, name="web", namespace="default", field_manager="gitops"
    )
    assert applied.spec.replicas == 2
    manifest["spec"]["replicas"] = 3
    with pytest.raises(ApiException) as err:
        deployments.server_side_apply(body=manifest, name="web", namespace="default", field_manager="other")
    assert err.value.status == 409 and ".spec.replicas" in str(err.value.body)
    dry = deployments.server_side_apply(
        body=manifest, name="web", namespace="default", field_manager="gitops", dry_run="All"
    )
    assert dry.spec.replicas == 3
    assert deployments.get(name="web", namespace="default").spec.replicas == 2


def test_watch_stream_with_python_client(sandbox: Sandbox, api: k8s.ApiClient) -> None:
    core = k8s.CoreV1Api(api)
    rv = core.list_namespaced_config_map("default").metadata.resource_version

    def later() -> None:  # once the watch request reached the server
        assert poll_until(lambda: sandbox.stats.count(verb="watch") == 1, 10)
        core.create_namespaced_config_map("default", {"metadata": {"name": "w1"}})
        core.delete_namespaced_config_map("w1", "default")

    thread = threading.Thread(target=later)
    thread.start()
    seen = []
    w = watch.Watch()
    for event in w.stream(core.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=5):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 2:
            w.stop()
    thread.join()
    assert seen == [("ADDED", "w1"), ("DELETED", "w1")]


def test_faults_reach_the_client(sandbox: Sandbox, api: k8s.ApiClient,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    core = k8s.CoreV1Api(api)
    sandbox.faults.add(FaultRule(verb="list", status=500))
    with pytest.raises(ApiException) as err:
        core.list_namespaced_config_map("default")
    assert err.value.status == 500
    # urllib3 (under the kubernetes client) honours Retry-After on 429/503 by itself: one 429 is
    # invisible to the caller apart from the delay, and the sandbox counts both requests.
    waits: list[float | None] = []  # what urllib3 waited before retrying, recorded instead of slept

    def sleep_for_retry(self: Retry, response: object) -> bool:
        waits.append(self.get_retry_after(response))  # type: ignore[arg-type]
        return True

    monkeypatch.setattr(Retry, "sleep_for_retry", sleep_for_retry)
    sandbox.stats.reset()
    sandbox.faults.add(FaultRule(verb="list", status=429, retry_after=1))
    core.list_namespaced_config_map("default")
    assert waits == [1.0] and sandbox.stats.count(verb="list") == 2
