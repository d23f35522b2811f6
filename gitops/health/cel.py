"""Health from CEL expressions, as Flux's ``healthCheckExprs``: compiled rules and their evaluation (pure).

Called by :mod:`gitops.health` (``assess``) with a :class:`Rules` value: the application's rules
(``domain.Application.health_checks``, built once per tuple by :func:`rules_for`) in front of the
library shipped as data (:mod:`.library`). A rule matches objects by API group and kind (globs for
library rules, plus an optional ``when`` expression on the object's shape: Crossplane claims have
user-defined groups). Its expressions are evaluated in Flux's order: ``inProgress`` (Progressing),
``failed`` (Degraded), ``current`` (Healthy); the first that is true decides, none true is Progressing.
As in Flux the object's top-level ``metadata``, ``spec`` and ``status`` are the variables (an absent one
is an empty map, so ``has(status.phase)`` works before the controller wrote a status).

Key choices: expressions are compiled once (cached per source text) by :mod:`gitops.expressions`, the
one compile check the configuration uses too (cel-python, bounded length and nesting, only CEL's
functions and the three variables). The object is bounded too: an object with more than MAX_VALUES
values (metadata without managedFields, spec, status) is Unknown rather than evaluated, since celpy has
no cost limit.
Evaluation never raises: a missing field is Progressing (the controller has not written it yet: Flux
keeps waiting the same way), any other error (type mismatch, bad regular expression, a result that is
not a boolean) is Unknown with a message naming the rule, the expression and the error.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as attribute
from typing import Any, Final

import celpy
from celpy import celtypes
from celpy.adapter import json_to_cel

from gitops.expressions import (
    VARIABLES,
    ExpressionError,
    compile_expression,
)
from gitops.vocabulary import HealthStatus

MAX_VALUES: Final = 5000  # values of metadata (without managedFields), spec and status an expression may read
MAX_MESSAGE: Final = 240  # characters of an expression or an error quoted in a health message
# Flux's evaluation order; ``suspended`` (first) is the library's extension, for kinds that can be paused
FIELDS: Final = ("suspended", "inProgress", "failed", "current")
VERDICTS: Final = {"suspended": HealthStatus.SUSPENDED, "inProgress": HealthStatus.PROGRESSING,
                   "failed": HealthStatus.DEGRADED, "current": HealthStatus.HEALTHY}
def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE - 3] + "..."


@dataclass(frozen=True)
class Expression:
    """One of a rule's expressions: its field (``current``, ``inProgress``, ``failed``, ``when``), its
    text, and its program, or why it could not be compiled."""

    field: str
    text: str
    program: celpy.Runner | None = attribute(default=None, compare=False)
    error: str = ""

    @staticmethod
    def of(name: str, text: str) -> Expression:
        try:
            return Expression(name, text, compile_expression(text))
        except ExpressionError as exc:
            return Expression(name, text, None, str(exc))


@dataclass(frozen=True)
class Rule:
    """A health rule: where it applies (group and kind, globs allowed; ``when``: a shape test) and its
    expressions in evaluation order. ``name`` is what a health message quotes."""

    name: str
    group: str
    kind: str
    expressions: tuple[Expression, ...]
    when: Expression | None = None
    message: Expression | None = None
    user: bool = False  # written by the user: messages quote the expression that decided

    def matches(self, group: str, kind: str) -> bool:
        return fnmatch.fnmatchcase(group, self.group) and fnmatch.fnmatchcase(kind, self.kind)

    @property
    def exact(self) -> bool:
        return not any(c in self.group + self.kind for c in "*?[")

    @property
    def errors(self) -> list[str]:
        exprs = [*self.expressions, *(e for e in (self.when, self.message) if e is not None)]
        return [f"{e.field}: {e.error}" for e in exprs if e.error]


def make_rule(name: str, group: str, kind: str, exprs: Mapping[str, str | None], *,
              when: str | None = None, message: str | None = None, user: bool = False) -> Rule:
    """A :class:`Rule` from its texts (``group`` and ``kind`` may be globs)."""
    compiled = tuple(Expression.of(f, text) for f in FIELDS if (text := exprs.get(f)))
    return Rule(name, group, kind, compiled, Expression.of("when", when) if when else None,
                Expression.of("message", message) if message else None, user)


class TooLarge(ValueError):
    """The object has more values than an expression may read."""


def _bounded(value: Any) -> Any:
    """``value``, or TooLarge past MAX_VALUES values (counted iteratively: the object may be deep)."""
    count, stack = 0, [value]
    while stack:
        node = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise TooLarge(f"the object has more than {MAX_VALUES} values")
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return value


def _activation(obj: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, dict[str, Any]] = {}
    for name in VARIABLES:
        value = obj.get(name)
        values[name] = value if isinstance(value, dict) else {}
    values["metadata"] = {k: v for k, v in values["metadata"].items() if k != "managedFields"}
    _bounded(list(values.values()))
    return {name: json_to_cel(value) for name, value in values.items()}


def _reason(exc: BaseException) -> str:
    text = str(exc.args[0]) if exc.args else type(exc).__name__
    return _clip(text.split(" (in activation", 1)[0])


_MISSING = ("no such member", "no such key")


def _run(expr: Expression, activation: dict[str, Any]) -> bool | str:
    """True or False, or why it could not be evaluated (a message)."""
    if expr.program is None:
        return f"does not compile: {expr.error}"
    try:
        result = expr.program.evaluate(activation)
    except RecursionError:
        return "error: the object is nested too deeply"
    except Exception as exc:  # a third-party interpreter over untrusted data: any failure
        return f"error: {_reason(exc)}"  # is the rule's, never the engine's
    if isinstance(result, celtypes.BoolType):
        return bool(result)
    if isinstance(result, Exception):
        return f"error: {_reason(result)}"
    return f"error: evaluated to a {type(result).__name__.removesuffix('Type').lower()}, not a boolean"


def applies(rule: Rule, obj: Mapping[str, Any]) -> bool:
    """Whether ``rule`` judges ``obj``: its ``when`` expression (if any) is true (an error: it does not)."""
    if rule.when is None:
        return True
    try:
        return _run(rule.when, _activation(obj)) is True
    except (RecursionError, TooLarge):
        return False


def evaluate(rule: Rule, obj: Mapping[str, Any]) -> tuple[HealthStatus, str]:
    """The health ``rule`` gives ``obj`` and a message naming the rule and what decided."""
    try:
        activation = _activation(obj)
    except TooLarge as exc:
        return HealthStatus.UNKNOWN, f"{rule.name}: {exc}, too many to evaluate"
    except RecursionError:
        return HealthStatus.UNKNOWN, f"{rule.name}: the object is nested too deeply to evaluate"
    for expr in rule.expressions:
        outcome = _run(expr, activation)
        if isinstance(outcome, str):
            waiting = any(m in outcome for m in _MISSING)
            status = HealthStatus.PROGRESSING if waiting else HealthStatus.UNKNOWN
            hint = " (field not yet written)" if waiting else ""
            return status, f"{rule.name}: {expr.field}: {outcome}{hint}"
        if outcome:
            return VERDICTS[expr.field], _decided(rule, expr, activation)
    return HealthStatus.PROGRESSING, f"{rule.name}: no expression is true yet"


def _decided(rule: Rule, expr: Expression, activation: dict[str, Any]) -> str:
    text = f"{rule.name}: {expr.field}"
    if rule.user:
        return f"{text}: {_clip(expr.text)}"
    if rule.message is not None and rule.message.program is not None:
        try:
            detail = rule.message.program.evaluate(activation)
        except Exception:  # a message is a courtesy: without one the verdict stands
            detail = None
        if isinstance(detail, celtypes.StringType) and str(detail).strip():
            return f"{text}: {_clip(str(detail))}"
    return text


@dataclass(frozen=True)
class Rules:
    """The rules one application's health is judged by: its own (by group and kind, first wins) in front
    of the library's (``library``: exact kinds, then globs and shapes in file order)."""

    user: tuple[Rule, ...] = ()
    library: tuple[Rule, ...] = ()

    def find(self, group: str, kind: str, obj: Mapping[str, Any], *, builtin: bool) -> Rule | None:
        """The rule for ``obj``: a user rule always; a library rule only for kinds without a built-in
        rule (``builtin``)."""
        for rule in self.user:
            if rule.matches(group, kind):
                return rule
        if builtin:
            return None
        candidates = sorted((r for r in self.library if r.matches(group, kind)), key=lambda r: not r.exact)
        return next((r for r in candidates if applies(r, obj)), None)


def user_rule(api_version: str, kind: str, current: str | None, in_progress: str | None,
              failed: str | None) -> Rule:
    """An application's rule (``healthCheckExprs``); its messages read ``cel: <field>: <expression>``."""
    return make_rule("cel", api_version.rpartition("/")[0], kind,
                     {"current": current, "inProgress": in_progress, "failed": failed}, user=True)

