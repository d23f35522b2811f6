"""What kube-apiserver adds around SMD: ``metadata.managedFields``, meta stripping, status reset.

:func:`apply_patch` (server-side apply) and :func:`record_update` (every other write) are the public
entry points the sandbox API server calls. They decode ``managedFields`` into per-manager field sets
(an Apply entry per manager; Update entries per manager, apiVersion and subresource, as the
apiserver's manager identifiers do), run :mod:`.updater`, strip the fields the server owns
(``apiVersion``, ``kind``, ``metadata.name`` and the server-set metadata) from every set, drop empty
entries and encode the result sorted as the apiserver sorts it. Key design choice: the function is pure
(``now`` is passed in, inputs are never mutated), so the sandbox decides storage and resourceVersion.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from kubesandbox.ssa.typed import check_depth
from kubesandbox.ssa.updater import Managers, Owned
from renderers.k8s.errors import InvalidObject
from renderers.k8s.fieldpath import FieldSet, make_path
from renderers.k8s.fieldsv1 import decode, encode
from renderers.k8s.schema import resources

SERVER_METADATA = ("managedFields", "resourceVersion", "uid", "creationTimestamp", "generation",
                   "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds")
STRIP = FieldSet.of(make_path("apiVersion"), make_path("kind"), make_path("metadata"),
                    *(make_path("metadata", f) for f in ("name", "namespace", "creationTimestamp",
                                                         "selfLink", "uid", "clusterName", "generation",
                                                         "managedFields", "resourceVersion")))
STATUS = FieldSet.of(make_path("status"))
BEFORE_FIRST_APPLY = "before-first-apply"


@dataclass(frozen=True)
class Entry:
    """The identity of a managedFields entry (what the apiserver's manager identifier encodes)."""

    manager: str
    operation: str
    api_version: str = ""
    subresource: str = ""

    def ident(self) -> str:
        return json.dumps([self.manager, self.operation, self.api_version, self.subresource])

    @staticmethod
    def parse(ident: str) -> Entry:
        manager, operation, api_version, subresource = json.loads(ident)
        return Entry(manager, operation, api_version, subresource)


def has_status_subresource(api_version: str, kind: str) -> bool:
    """Whether a built-in kind serves ``/status`` (then writes to the main resource keep status)."""
    group, _, version = api_version.rpartition("/")
    return any(r.kind == kind and r.group == group and r.version == version and "status" in r.subresources
               for r in resources())


def meta_of(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise InvalidObject("expected map", ".metadata")
    return meta


def body_of(obj: Any, what: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise InvalidObject(f"{what} must be a JSON object, got {type(obj).__name__}")
    check_depth(obj)
    for key in ("apiVersion", "kind"):
        if not isinstance(obj.get(key), str) or not obj[key]:
            raise InvalidObject(f"{what} must set {key} (a non-empty string)", "." + key)
    meta_of(obj)
    return obj


@dataclass
class Ledger:
    """Decoded managedFields: field sets per manager identifier, plus each entry's time and apiVersion."""

    managers: Managers
    times: dict[str, str]
    versions: dict[str, str]


def decode_managed(entries: Any, *, request: bool = False) -> Ledger:
    """Field sets, times and apiVersions per manager identifier from ``metadata.managedFields``.

    ``request=True`` applies the rules of the apiserver's ``DecodeManagedFields`` to entries a client
    sent: ``operation`` must be Apply or Update, ``apiVersion`` must not be empty, ``fieldsType`` must be
    exactly ``FieldsV1``, and a later entry with the same identity replaces an earlier one. Stored
    entries (written by this library) are decoded leniently, and duplicates there are an error."""
    ledger = Ledger({}, {}, {})
    if entries is None:
        return ledger
    if not isinstance(entries, list):
        raise InvalidObject("expected list", ".metadata.managedFields")
    for i, raw in enumerate(entries):
        where = f".metadata.managedFields[{i}]"
        if not isinstance(raw, dict):
            raise InvalidObject("expected map", where)
        op = raw.get("operation")
        if op not in ("Apply", "Update"):
            raise InvalidObject(f"operation must be Apply or Update, got {op!r}", where)
        fields_type = raw.get("fieldsType") if request else raw.get("fieldsType", "FieldsV1")
        if fields_type != "FieldsV1":
            raise InvalidObject(f"unsupported fieldsType {raw.get('fieldsType')!r}", where)
        version = str(raw.get("apiVersion") or "")
        if request and not version:
            raise InvalidObject("apiVersion must not be empty", where)
        entry = Entry(str(raw.get("manager") or ""), op, "" if op == "Apply" else version,
                      str(raw.get("subresource") or ""))
        ident = entry.ident()
        if ident in ledger.managers and not request:
            raise InvalidObject(f"duplicate entry for manager {entry.manager!r}", where)
        fields = raw.get("fieldsV1")
        ledger.managers[ident] = Owned(decode({} if fields is None else fields, where + ".fieldsV1"),
                                       op == "Apply")
        ledger.versions[ident] = version
        ledger.times.pop(ident, None)
        if isinstance(raw.get("time"), str):
            ledger.times[ident] = raw["time"]
    return ledger


def encode_managed(ledger: Ledger) -> list[dict[str, Any]]:
    """``metadata.managedFields`` entries, sorted as the apiserver sorts them."""
    out = []
    for ident, owned in ledger.managers.items():
        entry = Entry.parse(ident)
        item: dict[str, Any] = {"manager": entry.manager, "operation": entry.operation,
                                "apiVersion": ledger.versions.get(ident, entry.api_version)}
        if ident in ledger.times:  # a client may have sent an entry without one (Go: a nil *Time)
            item["time"] = ledger.times[ident]
        item.update({"fieldsType": "FieldsV1", "fieldsV1": encode(owned.fields)})
        if entry.subresource:
            item["subresource"] = entry.subresource
        out.append(item)
    out.sort(key=lambda e: (e["operation"], e.get("time", ""), e["manager"], e["apiVersion"],
                            e.get("subresource", "")))
    return out


def without_server_meta(obj: dict[str, Any] | None) -> dict[str, Any]:
    if obj is None:
        return {}
    out = copy.deepcopy(obj)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
    return out


def strip(managers: Managers, ident: str) -> Managers:
    """The apiserver's stripMetaManager: server-owned fields leave the acting manager's set.

    Only the acting manager is stripped (the others were stripped when they wrote); an acting
    manager left with nothing loses its entry.
    """
    out = dict(managers)
    owned = out.pop(ident, None)
    if owned is not None:
        fields = owned.fields.difference(STRIP)
        if not fields.empty():
            out[ident] = Owned(fields, owned.applied)
    return out
