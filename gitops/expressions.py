"""CEL expressions the engine can run: the one compile check, shared by the configuration (``gitops
validate`` locates its errors at the field: gitops.config.health) and the health rules that run them
(gitops.health.cel).

Key choices: cel-python (``celpy``), a pure Python, conformance-tested CEL implementation, compiles;
every expression is bounded before it can run (length, control characters, syntax-tree depth: the
interpreter recurses, and no comprehension macro inside another, so the cost stays linear in the object),
and the functions and variables it names are checked here, because celpy checks neither. Programs are
cached per source text. A bottom module of the core: it imports nothing of ours.
"""

from __future__ import annotations

import functools
import threading
from typing import Any, Final

import celpy
import lark
from celpy.celparser import CELParseError
from celpy.evaluation import base_functions

MAX_EXPRESSION: Final = 4096  # characters of one expression (Kubernetes bounds its CEL rules too)
MAX_DEPTH: Final = 250  # syntax-tree depth; celpy's evaluator recurses and fails near 600
MAX_NESTED_MACROS: Final = 1  # no comprehension inside another's body: evaluation stays linear
VARIABLES: Final = ("metadata", "spec", "status")  # as Flux: the object's top-level fields
MACROS: Final = frozenset({"has", "all", "exists", "exists_one", "map", "filter"})
FUNCTIONS: Final = MACROS | frozenset(name for name in base_functions if name[0].isalpha())
TYPE_NAMES: Final = frozenset({"bool", "bytes", "double", "duration", "int", "list", "map", "null_type",
                               "string", "timestamp", "type", "uint"})

_ENV = celpy.Environment()
_LOCK = threading.Lock()  # the lark parser behind celpy is shared: one compile at a time


class ExpressionError(ValueError):
    """An expression that cannot be used: too long, too deep, not CEL, or naming what does not exist."""


def _walk(tree: lark.Tree[Any]) -> None:
    """Depth, macro nesting, functions and variables of a parsed expression (iterative: the tree of a
    hostile expression is deep). Comprehension variables count as bound everywhere (a simplification
    that can only accept more, and what it accepts still fails safely at evaluation)."""
    bound, calls, reads = set(VARIABLES), set(), set()
    stack: list[tuple[lark.Tree[Any], int, int]] = [(tree, 1, 0)]
    while stack:
        node, depth, nested = stack.pop()
        if depth > MAX_DEPTH:
            raise ExpressionError(f"the expression is nested deeper than {MAX_DEPTH} levels")
        kids = node.children
        if node.data == "ident_arg" and kids and isinstance(kids[0], lark.Token):
            calls.add(str(kids[0]))
        elif node.data == "member_dot_arg" and len(kids) >= 2 and isinstance(kids[1], lark.Token):
            calls.add(str(kids[1]))
            if str(kids[1]) in MACROS:
                nested += 1
                if nested > MAX_NESTED_MACROS:
                    raise ExpressionError(f"comprehensions nest deeper than {MAX_NESTED_MACROS} levels")
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
        raise ExpressionError(f"unknown function {', '.join(unknown)}")
    free = sorted(r for r in reads if r not in bound and r not in TYPE_NAMES)
    if free:
        raise ExpressionError(f"unknown variable {', '.join(free)} (the variables are "
                              f"{', '.join(VARIABLES)})")


@functools.lru_cache(maxsize=1024)
def compile_expression(text: str) -> celpy.Runner:
    """The program of one expression, cached by its text; :class:`ExpressionError` when unusable."""
    if not text.strip():
        raise ExpressionError("the expression is empty")
    if len(text) > MAX_EXPRESSION:
        raise ExpressionError(f"the expression is {len(text)} characters, over the limit of {MAX_EXPRESSION}")
    if any((ord(ch) < 32 and ch not in "\n\r\t") or ord(ch) == 127 for ch in text):
        raise ExpressionError("the expression contains control characters")
    try:
        with _LOCK:
            tree = _ENV.compile(text)
    except CELParseError as exc:
        where = f" at line {exc.line}, column {exc.column}" if getattr(exc, "line", None) else ""
        raise ExpressionError(f"not a valid CEL expression{where}") from exc
    except RecursionError as exc:
        raise ExpressionError(f"the expression is nested deeper than {MAX_DEPTH} levels") from exc
    _walk(tree)
    return _ENV.program(tree)
