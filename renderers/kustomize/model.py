"""The kustomization file: find it, parse it, validate its fields' shapes.

Callers: the target builder. Unknown fields are errors (as in ``kubectl kustomize``, which decodes
strictly), so a typo never silently does nothing. The parsed file stays a plain dict whose list and
map fields are guaranteed to have the right container type.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from renderers.kustomize.errors import fail
from renderers.kustomize.loader import Loader

FILENAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
KIND_KUSTOMIZATION = "Kustomization"
KUSTOMIZATION_VERSION = "kustomize.config.k8s.io/v1beta1"
COMPONENT_VERSION = "kustomize.config.k8s.io/v1alpha1"
KIND_COMPONENT = "Component"

LISTS = frozenset({
    "resources", "bases", "components", "images", "replicas", "patches", "patchesStrategicMerge",
    "patchesJson6902", "configMapGenerator", "secretGenerator", "replacements", "vars", "configurations",
    "crds", "buildMetadata", "generators", "transformers", "validators", "labels", "helmCharts",
    "helmChartInflationGenerator"})
MAPS = frozenset({"commonLabels", "commonAnnotations", "generatorOptions", "sortOptions", "openapi",
                  "metadata", "helmGlobals", "inventory"})
SCALARS = frozenset({"apiVersion", "kind", "namespace", "namePrefix", "nameSuffix"})
KNOWN = LISTS | MAPS | SCALARS
UNSUPPORTED = frozenset({"helmCharts", "helmChartInflationGenerator", "helmGlobals"})


@dataclass(frozen=True)
class Kustomization:
    path: Path
    data: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.data.get("kind") or KIND_KUSTOMIZATION)

    def list(self, key: str) -> list[Any]:
        value = self.data.get(key)
        return list(value) if isinstance(value, list) else []

    def map(self, key: str) -> dict[str, Any]:
        value = self.data.get(key)
        return dict(value) if isinstance(value, dict) else {}

    def str(self, key: str) -> str:
        value = self.data.get(key)
        return "" if value is None else str(value)


def find(loader: Loader) -> str:
    """The kustomization file name in ``loader.cwd``."""
    if loader.probe(".") != "dir":
        raise fail(f"'{loader.cwd}' must be a directory containing a kustomization file", loader.cwd)
    present = [n for n in FILENAMES if loader.probe(n) == "file"]
    if not present:
        raise fail("unable to find one of 'kustomization.yaml', 'kustomization.yml' or 'Kustomization' "
                   f"in directory '{loader.cwd}'", loader.cwd)
    if len(present) > 1:
        raise fail(f"Found multiple kustomization files under: {loader.cwd}", loader.cwd)
    return present[0]


def load(loader: Loader) -> Kustomization:
    name = find(loader)
    source = loader.cwd / name
    docs = loader.load_yaml(name, yaml11=True)
    if len(docs) > 1:
        raise fail("a kustomization file must hold exactly one YAML document", source)
    data = docs[0] if docs else {}
    if not isinstance(data, dict):
        raise fail("a kustomization file must be a map", source)
    data = normalize(data, source)
    if not any(v is not None for k, v in data.items() if k not in ("apiVersion", "kind")):
        raise fail(f"{name} is empty", source)
    return Kustomization(source, data)


_CANONICAL = {name.lower(): name for name in KNOWN}
_STRING_MAPS = ("commonLabels", "commonAnnotations")


def normalize(data: dict[str, Any], source: Path) -> dict[str, Any]:
    """Field names matched case-insensitively (as Go's JSON decoding does), then validated."""
    out = {_CANONICAL.get(str(k).lower(), str(k)): v for k, v in data.items()}
    validate(out, source)
    return out


def _check_strings(value: Any, source: Path, key: str) -> None:
    if isinstance(value, dict):
        for name, item in value.items():
            if isinstance(item, (bool, int, float, list, dict)):
                raise fail(f"invalid Kustomization: cannot unmarshal {type(item).__name__} into field {key} "
                           f"of type string (key {name!r}; quote the value)", source, key)


MAP_ENTRIES = frozenset({"images", "replicas", "patches", "patchesJson6902", "configMapGenerator",
                         "secretGenerator", "replacements", "vars", "labels", "helmCharts"})
STR_ENTRIES = frozenset({"resources", "bases", "components", "configurations", "crds", "buildMetadata",
                         "patchesStrategicMerge", "generators", "transformers", "validators"})


def validate(data: dict[str, Any], source: Path) -> None:
    _validate_shapes(data, source)
    for key in _STRING_MAPS:
        _check_strings(data.get(key), source, key)
    for entry in data.get("labels") or []:
        if isinstance(entry, dict):
            _check_strings(entry.get("pairs"), source, "labels.pairs")
    for entry in data.get("images") or []:
        if isinstance(entry, dict):
            _check_strings({k: v for k, v in entry.items() if k in ("name", "newName", "newTag", "digest")},
                           source, "images")
    _check_strings(data.get("generatorOptions", {}).get("labels") if isinstance(
        data.get("generatorOptions"), dict) else None, source, "generatorOptions.labels")
    kind = data.get("kind")
    if kind not in (None, KIND_KUSTOMIZATION, KIND_COMPONENT):
        raise fail(f"unknown kind '{kind}' (expected Kustomization or Component)", source, "kind")
    api_version = data.get("apiVersion")
    if kind == KIND_COMPONENT and api_version not in (None, "", COMPONENT_VERSION):
        raise fail(f"apiVersion for Component should be {COMPONENT_VERSION}", source, "apiVersion")
    if kind != KIND_COMPONENT and api_version not in (None, "", KUSTOMIZATION_VERSION):
        raise fail(f"apiVersion for Kustomization should be {KUSTOMIZATION_VERSION}", source, "apiVersion")


def _validate_shapes(data: dict[str, Any], source: Path) -> None:
    for key, value in data.items():
        if key not in KNOWN:
            raise fail(f"invalid Kustomization: json: unknown field \"{key}\"", source, str(key))
        if value is None:
            continue
        if key in MAP_ENTRIES and isinstance(value, list) and not all(isinstance(e, dict) for e in value):
            raise fail("every entry must be a map", source, key)
        if key in STR_ENTRIES and isinstance(value, list) and not all(isinstance(e, str) for e in value):
            raise fail("every entry must be a string", source, key)
        if key in LISTS and not isinstance(value, list):
            raise fail(f"expected a list, got {type(value).__name__}", source, key)
        if key in MAPS and not isinstance(value, dict):
            raise fail(f"expected a map, got {type(value).__name__}", source, key)
        if key in SCALARS and not isinstance(value, str):
            raise fail(f"invalid Kustomization: cannot unmarshal {type(value).__name__} into field {key} of "
                       "type string (quote the value)", source, key)
        if key in UNSUPPORTED and value:
            raise fail("Helm charts are not supported by this renderer (use the helm renderer)", source, key)
