"""CustomResourceDefinitions: validation, acceptance and the resource types they serve.

Called by the write pipeline when a CRD is written or removed. As the "Extend the Kubernetes API with
CustomResourceDefinitions" task describes, the CRD's name must be ``<plural>.<group>``; once accepted
its ``NamesAccepted`` and ``Established`` conditions are True and every served version is available
(discovery included); deleting it deletes every custom object. The API server's establishing
controller is asynchronous; the sandbox sets the conditions in the same write, which clients waiting
for ``condition=Established`` cannot tell apart.
"""

from __future__ import annotations

from typing import Any

from kubesandbox import fieldmanager
from kubesandbox.apierrors import invalid
from kubesandbox.catalog import ResourceType
from kubesandbox.meta import now

_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def _problems(obj: dict[str, Any], spec: dict[str, Any], names: dict[str, Any],
              versions: list[Any]) -> list[tuple[str, str, str]]:
    name = str(obj["metadata"].get("name", ""))
    group, plural, kind = spec.get("group"), names.get("plural"), names.get("kind")
    problems = []
    if not isinstance(group, str) or "." not in group:
        problems.append(("FieldValueInvalid", "spec.group", f'Invalid value: "{group}": should be a domain '
                         "with at least one dot"))
    if not plural or not isinstance(plural, str):
        problems.append(("FieldValueRequired", "spec.names.plural", "Required value"))
    if not kind or not isinstance(kind, str):
        problems.append(("FieldValueRequired", "spec.names.kind", "Required value"))
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        problems.append(("FieldValueNotSupported", "spec.scope", f'Unsupported value: "{spec.get("scope")}": '
                         'supported values: "Cluster", "Namespaced"'))
    if not versions or not all(isinstance(v, dict) and v.get("name") for v in versions):
        problems.append(("FieldValueRequired", "spec.versions", "Required value: must have exactly one "
                         "version marked as storage version"))
    if not problems and name != f"{plural}.{group}":
        problems.append(("FieldValueInvalid", "metadata.name", f'Invalid value: "{name}": must be spec.names.'
                         "plural+\".\"+spec.group"))
    return problems


def validate_and_accept(obj: dict[str, Any]) -> None:
    """422 for an unusable CRD; otherwise set the accepted names and conditions (mutates ``obj``)."""
    spec = _spec(obj)
    raw_names, raw_versions = spec.get("names"), spec.get("versions")
    names: dict[str, Any] = raw_names if isinstance(raw_names, dict) else {}
    versions: list[Any] = raw_versions if isinstance(raw_versions, list) else []
    problems = _problems(obj, spec, names, versions)
    if problems:
        name = str(obj["metadata"].get("name", ""))
        raise invalid("CustomResourceDefinition", "apiextensions.k8s.io", name, problems)
    kind = names["kind"]
    names_out = {**names, "singular": names.get("singular") or str(kind).lower(),
                 "listKind": names.get("listKind") or f"{kind}List"}
    stamp = now()
    obj["status"] = {
        "acceptedNames": names_out,
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
             "message": "no conflicts found", "lastTransitionTime": stamp},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted", "lastTransitionTime": stamp}],
        "storedVersions": [v["name"] for v in versions if v.get("storage")] or [versions[0]["name"]],
    }


def resource_key(obj: dict[str, Any]) -> tuple[str, str]:
    spec = _spec(obj)
    return (str(spec.get("group", "")), str(spec.get("names", {}).get("plural", "")))


def resource_types(obj: dict[str, Any]) -> list[ResourceType]:
    spec = _spec(obj)
    names = spec.get("names", {})
    out = []
    for version in spec.get("versions", []):
        if not version.get("served", True):
            continue
        subs = tuple(s for s in ("status", "scale") if s in (version.get("subresources") or {}))
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        node = fieldmanager.crd_schema(schema) if isinstance(schema, dict) else None
        out.append(ResourceType(
            group=spec["group"], version=version["name"], kind=names["kind"], plural=names["plural"],
            namespaced=spec.get("scope") == "Namespaced", verbs=_VERBS, subresources=subs,
            singular=names.get("singular") or names["kind"].lower(),
            short_names=tuple(names.get("shortNames") or ()), list_kind=names.get("listKind") or
            names["kind"] + "List", crd=True, schema=node or {"any": True}))
    return out
