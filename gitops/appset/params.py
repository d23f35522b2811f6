"""Parameter sets: flat maps of dotted names to scalars, and the view templates read them through.

Used by :mod:`gitops.appset.generate` (which builds, merges and selects flat parameter sets) and
:mod:`gitops.appset.template` (which renders with :func:`context`). Key design choice: a parameter set
is flat (``labels.env``, ``path.basename``, ``path.segments.0``: what selectors and merge keys name),
and templates reach it through read-only prefix views, so ``{{ labels.env }}``,
``{{ labels['gitops.dev/region'] }}``, ``{{ path }}`` *and* ``{{ path.basename }}`` all work without
building a nested copy, and a name that is not there is undefined (StrictUndefined makes that an
error naming it), never an empty string.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import jinja2

Scalar = str | int | float | bool | None
Params = Mapping[str, object]
MAX_PARAMS = 1_000
MAX_DEPTH = 32


class ParamError(ValueError):
    """Content that cannot become parameters (too many, too deep, not a mapping)."""


def flatten(data: Mapping[Any, Any], prefix: str = "") -> dict[str, Scalar]:
    """Nested mappings and lists as one flat map: ``{"a": {"b": [1]}}`` -> ``{"a.b.0": 1}``."""
    out: dict[str, Scalar] = {}
    stack: list[tuple[str, Any, int]] = [(prefix, data, 0)]
    while stack:
        name, value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ParamError(f"nested deeper than {MAX_DEPTH} levels at {name!r}")
        if isinstance(value, Mapping):
            stack.extend((f"{name}.{k}" if name else str(k), v, depth + 1) for k, v in value.items())
        elif isinstance(value, list | tuple):
            stack.extend((f"{name}.{i}" if name else str(i), v, depth + 1) for i, v in enumerate(value))
        elif isinstance(value, str | int | float | bool) or value is None:
            out[name] = value
        else:
            out[name] = str(value)  # dates and the like from YAML
        if len(out) > MAX_PARAMS:
            raise ParamError(f"more than {MAX_PARAMS} parameters")
    return dict(sorted(out.items()))


def path_params(path: str, name: str = "path") -> dict[str, Scalar]:
    """``path``, ``path.basename`` and ``path.segments.<i>`` of a repository-relative directory."""
    segments = [s for s in path.split("/") if s]
    out: dict[str, Scalar] = {name: path, f"{name}.basename": segments[-1] if segments else ""}
    out.update({f"{name}.segments.{i}": s for i, s in enumerate(segments)})
    return out


class View:
    """The parameters under ``prefix`` (``labels.``), read by attribute or item."""

    __slots__ = ("_nested", "_params", "_prefix")

    def __init__(self, params: Params, prefix: str, nested: frozenset[str] | None = None) -> None:
        self._params = params
        self._prefix = prefix
        self._nested = nested

    def _child(self, key: object) -> Any:
        return lookup(self._params, f"{self._prefix}{key}", self._nested)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, key: object) -> Any:
        found = self._child(key)
        if found is _MISSING:  # undefined, with the parameter's full name in the error it raises when used
            name = f"{self._prefix}{key}"
            return jinja2.StrictUndefined(hint=f"parameter {name!r} is undefined", name=name)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(sorted({k[len(self._prefix):].split(".")[0] for k in self._params
                            if k.startswith(self._prefix)}))

    def __contains__(self, key: object) -> bool:
        return self._child(key) is not _MISSING

    def items(self) -> list[tuple[str, Any]]:
        return [(k, self[k]) for k in self]

    def to_data(self) -> dict[str, Any]:
        return {k: to_data(v) for k, v in self.items()}

    def __repr__(self) -> str:
        return f"parameters {self._prefix.rstrip('.')}"


class Branch(str):
    """A parameter that has parameters under it too (``path`` and ``path.basename``)."""

    view: View

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name == "view":
            raise AttributeError(name)
        return getattr(self.view, name)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return self.view[key]
        return str.__getitem__(self, key)


_MISSING = object()


def nested_names(params: Params) -> frozenset[str]:
    """Every name that has parameters under it: ``a`` and ``a.b`` for ``a.b.c``."""
    out: set[str] = set()
    for key in params:
        at = key.find(".")
        while at != -1:
            out.add(key[:at])
            at = key.find(".", at + 1)
    return frozenset(out)


def lookup(params: Params, name: str, nested: frozenset[str] | None = None) -> Any:
    """The value, branch or view ``name`` reads in ``params`` (``nested``: its :func:`nested_names`,
    computed once per parameter set by :func:`context`, else here)."""
    prefix = name + "."
    has_children = (name in nested) if nested is not None else any(k.startswith(prefix) for k in params)
    if name in params:
        value = params[name]
        if has_children and isinstance(value, str):
            branch = Branch(value)
            branch.view = View(params, prefix, nested)
            return branch
        return value
    return View(params, prefix, nested) if has_children else _MISSING


def to_data(value: Any) -> Any:
    """A view as plain data (for ``to_yaml``); lists where every key is an index."""
    if isinstance(value, Branch):
        return str(value)
    if isinstance(value, View):
        data = value.to_data()
        if data and all(k.isdigit() for k in data) and sorted(int(k) for k in data) == list(range(len(data))):
            return [data[str(i)] for i in range(len(data))]
        return data
    return value


def context(params: Params) -> dict[str, Any]:
    """The template context: each top-level name, as a value, a branch or a view."""
    nested = nested_names(params)
    tops = {k.split(".", 1)[0] for k in params}
    return {name: lookup(params, name, nested) for name in sorted(tops)}


def groups(params: Params) -> dict[str, tuple[tuple[str, object], ...]]:
    """The parameters under each top-level name (``labels`` -> ``labels.env``, ...), in key order:
    everything a template that reads only those names can depend on."""
    out: dict[str, list[tuple[str, object]]] = {}
    for key in sorted(params):
        out.setdefault(key.split(".", 1)[0], []).append((key, params[key]))
    return {name: tuple(items) for name, items in out.items()}
