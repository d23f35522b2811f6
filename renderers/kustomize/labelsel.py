"""Label-selector strings of kustomize target selectors (``labelSelector``, ``annotationSelector``).

Callers: target selectors of patches and replacements. The grammar is the one Kubernetes uses,
implemented once in :mod:`renderers.k8s.labels`; this module only turns its errors into kustomize's.
"""

from __future__ import annotations

from typing import Any

from renderers.k8s import labels
from renderers.kustomize.errors import fail


def matches(selector: str, values: dict[str, Any]) -> bool:
    try:
        return labels.matches(selector, values)
    except labels.SelectorError as exc:
        raise fail(str(exc), field="labelSelector") from exc
