"""Safe, bounded YAML loading and deterministic dumping for every renderer and the engine.

Loads with libyaml's safe loader (fast) after cheap guards against hostile input: a size limit, binary
content, nesting deeper than ``MAX_DEPTH`` (libyaml's composer recurses in C and would crash the
process on a deeply nested document) and alias bombs (``&a [*b, *b, ...]``) whose expansion would
exceed ``MAX_NODES`` in one file (all its documents together). The guards cost almost nothing on
ordinary manifests: the nesting scan over parser events only runs when a quick textual bound says
the document could be deep, and the alias checks (recursive aliases refused, expansion counted) only
when the text has anchors and aliases. Inside a render, every file's nodes (aliases expanded) are
charged to the render's YAML node budget (:mod:`renderers.budget`), so many files cannot add up to
an unbounded parse either. Every failure is a :class:`RenderError` naming the source.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml

from renderers import budget
from renderers.errors import RenderError

MAX_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 100
MAX_NODES = 1_000_000

try:
    _Loader: type[Any] = yaml.CSafeLoader
    _Dumper: type[Any] = yaml.CSafeDumper
except AttributeError:  # pragma: no cover - libyaml missing
    _Loader = yaml.SafeLoader
    _Dumper = yaml.SafeDumper

_DEEP_INDENT = re.compile(rf"^ {{{MAX_DEPTH // 2},}}", re.M)
_MANY_DASHES = re.compile(rf"(?:-\s+){{{MAX_DEPTH // 4},}}")


def _may_be_deep(text: str) -> bool:
    flow = text.count("[") + text.count("{")
    return flow >= MAX_DEPTH // 4 or bool(_DEEP_INDENT.search(text)) or bool(_MANY_DASHES.search(text))


def _check_depth(text: str, source: str) -> None:
    """Refuse nesting deeper than ``MAX_DEPTH`` with our own message, whatever libyaml's version.

    libyaml's parser streams events without recursing, so counting them is safe and fast. Newer
    libyaml versions also refuse deep flow nesting themselves (while scanning ahead, before the first
    event we could count); any error from libyaml here is therefore checked again with PyYAML's
    pure-Python parser, which has no nesting limit of its own and does not recurse either: a document
    that is too deep gets our error, a genuinely malformed one its located syntax error.
    """
    try:
        _count_depth(text, source, _Loader)
    except yaml.YAMLError:
        try:
            _count_depth(text, source, yaml.SafeLoader)
        except yaml.YAMLError as exc:
            raise _translate(exc, source) from exc


def _count_depth(text: str, source: str, loader: type[Any]) -> None:
    depth = 0
    starts = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
    ends = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, starts):
            depth += 1
            if depth > MAX_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark else None
                raise RenderError(f"YAML nested deeper than {MAX_DEPTH} levels", path=source, line=line)
        elif isinstance(event, ends):
            depth -= 1


def _expanded_size(doc: Any, source: str, limit: int) -> int:
    """The nodes of ``doc`` as if aliases were expanded (a shared collection counts once per use);
    over ``limit`` is an alias bomb. ``doc`` is acyclic: recursive aliases were refused before
    loading."""
    sizes: dict[int, int] = {}
    stack: list[tuple[Any, bool]] = [(doc, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if not isinstance(node, (dict, list)):
            continue
        children = list(node.values() if isinstance(node, dict) else node)
        if done:
            sizes[key] = 1 + sum(sizes.get(id(c), 1) for c in children)
            if sizes[key] > limit:
                raise RenderError(f"YAML aliases expand to more than {MAX_NODES} nodes in one file "
                                  "(alias bomb?)", path=source)
            continue
        if key in sizes:
            continue
        stack.append((node, True))
        stack.extend((c, False) for c in children if isinstance(c, (dict, list)) and id(c) not in sizes)
    return sizes.get(id(doc), 1)


def tree_size(doc: Any) -> int:
    """The nodes of an alias-free ``doc``: every collection and scalar value."""
    count = 0
    stack = [doc]
    while stack:
        node = stack.pop()
        count += 1
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return count


def count_nodes(docs: list[Any], source: str, *, shared: bool) -> int:
    """The nodes of ``docs`` with aliases expanded (``shared``: the text had anchors, so values may be
    shared); more than ``MAX_NODES`` in aliased text is refused as an alias bomb."""
    if not shared:
        return sum(tree_size(doc) for doc in docs)
    total = 0
    for doc in docs:
        total += _expanded_size(doc, source, MAX_NODES - total)
    return total


def _check_recursive_aliases(text: str, source: str) -> None:
    """Refuse an alias inside the collection it names (``&a [*a]``): a cyclic value that no manifest
    can hold and no walk can finish. Parser events only, so the error names the line."""
    open_anchors: list[str | None] = []
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                open_anchors.append(event.anchor)
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                open_anchors.pop()
            elif isinstance(event, yaml.AliasEvent) and event.anchor in open_anchors:
                line = event.start_mark.line + 1 if event.start_mark else None
                raise RenderError(f"recursive YAML alias *{event.anchor} refers to itself (inside its own "
                                  "anchor)", path=source, line=line)
    except yaml.YAMLError as exc:
        raise _translate(exc, source) from exc


def _translate(exc: yaml.YAMLError, source: str) -> RenderError:
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    message = f"invalid YAML: {problem}" + (f" ({context})" if context else "")
    if mark is not None:
        message += f" at column {mark.column + 1}"
    return RenderError(message, path=source, line=line)


def decode(data: bytes | str, source: str, *, max_bytes: int = MAX_BYTES) -> str:
    """Bytes to text with the size and binary-content checks applied."""
    if len(data) > max_bytes:
        raise RenderError(f"file is {len(data)} bytes, over the limit of {max_bytes}", path=source)
    if isinstance(data, str):
        text = data
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise RenderError(f"not UTF-8 text (binary file?) at byte {exc.start}", path=source) from exc
    if "\x00" in text:
        raise RenderError("binary content (NUL byte) in a YAML file", path=source)
    return text


def load_all(data: bytes | str, source: str = "<input>", *, max_bytes: int = MAX_BYTES,
             charge: bool = True) -> list[Any]:
    """Every document of a YAML stream, empty documents dropped; hostile input is rejected. Inside a
    render the nodes are charged to its YAML node budget (``charge=False``: the caller charges)."""
    text = decode(data, source, max_bytes=max_bytes)
    if _may_be_deep(text):
        _check_depth(text, source)
    if "&" in text and "*" in text:
        _check_recursive_aliases(text, source)
    try:
        docs = [d for d in yaml.load_all(text, Loader=_Loader) if d is not None]
    except yaml.YAMLError as exc:
        raise _translate(exc, source) from exc
    except RecursionError as exc:
        raise RenderError("YAML nested too deeply", path=source) from exc
    meter = budget.active() if charge else None
    if "&" in text or meter is not None:
        nodes = count_nodes(docs, source, shared="&" in text)
        if meter is not None:
            meter.charge_nodes(nodes, source)
    return docs


def load(data: bytes | str, source: str = "<input>", *, max_bytes: int = MAX_BYTES) -> Any:
    """Exactly one YAML document (``None`` when the stream is empty)."""
    docs = load_all(data, source, max_bytes=max_bytes)
    if len(docs) > 1:
        raise RenderError(f"expected one YAML document, found {len(docs)}", path=source)
    return docs[0] if docs else None


def iter_dump(docs: list[Any]) -> Iterator[str]:
    for doc in docs:
        yield yaml.dump(doc, Dumper=_Dumper, default_flow_style=False, sort_keys=True, allow_unicode=True,
                        width=1_000_000)


def dump_all(docs: list[Any]) -> str:
    """Documents separated by ``---``, keys sorted (the layout ``kubectl kustomize`` prints)."""
    return "---\n".join(iter_dump(docs))
