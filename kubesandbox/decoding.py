"""What kube-apiserver's typed decoding does to a request object before anything else sees it.

Built-in kinds are decoded from JSON into Go structs, then converted to the internal version. The
sandbox keeps objects as JSON, so this module reproduces the effects clients can observe:

- ``[]byte`` fields (Secret ``data``, ConfigMap ``binaryData``) must be standard base64 with padding;
  anything else fails like Go's ``encoding/json`` (``illegal base64 data at input byte N``, N being
  the offset Go's decoder reports).
- Secret ``stringData`` is write-only: the v1 to internal conversion merges it into ``data`` (its
  keys win) and the internal type has no such field, so it is never stored or returned.
- ``metadata.managedFields`` must decode into ``[]ManagedFieldsEntry`` (strings where the type has
  strings, ``time`` in RFC 3339). Custom resources are decoded without types; their malformed
  metadata fields are dropped instead (apiextensions' ObjectMeta coercion).
- Every other value of a built-in kind must fit its Go type: a string where the schema has a number,
  a list where it has an object... (:func:`_wrong_type`; unknown fields are left to field validation,
  as the decoder leaves them to its strictness check). The message is the SMD wording the field
  manager uses (``.spec.replicas: expected numeric, got string``), not Go's ``json: cannot unmarshal``.

:func:`decode` raises :class:`DecodeError`; the REST layer turns it into the status the apiserver's
handler would send (400 for create and update, 422 on field ``patch`` for patches, 500 for apply).
"""

from __future__ import annotations

import base64
import re
from datetime import datetime
from typing import Any

from kubesandbox.catalog import ResourceType
from kubesandbox.ssa.schema import atom_of, deduce, handler
from kubesandbox.ssa.typed import ABSENT, MAX_DEPTH, item_element
from renderers.k8s.errors import InvalidObject
from renderers.k8s.fieldpath import Path, PathElement, path_string
from renderers.k8s.schema import TypeNode

_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
_ENTRY_STRINGS = {"manager": "string", "operation": "v1.ManagedFieldsOperationType", "apiVersion": "string",
                  "fieldsType": "string", "subresource": "string"}


class DecodeError(Exception):
    """The typed decoder refused the object; ``message`` is Go's error text."""

    def __init__(self, message: str, *, base64_field: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.base64_field = base64_field  # the unstructured converter prefixes these


def base64_error(data: bytes) -> int | None:
    """The offset Go's ``base64.StdEncoding.Decode`` reports for ``data``, or None when it is valid.

    A port of ``decodeQuantum``: quanta of four alphabet characters, ``\\r`` and ``\\n`` skipped,
    padding required, nothing allowed after the padding."""
    si, n = 0, len(data)
    while si < n:
        j = 0
        while j < 4:
            if si == n:
                return None if j == 0 else si - j  # an incomplete quantum (padding is required)
            ch = data[si]
            si += 1
            if ch in _ALPHABET:
                j += 1
                continue
            if ch in (10, 13):
                continue
            if ch != ord("=") or j < 2:
                return si - 1
            if j == 2:  # "==" expected, the first "=" consumed
                while si < n and data[si] in (10, 13):
                    si += 1
                if si == n:
                    return n
                if data[si] != ord("="):
                    return si - 1
                si += 1
            while si < n and data[si] in (10, 13):
                si += 1
            return si if si < n else None  # trailing garbage after the padding
    return None


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _type_error(value: Any, struct: str, path: str, go_type: str) -> DecodeError:
    return DecodeError(f"json: cannot unmarshal {_json_type(value)} into Go struct field {struct}.{path} of "
                       f"type {go_type}")


def _bytes_map(obj: dict[str, Any], key: str, kind: str) -> None:
    values = obj.get(key)
    if values is None:
        return
    if not isinstance(values, dict):
        raise _type_error(values, kind, key, "map[string][]uint8")
    for value in values.values():
        if value is None:
            continue
        if not isinstance(value, str):
            raise _type_error(value, kind, key, "[]uint8")
        offset = base64_error(value.encode())
        if offset is not None:
            raise DecodeError(f"illegal base64 data at input byte {offset}", base64_field=True)


def _string_data(obj: dict[str, Any]) -> None:
    """Secret conversion (v1 to internal): stringData overwrites data, then disappears."""
    string_data = obj.pop("stringData", None)
    if string_data is None:
        return
    if not isinstance(string_data, dict):
        raise _type_error(string_data, "Secret", "stringData", "map[string]string")
    for value in string_data.values():
        if value is not None and not isinstance(value, str):
            raise _type_error(value, "Secret", "stringData", "string")
    if not string_data:
        return
    data = obj.get("data")
    if not isinstance(data, dict):
        data = obj["data"] = {}
    for key, value in string_data.items():
        data[key] = base64.b64encode((value or "").encode()).decode()


def _time_error(value: Any) -> DecodeError | None:
    if value is None:
        return None
    if not isinstance(value, str):
        return DecodeError(f"json: cannot unmarshal {_json_type(value)} into Go value of type string")
    if _RFC3339.fullmatch(value):
        try:
            datetime.fromisoformat(value.replace("z", "Z").replace("t", "T").replace("Z", "+00:00"))
            return None
        except ValueError:
            pass
    return DecodeError(f'parsing time "{value}" as "2006-01-02T15:04:05Z07:00": cannot parse "{value}" as '
                       '"2006"')


def _managed_fields_error(entries: Any) -> DecodeError | None:
    """Why ``metadata.managedFields`` does not decode into ``[]ManagedFieldsEntry`` (None: it does)."""
    if entries is None:
        return None
    if not isinstance(entries, list):
        return _type_error(entries, "ObjectMeta", "metadata.managedFields", "[]v1.ManagedFieldsEntry")
    for item in entries:
        if item is None:
            continue
        if not isinstance(item, dict):
            return _type_error(item, "ObjectMeta", "metadata.managedFields", "v1.ManagedFieldsEntry")
        for key, go_type in _ENTRY_STRINGS.items():
            value = item.get(key)
            if value is not None and not isinstance(value, str):
                return _type_error(value, "ManagedFieldsEntry", f"metadata.managedFields.{key}", go_type)
        error = _time_error(item.get("time"))
        if error is not None:
            return error
    return None


_SCALARS = {"numeric": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
            "string": lambda v: isinstance(v, str), "boolean": lambda v: isinstance(v, bool)}
_KINDS = {dict: "map", list: "list", str: "string", bool: "boolean"}


def _wrong_type(value: Any, node: TypeNode, path: Path = ()) -> DecodeError | None:
    """The first value that does not fit its type in ``node``, as the typed decoder would refuse it.

    The walk of ``ssa.typed.validate`` (same atoms, same wording) restricted to what Go's decoder
    checks: undeclared fields are skipped (field validation reports them) and list keys are not
    checked (duplicates and missing keys decode; validation or the field manager sees them later)."""
    if value is None or len(path) > MAX_DEPTH:
        return None
    atom = atom_of(node)
    part = handler(deduce(atom, value, ABSENT))
    kind = _KINDS.get(type(value), "number")
    if part == "scalar":
        check = _SCALARS.get(str(atom.scalar))
        if check is None or check(value):
            return None
        return DecodeError(f"{path_string(path)}: expected {atom.scalar}, got {kind}")
    if part == "list" and atom.list is not None:
        if not isinstance(value, list):
            return DecodeError(f"{path_string(path)}: expected list, got {kind}")
        for index, child in enumerate(value):
            try:
                element = item_element(atom.list, index, child)
            except InvalidObject:
                element = PathElement.index(index)
            error = _wrong_type(child, atom.list.element, (*path, element))
            if error is not None:
                return error
        return None
    if part == "map" and atom.map is not None:
        if not isinstance(value, dict):
            return DecodeError(f"{path_string(path)}: expected map, got {kind}")
        for key, child in value.items():
            sub = atom.map.child(key)
            error = None if sub is None else _wrong_type(child, sub, (*path, PathElement.field(key)))
            if error is not None:
                return error
    return None


def decode(rt: ResourceType, obj: dict[str, Any]) -> None:
    """Decode ``obj`` (a request body, or the result of a patch or apply) in place."""
    meta = obj.get("metadata")
    managed = meta.get("managedFields") if isinstance(meta, dict) else None
    error = _managed_fields_error(managed)
    if error is not None:
        if rt.crd:
            assert isinstance(meta, dict)
            del meta["managedFields"]  # DropMalformedFields
        else:
            raise error
    if rt.crd:
        return
    error = _wrong_type(obj, rt.type_node())
    if error is not None:
        raise error
    if rt.group:
        return
    if rt.kind == "Secret":
        _bytes_map(obj, "data", "Secret")
        _string_data(obj)
    elif rt.kind == "ConfigMap":
        _bytes_map(obj, "binaryData", "ConfigMap")


def go_patch_value(value: Any) -> str:
    """A decoded patch as Go's ``fmt.Sprintf("%+v", map)`` prints it (the strategic-merge 422)."""
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_patch_value(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_patch_value(v) for v in value) + "]"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
