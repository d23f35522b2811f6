"""The real-cluster suite: the engine (gitops.engine.reconcile through its Ports, with the real
KubeCluster) against a real Kubernetes API server with its controllers, where the sandbox cannot
speak for Kubernetes (docs/real-cluster.md).

Marker: every test here uses the ``real_cluster`` fixture, so tests/conftest.py marks it
``real_cluster`` at collection (``pytest -m real_cluster`` selects the real-server tests, these and
the sync tests' cluster variants). The cluster is the ``real_cluster`` fixture of tests/conftest.py:
``GITOPS_E2E_KUBECONFIG``'s cluster, else the control plane built from Kubernetes' Go modules
(gitops/testing/controlplane.py: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and a
kwok node), started once per session. Without its binaries a developer's run skips; under
``CI=true`` it fails, so CI never goes green by skipping them. Nothing here skips on its own.

The per-test environment is the sync tests' own (tests/gitops/sync/conftest.py): ``env`` is one
application in a fresh namespace, ``env.sync(manifests, **request)`` runs one reconcile and
``env.kubectl_patch`` edits an object as another field manager. ``leftovers`` deletes what a test
made outside its namespace; ``eventually`` is the one way these tests wait for a controller.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from gitops.clock import poll_until
from gitops.vocabulary import ObjectRef
from tests.gitops.sync.conftest import Backend, Env
from tests.gitops.sync.conftest import env as env  # the per-test namespace and its clean-up

T = TypeVar("T")
__all__ = ["Env", "eventually", "live", "ref"]


@pytest.fixture(scope="session")
def backend(real_cluster: Path) -> Backend:
    """The real API server, as the sync tests' ``env`` fixture expects its backend."""
    return Backend("cluster", real_cluster)


@pytest.fixture
def leftovers(env: Env) -> Iterator[list[ObjectRef]]:
    """Objects a test creates outside its namespace (namespaces of its own): deleted after it."""
    made: list[ObjectRef] = []
    yield made
    for ref in made:
        env.cluster.delete(ref)


def eventually(check: Callable[[], T], what: str, timeout: float = 90.0) -> T:
    """Poll ``check`` (gitops.clock.poll_until) until it returns something truthy, and return it; the
    test fails naming ``what`` when a controller never gets there (the deadline only ends a hang)."""
    value = poll_until(check, timeout, every=0.1)
    if not value:
        pytest.fail(f"{what}: not reached within {timeout:.0f} s", pytrace=False)
    return value


def ref(env: Env, api_version: str, kind: str, name: str, namespace: str | None = None) -> ObjectRef:
    """The reference of an object of ``env`` (in its namespace unless told; "" for cluster-scoped)."""
    group, _, version = api_version.rpartition("/")
    return ObjectRef(group, kind, env.namespace if namespace is None else namespace, name, version)


def live(env: Env, api_version: str, kind: str, name: str,
         namespace: str | None = None) -> dict[str, Any] | None:
    """The object as the API server has it now (None when it does not exist)."""
    return env.cluster.get(ref(env, api_version, kind, name, namespace))
