"""RFC 6901 JSON pointers (``/spec/template/metadata/labels``, ``~1`` for ``/``, ``~0`` for ``~``).

The one implementation shared by JSON patches (:mod:`renderers.k8s.jsonpatch`: Kustomize's
``patchesJson6902`` and the sandbox's ``application/json-patch+json``), the engine's ignore rules
(``jsonPointers``: :func:`remove`, lenient) and the configuration's check of them (:func:`validate`).
Array indexes follow RFC 6902: digits without a leading zero, ``-`` for the end when adding.
:class:`PointerError` says what is wrong; each caller turns it into its own error.
"""

from __future__ import annotations

from typing import Any


class PointerError(ValueError):
    """A pointer that is malformed, or that does not lead anywhere in the document."""


def validate(pointer: str) -> str:
    """``pointer`` when it is a well-formed RFC 6901 pointer (``""`` is the whole document)."""
    if pointer and not pointer.startswith("/"):
        raise PointerError("a JSON pointer starts with '/' (RFC 6901), e.g. /spec/replicas")
    if any(part and part[0] not in "01" for part in pointer.split("~")[1:]):
        raise PointerError("'~' in a JSON pointer must be followed by 0 or 1 (~0 is '~', ~1 is '/')")
    return pointer


def tokens(pointer: Any) -> list[str]:
    """The unescaped reference tokens of ``pointer`` (``[]`` for ``""``, the whole document)."""
    if not isinstance(pointer, str) or (pointer and not pointer.startswith("/")):
        raise PointerError(f"invalid JSON pointer {pointer!r}")
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]


def text(parts: list[str]) -> str:
    """The pointer of ``parts`` as messages show it (``/a/b``; unescaped)."""
    return "/" + "/".join(parts)


def index(container: list[Any], token: str, *, adding: bool = False) -> int:
    """The list index ``token`` names; ``adding`` allows ``-`` and the position after the end."""
    if adding and token == "-":
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise PointerError(f"invalid array index {token!r}")
    idx = int(token)
    if idx > len(container) or (not adding and idx == len(container)):
        raise PointerError(f"array index {idx} out of bounds")
    return idx


def parent(doc: Any, parts: list[str]) -> Any:
    """The container holding the last token of ``parts`` (``parts`` not empty)."""
    node = doc
    for token in parts[:-1]:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list):
            node = node[index(node, token)]
        else:
            raise PointerError(f"doc is missing path: {text(parts)}")
    return node


def get(doc: Any, parts: list[str]) -> Any:
    """The value ``parts`` leads to."""
    if not parts:
        return doc
    node = parent(doc, parts)
    last = parts[-1]
    if isinstance(node, dict) and last in node:
        return node[last]
    if isinstance(node, list):
        return node[index(node, last)]
    raise PointerError(f"doc is missing key: {text(parts)}")


def remove(obj: Any, pointer: str) -> bool:
    """Delete what ``pointer`` names from ``obj`` in place; ``False`` (nothing changed) when the
    pointer is malformed or leads nowhere."""
    try:
        parts = tokens(pointer)
        if not parts:
            return False
        node = parent(obj, parts)
        last = parts[-1]
        if isinstance(node, dict) and last in node:
            del node[last]
            return True
        if isinstance(node, list):
            del node[index(node, last)]
            return True
    except PointerError:
        return False
    return False
