"""Latency guard: simple requests must stay in the low milliseconds over a keep-alive connection.

Bounds are an order of magnitude above what the sandbox measures (about 0.2-0.5 ms for a GET or a
ConfigMap write, 2-7 ms for a Deployment apply on a shared 2-core machine), so the test only fails on
real regressions such as Nagle's algorithm adding ~40 ms to every response.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from gitops.sandbox.client import Client

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"


def median_ms(action: Callable[[int], object], n: int = 40) -> float:
    samples = []
    for i in range(n):
        started = time.perf_counter()
        action(i)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def test_simple_requests_take_milliseconds(client: Client) -> None:
    create = median_ms(
        lambda i: client.post(
            CONFIGMAPS,
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{i}"}, "data": {"a": "b"}},
        )
    )
    get = median_ms(lambda i: client.get(f"{CONFIGMAPS}/c{i}"))
    discovery = median_ms(lambda i: client.get("/apis/apps/v1"))
    assert get < 10 and create < 15 and discovery < 10, (get, create, discovery)


def test_server_side_apply_latency(client: Client) -> None:
    def deployment(i: int, replicas: int) -> dict[str, object]:
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": f"d{i}"},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "w"}},
                "template": {
                    "metadata": {"labels": {"app": "w"}},
                    "spec": {"containers": [{"name": "w", "image": "nginx:1.25"}]},
                },
            },
        }

    created = median_ms(lambda i: client.apply(f"{DEPLOYMENTS}/d{i}", deployment(i, 1), manager="g"), n=20)
    changed = median_ms(lambda i: client.apply(f"{DEPLOYMENTS}/d{i}", deployment(i, 2), manager="g"), n=20)
    assert created < 60 and changed < 60, (created, changed)
