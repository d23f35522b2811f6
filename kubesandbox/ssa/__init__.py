"""Server-side apply and field ownership in pure Python (what kube-apiserver does with SMD).

The sandbox API server calls :func:`apply_patch` for apply requests and :func:`record_update` for
every other write; both return the object to store with ``metadata.managedFields`` maintained.
:func:`from_openapi_v3` turns a CRD schema into a type node. The merge and ownership algorithm is a
port of structured-merge-diff v4 (:mod:`.updater`, :mod:`.merge`, :mod:`.typed`), checked by
differential tests against the real library (tests/kubesandbox/ssa). Field paths, field sets, the
FieldsV1 codec and SMD's value order are the shared ``renderers.k8s`` modules (``fieldpath``,
``fieldsv1``, ``values``), which the engine reads managedFields with too. See docs/sandbox-ssa.md.
"""

from __future__ import annotations

from kubesandbox.ssa.api import apply_patch, record_update, tracks
from kubesandbox.ssa.crd import from_openapi_v3
from kubesandbox.ssa.errors import ApplyConflict
from renderers.k8s.errors import InvalidObject
from renderers.k8s.fieldpath import FieldSet, PathElement, path_string
from renderers.k8s.fieldsv1 import decode as decode_fields
from renderers.k8s.fieldsv1 import encode as encode_fields

__all__ = ["ApplyConflict", "FieldSet", "InvalidObject", "PathElement", "apply_patch", "decode_fields",
           "encode_fields", "from_openapi_v3", "path_string", "record_update", "tracks"]
