"""The public entry points: server-side apply and update recording for the sandbox API server.

:func:`apply_patch` (PATCH with ``application/apply-patch+yaml``) and :func:`record_update` (create,
PUT, other PATCHes) wrap the SMD port in :mod:`.updater` with what kube-apiserver adds: validation of
the body, the ``before-first-apply`` manager for objects without managedFields, status reset for kinds
with a status subresource, meta stripping and managedFields encoding (:mod:`.managed`). Key design
choice: pure functions (``now`` passed in, inputs never mutated) so the sandbox keeps storage, resource
versions and HTTP status codes to itself.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from kubesandbox.ssa.errors import ApplyConflict
from kubesandbox.ssa.managed import (
    BEFORE_FIRST_APPLY,
    SERVER_METADATA,
    STATUS,
    STRIP,
    Entry,
    Ledger,
    body_of,
    decode_managed,
    encode_managed,
    has_status_subresource,
    meta_of,
    strip,
    without_server_meta,
)
from kubesandbox.ssa.typed import drop_nulls
from kubesandbox.ssa.updater import Conflicts, Owned, apply, update
from renderers.k8s.errors import InvalidObject
from renderers.k8s.fieldpath import FieldSet
from renderers.k8s.schema import TypeNode, root_for

MAX_UPDATE_MANAGERS = 10
ANCIENT_CHANGES = "ancient-changes"


def is_reset(entries: Any) -> bool:
    """``managedFields: []`` or one empty entry in a write asks the server to forget all ownership.

    "Empty" is Go's zero ``ManagedFieldsEntry``: ``{}``, ``null``, or only null or empty values."""
    if not isinstance(entries, list) or len(entries) > 1:
        return False
    return not entries or entries[0] is None or (
        isinstance(entries[0], dict) and all(v is None or v == "" for v in entries[0].values()))


def apply_patch(live: dict[str, Any] | None, applied: dict[str, Any], manager: str, *, force: bool = False,
                schema: TypeNode | None = None, now: str,
                status_subresource: bool | None = None, zero: dict[str, Any] | None = None) -> dict[str, Any]:
    """Server-side apply of ``applied`` by ``manager`` onto ``live`` (None: create).

    ``zero``: the kind's zero object (the typed object the apiserver compares a live object without
    managedFields with, for its ``before-first-apply`` entry); by default an empty object.

    Returns the new object with ``metadata.managedFields`` updated (operation Apply); raises
    :class:`ApplyConflict` when fields owned by others would change (unless ``force``) and
    :class:`InvalidObject` for bodies that do not fit the schema. Inputs are not modified.
    """
    config = _applied_config(applied, manager)
    if live is not None and body_of(live, "live object")["kind"] != config["kind"]:
        raise InvalidObject(f"kind {config['kind']!r} does not match the live object's {live['kind']!r}",
                            ".kind")
    node = schema if schema is not None else root_for(config["apiVersion"], config["kind"])
    if status_subresource is None:
        status_subresource = has_status_subresource(config["apiVersion"], config["kind"])
    ignored = STATUS if status_subresource else None
    if status_subresource:
        config.pop("status", None)
    ledger = decode_managed(meta_of(live).get("managedFields")) if live is not None else Ledger({}, {}, {})
    base = without_server_meta(live)
    if live is not None and not ledger.managers:
        _first_apply(base, node, ledger, ignored, now, zero or {})
    ident = Entry(manager, "Apply").ident()
    try:
        new, managers = apply(base, config, node, ledger.managers, ident, force=force, ignored=ignored)
    except Conflicts as exc:
        raise ApplyConflict([(Entry.parse(m).manager, p) for m, p in exc.items],
                            message=_conflict_message(exc.items)) from None
    ledger.managers = strip(managers, ident)
    if new is not None or ident not in ledger.times:
        ledger.times[ident] = now
    ledger.versions[ident] = config["apiVersion"]
    return _finish(drop_nulls(new, node) if new is not None else base, ledger)


def _applied_config(applied: Any, manager: Any) -> dict[str, Any]:
    """A private copy of the applied body, checked, without the metadata the server sets."""
    config = copy.deepcopy(body_of(applied, "applied configuration"))
    if not isinstance(manager, str) or not manager:
        raise InvalidObject("fieldManager is required for apply requests")
    meta = meta_of(config)
    if meta.get("managedFields") is not None:
        raise InvalidObject("managed fields must be nil in an applied configuration",
                            ".metadata.managedFields")
    for name in SERVER_METADATA:
        meta.pop(name, None)
    return config


def _first_apply(live: dict[str, Any], node: TypeNode, ledger: Ledger, ignored: FieldSet | None,
                 now: str, zero: dict[str, Any]) -> None:
    """An object without managedFields: its current fields go to ``before-first-apply``."""
    ident = Entry(BEFORE_FIRST_APPLY, "Update", str(live.get("apiVersion", ""))).ident()
    _, managers, _ = update(zero, _laid(live, zero), node, {}, ident, ignored=ignored)
    ledger.managers = strip(managers, ident)
    ledger.times[ident] = now


def record_update(live: dict[str, Any] | None, new: dict[str, Any], manager: str, *, subresource: str = "",
                  schema: TypeNode | None = None, now: str,
                  status_subresource: bool | None = None) -> dict[str, Any]:
    """Record a non-apply write (create, PUT, PATCH) of ``new`` by ``manager`` (operation Update).

    The manager takes every field whose value it changed or added; removed fields leave every set.
    With a status subresource, writes to the main resource keep the live status and writes to
    ``status`` keep everything else. Returns the object to store, with ``managedFields`` updated.
    """
    body = body_of(new, "object")
    if live is not None:
        body_of(live, "live object")
    node = schema if schema is not None else root_for(body["apiVersion"], body["kind"])
    if status_subresource is None:
        status_subresource = has_status_subresource(body["apiVersion"], body["kind"])
    target = without_server_meta(body)
    base = without_server_meta(live)
    ignored = _reset_status(target, base, subresource) if status_subresource else None
    ledger = _ledger_for_update(live, body, subresource)
    ident = Entry(manager, "Update", body["apiVersion"], subresource).ident()
    _, managers, cmp = update(base, target, node, ledger.managers, ident, ignored=ignored)
    ledger.managers = strip(managers, ident)
    gained = cmp.modified.union(cmp.added).difference(STRIP)
    if ignored is not None:
        gained = gained.recursive_difference(ignored)
    if not gained.empty() or ident not in ledger.times:
        ledger.times[ident] = now
    ledger.versions[ident] = body["apiVersion"]
    return _finish(drop_nulls(target, node), ledger)


def _laid(obj: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``obj`` with the fields of ``base`` it lacks (maps recursively)."""
    out = copy.deepcopy(obj)
    for key, value in base.items():
        if key not in out:
            out[key] = copy.deepcopy(value)
        elif isinstance(value, dict) and isinstance(out[key], dict):
            out[key] = _laid(out[key], value)
    return out


def tracks(live: dict[str, Any], new: dict[str, Any], subresource: str = "") -> bool:
    """Whether an update of ``live`` to ``new`` starts from any managedFields (the request's valid
    entries, else the live ones; none after a reset). kube-apiserver's skipNonAppliedManager does not
    track an update that starts from none."""
    return bool(_ledger_for_update(live, body_of(new, "object"), subresource).managers)


def _reset_status(target: dict[str, Any], base: dict[str, Any], subresource: str) -> FieldSet | None:
    if subresource == "status":
        status = target.get("status")
        target.clear()
        target.update(copy.deepcopy(base) or {})
        target.pop("status", None)
        if status is not None:
            target["status"] = status
        return None
    target.pop("status", None)
    if "status" in base:
        target["status"] = copy.deepcopy(base["status"])
    return STATUS


def _ledger_for_update(live: dict[str, Any] | None, new: dict[str, Any], subresource: str) -> Ledger:
    """The apiserver's ``decodeLiveOrNew``: a write may reset or replace managedFields."""
    entries = meta_of(new).get("managedFields")
    if not subresource and is_reset(entries):
        return Ledger({}, {}, {})
    if not subresource and entries:
        try:
            ledger = decode_managed(entries, request=True)
        except InvalidObject:  # undecodable entries are ignored, the live ones kept
            ledger = Ledger({}, {}, {})
        if ledger.managers:
            return ledger
    try:
        return decode_managed(meta_of(live).get("managedFields")) if live is not None else Ledger({}, {}, {})
    except InvalidObject:
        return Ledger({}, {}, {})


def cap_update_managers(ledger: Ledger, limit: int = MAX_UPDATE_MANAGERS) -> None:
    """Merge the oldest Update entries into ``ancient-changes`` until at most ``limit`` remain."""
    updaters = sorted((ident for ident, owned in ledger.managers.items() if not owned.applied),
                      key=lambda ident: (ledger.times.get(ident, ""), ident))
    count = len(updaters)
    for ident in updaters:
        if count <= limit:
            break
        version = ledger.versions.get(ident, Entry.parse(ident).api_version)
        bucket = Entry(ANCIENT_CHANGES, "Update", version).ident()
        owned = ledger.managers.pop(ident)
        time = ledger.times.pop(ident, "")
        previous = ledger.managers.get(bucket)
        if previous is None:
            count += 1
        merged = owned.fields if previous is None else owned.fields.union(previous.fields)
        ledger.managers[bucket] = Owned(merged, False)
        ledger.versions[bucket] = version
        if time > ledger.times.get(bucket, ""):
            ledger.times[bucket] = time
        count -= 1


def _finish(obj: dict[str, Any], ledger: Ledger) -> dict[str, Any]:
    out = copy.deepcopy(obj) if obj else {}
    meta = out.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise InvalidObject("expected map", ".metadata")
    cap_update_managers(ledger)
    entries = encode_managed(ledger)
    if entries:
        meta["managedFields"] = entries
    else:
        meta.pop("managedFields", None)
    return out


def _conflict_message(items: list[tuple[str, str]]) -> str:
    named = [(_print_manager(Entry.parse(m)), p) for m, p in items]
    if len(named) == 1:
        return f"Apply failed with 1 conflict: conflict with {named[0][0]}: {named[0][1]}"
    lines: list[str] = []
    for who in sorted({w for w, _ in named}):
        lines.append(f"conflicts with {who}:")
        lines.extend(f"- {p}" for w, p in named if w == who)
    return f"Apply failed with {len(named)} conflicts: " + "\n".join(lines)


def _print_manager(entry: Entry) -> str:
    text = json.dumps(entry.manager)
    if entry.subresource:
        text += f" with subresource {json.dumps(entry.subresource)}"
    if entry.operation == "Update":
        text += f" using {entry.api_version}"
    return text
