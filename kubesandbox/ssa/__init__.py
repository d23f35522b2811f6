"""Server-side apply and field ownership in pure Python (what kube-apiserver does with SMD).

The sandbox API server calls :func:`apply_patch` for apply requests and :func:`record_update` for
every other write; both return the object to store with ``metadata.managedFields`` maintained.
:func:`from_openapi_v3` turns a CRD schema into a type node. The merge and ownership algorithm is a
port of structured-merge-diff v4 (:mod:`.updater`, :mod:`.merge`, :mod:`.typed`), checked by
differential tests against the real library (tests/sandbox/ssa). See docs/sandbox-ssa.md.
"""

from __future__ import annotations

from kubesandbox.ssa.api import apply_patch, record_update
from kubesandbox.ssa.crd import from_openapi_v3
from kubesandbox.ssa.errors import ApplyConflict, InvalidObject
from kubesandbox.ssa.fieldpath import FieldSet, PathElement, path_string
from kubesandbox.ssa.fieldsv1 import decode as decode_fields
from kubesandbox.ssa.fieldsv1 import encode as encode_fields

__all__ = ["ApplyConflict", "FieldSet", "InvalidObject", "PathElement", "apply_patch", "decode_fields",
           "encode_fields", "from_openapi_v3", "path_string", "record_update"]
