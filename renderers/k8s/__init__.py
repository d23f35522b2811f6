"""Kubernetes knowledge shared by renderers and the engine: the built-in types' merge semantics and
the REST catalog, generated from the official OpenAPI document (see ``schema.py``)."""
