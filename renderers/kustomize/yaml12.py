"""YAML read the way ``kubectl kustomize`` reads it (Go's yaml.v3: YAML 1.2 scalars), with the
shared hostile-input guards.

Callers: :mod:`renderers.kustomize.loader`. PyYAML resolves plain scalars by YAML 1.1 rules, so
``yes``/``on`` would become booleans and ``0o17`` a string; Kustomize keeps ``yes`` a string and
reads ``0o17`` as 15, and turns dates into RFC 3339 timestamps. Design choice: libyaml's fast parser
with our own implicit resolvers; documents that could be hostile (anchors, deep nesting) first pass
through ``renderers.yamlio.load_all``, whose guards raise the located errors.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from renderers import yamlio
from renderers.errors import RenderError

try:
    _Base: type[Any] = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - libyaml missing
    _Base = yaml.SafeLoader

_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[-+]\d{2}:\d{2})?$")


class Loader(_Base):  # type: ignore[misc]
    """Safe loader with YAML 1.2 (yaml.v3) implicit typing."""

    yaml_implicit_resolvers: dict[str, list[tuple[str, re.Pattern[str]]]] = {}


def _resolver(tag: str, pattern: str, first: str) -> None:
    Loader.add_implicit_resolver(f"tag:yaml.org,2002:{tag}", re.compile(pattern, re.X), list(first))


_resolver("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF")
_resolver("int", r"""^(?:[-+]?0b[0-1_]+|[-+]?0o?[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$""",
          "-+0123456789")
_resolver("float", r"""^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?
          |[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$""", "-+0123456789.")
_resolver("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""])  # type: ignore[arg-type]
_resolver("timestamp", r"^\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[-+]\d{2}:\d{2})?)?$",
          "0123456789")
_resolver("merge", r"^(?:<<)$", "<")


def _timestamp(loader: Any, node: yaml.ScalarNode) -> str:
    value = str(node.value)
    if _DATE.match(value):
        return f"{value}T00:00:00Z"
    if _DATETIME.match(value):
        return value.replace("t", "T").replace(" ", "T", 1)
    return value


Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


class StrictLoader(Loader):
    """Like :class:`Loader`, but a map repeating a key is an error."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: dict[str, int] = {}
        for key, _ in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value != "<<":
                if key.value in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f'mapping key "{key.value}" already defined at line {seen[key.value]}',
                        key.start_mark)
                seen[key.value] = key.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)

_RISKY = re.compile(r"&|^ {50,}|[\[{]{12,}", re.M)
_T = "tag:yaml.org,2002:"


class _Fallback(Exception):
    """The document uses something the fast path does not handle (merge keys, custom tags)."""


def _scalar(loader: Any, node: yaml.ScalarNode) -> Any:
    tag = node.tag
    if tag == _T + "str":
        return node.value
    if tag == _T + "null":
        return None
    if tag == _T + "bool":
        return node.value in ("true", "True", "TRUE")
    if tag == _T + "int":
        return loader.construct_yaml_int(node)
    if tag == _T + "float":
        return loader.construct_yaml_float(node)
    if tag == _T + "timestamp":
        return _timestamp(loader, node)
    raise _Fallback


def _build(loader: Any, node: yaml.Node, strict: bool, memo: dict[int, Any]) -> Any:
    """Construct plain Python values from a composed node tree (what SafeConstructor does for the
    tags Kubernetes YAML uses, without its generic machinery); shared (aliased) nodes stay shared."""
    if id(node) in memo:
        return memo[id(node)]
    if isinstance(node, yaml.ScalarNode):
        return _scalar(loader, node)
    if isinstance(node, yaml.SequenceNode) and node.tag == _T + "seq":
        items: list[Any] = []
        memo[id(node)] = items
        items.extend(_build(loader, child, strict, memo) for child in node.value)
        return items
    if not isinstance(node, yaml.MappingNode) or node.tag != _T + "map":
        raise _Fallback
    out: dict[Any, Any] = {}
    memo[id(node)] = out
    lines: dict[Any, int] = {}
    for key_node, value_node in node.value:
        if key_node.tag == _T + "merge" or not isinstance(key_node, yaml.ScalarNode):
            raise _Fallback
        key = _scalar(loader, key_node)
        if strict and key in lines:
            raise yaml.constructor.ConstructorError(
                None, None, f'mapping key "{key_node.value}" already defined at line {lines[key]}',
                key_node.start_mark)
        lines[key] = key_node.start_mark.line + 1
        out[key] = _build(loader, value_node, strict, memo)
    return out


def _documents(text: str, strict: bool) -> list[Any]:
    loader = Loader(text)
    docs: list[Any] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            doc = _build(loader, node, strict, {})
            if doc is not None:
                docs.append(doc)
    finally:
        loader.dispose()
    return docs


def load_all(data: bytes, source: str, *, max_bytes: int, unique_keys: bool = False,
             yaml11: bool = False) -> list[Any]:
    """Every non-empty document of ``data`` (bounded, hostile input rejected with its location).
    ``yaml11``: YAML 1.1 typing, as kubectl reads kustomization files (``on`` is a boolean)."""
    text = yamlio.decode(data, source, max_bytes=max_bytes)
    if _RISKY.search(text) or text.count("[") + text.count("{") > 24:
        yamlio.load_all(text, source, max_bytes=max_bytes, charge=False)  # the caller charges nodes
    try:
        if yaml11:
            return [d for d in yaml.load_all(text, Loader=_Base) if d is not None]
        try:
            return _documents(text, unique_keys)
        except _Fallback:
            loader = StrictLoader if unique_keys else Loader
            return [d for d in yaml.load_all(text, Loader=loader) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise RenderError(f"invalid YAML: {problem}", path=source,
                          line=mark.line + 1 if mark is not None else None) from exc
    except RecursionError as exc:
        raise RenderError("YAML nested too deeply", path=source) from exc
