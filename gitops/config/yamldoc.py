"""Reads one configuration file into documents that remember where every node came from.

Called by :mod:`gitops.config.loader`. The file first goes through the bounded loader of
``renderers.yamlio`` (size, binary content, nesting depth and alias-bomb guards, plus a check of our
own for recursive aliases such as ``&a [*a]``) so hostile input is rejected before anything recursive
touches it; the guarded loader's data is then paired with the documents' node trees (composed again
by libyaml, which keeps positions). Keeping the node tree lets the loader
turn a pydantic error location such as ``("spec", "destination", "cluster")`` into an exact
``line:column``. Duplicate keys in one mapping, which YAML loaders silently collapse, are reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from gitops.errors import InputError, Problem
from renderers import yamlio
from renderers.errors import RenderError

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_DOCUMENTS = 10_000
_DOC_MARKER = re.compile(r"^(?:---|\.\.\.)(?:[ \t\r]|$)", re.M)
Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Document:
    """One YAML document of a file: its data and its node tree (for positions)."""

    file: str
    node: yaml.Node
    data: Any


def parse(raw: bytes, file: str, *, max_bytes: int = MAX_FILE_BYTES) -> tuple[list[Document], list[Problem]]:
    """The non-empty documents of ``raw``, and duplicate-key problems; InputError if unreadable.

    The data comes from the guarded ``yamlio.load_all``; the text is then only composed (not
    constructed again) for positions. Both drop empty documents, so they pair up one to one.
    """
    try:
        text = yamlio.decode(raw, file, max_bytes=max_bytes)
    except RenderError as exc:
        raise InputError(exc.message, file=file) from exc
    if len(_DOC_MARKER.findall(text)) >= MAX_DOCUMENTS:  # a cheap upper bound of the count
        raise InputError(f"more than {MAX_DOCUMENTS} YAML documents in one file", file=file)
    if "&" in text:
        _check_recursive_aliases(text, file)
    try:
        data = yamlio.load_all(text, file, max_bytes=max_bytes)
        nodes = [n for n in yaml.compose_all(text, Loader=yaml.CSafeLoader) if not _is_null(n)]
    except RenderError as exc:
        raise _input_error(exc, file, text) from exc
    except yaml.YAMLError as exc:  # pragma: no cover - yamlio.load_all parsed the same text
        raise InputError(f"invalid YAML: {exc}", file=file) from exc
    if len(nodes) != len(data):  # pragma: no cover - defensive: never pair data with the wrong node
        raise InputError("YAML documents could not be matched to their positions", file=file)
    problems = [p for node in nodes for p in _duplicate_keys(node, file)]
    return [Document(file, node, doc) for node, doc in zip(nodes, data, strict=True)], problems


def _check_recursive_aliases(text: str, file: str) -> None:
    """Reject an alias to a collection that is still open (``&a [*a]``): a cycle no guard can count.

    Streams parser events (no recursion, so deep nesting is harmless here); syntax errors are left
    to the loader, which reports them with their position.
    """
    open_anchors: list[str | None] = []
    starts = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
    ends = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
    try:
        for event in yaml.parse(text, Loader=yaml.CSafeLoader):
            if isinstance(event, starts):
                open_anchors.append(event.anchor)
            elif isinstance(event, ends):
                open_anchors.pop()
            elif isinstance(event, yaml.AliasEvent) and event.anchor in open_anchors:
                mark = event.start_mark
                raise InputError("recursive YAML alias (a collection containing itself)", file=file,
                                 line=mark.line + 1 if mark else None,
                                 column=mark.column + 1 if mark else None)
    except yaml.YAMLError:
        return


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _input_error(exc: RenderError, file: str, text: str) -> InputError:
    cause = exc.__cause__
    if isinstance(cause, yaml.MarkedYAMLError) and cause.problem_mark is not None:
        mark = cause.problem_mark
        problem = cause.problem or "syntax error"
        context = f" ({cause.context})" if cause.context else ""
        return InputError(f"invalid YAML: {problem}{context}", file=file, line=mark.line + 1,
                          column=mark.column + 1)
    if exc.line is None and "alias" in exc.message:
        line, column = _first_alias(text)
        return InputError(exc.message, file=file, line=line, column=column)
    return InputError(exc.message, file=file, line=exc.line)


def _first_alias(text: str) -> tuple[int | None, int | None]:
    """Where the first alias is used: the place to start looking for an alias bomb."""
    for event in yaml.parse(text, Loader=yaml.CSafeLoader):
        if isinstance(event, yaml.AliasEvent) and event.start_mark is not None:
            return event.start_mark.line + 1, event.start_mark.column + 1
    return None, None  # pragma: no cover - the guard only complains about texts with aliases


def _duplicate_keys(root: yaml.Node, file: str) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            keys: set[str] = set()
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value != "<<":
                    if key.value in keys:
                        problems.append(Problem(f"duplicate key '{key.value}' in the same mapping", file,
                                                key.start_mark.line + 1, key.start_mark.column + 1))
                    keys.add(key.value)
                stack.extend((key, value))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return problems


def locate(root: yaml.Node, loc: Loc, *, at_key: bool = False) -> tuple[int, int]:
    """1-based ``(line, column)`` for ``loc`` inside ``root``.

    A scalar value's own position; for a mapping or list value, the key holding it (so a rule about a
    whole block points at its name, not at its first entry); the key's when ``at_key`` (unknown
    fields) or when ``loc`` ends in pydantic's ``"[key]"`` marker. When ``loc`` leads past the
    existing nodes (a missing field), the position of the deepest existing one: the key of that
    mapping if it has one, else its start.
    """
    node, key = root, None
    for part in loc:
        if part == "[key]":
            break
        child = _child(node, part)
        if child is None:
            target = key if key is not None else node
            return target.start_mark.line + 1, target.start_mark.column + 1
        key, node = child
    else:
        if not at_key and isinstance(node, yaml.ScalarNode):
            key = None
    target = key if key is not None else node
    return target.start_mark.line + 1, target.start_mark.column + 1


def _child(node: yaml.Node, part: str | int) -> tuple[yaml.Node | None, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in reversed(node.value):  # the last duplicate wins, as in the loaded data
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                return key, value
        return _merged_child(node, part)
    elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        return None, node.value[part]
    return None


def _merged_child(node: yaml.MappingNode, part: str | int) -> tuple[yaml.Node | None, yaml.Node] | None:
    """Look ``part`` up in the mappings merged in with ``<<`` (nearest first, as YAML merges)."""
    for key, value in node.value:
        if isinstance(key, yaml.ScalarNode) and key.value == "<<":
            sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
            for source in sources:
                found = _child(source, part) if isinstance(source, yaml.MappingNode) else None
                if found is not None:
                    return found
    return None
