"""Suite-wide test settings.

Hypothesis explores new random examples on every local run, so developers keep finding edge cases;
under CI (``CI=true``) it is derandomized, so a run's outcome depends only on the code under test.

Shared material (``../shared``: the Kubernetes OpenAPI document, the Kustomize corpus, the SSA
oracle) is reached through the ``shared`` fixture: without it a developer's run skips those tests, but
under CI a missing piece fails them, so CI can never go green by skipping its reference checks.

``forbid`` is how a test shows that a guard refuses hostile input *before* an expensive step (instead
of timing it): the step is replaced by one that fails the test if it is ever called.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
from hypothesis import settings

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
Missing = Callable[[str], NoReturn]

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def missing_reference(what: str) -> NoReturn:
    """Skip locally, fail under CI: reference material and tools CI is expected to provide."""
    if os.environ.get("CI"):
        pytest.fail(f"{what}: CI must run these tests (.ci/run provides it)", pytrace=False)
    pytest.skip(what)


@pytest.fixture(scope="session")
def missing() -> Missing:
    """:func:`missing_reference`, for conftests and tests that find references of their own."""
    return missing_reference


@pytest.fixture(scope="session")
def shared() -> Callable[[str], Path]:
    """``shared("kubernetes/swagger.json")``: the path in ../shared, or a skip (a failure under CI)."""
    def get(relative: str) -> Path:
        path = SHARED / relative
        if not path.exists():
            missing_reference(f"../shared/{relative} is absent")
        return path
    return get


@pytest.fixture
def forbid(monkeypatch: pytest.MonkeyPatch) -> Callable[..., list[str]]:
    """``called = forbid((yaml, "load_all"), ...)``: each ``(owner, attribute)`` fails the test when
    called (the names called are also listed in ``called``, in case the code under test swallows the
    failure: assert ``called == []`` afterwards)."""
    def install(*targets: tuple[object, str]) -> list[str]:
        called: list[str] = []
        for owner, name in targets:
            def refuse(*args: object, _name: str = name, **kwargs: object) -> NoReturn:
                called.append(_name)
                raise AssertionError(f"{_name} was called: the guard should have refused the input first")
            monkeypatch.setattr(owner, name, refuse)
        return called
    return install


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Debian's docker-registry on a free loopback port with its own storage, for the module's tests
    (tests/gitops/verify/registry_kit.py); a skip (a failure under CI) when it is not installed."""
    sys.path.insert(0, str(Path(__file__).resolve().parent / "gitops" / "verify"))
    from registry_kit import REGISTRY_BINARY, start_registry

    if not REGISTRY_BINARY.exists():
        missing_reference(f"{REGISTRY_BINARY} is absent (Debian's docker-registry)")
    running = start_registry(tmp_path_factory.mktemp("registry"))
    yield running
    running.stop()


@pytest.fixture
def pusher(registry: Any) -> Iterator[Any]:
    """A client that writes images, signatures and referrers to ``registry`` the way the tools do
    (registry_kit.Pusher)."""
    from registry_kit import Pusher  # on sys.path once the registry fixture ran

    push = Pusher(registry)
    yield push
    push.close()


@pytest.fixture(scope="session")
def real_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The kubeconfig of a real API server: ``GITOPS_E2E_KUBECONFIG`` when set (a cluster of your own),
    else the control plane built from Kubernetes' Go modules (gitops/testing/controlplane.py), started
    once per session with controllers, scheduler and a kwok node. Skips when its binaries were not built
    (``scripts/build-go-tools kube etcd kwok``; a failure under CI, where .ci/run builds them)."""
    given = os.environ.get("GITOPS_E2E_KUBECONFIG")
    if given:
        yield Path(given)
        return
    from gitops.testing.controlplane import Binaries, ControlPlane, ControlPlaneError

    try:
        binaries = Binaries.build(built_only=True)
    except ControlPlaneError as exc:
        missing_reference(f"no real control plane: {exc}")
    plane = ControlPlane(tmp_path_factory.mktemp("control-plane"), binaries)
    try:
        plane.start()
    except ControlPlaneError as exc:
        pytest.fail(f"the real control plane did not start: {exc}", pytrace=False)
    try:
        yield plane.kubeconfig
    finally:
        plane.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that runs against a real API server ``real_cluster`` (``pytest -m real_cluster``
    runs that suite alone): those using the fixture, and the ``cluster`` variants of the sync tests."""
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "real_cluster" in getattr(item, "fixturenames", ()) or params.get("backend") == "cluster":
            item.add_marker(pytest.mark.real_cluster)
