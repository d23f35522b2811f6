"""URL routing of the sandbox API server: discovery paths and resource paths.

Pure functions used by the HTTP handler. Resource paths follow "API concepts: Resource URIs":
``/api/v1/...`` for the core group and ``/apis/<group>/<version>/...`` otherwise, with
``namespaces/<ns>/`` for namespaced resources and an optional subresource after the name. Path
segments are percent-decoded one by one, so an encoded ``/`` inside a name can never climb out of its
segment; such names then fail name validation or are simply not found.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from kubesandbox.apierrors import ApiError, method_not_allowed
from kubesandbox.catalog import Catalog, ResourceType

NOT_FOUND = ApiError(404, "NotFound", "the server could not find the requested resource", details={
    "causes": [{"reason": "UnexpectedServerResponse", "message": "404 page not found"}]})


@dataclass(frozen=True)
class Route:
    """Either a discovery document (``discovery`` names it) or a resource request."""

    verb: str
    discovery: tuple[str, ...] = ()
    rt: ResourceType | None = None
    namespace: str = ""
    name: str = ""
    subresource: str = ""


def split(path: str) -> list[str]:
    return [unquote(p) for p in path.strip("/").split("/")] if path.strip("/") else []


def route(method: str, path: str, watch: bool, catalog: Catalog) -> Route:
    parts = split(path)
    if method == "GET" and _is_discovery(parts):
        return Route("discovery", discovery=tuple(parts))
    if len(parts) >= 2 and parts[0] == "api" and parts[1] == "v1":
        return _resource(method, "", "v1", parts[2:], watch, catalog)
    if len(parts) >= 3 and parts[0] == "apis":
        return _resource(method, parts[1], parts[2], parts[3:], watch, catalog)
    raise NOT_FOUND


def _is_discovery(parts: list[str]) -> bool:
    if len(parts) == 1 and parts[0] in ("version", "api", "apis", "healthz", "livez", "readyz"):
        return True
    if len(parts) == 2 and parts[0] in ("api", "apis", "openapi"):
        return True
    if parts[:2] == ["openapi", "v3"]:
        return len(parts) <= 5
    return len(parts) == 3 and parts[0] == "apis"


def _resource(method: str, group: str, version: str, rest: list[str], watch: bool,
              catalog: Catalog) -> Route:
    namespace = ""
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in ("status", "finalize"):
        namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3 or any(p == "" for p in rest):
        raise NOT_FOUND
    rt = catalog.lookup(group, version, rest[0])
    if rt is None or (namespace and not rt.namespaced):
        raise NOT_FOUND
    name = rest[1] if len(rest) > 1 else ""
    sub = rest[2] if len(rest) > 2 else ""
    if sub and sub not in rt.subresources:
        raise NOT_FOUND
    if rt.namespaced and name and not namespace:
        raise NOT_FOUND
    verb = _verb(method, bool(name), watch)
    if verb not in rt.verbs and not (sub and verb in ("get", "update", "patch")):
        raise method_not_allowed()
    if sub and verb not in ("get", "update", "patch"):
        raise method_not_allowed()
    if rt.namespaced and verb == "create" and not namespace:
        raise NOT_FOUND
    return Route(verb, rt=rt, namespace=namespace, name=name, subresource=sub)


def _verb(method: str, named: bool, watch: bool) -> str:
    verbs = {("GET", True): "get", ("GET", False): "watch" if watch else "list",
             ("POST", False): "create", ("PUT", True): "update", ("PATCH", True): "patch",
             ("DELETE", True): "delete", ("DELETE", False): "deletecollection"}
    verb = verbs.get((method, named))
    if verb is None:
        raise method_not_allowed()
    return verb
