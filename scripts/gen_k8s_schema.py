#!/usr/bin/env python3
"""Generate renderers/k8s/schema.json from the Kubernetes OpenAPI v2 document.

The table carries only what merging needs (field types, list types and keys, strategic-merge-patch
strategies and merge keys, atomic maps) plus the REST catalog (group, version, kind, plural,
namespaced, verbs, subresources). It is derived data, checked against the source by
tests/renderers/test_k8s_schema.py. Run: python3 scripts/gen_k8s_schema.py ../shared/kubernetes/swagger.json
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "renderers" / "k8s" / "schema.json"


LIST_ATTRS = (("x-kubernetes-list-type", "listType"), ("x-kubernetes-list-map-keys", "keys"),
              ("x-kubernetes-patch-strategy", "patch"), ("x-kubernetes-patch-merge-key", "mergeKey"))


def type_of(prop: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in prop:
        return {"ref": prop["$ref"].split("/")[-1]}
    t = prop.get("type")
    if prop.get("format") == "int-or-string" or prop.get("x-kubernetes-int-or-string"):
        return {"scalar": "untyped"}
    if t == "string":
        return {"scalar": "string"}
    if t in ("integer", "number"):
        return {"scalar": "numeric"}
    if t == "boolean":
        return {"scalar": "boolean"}
    if t == "array":
        out: dict[str, Any] = {"list": type_of(prop.get("items", {}))}
        for src, dst in LIST_ATTRS:
            if src in prop:
                out[dst] = prop[src]
        return out
    if t == "object" and "additionalProperties" in prop:
        m: dict[str, Any] = {"map": type_of(prop["additionalProperties"])}
        if prop.get("x-kubernetes-map-type") == "atomic":
            m["atomic"] = True
        return m
    return {"any": True}


def definitions(doc: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, d in sorted(doc["definitions"].items()):
        if d.get("type") == "object" or "properties" in d:
            fields = {}
            for f, p in sorted(d.get("properties", {}).items()):
                t = type_of(p)
                for src, dst in (("x-kubernetes-patch-strategy", "patch"),
                                 ("x-kubernetes-patch-merge-key", "mergeKey")):
                    if src in p and "list" not in t:
                        t[dst] = p[src]
                fields[f] = t
            entry: dict[str, Any] = {"fields": fields} if fields else {"any": True}
            if d.get("x-kubernetes-map-type") == "atomic":
                entry["atomic"] = True
            out[name] = entry
        else:
            out[name] = {"scalar": "untyped"}
    return out


PATH_RE = re.compile(r"^/(?:api|apis/(?P<group>[^/]+))/(?P<version>[^/]+)/(?P<ns>namespaces/\{namespace\}/)?"
                     r"(?P<plural>[^/{]+)(?:/\{name\}(?:/(?P<sub>[^/]+))?)?$")


def resources(doc: dict[str, Any]) -> list[dict[str, Any]]:
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    for path, item in doc["paths"].items():
        m = PATH_RE.match(path)
        if not m or "/watch/" in path or (m.group("plural") == "namespaces" and m.group("ns")):
            continue
        group, version = m.group("group") or "", m.group("version")
        plural, sub = m.group("plural"), m.group("sub")
        gvk = next((op["x-kubernetes-group-version-kind"] for op in item.values()
                    if isinstance(op, dict) and "x-kubernetes-group-version-kind" in op), None)
        if gvk is None:
            continue
        key = (group, version, plural)
        r = found.setdefault(key, {"group": group, "version": version, "plural": plural, "kind": "",
                                   "namespaced": False, "verbs": set(), "subresources": set()})
        if sub:
            r["subresources"].add(sub)
            continue
        r["kind"] = gvk["kind"]
        if m.group("ns"):
            r["namespaced"] = True
        for op in item.values():
            if isinstance(op, dict) and "x-kubernetes-action" in op:
                action = op["x-kubernetes-action"]
                r["verbs"].add({"post": "create", "put": "update", "deletecollection": "deletecollection"}
                               .get(action, action))
    out = []
    for r in found.values():
        if not r["kind"]:
            continue
        r["verbs"] = sorted(r["verbs"] | {"watch"}) if "list" in r["verbs"] else sorted(r["verbs"])
        r["subresources"] = sorted(r["subresources"])
        out.append(r)
    return sorted(out, key=lambda r: (r["group"], r["version"], r["plural"]))


def gvk_index(doc: dict[str, Any]) -> dict[str, str]:
    out = {}
    for name, d in doc["definitions"].items():
        for g in d.get("x-kubernetes-group-version-kind", []):
            api = f"{g['group']}/{g['version']}" if g["group"] else g["version"]
            if g["kind"] in ("WatchEvent", "DeleteOptions", "Status"):
                continue
            out[f"{api}/{g['kind']}"] = name
    return dict(sorted(out.items()))


def main() -> None:
    doc = json.loads(Path(sys.argv[1]).read_text())
    table = {"source": "Kubernetes " + doc["info"].get("version", "?"),
             "gvk": gvk_index(doc), "resources": resources(doc), "definitions": definitions(doc)}
    OUT.write_text(json.dumps(table, separators=(",", ":"), sort_keys=True) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
