"""``spec.healthCheckExprs`` of an ``Application``: health of custom kinds from CEL expressions.

Validated here at load time, so ``gitops validate`` points at the field: ``apiVersion`` is
``group/version`` or ``v1``, ``kind`` a Kubernetes kind, at least one of ``current``, ``inProgress``,
``failed``; each expression is bounded (length, nesting) and compiles with cel-python (``celpy``),
calling only functions CEL has and reading only the variables the engine binds (``metadata``,
``spec``, ``status``, as Flux). ``HealthCheckExprs`` (the list) refuses two entries for one kind.
The engine compiles and evaluates the same expressions in gitops.health.cel; the configuration sits
below it (and must not pull the engine in), so this check is its own, held to the engine's by
tests/gitops/health/test_config.py (same bounds, same verdicts). docs/health.md is the user's view.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final, Self

import celpy
import lark
from celpy.celparser import CELParseError
from celpy.evaluation import base_functions
from pydantic import AfterValidator, Field, model_validator

from gitops.config.fields import Model, Text

MAX_EXPRESSION: Final = 4096  # characters; gitops.health.cel.MAX_EXPRESSION
MAX_DEPTH: Final = 250  # syntax-tree depth; gitops.health.cel.MAX_DEPTH
MAX_NESTED_MACROS: Final = 1  # gitops.health.cel.MAX_NESTED_MACROS
MAX_RULES: Final = 64  # entries of one healthCheckExprs list
VARIABLES: Final = ("metadata", "spec", "status")
MACROS: Final = frozenset({"has", "all", "exists", "exists_one", "map", "filter"})
FUNCTIONS: Final = MACROS | frozenset(n for n in base_functions if n[0].isalpha())
TYPE_NAMES: Final = frozenset({"bool", "bytes", "double", "duration", "int", "list", "map", "null_type",
                               "string", "timestamp", "type", "uint"})

_API_VERSION = re.compile(r"v1|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
                          r"/v[0-9]+((alpha|beta)[0-9]+)?")
_KIND = re.compile(r"[A-Z][A-Za-z0-9]{0,62}")
_ENV = celpy.Environment()


def _api_version(value: str) -> str:
    if len(value) > 253 or not _API_VERSION.fullmatch(value):
        raise ValueError("must be group/version (such as cert-manager.io/v1) or v1")
    return value


def _kind(value: str) -> str:
    if not _KIND.fullmatch(value):
        raise ValueError("must be a Kubernetes kind: a capital letter, then letters and digits")
    return value


def _walk(tree: lark.Tree[Any]) -> None:
    """Depth, macro nesting, functions and variables of a parsed expression (iterative)."""
    bound, calls, reads = set(VARIABLES), set(), set()
    stack: list[tuple[lark.Tree[Any], int, int]] = [(tree, 1, 0)]
    while stack:
        node, depth, nested = stack.pop()
        if depth > MAX_DEPTH:
            raise ValueError(f"the expression is nested deeper than {MAX_DEPTH} levels")
        kids = node.children
        if node.data == "ident_arg" and kids and isinstance(kids[0], lark.Token):
            calls.add(str(kids[0]))
        elif node.data == "member_dot_arg" and len(kids) >= 2 and isinstance(kids[1], lark.Token):
            calls.add(str(kids[1]))
            if str(kids[1]) in MACROS:
                nested += 1
                if nested > MAX_NESTED_MACROS:
                    raise ValueError(f"comprehensions nest deeper than {MAX_NESTED_MACROS} levels")
                args = kids[2] if len(kids) > 2 else None
                if isinstance(args, lark.Tree) and args.children:
                    leaves = list(lark.Tree("x", [args.children[0]]).scan_values(
                        lambda v: isinstance(v, lark.Token)))
                    bound.update(str(v) for v in leaves[:1] if len(leaves) == 1)
        elif node.data == "ident" and kids:
            reads.add(str(kids[0]))
        stack.extend((c, depth + 1, nested) for c in kids if isinstance(c, lark.Tree))
    unknown = sorted(c for c in calls if c not in FUNCTIONS and c not in TYPE_NAMES)
    if unknown:
        raise ValueError(f"unknown function {', '.join(unknown)}")
    free = sorted(r for r in reads if r not in bound and r not in TYPE_NAMES)
    if free:
        raise ValueError(f"unknown variable {', '.join(free)} (the variables are {', '.join(VARIABLES)})")


def check_expression(value: str) -> str:
    """A CEL expression the engine can run (see the module docstring), else ValueError for the author."""
    if not value.strip():
        raise ValueError("must not be empty")
    if len(value) > MAX_EXPRESSION:
        raise ValueError(f"the expression is {len(value)} characters, over the limit of {MAX_EXPRESSION}")
    if any((ord(ch) < 32 and ch not in "\n\r\t") or ord(ch) == 127 for ch in value):
        raise ValueError("must not contain control characters")
    try:
        tree = _ENV.compile(value)
    except CELParseError as exc:
        where = f" at line {exc.line}, column {exc.column}" if getattr(exc, "line", None) else ""
        raise ValueError(f"not a valid CEL expression{where}") from None
    except RecursionError:
        raise ValueError(f"the expression is nested deeper than {MAX_DEPTH} levels") from None
    _walk(tree)
    return value


Expression = Annotated[str, AfterValidator(check_expression)]


class HealthCheckExpr(Model):
    """Flux's ``healthCheckExprs`` entry: a kind and CEL expressions for current, inProgress, failed."""

    api_version: Annotated[str, AfterValidator(_api_version)]
    kind: Annotated[Text, AfterValidator(_kind)]
    current: Expression | None = None
    in_progress: Expression | None = None
    failed: Expression | None = None

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
