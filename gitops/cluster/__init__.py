"""The cluster: the ``Cluster`` port (the few Kubernetes API calls the engine makes), the
``ClusterFactory`` port that connects one, and their shared helpers.

render (namespaces of kinds), plan, apply, prune and health talk to a cluster only through this
Protocol. Adapters in this package: ``rest`` (``KubeCluster``/``KubeClusters``, over the
``kubernetes`` client's ApiClient: the only module of the engine that imports ``kubernetes``, loaded
by gitops.adapters only), with ``throttle`` (client-side rate limit and retries) and ``translate``
(HTTP status to the gitops.errors tree); ``parallel`` runs independent cluster calls concurrently.
``gitops.testing.FakeCluster`` implements the port in memory, so the pure logic is tested without a
server. Every method raises the gitops.errors ClusterError subclasses (never a third-party
exception). REST paths are built here from validated names only, so a hostile ``metadata.name`` like
``../../secrets`` can never address another resource.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol
from urllib.parse import quote

from gitops import domain
from gitops.errors import InputError
from gitops.vocabulary import ObjectRef
from renderers.k8s.schema import resources
from renderers.manifest import Manifest

_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._:@-]{0,251}[A-Za-z0-9])?$")
_SEGMENT = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")


@dataclass(frozen=True)
class ResourceInfo:
    """What discovery says about one kind: how to address it."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


@lru_cache(maxsize=1)
def _builtin() -> dict[tuple[str, str], ResourceInfo]:
    return {(r.api_version, r.kind): ResourceInfo(r.group, r.version, r.kind, r.plural, r.namespaced)
            for r in resources()}


def builtin(api_version: str, kind: str) -> ResourceInfo | None:
    """A built-in kind from the static catalog (no discovery request needed), else None."""
    return _builtin().get((api_version, kind))


class Cluster(Protocol):
    """A Kubernetes API server, as the engine uses it. ``name`` is the configured cluster name."""

    name: str

    def resource_for(self, api_version: str, kind: str) -> ResourceInfo:
        """Discovery (cached): raises NotFound when the kind is not served."""
        ...

    def invalidate_discovery(self) -> None:
        """Forget discovered kinds (after CRDs change)."""
        ...

    def get(self, ref: ObjectRef) -> Manifest | None:
        """The live object, ``None`` when it does not exist."""
        ...

    def list(self, api_version: str, kind: str, *, namespace: str | None = None,
             label_selector: str | None = None) -> list[Manifest]:
        """Objects of one kind (all namespaces when ``namespace`` is None), each with kind/apiVersion."""
        ...

    def apply(self, obj: Manifest, *, field_manager: str, force: bool = False,
              dry_run: bool = False) -> Manifest:
        """Server-side apply; ``dry_run`` returns the predicted object without persisting it."""
        ...

    def delete(self, ref: ObjectRef, *, propagation: str = "Background") -> bool:
        """Delete; ``False`` when the object was already gone."""
        ...

    def create(self, obj: Manifest, *, field_manager: str) -> Manifest:
        """Create (POST): for objects named by ``metadata.generateName`` (sync hooks); returns the
        stored object with the name the server chose; Conflict when the name is taken."""
        ...


class ClusterFactory(Protocol):
    """The engine's port to reach a configured cluster (production: ``rest.KubeClusters``)."""

    def connect(self, cluster: domain.Cluster) -> Cluster: ...


def check_name(value: str, what: str, *, obj: str | None = None) -> str:
    """``value`` when it is a safe object name (no slashes, no ``..``), else InputError."""
    if not isinstance(value, str) or not _NAME.match(value) or ".." in value:
        raise InputError(f"invalid {what} {value!r}: must be a DNS-style name without '/' or '..'",
                         field=f"metadata.{what}" if obj is None else f"{obj}: metadata.{what}")
    return value


def collection_path(info: ResourceInfo, namespace: str | None) -> str:
    """``/api/v1/namespaces/ns/configmaps`` or ``/apis/apps/v1/deployments`` (all namespaces)."""
    for part in (info.group, info.version, info.plural):
        if part and not _SEGMENT.match(part):
            raise InputError(f"invalid API path segment {part!r}")
    base = f"/apis/{info.group}/{info.version}" if info.group else f"/api/{info.version}"
    if info.namespaced and namespace:
        base += f"/namespaces/{quote(check_name(namespace, 'namespace'), safe='')}"
    return f"{base}/{info.plural}"


def object_path(info: ResourceInfo, namespace: str | None, name: str) -> str:
    if info.namespaced and not namespace:
        raise InputError(f"{info.kind} {name!r} is namespaced but has no namespace",
                         field="metadata.namespace")
    return f"{collection_path(info, namespace)}/{quote(check_name(name, 'name'), safe='')}"
