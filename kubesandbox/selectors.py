"""Label and field selectors for LIST and WATCH, parsed once per request.

Grammar and semantics follow "Labels and Selectors" in the Kubernetes docs: equality-based
(``=``, ``==``, ``!=``) and set-based (``in``, ``notin``, ``key``, ``!key``) requirements joined by
commas, all of which must hold (parsed by :mod:`renderers.k8s.labels`, shared with kustomize). Field selectors
support ``metadata.name`` and ``metadata.namespace`` (the fields every kind supports); anything else
is a 400 BadRequest like kube-apiserver's "field label not supported".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kubesandbox.apierrors import ApiError, bad_request
from renderers.k8s import labels

Predicate = Callable[[Mapping[str, str]], bool]


def label_selector(text: str | None) -> Predicate | None:
    """A predicate over an object's labels; None when the selector is empty (matches everything)."""
    try:
        return labels.parse(text)
    except labels.SelectorError as exc:
        raise bad_request(str(exc)) from exc


_FIELDS = {"metadata.name": "name", "metadata.namespace": "namespace"}


def field_selector(text: str | None) -> Callable[[Mapping[str, Any]], bool] | None:
    """A predicate over an object's metadata for ``metadata.name`` / ``metadata.namespace`` terms."""
    if not text or not text.strip():
        return None
    if len(text) > 10_000:
        raise bad_request("field selector too long")
    terms: list[tuple[str, bool, str]] = []
    for part in text.split(","):
        op = next((o for o in ("!=", "==", "=") if o in part), None)  # no regex: no backtracking
        if op is None:
            raise bad_request(f"invalid field selector: {part[:100]!r}")
        key, _, value = part.partition(op)
        key = key.strip()
        if key not in _FIELDS:
            raise ApiError(400, "BadRequest", f"field label not supported: {key[:100]}")
        terms.append((_FIELDS[key], op == "!=", value.strip()))

    def match(meta: Mapping[str, Any]) -> bool:
        return all((meta.get(k, "") == v) != neg for k, neg, v in terms)
    return match
