"""YAML output laid out the way ``kubectl kustomize`` prints it.

Callers: the ``gitops kustomize`` CLI and the conformance tests. Keys are sorted, documents joined by
``---``, and strings styled as Go's YAML encoder does: multi-line strings as literal blocks, strings
that would read back as another type (``"true"``, ``"8080"``) double-quoted, long lines folded at 80
columns. Uses libyaml's emitter with a representer of our own (no global PyYAML state is touched).
"""

from __future__ import annotations

from typing import Any

import yaml

try:
    _Base: type[Any] = yaml.CSafeDumper
except AttributeError:  # pragma: no cover - libyaml missing
    _Base = yaml.SafeDumper

_STR = "tag:yaml.org,2002:str"


_OLD_BOOLS = frozenset(("y", "Y", "n", "N"))
_OTHER_TYPES = frozenset(f"tag:yaml.org,2002:{t}" for t in ("bool", "int", "float", "null", "timestamp"))


class _Dumper(_Base):  # type: ignore[misc]
    """A safe dumper that styles strings like Go's encoder and never writes anchors/aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: Any, value: str) -> Any:
    if "\n" in value and not any(value.endswith(c) for c in (" ", "\t")) and "\r" not in value:
        return dumper.represent_scalar(_STR, value, style="|")
    if value in _OLD_BOOLS or dumper.resolve(yaml.ScalarNode, value, (True, False)) in _OTHER_TYPES:
        return dumper.represent_scalar(_STR, value, style='"')
    return dumper.represent_scalar(_STR, value)


_Dumper.add_representer(str, _str)


def dump(doc: Any) -> str:
    return str(yaml.dump(doc, Dumper=_Dumper, default_flow_style=False, sort_keys=True, allow_unicode=True))


def dump_all(docs: list[Any]) -> str:
    """Documents separated by ``---`` lines, as ``kubectl kustomize`` prints them."""
    return "---\n".join(dump(d) for d in docs)
