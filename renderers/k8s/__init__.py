"""Kubernetes knowledge shared by renderers, the engine (``gitops``) and the sandbox (``kubesandbox``):
one implementation and one name per concept.

``schema`` (the built-in types' merge semantics and the REST catalog, generated from the official
OpenAPI document), ``strategic`` (strategic merge patch), ``labels`` (label-selector strings),
``jsonpointer`` and ``jsonpatch`` (RFC 6901/6902), ``fieldpath`` and ``fieldsv1`` (field paths, field
sets and the managedFields encoding), ``values`` (JSON values as structured-merge-diff orders and
prints them) and ``errors``. Nothing here imports anything outside ``renderers``.
"""
