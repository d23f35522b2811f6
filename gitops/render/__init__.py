"""Render: the desired manifests of one application for one cluster, from one snapshot.

The engine's glue around the ``renderers`` package (which knows nothing of the engine): the
:class:`Renderer` port (production adapter ``gitops.adapters.RenderersPort`` over ``renderers.api.render``;
fake ``gitops.testing.StaticRenderer``) and :func:`render`, the step that renders a snapshot with the
cluster's parameters (``renderers.api.cluster_parameters``) and turns a ``RenderError`` into
:class:`gitops.errors.RenderFailed` once, naming files as they are in the repository and redacted (a remote
base URL written in the repository may carry a token, and this is the one way render errors leave for
results, status, logs and Redis). :mod:`.manifests` checks what came out (``validate``) and prepares it for
one cluster (``prepare``: namespace, ownership label and annotation). Called by gitops/engine.py and,
through the engine's ``render`` step, by ``gitops render``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from gitops import domain
from gitops.errors import RenderFailed
from gitops.vocabulary import Target
from renderers.api import cluster_parameters
from renderers.errors import RenderError
from renderers.manifest import Manifest

RemoteLoader = Callable[[str], Path]


class Renderer(Protocol):
    """Manifests of one application at one snapshot (raises RenderError or RenderFailed)."""

    def render(self, root: Path, source: domain.AppSource, parameters: Mapping[str, object],
               remote_loader: RemoteLoader | None = None) -> list[Manifest]: ...


def render(renderer: Renderer, root: Path, application: domain.Application, cluster: domain.Cluster, *,
           revision: str, remote_loader: RemoteLoader | None = None) -> list[Manifest]:
    """Render ``application`` for ``cluster`` from the snapshot at ``root``; RenderError becomes
    RenderFailed here, once (temporary when Git could not fetch a remote base in time), its message
    (with its path) redacted."""
    params = cluster_parameters(cluster=cluster.name, labels=cluster.labels, application=application.name,
                                namespace=application.destination.namespace,
                                parameters=application.source.parameters)
    try:
        return renderer.render(root, application.source, params, remote_loader)
    except RenderError as exc:
        from gitops.sources.urls import redact_text  # not at the top: the sources package loads pygit2

        # Name files as they are in the repository, not by where its snapshot sits in the cache.
        message = redact_text(str(exc).replace(f"{root}/", "").replace(str(root), "."))
        target = Target(application.name, cluster.name)
        raise RenderFailed.wrapping(exc, message, target=target.key, revision=revision) from exc
