"""The sandbox's REST verbs: GET, LIST, POST, PUT, PATCH and DELETE on one resource type.

Called by the HTTP handler with a parsed :class:`~kubesandbox.call.Call`; returns ``(status code, JSON
bytes)`` or raises :class:`~kubesandbox.apierrors.ApiError`. Each rule names the documented behaviour it
follows (API concepts: "Resource versions", "Retrieving large results sets in chunks", "Dry-run",
"Server-side apply"). Reads run without copying (cached JSON bytes); every write runs under the store lock
from reading the live object to storing the new one, so concurrent writers serialize like etcd's
compare-and-swap would make them.
"""

from __future__ import annotations

import base64
import binascii
import copy
import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from kubesandbox import decoding, fieldmanager, fieldvalidation, scale, typed
from kubesandbox.apierrors import (
    STALE,
    ApiError,
    already_exists,
    bad_request,
    conflict,
    gone,
    invalid,
    not_found,
    unsupported_media_type,
)
from kubesandbox.call import Call
from kubesandbox.catalog import Catalog, ResourceType
from kubesandbox.meta import generated_name, now
from kubesandbox.patch import json_patch, merge_patch, strategic_patch
from kubesandbox.selectors import field_selector, label_selector
from kubesandbox.store import Entry, Store, dumps
from kubesandbox.writes import Writer
from renderers import yamlio
from renderers.errors import RenderError
from renderers.k8s.values import go_quote

TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})  # Go's strconv.ParseBool, as the apiserver parses
MAX_BODY = 3 * 1024 * 1024  # kube-apiserver's default request body limit (3 MiB)
# Resources whose update strategy allows create on update (AllowCreateOnUpdate, kube-apiserver v1.36
# pkg/registry/*/strategy.go): a PUT to a missing name creates it (201) instead of 404.
CREATE_ON_UPDATE = frozenset({
    ("", "services"), ("", "endpoints"), ("", "events"), ("", "limitranges"), ("events.k8s.io", "events"),
    ("coordination.k8s.io", "leases"), ("coordination.k8s.io", "leasecandidates"),
    ("node.k8s.io", "runtimeclasses"), ("rbac.authorization.k8s.io", "roles"),
    ("rbac.authorization.k8s.io", "rolebindings"), ("rbac.authorization.k8s.io", "clusterroles"),
    ("rbac.authorization.k8s.io", "clusterrolebindings"),
})
# Resources whose strategy refuses unconditional updates (AllowUnconditionalUpdate false): a PUT
# without metadata.resourceVersion is 422 "must be specified for an update". Custom resources too.
CONDITIONAL_UPDATE = frozenset({
    ("apiextensions.k8s.io", "customresourcedefinitions"), ("policy", "poddisruptionbudgets"),
    ("coordination.k8s.io", "leases"), ("coordination.k8s.io", "leasecandidates"),
    ("node.k8s.io", "runtimeclasses"), ("certificates.k8s.io", "podcertificaterequests"),
    ("certificates.k8s.io", "clustertrustbundles"), ("storagemigration.k8s.io", "storageversionmigrations"),
    ("resource.k8s.io", "resourcepoolstatusrequests"), ("internal.apiserver.k8s.io", "storageversions"),
    ("storage.k8s.io", "csidrivers"), ("storage.k8s.io", "csistoragecapacities"),
    ("storage.k8s.io", "volumeattachments"), ("storage.k8s.io", "csinodes"),
    ("admissionregistration.k8s.io", "validatingadmissionpolicies"),
    ("admissionregistration.k8s.io", "mutatingadmissionpolicies"),
    ("admissionregistration.k8s.io", "validatingadmissionpolicybindings"),
    ("admissionregistration.k8s.io", "mutatingadmissionpolicybindings"),
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations"),
    ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"),
})
DELETE_OPTIONS = frozenset({"dryRun", "propagationPolicy", "orphanDependents", "gracePeriodSeconds"})
PATCH_TYPES = {"application/json-patch+json": "json", "application/merge-patch+json": "merge",
               "application/strategic-merge-patch+json": "strategic", "application/apply-patch+yaml": "apply",
               "application/apply-patch+cbor": "unsupported"}


def decode_body(call: Call, *, yaml_ok: bool = False) -> Any:
    """The request body as a JSON value; YAML only where the content type says so."""
    if not call.body:
        raise bad_request("the request body is empty")
    if "protobuf" in call.content_type or "cbor" in call.content_type:
        raise ApiError(415, "UnsupportedMediaType", f"the sandbox API server does not decode "
                       f"{call.content_type}; send application/json or YAML")
    yaml_body = yaml_ok or call.content_type in ("application/yaml", "application/apply-patch+yaml")
    if not yaml_body or call.body.lstrip().startswith(b"{"):  # JSON is YAML, and json.loads is faster
        try:
            return _shallow(json.loads(call.body), call.body)
        except (ValueError, RecursionError) as exc:
            if not yaml_body:
                raise bad_request(f"error decoding JSON body: {exc}") from exc
    try:
        return yamlio.load(call.body, "request body", max_bytes=MAX_BODY)
    except RenderError as exc:
        raise bad_request(f"error decoding YAML: {exc}") from exc


def _shallow(value: Any, raw: bytes, limit: int = 100) -> Any:
    """Refuse JSON nested deeper than ``limit`` (the recursive merge code must not hit Python's limit)."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return value
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            raise bad_request(f"request body nested deeper than {limit} levels")
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return value


def _object_body(call: Call, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad_request("the request body must be a JSON object")
    if not call.rt.crd:  # built-in endpoints decode with the endpoint's kind as the default
        value.setdefault("kind", call.rt.kind)
        value.setdefault("apiVersion", call.rt.api_version)
    kind, api_version = value.get("kind"), value.get("apiVersion")
    if not kind:
        raise bad_request(f"Object 'Kind' is missing in '{call.body[:200].decode(errors='replace')}'")
    if kind != call.rt.kind:
        raise bad_request(f"the kind in the data ({kind}) does not match the expected kind ({call.rt.kind})")
    group = str(api_version or "").rpartition("/")[0]
    if not api_version or group != call.rt.group:
        raise bad_request(f"the API version in the data ({api_version}) does not match the expected API "
                          f"version ({call.rt.api_version})")
    meta = value.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise bad_request("metadata must be an object")
    ns = meta.get("namespace")
    if call.rt.namespaced and ns and ns != call.namespace:
        raise bad_request("the namespace of the provided object does not match the namespace sent on the "
                          "request")
    if call.name and meta.get("name", call.name) != call.name:
        raise bad_request(f"the name of the object ({meta.get('name')}) does not match the name on the URL "
                          f"({call.name})")
    return value


def _decoded(call: Call, obj: dict[str, Any]) -> dict[str, Any]:
    """A POST or PUT body through the typed decoder: 400 as the create and update handlers send it."""
    try:
        decoding.decode(call.rt, obj)
    except decoding.DecodeError as exc:
        kind, version = call.rt.kind, str(obj.get("apiVersion", "")).rpartition("/")[2]
        message = f'{kind} in version "{version}" cannot be handled as a {kind}: {exc.message}'
        raise bad_request(message) from exc
    return obj


def _validated(call: Call, obj: dict[str, Any]) -> dict[str, Any]:
    """A POST or PUT body's unknown fields, judged by the decoder before the handler looks for the
    object (a Strict refusal comes before 404 or 409), worded as the typed decoder's 400."""
    try:
        fieldvalidation.validate(call.query, obj, call.rt.type_node(), call.warnings)
    except ApiError as exc:
        if call.rt.crd or exc.code != 400 or not exc.message.startswith("strict decoding error"):
            raise
        kind, version = call.rt.kind, str(obj.get("apiVersion", "")).rpartition("/")[2]
        message = f'{kind} in version "{version}" cannot be handled as a {kind}: {exc.message}'
        raise bad_request(message) from exc
    return obj


def _decoded_patch(call: Call, obj: dict[str, Any], patch: Any, strategic: bool) -> dict[str, Any]:
    """A patched object through the typed decoder: the patch handler's 422 on field ``patch``, whose
    value is the patched JSON (JSON and merge patches) or the decoded patch (strategic)."""
    try:
        decoding.decode(call.rt, obj)
    except decoding.DecodeError as exc:
        if strategic:
            value = decoding.go_patch_value(patch)
            message = ("error decoding from json: " if exc.base64_field else "") + exc.message
        else:
            value, message = dumps(obj).decode(), exc.message
        raise invalid("", "", "", [("FieldValueInvalid", "patch",
                                    f"Invalid value: {go_quote(value)}: {message}")]) from exc
    return obj


class Api:
    """The verbs over a store and a catalog."""

    def __init__(self, store: Store, catalog: Catalog) -> None:
        self.store = store
        self.catalog = catalog
        self.writer = Writer(store, catalog)

    # --- reads -------------------------------------------------------------------------------
    def get(self, call: Call) -> bytes:
        with self.store.lock:
            entry = self.store.get(call.rt.key, call.namespace, call.name)
        if entry is None:
            raise not_found(call.rt.plural, call.rt.group, call.name)
        if call.subresource == "scale":
            return dumps(scale.view(entry.obj))
        return self.view(call.rt, entry)

    def view(self, rt: ResourceType, entry: Entry) -> bytes:
        if entry.obj.get("apiVersion") == rt.api_version:
            return entry.raw
        obj = entry.copy()  # another served version of the same resource: relabel (no conversion)
        obj["apiVersion"] = rt.api_version
        return dumps(obj)

    def list(self, call: Call) -> bytes:
        rt, q = call.rt, call.query
        labels, fields = label_selector(q.get("labelSelector")), field_selector(q.get("fieldSelector"))
        limit = parse_int(q.get("limit"), "limit")
        start = _continue_key(q.get("continue"))
        with self.store.lock:
            current = self.store.rv
            self._check_list_rv(q, current)
            entries = self.store.list(rt.key, call.namespace or None)
        matched = []
        for entry in sorted(entries, key=_sort_key):
            meta = entry.obj["metadata"]
            if start is not None and _sort_key(entry) <= start:
                continue
            if labels is not None and not labels(meta.get("labels") or {}):
                continue
            if fields is not None and not fields(meta):
                continue
            matched.append(entry)
        list_meta: dict[str, Any] = {"resourceVersion": str(current)}
        if limit and len(matched) > limit:
            last = _sort_key(matched[limit - 1])
            token = json.dumps({"rv": current, "start": list(last)}).encode()
            list_meta["continue"] = base64.urlsafe_b64encode(token).decode()
            list_meta["remainingItemCount"] = len(matched) - limit
            matched = matched[:limit]
        head = dumps({"kind": rt.list_kind or rt.kind + "List", "apiVersion": rt.api_version,
                      "metadata": list_meta})
        items = b",".join(self.view(rt, e) for e in matched)
        return head[:-1] + b',"items":[' + items + b"]}"

    def _check_list_rv(self, q: Mapping[str, str], current: int) -> None:
        """resourceVersion semantics for list (API concepts, "Semantics for get and list")."""
        rv, match = q.get("resourceVersion", ""), q.get("resourceVersionMatch", "")
        if rv in ("", "0"):
            if match == "Exact":
                raise bad_request("resourceVersionMatch: Forbidden: resourceVersionMatch \"exact\" is "
                                  "forbidden for resourceVersion \"0\"")
            return
        wanted = parse_int(rv, "resourceVersion")
        if match == "Exact" and wanted != current:
            raise gone(f"too old resource version: {wanted} ({current})")
        if wanted > current:
            raise ApiError(504, "Timeout", f"Too large resource version: {wanted}, current: {current}",
                           details={"causes": [{"reason": "ResourceVersionTooLarge",
                                                "message": "Too large resource version"}],
                                    "retryAfterSeconds": 1}, retry_after=1)

    # --- writes ------------------------------------------------------------------------------
    def create(self, call: Call) -> tuple[int, bytes]:
        body = decode_body(call, yaml_ok=call.content_type == "application/yaml")
        obj = _validated(call, _decoded(call, _object_body(call, body)))
        meta = obj["metadata"]
        if not meta.get("name"):
            prefix = meta.get("generateName")
            if not prefix or not isinstance(prefix, str):
                raise _required(call.rt, "metadata.name", "name or generateName is required")
            meta["name"] = generated_name(prefix)
        with self.store.lock:
            if self.store.get(call.rt.key, call.namespace, meta["name"]) is not None:
                raise already_exists(call.rt.plural, call.rt.group, meta["name"])
            _no_version_on_create(obj)
            return self.writer.commit(call, None, obj, manager=call.default_manager())

    def _scale(self, call: Call, body: Any, old: Entry) -> tuple[int, bytes]:
        """A write to the scale subresource: only spec.replicas of the parent changes."""
        wanted = (body.get("metadata") or {}).get("resourceVersion") if isinstance(body, dict) else None
        if wanted and wanted != old.obj["metadata"]["resourceVersion"]:
            raise conflict(call.rt.plural, call.rt.group, call.name, STALE)
        code, raw = self.writer.commit(call, old, scale.apply_scale(old.copy(), body),
                                       manager=call.default_manager())
        return code, dumps(scale.view(json.loads(raw)))

    def update(self, call: Call) -> tuple[int, bytes]:
        if call.subresource == "scale":
            with self.store.lock:
                return self._scale(call, decode_body(call), self._live(call))
        body = decode_body(call, yaml_ok=call.content_type == "application/yaml")
        obj = _validated(call, _decoded(call, _object_body(call, body)))
        if not obj["metadata"].get("name"):  # the update handler's check (rest.Update with a name)
            raise bad_request(f"the name of the object ({call.name} based on URL) was undeterminable: "
                              "name must be provided")
        with self.store.lock:
            if call.rt.key in CREATE_ON_UPDATE and not call.subresource and \
                    self.store.get(call.rt.key, call.namespace, call.name) is None:
                obj["metadata"].pop("resourceVersion", None)  # the store's GuaranteedUpdate creates it
                return self.writer.commit(call, None, obj, manager=call.default_manager())
            old = self._live(call)
            wanted = obj["metadata"].get("resourceVersion")
            if not wanted and (call.rt.crd or call.rt.key in CONDITIONAL_UPDATE) and not call.subresource:
                raise invalid(call.rt.plural, call.rt.group, call.name, [
                    ("FieldValueInvalid", "metadata.resourceVersion",
                     "Invalid value: 0x0: must be specified for an update")])
            # Optimistic concurrency: a stale resourceVersion is a 409; none means unconditional update.
            if wanted and wanted != old.obj["metadata"]["resourceVersion"]:
                raise conflict(call.rt.plural, call.rt.group, call.name, STALE)
            return self.writer.commit(call, old, obj, manager=call.default_manager())

    def patch(self, call: Call) -> tuple[int, bytes]:
        ctype = PATCH_TYPES.get(call.content_type)
        if ctype is None or ctype == "unsupported" or (ctype == "strategic" and call.rt.crd):
            raise unsupported_media_type(call.content_type)
        force = call.query.get("force", "") in TRUE
        if ctype == "apply":
            if call.subresource == "scale":
                raise ApiError(405, "MethodNotAllowed", "server-side apply to the scale subresource is not "
                               "supported by the sandbox")
            return self._apply(call, force)
        if "force" in call.query:
            raise ApiError(422, "Invalid", 'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may '
                           "not be specified for non-apply patch")
        patch = decode_body(call)
        with self.store.lock:
            old = self._live(call)
            obj = scale.view(old.obj) if call.subresource == "scale" else old.copy()
            if ctype == "json":
                result = json_patch(obj, patch)
            elif ctype == "merge":
                result = merge_patch(obj, patch)
            else:
                result = strategic_patch(obj, patch, call.rt.type_node())
            if call.subresource == "scale":
                return self._scale(call, result, old)
            new = _decoded_patch(call, _object_body(call, result), patch, ctype == "strategic")
            wanted = new["metadata"].get("resourceVersion")
            if wanted and wanted != old.obj["metadata"]["resourceVersion"]:
                raise conflict(call.rt.plural, call.rt.group, call.name, STALE)
            return self.writer.commit(call, old, new, manager=call.default_manager())

    def _apply(self, call: Call, force: bool) -> tuple[int, bytes]:
        manager = call.query.get("fieldManager", "")
        if not manager:
            raise ApiError(422, "Invalid", 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required '
                           "value: is required for apply patch")
        body = decode_body(call, yaml_ok=True)
        if isinstance(body, dict) and not (body.get("apiVersion") and body.get("kind")):
            group, _, version = str(body.get("apiVersion") or "").rpartition("/")  # the apply patcher's check
            raise bad_request(f"invalid object type: {group}/{version}, Kind={body.get('kind') or ''}")
        applied = _object_body(call, body)
        if applied["metadata"].get("managedFields") is not None:
            raise bad_request("metadata.managedFields must be nil")
        applied["metadata"].setdefault("name", call.name)
        fieldvalidation.mode(call.query)  # an unsupported mode is still a 400
        unknown = fieldvalidation.unknown_fields(copy.deepcopy(applied), call.rt.type_node())
        if unknown:  # SMD's typed conversion of the applied configuration, whatever fieldValidation says
            meta, gvk = applied["metadata"], f"{call.rt.group}/{call.rt.version}, Kind={call.rt.kind}"
            raise ApiError(500, "", f"failed to create typed patch object ({meta.get('namespace') or ''}/"
                           f"{meta['name']}; {gvk}): .{unknown[0]}: field not declared in schema")
        with self.store.lock:
            old = self.store.get(call.rt.key, call.namespace, call.name)
            if old is None and call.subresource:
                raise not_found(call.rt.plural, call.rt.group, call.name)
            wanted = applied["metadata"].get("resourceVersion")  # an apply that creates ignores it
            live = old.copy() if old is not None else None
            if call.rt.namespaced:
                applied["metadata"]["namespace"] = call.namespace
            schema = call.rt.type_node()
            merged = fieldmanager.apply(live, applied, manager, force=force, schema=schema, now=now(),
                                        resource=call.rt.plural, group=call.rt.group,
                                        status_subresource="status" in call.rt.subresources
                                        and call.subresource != "status",
                                        zero=None if call.rt.crd else typed.zero(call.rt.api_version,
                                                                                 call.rt.kind))
            try:  # the merged result is converted to the typed object only now
                decoding.decode(call.rt, merged)
            except decoding.DecodeError as exc:
                gvk = f"{call.rt.group}/{call.rt.version}, Kind={call.rt.kind}"
                prefix = "error decoding from json: " if exc.base64_field else ""
                raise ApiError(500, "", f"failed to convert new object ({call.namespace}/{call.name}; {gvk}) "
                               f"to proper version: {prefix}{exc.message}") from exc
            # apply's optimistic lock: the storage compares versions after the patcher merged (so
            # field manager conflicts come first) and before validation
            if old is not None and wanted and wanted != old.obj["metadata"]["resourceVersion"]:
                raise conflict(call.rt.plural, call.rt.group, call.name, STALE)
            return self.writer.commit(call, old, merged, manager=manager, applied=True)

    def delete(self, call: Call) -> tuple[int, bytes]:
        options = decode_body(call) if call.body.strip() else {}
        if not isinstance(options, dict):
            raise bad_request("DeleteOptions must be a JSON object")
        if call.body.strip():
            # The delete handler decodes DeleteOptions from the body when there is one, and only
            # otherwise from the query: with a body, ?dryRun=All and ?propagationPolicy= are ignored.
            query = {k: v for k, v in call.query.items() if k not in DELETE_OPTIONS}
            if options.get("dryRun") == ["All"]:
                query["dryRun"] = "All"
            call = dataclasses.replace(call, query=query)
        with self.store.lock:
            old = self._live(call)
            return self.writer.delete(call, old, options)

    def delete_collection(self, call: Call) -> tuple[int, bytes]:
        labels = label_selector(call.query.get("labelSelector"))
        fields = field_selector(call.query.get("fieldSelector"))
        with self.store.lock:
            deleted = []
            for entry in sorted(self.store.list(call.rt.key, call.namespace or None), key=_sort_key):
                meta = entry.obj["metadata"]
                if (labels and not labels(meta.get("labels") or {})) or (fields and not fields(meta)):
                    continue
                one = Call(call.rt, meta.get("namespace", ""), meta["name"], "", call.query)
                self.writer.delete(one, entry, {})
                deleted.append(entry.raw)
        head = dumps({"kind": call.rt.list_kind, "apiVersion": call.rt.api_version,
                      "metadata": {"resourceVersion": str(self.store.rv)}})
        return 200, head[:-1] + b',"items":[' + b",".join(deleted) + b"]}"

    def _live(self, call: Call) -> Entry:
        entry = self.store.get(call.rt.key, call.namespace, call.name)
        if entry is None:
            raise not_found(call.rt.plural, call.rt.group, call.name)
        return entry


def _no_version_on_create(obj: dict[str, Any]) -> None:
    """The etcd3 store refuses a create that carries a resourceVersion, with a bare 500 (a known
    apiserver quirk clients meet when they re-create an object they read earlier)."""
    rv = obj["metadata"].get("resourceVersion")
    try:
        nonzero = rv is not None and int(rv) != 0
    except (TypeError, ValueError):  # an unparsable version is ignored, as the apiserver does
        nonzero = False
    if nonzero:
        raise ApiError(500, "", "resourceVersion should not be set on objects to be created")
    obj["metadata"].pop("resourceVersion", None)


def _sort_key(entry: Entry) -> tuple[str, str]:
    meta = entry.obj["metadata"]
    return (meta.get("namespace", ""), meta["name"])


def parse_int(value: str | None, name: str) -> int:
    if value is None or value == "":
        return 0
    try:
        number = int(value)
    except ValueError as exc:
        raise bad_request(f"invalid {name}: {value[:50]!r}") from exc
    if number < 0:
        raise bad_request(f"invalid {name}: must not be negative")
    return number


def _continue_key(token: str | None) -> tuple[str, str] | None:
    if not token:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        ns, name = data["start"]
        return (str(ns), str(name))
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise bad_request("continue key is not valid: incorrect encoded start resourceVersion") from exc


def _required(rt: ResourceType, field: str, message: str) -> ApiError:
    return invalid(rt.kind, rt.group, "", [("FieldValueRequired", field, f"Required value: {message}")])
