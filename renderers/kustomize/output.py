"""YAML output laid out the way ``kubectl kustomize`` prints it.

Callers: the ``gitops kustomize`` CLI and the conformance tests. Keys are sorted, documents joined by
``---``, and strings styled as Go's YAML encoder does: multi-line strings as literal blocks, strings
that would read back as another type (``"true"``, ``"8080"``) double-quoted, long lines folded at 80
columns. Uses libyaml's emitter with a representer of our own (no global PyYAML state is touched).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
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


def go_float(value: float) -> str:
    """A float as kubectl prints it: Kustomize passes numbers through JSON (ES6 number text), reads
    that back as YAML (integral values become integers) and prints floats like Go's ``%v``."""
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    if value == 0 or (abs(value) >= 1e-6 and abs(value) < 1e21 and value.is_integer()):
        return str(int(value))
    digits, exp = _shortest(value)
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    sign = "-" if value < 0 else ""
    if exp < -4 or exp >= 6:
        return f"{sign}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exp < 0:
        return f"{sign}0.{'0' * (-exp - 1)}{digits}"
    whole, frac = digits[:exp + 1], digits[exp + 1:]
    return f"{sign}{whole.ljust(exp + 1, '0')}" + (f".{frac}" if frac else "")


def _shortest(value: float) -> tuple[str, int]:
    """Shortest round-trip decimal digits of ``abs(value)`` and its decimal exponent."""
    _, digits, exponent = Decimal(repr(abs(value))).normalize().as_tuple()
    text = "".join(str(d) for d in digits)
    return text, len(text) + int(exponent) - 1


def _float(dumper: Any, value: float) -> Any:
    text = go_float(value)
    tag = "tag:yaml.org,2002:int" if text.lstrip("-").isdigit() else "tag:yaml.org,2002:float"
    return dumper.represent_scalar(tag, text)


_Dumper.add_representer(str, _str)
_Dumper.add_representer(float, _float)
# YAML 1.2 floats without a dot ("1e+21", "1e3") are floats too: printed plain, and quoted as strings.
_Dumper.add_implicit_resolver("tag:yaml.org,2002:float",
                              re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$"),
                              list("-+0123456789."))
_Dumper.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^[-+]?0o[0-7]+$"), list("-+0"))


def dump(doc: Any) -> str:
    return str(yaml.dump(doc, Dumper=_Dumper, default_flow_style=False, sort_keys=True, allow_unicode=True))


def dump_all(docs: list[Any]) -> str:
    """Documents separated by ``---`` lines, as ``kubectl kustomize`` prints them."""
    return "---\n".join(dump(d) for d in docs)
