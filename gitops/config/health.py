"""``spec.healthCheckExprs`` of an ``Application``: health of custom kinds from CEL expressions.

Validated here at load time, so ``gitops validate`` points at the field: ``apiVersion`` is
``group/version`` or ``v1``, ``kind`` a Kubernetes kind, at least one of ``current``, ``inProgress``,
``failed``; each expression is bounded (length, nesting) and compiles with cel-python (``celpy``),
calling only functions CEL has and reading only the variables the engine binds (``metadata``,
``spec``, ``status``, as Flux). ``HealthCheckExprs`` (the list) refuses two entries for one kind.
The check is the engine's own (:mod:`gitops.expressions`, which gitops.health.cel compiles with), so
what validates is what runs. docs/health.md is the user's view.
"""

from __future__ import annotations

import re
from typing import Annotated, Final, Self

from pydantic import AfterValidator, Field, model_validator

from gitops.config.fields import Model, Text
from gitops.expressions import compile_expression

MAX_RULES: Final = 64  # entries of one healthCheckExprs list

_API_VERSION = re.compile(r"v1|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
                          r"/v[0-9]+((alpha|beta)[0-9]+)?")
_KIND = re.compile(r"[A-Z][A-Za-z0-9]{0,62}")


def _api_version(value: str) -> str:
    if len(value) > 253 or not _API_VERSION.fullmatch(value):
        raise ValueError("must be group/version (such as cert-manager.io/v1) or v1")
    return value


def _kind(value: str) -> str:
    if not _KIND.fullmatch(value):
        raise ValueError("must be a Kubernetes kind: a capital letter, then letters and digits")
    return value


def check_expression(value: str) -> str:
    """A CEL expression the engine can run (gitops.expressions: the engine's own check), else
    ExpressionError (a ValueError) for the author."""
    compile_expression(value)
    return value


Expression = Annotated[str, AfterValidator(check_expression)]


class HealthCheckExpr(Model):
    """Flux's ``healthCheckExprs`` entry: a kind and CEL expressions for current, inProgress, failed."""

    api_version: Annotated[str, AfterValidator(_api_version)]
    """``group/version`` of the kind (or ``v1``)."""
    kind: Annotated[Text, AfterValidator(_kind)]
    """The kind judged."""
    current: Expression | None = None
    """CEL: true when the object is Healthy."""
    in_progress: Expression | None = None
    """CEL: true when the object is Progressing."""
    failed: Expression | None = None
    """CEL: true when the object is Degraded."""

    @model_validator(mode="after")
    def _some(self) -> Self:
        if self.current is None and self.in_progress is None and self.failed is None:
            raise ValueError("name at least one of current, inProgress or failed")
        return self


def _one_per_kind(entries: list[HealthCheckExpr]) -> list[HealthCheckExpr]:
    seen: set[tuple[str, str]] = set()
    for entry in entries:
        key = (entry.api_version.rpartition("/")[0], entry.kind)
        if key in seen:
            raise ValueError(f"{entry.kind} of {entry.api_version} has more than one entry; "
                             "merge them into one")
        seen.add(key)
    return entries


HealthCheckExprs = Annotated[list[HealthCheckExpr], Field(max_length=MAX_RULES),
                             AfterValidator(_one_per_kind)]
