"""Minimal OpenAPI v3 documents, enough for kubectl to trust server-side field validation.

Called by the HTTP front for ``/openapi/v3`` and ``/openapi/v3/<api|apis/group>/<version>``. kubectl
(``apply``, ``create``, ``replace``) validates client-side unless the server's OpenAPI v3 says its PATCH
operation for the kind accepts the ``fieldValidation`` query parameter; then it sends
``fieldValidation=Strict`` and skips the download of schemas. So each group-version document lists,
for every resource, the item path with a PATCH operation carrying ``x-kubernetes-group-version-kind``
and that parameter, and no schemas (clients needing schemas fall back to compiled-in types).
``/openapi/v2`` is not served (404), as on servers that disable it.
"""

from __future__ import annotations

from typing import Any

from kubesandbox.catalog import Catalog

_PARAMS = [{"name": n, "in": "query", "schema": {"type": "string"}, "uniqueItems": True}
           for n in ("dryRun", "fieldManager", "fieldValidation", "force")]


def _prefix(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def root(catalog: Catalog) -> dict[str, Any]:
    paths = {}
    for group, versions in catalog.versions().items():
        for version in versions:
            prefix = _prefix(group, version)
            paths[prefix] = {"serverRelativeURL": f"/openapi/v3/{prefix}?hash=sandbox"}
    return {"paths": paths}


def group_version(catalog: Catalog, group: str, version: str) -> dict[str, Any] | None:
    types = [rt for rt in catalog.all() if rt.group == group and rt.version == version]
    if not types:
        return None
    paths: dict[str, Any] = {}
    for rt in types:
        base = "/" + _prefix(group, version) + ("/namespaces/{namespace}" if rt.namespaced else "")
        gvk = {"group": group, "version": version, "kind": rt.kind}
        paths[f"{base}/{rt.plural}/{{name}}"] = {"patch": {
            "operationId": f"patch{rt.kind}", "parameters": _PARAMS,
            "x-kubernetes-action": "patch", "x-kubernetes-group-version-kind": gvk,
            "responses": {"200": {"description": "OK"}}}}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.36.0-sandbox"},
            "paths": paths, "components": {"schemas": {}}}
