"""What a kustomization accumulates: resources, transformer config, vars and custom schemas.

Built by the target builder (:mod:`.target`) for each kustomization and handed to the plugins
(:mod:`.plugins`) it runs; a module of its own so that both can use it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from renderers.k8s.schema import TypeNode, root_for
from renderers.kustomize import config as cfgmod
from renderers.kustomize import vars
from renderers.kustomize.resource import ResMap, Resource


@dataclass
class Acc:
    """What a kustomization accumulates: resources, transformer config, vars, custom schema."""

    resmap: ResMap = field(default_factory=ResMap)
    cfg: cfgmod.Config = field(default_factory=cfgmod.empty)
    vars: list[vars.Var] = field(default_factory=list)
    schemas: dict[str, TypeNode] = field(default_factory=dict)

    def schema(self, res: Resource) -> TypeNode:
        custom = self.schemas.get(f"{res.obj.get('apiVersion')}/{res.kind}")
        return custom if custom is not None else root_for(str(res.obj.get("apiVersion") or ""), res.kind)
