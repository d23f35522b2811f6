"""Fakes of the engine's Source, Renderer and ClusterFactory ports (see gitops/engine.py).

``FakeSource`` hands out one directory as the snapshot of every revision (and ``committed`` as the
commit time of each); ``StaticRenderer`` returns
the manifests a test put in it (mutable between reconciles, or an exception to raise);
``FakeClusters`` returns one prepared Cluster per configured cluster name.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gitops import domain
from gitops.cluster import Cluster
from gitops.engine import Ports
from gitops.testing.cluster import FakeCluster
from renderers.manifest import Manifest


@dataclass
class FakeSource:
    root: Path = Path(".")
    revision: str = "0" * 40
    resolved: int = 0
    committed: float | None = None

    def resolve(self, repository: domain.Repository, revision: str | None) -> str:
        self.resolved += 1
        return revision or self.revision

    def checkout(self, repository: domain.Repository, revision: str) -> Path:
        return self.root

    def remote_loader(self, repository: domain.Repository) -> Callable[[str], Path] | None:
        return None

    def commit_time(self, repository: domain.Repository, revision: str) -> float | None:
        return self.committed


@dataclass
class StaticRenderer:
    manifests: list[Manifest] = field(default_factory=list)
    error: Exception | None = None

    def render(self, root: Path, source: domain.AppSource, parameters: Mapping[str, object],
               remote_loader: Callable[[str], Path] | None = None) -> list[Manifest]:
        if self.error is not None:
            raise self.error
        return copy.deepcopy(self.manifests)


@dataclass
class FakeClusters:
    clusters: dict[str, Cluster] = field(default_factory=dict)

    def connect(self, cluster: domain.Cluster) -> Cluster:
        found = self.clusters.get(cluster.name)
        if found is None:
            found = self.clusters[cluster.name] = FakeCluster(cluster.name)
        return found


def fake_ports(manifests: list[Manifest], cluster: Cluster | None = None, name: str = "fake") -> Ports:
    """Ports with a static renderer over ``manifests`` and ``cluster`` (a FakeCluster by default)."""
    return Ports(FakeSource(), StaticRenderer(manifests), FakeClusters({name: cluster or FakeCluster(name)}))
