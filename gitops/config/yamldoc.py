"""Reads one configuration file into documents that remember where every node came from.

Called by :mod:`gitops.config.loader`. The file first goes through the bounded loader of
``renderers.yamlio`` (size, binary content, nesting depth and alias-bomb guards) so hostile input is
rejected before anything recursive touches it; only then is the text composed again with libyaml into
position-carrying nodes, from which the data is constructed. Keeping the node tree lets the loader
turn a pydantic error location such as ``("spec", "destination", "cluster")`` into an exact
``line:column``. Duplicate keys in one mapping, which YAML loaders silently collapse, are reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from gitops.errors import InputError, Problem
from renderers import yamlio
from renderers.errors import RenderError

MAX_FILE_BYTES = 4 * 1024 * 1024
Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Document:
    """One YAML document of a file: its data and its node tree (for positions)."""

    file: str
    node: yaml.Node
    data: Any


def parse(raw: bytes, file: str, *, max_bytes: int = MAX_FILE_BYTES) -> tuple[list[Document], list[Problem]]:
    """The non-empty documents of ``raw``, and duplicate-key problems; InputError if unreadable."""
    try:
        text = yamlio.decode(raw, file, max_bytes=max_bytes)
        yamlio.load_all(text, file, max_bytes=max_bytes)
    except RenderError as exc:
        raise _input_error(exc, file) from exc
    docs: list[Document] = []
    problems: list[Problem] = []
    loader = yaml.CSafeLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:  # pragma: no cover - check_node said there is one
                break
            problems.extend(_duplicate_keys(node, file))
            data = loader.construct_document(node)
            if data is not None:
                docs.append(Document(file, node, data))
    except yaml.YAMLError as exc:  # pragma: no cover - yamlio.load_all parsed the same text
        raise InputError(f"invalid YAML: {exc}", file=file) from exc
    finally:
        loader.dispose()
    return docs, problems


def _input_error(exc: RenderError, file: str) -> InputError:
    cause = exc.__cause__
    if isinstance(cause, yaml.MarkedYAMLError) and cause.problem_mark is not None:
        mark = cause.problem_mark
        problem = cause.problem or "syntax error"
        context = f" ({cause.context})" if cause.context else ""
        return InputError(f"invalid YAML: {problem}{context}", file=file, line=mark.line + 1,
                          column=mark.column + 1)
    return InputError(exc.message, file=file, line=exc.line)


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
    elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        return None, node.value[part]
    return None
