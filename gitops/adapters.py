"""Production adapters of the engine's ports: Git (pygit2), the renderers, clusters over HTTP.

The Source port (gitops.engine) over gitops.sources, the Renderer port (gitops.render) over
renderers.api, the ClusterFactory port (gitops.cluster) by gitops.cluster.rest, and an optional
Verifier (gitops.verify).

:func:`production_ports` is the one wiring of the real ports, used by the CLI (``render``, ``diff``,
``sync``) and the workers (workers/engine_port.py); it takes the optional image :class:`Verifier`.
Key design choice: gitops/engine.py never imports this module, so importing the engine (or anything
that only needs its types) loads neither ``pygit2`` nor ``kubernetes``; tests wire fakes from
gitops.testing instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from gitops import domain
from gitops.cluster.rest import KubeClusters
from gitops.engine import Ports
from gitops.render import RemoteLoader
from gitops.sources import GitSource, RepoSpec
from gitops.sources.remote_bases import RemoteBaseLoader, configured_hosts
from gitops.verify import NoVerifier, Verifier
from renderers.api import RenderRequest
from renderers.api import render as render_manifests
from renderers.manifest import Manifest


class GitSourcePort:
    """The Source port over gitops.sources.GitSource. ``repositories`` (the configured ones) give the
    default allow-list of hosts for Kustomize remote bases."""

    def __init__(self, git: GitSource, repositories: Iterable[domain.Repository] = ()) -> None:
        self.git = git
        self.remote_base_hosts = configured_hosts(repositories)

    def resolve(self, repository: domain.Repository, revision: str | None) -> str:
        spec = RepoSpec.from_config(repository)
        if revision is None:
            return self.git.head(spec)
        return self.git.snapshot(spec, revision).revision

    def checkout(self, repository: domain.Repository, revision: str) -> Path:
        return self.git.snapshot(RepoSpec.from_config(repository), revision).path

    def commit_time(self, repository: domain.Repository, revision: str) -> float | None:
        return self.git.commit_time(RepoSpec.from_config(repository), revision)

    def remote_loader(self, repository: domain.Repository) -> RemoteLoader:
        return RemoteBaseLoader(self.git, RepoSpec.from_config(repository),
                                default_hosts=self.remote_base_hosts)


class RenderersPort:
    """The Renderer port over renderers.api.render."""

    def render(self, root: Path, source: domain.AppSource, parameters: Mapping[str, object],
               remote_loader: RemoteLoader | None = None) -> list[Manifest]:
        return render_manifests(RenderRequest(root=root, path=source.path, renderer=str(source.renderer),
                                              options=dict(source.options), parameters=parameters,
                                              remote_loader=remote_loader, budget=source.budget))


def production_ports(git: GitSource | Path, verifier: Verifier | None = None,
                     repositories: Iterable[domain.Repository] = ()) -> Ports:
    """The real ports: Git (a GitSource, or its cache directory), the renderers, clusters over HTTP,
    and ``verifier`` (none: verification is a no-op). ``repositories`` (the configured ones) give the
    default allow-list for Kustomize remote bases."""
    source = git if isinstance(git, GitSource) else GitSource(git)
    return Ports(GitSourcePort(source, repositories), RenderersPort(), KubeClusters(),
                 verifier or NoVerifier())
