"""JSON values as structured-merge-diff sees them: equality, total order and Go-style text.

Used by :mod:`.fieldpath` (ordering of set members and map keys, ``k:``/``v:`` serialisation, path
strings), by the sandbox's merge walkers (``Modified`` means "not equal" in SMD's sense) and by its
messages (:func:`go_quote`, Go's ``%q``). The key design
choice: values stay plain Python JSON (dict, list, str, int, float, bool, None); these functions
reproduce Go's ``value.Equals``/``value.Compare`` (ints and floats compare numerically, booleans are
never numbers) and Go's text formats, so that ordering and strings match kube-apiserver byte for byte.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

Key = tuple[Any, ...]


def is_number(v: object) -> bool:
    """True for ints and floats, never for booleans."""
    return isinstance(v, int | float) and not isinstance(v, bool)


def equals(a: Any, b: Any) -> bool:
    """SMD's ``value.Equals``: numeric across int/float, booleans distinct from numbers."""
    if is_number(a) or is_number(b):
        return is_number(a) and is_number(b) and a == b
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if isinstance(a, list) or isinstance(b, list):
        return (isinstance(a, list) and isinstance(b, list) and len(a) == len(b)
                and all(equals(x, y) for x, y in zip(a, b, strict=True)))
    if isinstance(a, dict) or isinstance(b, dict):
        return (isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys()
                and all(equals(v, b[k]) for k, v in a.items()))
    return a is None and b is None


def order_key(v: Any) -> Key:
    """A sort key giving SMD's total order: numbers < strings < booleans < lists < maps < null."""
    if isinstance(v, bool):
        return (2, v)
    if is_number(v):
        return (0, v)
    if isinstance(v, str):
        return (1, v)
    if isinstance(v, list):
        return (3, tuple(order_key(x) for x in v))
    if isinstance(v, dict):
        return (4, tuple(sorted((k, order_key(x)) for k, x in v.items())))
    return (5,)


def go_float(f: float) -> str:
    """Go's ``%v`` of a float64: shortest digits, exponent form below 1e-4 and from 1e6."""
    if f != f or f in (float("inf"), float("-inf")):
        return {"nan": "NaN", "inf": "+Inf", "-inf": "-Inf"}[repr(f)]
    if f == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(f)).normalize().as_tuple()
    text = "".join(map(str, digits))
    exp = len(text) + int(exponent) - 1
    prefix = "-" if sign else ""
    if exp < -4 or exp >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exp < 0:
        return f"{prefix}0.{'0' * (-exp - 1)}{text}"
    whole, frac = text[:exp + 1].ljust(exp + 1, "0"), text[exp + 1:]
    return f"{prefix}{whole}.{frac}" if frac else prefix + whole


def go_quote(s: str) -> str:
    """Go's ``%q`` for the printable strings Kubernetes uses."""
    out = ['"']
    for ch in s:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in "\a\b\f\n\r\t\v":
            out.append("\\" + "abfnrtv"["\a\b\f\n\r\t\v".index(ch)])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif not ch.isprintable() and code > 0x7F:
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def to_string(v: Any) -> str:
    """SMD's ``value.ToString`` (used inside path strings such as ``[name="nginx"]``)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return go_float(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return go_quote(v)
    if isinstance(v, list):
        return "[" + ",".join(to_string(x) for x in v) + "]"
    if isinstance(v, dict):
        return "".join(f"{k}={to_string(x)}" for k, x in sorted(v.items()))
    return "{{undefined}}"


_JSON_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t",
                 "<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def go_json_string(s: str) -> str:
    """A JSON string escaped as Go's encoding/json does (HTML characters escaped)."""
    out = ['"']
    for ch in s:
        esc = _JSON_ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def go_json_float(f: float) -> str:
    """A float as Go's encoding/json writes it (``3`` not ``3.0``, ``1e-7`` not ``1e-07``)."""
    if f != f or f in (float("inf"), float("-inf")):
        raise ValueError(f"unsupported value: {f!r}")
    a = abs(f)
    if a == 0 or 1e-6 <= a < 1e21:
        text = format(Decimal(repr(f)), "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    mantissa, _, exp = f"{Decimal(repr(f)).normalize():e}".partition("e")
    sign, digits = exp[0], exp[1:].lstrip("0") or "0"
    return f"{mantissa}e{sign}{digits}"


def go_json(v: Any) -> str:
    """Compact JSON of a value, byte-identical to what Go's encoding/json emits."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return go_json_float(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return go_json_string(v)
    if isinstance(v, list):
        return "[" + ",".join(go_json(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(f"{go_json_string(k)}:{go_json(x)}" for k, x in sorted(v.items())) + "}"
    raise TypeError(f"not a JSON value: {type(v).__name__}")


def parse_json_value(text: str) -> Any:
    """Parse one JSON value as jsoniter does for path elements (integral numbers are ints)."""
    return json.loads(text)
