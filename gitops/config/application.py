"""The ``Application`` and ``ApplicationSet`` kinds (``VerificationPolicy`` is in :mod:`.verification`).

Called by the loader (:mod:`gitops.config.loader`), which validates ``spec`` against the ``*Spec``
model and builds the public model with ``name`` from metadata. ``gitops.config.to_fleet`` converts
``Application`` into the engine's values: ``source`` feeds ``renderers.api.render``, ``destination``
picks the cluster, ``sync_policy`` drives apply/prune/self-heal and ``ignore_differences`` the drift
comparison. An ``ApplicationSet``'s generators and template are validated structurally by the models of
:mod:`gitops.config.generators`. References to clusters and repositories are
checked by the loader, which sees every document.
"""

from __future__ import annotations

import posixpath
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from gitops.config.dependencies import DependencyRef
from gitops.config.fanout import SetSyncPolicy, Strategy
from gitops.config.fields import Model, Name, PositiveDuration, Text
from gitops.config.generators import ApplicationTemplate, Generator
from gitops.config.health import HealthCheckExprs
from gitops.config.models import GitRef
from gitops.domain import RendererName
from gitops.keys import DEFAULT_FIELD_MANAGER
from renderers import budget as render_budget
from renderers.k8s import jsonpointer


def _app_path(value: str) -> str:
    if "\x00" in value or "\\" in value:
        raise ValueError("must be a relative POSIX path (no NUL or backslash)")
    if value.startswith("/"):
        raise ValueError("must be relative to the repository root, not absolute")
    normal = posixpath.normpath(value or ".")
    if normal == ".." or normal.startswith("../"):
        raise ValueError("must stay inside the repository ('..' leads out of it)")
    return normal


def _field_manager(value: str) -> str:
    if len(value) > 128:
        raise ValueError("a field manager name has at most 128 characters")
    return value


AppPath = Annotated[str, AfterValidator(_app_path)]
JsonPointer = Annotated[str, AfterValidator(jsonpointer.validate)]  # PointerError is a ValueError
FieldManager = Annotated[Text, AfterValidator(_field_manager)]

_UNITS = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3}


def _bytes(value: Any) -> Any:
    """``512Mi``, ``2Gi``, ``65536Ki`` or a plain integer of bytes."""
    if isinstance(value, str) and value[-2:] in _UNITS and value[:-2].isdigit():
        return int(value[:-2]) * _UNITS[value[-2:]]
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value  # the strict int check reports the wrong type


def _limit(name: str) -> Any:
    low, high = render_budget.LIMITS[name]
    return Field(default=getattr(render_budget.DEFAULT, name), ge=low, le=high)


Bytes = Annotated[int, BeforeValidator(_bytes)]


class RenderBudget(Model):
    """What one render of this application may use (docs/renderers.md, "Render budgets")."""

    cpu_seconds: int = _limit("cpu_seconds")
    """CPU seconds of the render process (and of Helm's)."""
    memory_bytes: Bytes = _limit("memory_bytes")
    """Memory the render may allocate."""
    max_objects: int = _limit("max_objects")
    """Objects in the output and in any intermediate Kustomize resource map."""
    max_output_bytes: Bytes = _limit("max_output_bytes")
    """Serialised size of the rendered manifests."""
    max_yaml_nodes: int = _limit("max_yaml_nodes")
    """YAML nodes parsed over all files, aliases expanded."""

    def to_budget(self) -> render_budget.Budget:
        return render_budget.Budget(**self.model_dump())


class AppSource(Model):
    """Where the manifests come from and how to render them."""

    repository: Text
    """A Repository name (must be configured)."""
    path: AppPath
    """Directory inside the repository, relative to its root."""
    revision: GitRef | None = None
    """Branch, tag or commit (default: the Repository's ``ref``)."""
    renderer: RendererName = "plain"
    """How the directory is rendered."""
    options: dict[str, Any] = {}
    """Renderer options, passed through to the renderer."""
    parameters: dict[str, Any] = {}
    """Values for the renderer (Jinja variables, Helm values)."""
    budget: RenderBudget = RenderBudget()
    """What one render may use."""


class Destination(Model):
    """The cluster (by name) and the default namespace for namespaced objects without one."""

    cluster: Text
    """A Cluster name (must be configured)."""
    namespace: Name | None = None
    """Namespace for namespaced objects that name none."""


class RetryPolicy(Model):
    """Exponential backoff for failed syncs: ``backoff * factor**n``, capped at ``maxBackoff``."""

    limit: int = Field(default=5, ge=0, le=1000)
    """Retries of a failed sync."""
    backoff_seconds: PositiveDuration = Field(default=5.0, validation_alias="backoff")
    """First delay."""
    factor: float = Field(default=2.0, ge=1.0, le=100.0)
    """Multiplier per retry."""
    max_backoff_seconds: PositiveDuration = Field(default=300.0, validation_alias="maxBackoff")
    """Delay cap; not shorter than ``backoff``."""

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.max_backoff_seconds < self.backoff_seconds:
            raise ValueError("maxBackoff must not be shorter than backoff")
        return self


class SyncPolicy(Model):
    """How and when the engine applies: see docs/configuration.md for each switch."""

    automated: bool = False
    """Sync automatically when Git changes (otherwise only on request)."""
    prune: bool = False
    """Delete objects that left Git."""
    self_heal: bool = False
    """Re-apply when the live state drifts from Git."""
    detect_only: bool = False
    """Only report drift, never apply."""
    allow_recreate: bool = False
    """Delete and recreate objects whose immutable fields changed."""
    prune_max_share: float = Field(default=0.5, ge=0.0, le=1.0)
    """Refuse a prune deleting more than this share of the inventory."""
    allow_empty: bool = False
    """Allow a sync that renders no objects (which would prune everything)."""
    field_manager: FieldManager = DEFAULT_FIELD_MANAGER
    """Server-side apply field manager name."""
    retry: RetryPolicy = RetryPolicy()
    """Backoff of failed syncs."""


class IgnoreRule(Model):
    """Differences to ignore on matching objects: JSON pointers, or fields owned by other managers."""

    group: str = ""
    """API group of the objects (``""``: the core group)."""
    kind: Text
    """Kind of the objects."""
    name: Text | None = None
    """Only the object of this name."""
    namespace: Text | None = None
    """Only objects in this namespace."""
    json_pointers: list[JsonPointer] = []
    """Fields (RFC 6901 pointers) whose differences are ignored."""
    managers: list[Text] = Field(default=[], validation_alias="managedFieldsManagers")
    """Field managers whose fields are left to them (an HPA owning ``/spec/replicas``)."""

    @model_validator(mode="after")
    def _something(self) -> Self:
        if not self.json_pointers and not self.managers:
            raise ValueError("name at least one of jsonPointers or managedFieldsManagers")
        return self


class ApplicationSpec(Model):
    """``spec`` of an ``Application``: what to deploy (``source``), where (``destination``), how
    (``syncPolicy``), and what it waits for (``dependsOn``)."""

    source: AppSource
    """Where the manifests come from and how to render them."""
    destination: Destination
    """The cluster and the default namespace."""
    sync_policy: SyncPolicy = SyncPolicy()
    """How and when the engine applies."""
    ignore_differences: list[IgnoreRule] = []
    """Differences to ignore on matching objects."""
    depends_on: list[DependencyRef] = []
    """Applications that must be Synced and Healthy first (docs/dependencies.md)."""
    health_check_exprs: HealthCheckExprs = []
    """CEL health rules for custom kinds (docs/health.md)."""


class Application(ApplicationSpec):
    """What to deploy (``source``), where (``destination``) and how (``sync_policy``); ``name`` and
    ``labels`` come from metadata (labels select applications in the API, the dashboard and policies)."""

    name: Name
    labels: dict[str, str] = {}


class ApplicationSetSpec(Model):
    """Generators produce parameter sets, each rendered through ``template`` (docs/configuration.md,
    "ApplicationSet generators"; generated by :mod:`gitops.appset`); ``syncPolicy`` and ``strategy``
    (:mod:`gitops.config.fanout`) say what the controller may change and how changes roll out."""

    generators: list[Generator] = Field(min_length=1)
    """The parameter sets (each entry one generator)."""
    template: ApplicationTemplate
    """The Application each parameter set renders."""
    sync_policy: SetSyncPolicy = SetSyncPolicy()
    """What the controller may change (docs/applicationsets.md)."""
    strategy: Strategy = Strategy()
    """How changes roll out."""


class ApplicationSet(ApplicationSetSpec):
    name: Name
