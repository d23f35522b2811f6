"""The hardened Jinja2 environment the Jinja renderer runs untrusted templates in.

Used only by ``renderers.jinja``. Jinja's ``ImmutableSandboxedEnvironment`` already blocks private
attributes (``__class__``, ``__globals__``, ``_TemplateReference__context``), mutation of lists and
dicts, and ``range`` beyond 100 000 items. Key design choice: on top of that, every operation that can
amplify memory is sized *before* it runs, so a bomb is refused instead of allocated: ``*``, ``**``,
``+``, ``%`` (intercepted binary operators), ``~`` (a code generator that compiles it to a checked
join), calls of ``str``/``list`` methods, every filter, and every ``{{ ... }}`` output (``finalize``).
Compiled templates are cached in memory across renders (checksum-verified by Jinja).
"""

from __future__ import annotations

import functools
import re
import string
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import jinja2
import jinja2.bccache
import jinja2.runtime
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_STRING = 4 * 1024 * 1024
# a %-format conversion: optional mapping key, flags, width, precision, length modifier, type
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-+ #0]*(\*|\d+)?(?:\.(\*|\d*))?[hlL]?(.)", re.S)
_NUMBER = re.compile(r"\d+")

def _too_big(size: int, what: str) -> None:
    if size > MAX_STRING:
        raise SecurityError(f"{what} would produce {size} items/characters, over the limit of {MAX_STRING}")


def _text_size(value: Any) -> int:
    """An upper-ish estimate of ``len(str(value))``, walking containers without building the text;
    stops early once over the limit (every step adds at least 2, so cycles end too)."""
    size = 0
    stack = [value]
    while stack and size <= MAX_STRING:
        item = stack.pop()
        if isinstance(item, str):
            size += len(item) + 4
        elif isinstance(item, (list, tuple, set, frozenset, dict)):
            size += 2 + 4 * len(item)
            if size <= MAX_STRING:
                stack.extend(item.items() if isinstance(item, dict) else item)
        else:
            size += 24
    return size


def _check_text(value: Any, what: str) -> None:
    if not isinstance(value, (str, int, float, bool)) and value is not None:
        _too_big(_text_size(value), what)


def _format_widths(fmt: str) -> int:
    """The characters the widths and precisions of ``fmt`` can add, summed over every conversion, in
    both %-style (``%(key)10.3f``) and {}-style (``{0[a]:>10}``); a width taken from an argument
    (``*`` or a nested ``{}``) counts as over the limit."""
    total = 0
    for match in _PERCENT_SPEC.finditer(fmt):
        if "*" in (match[1] or "", match[2] or ""):
            return MAX_STRING + 1
        total += int(match[1] or 0) + int(match[2] or 0)
    if "{" in fmt:
        try:
            for _, _, spec, _ in string.Formatter().parse(fmt):
                if spec and "{" in spec:
                    return MAX_STRING + 1
                total += sum(int(n) for n in _NUMBER.findall(spec or ""))
        except ValueError:
            pass  # malformed: formatting will raise its own error without allocating
    return total


def _estimate(name: str, value: Any, args: tuple[Any, ...]) -> None:
    """Refuse a str method/filter call whose result could be huge, before making it."""
    if isinstance(value, str):
        if name in ("format", "format_map", "%"):
            widths = _format_widths(value)
            if len(value) + widths > MAX_STRING:
                raise SecurityError(f"format string with a huge width or precision: up to "
                                    f"{len(value) + widths} characters, over the limit of {MAX_STRING}")
            _too_big(len(value) + widths + _text_size(args), f"{name} with its arguments")
        if name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
            count = value.count(args[0]) if args[0] else len(value) + 1
            _too_big(len(value) + count * max(0, len(args[1]) - len(args[0])), "replace")
        for n in args:
            if isinstance(n, int) and not isinstance(n, bool) and n > 0:
                spread = value.count("\n") + value.count("\t") + 1
                _too_big(len(value) + n * spread, name)
    if name == "join" and isinstance(args[0] if args else None, (list, tuple)):
        sep = value if isinstance(value, str) else ""
        _too_big(_text_size(args[0]) + len(sep) * len(args[0]), "join")


def _check_result(result: Any, what: str) -> Any:
    if isinstance(result, (str, list, tuple, dict)):
        _too_big(len(result), what)
    return result


def _materialize(items: Any) -> Any:
    """An iterator as a bounded list, so a join or sum can be sized before it runs."""
    if isinstance(items, (str, list, tuple, dict, set, frozenset)) or not hasattr(items, "__iter__"):
        return items
    out: list[Any] = []
    size = 0
    for item in items:  # stop as soon as the joined/summed size would be over the limit
        size += len(item) + 1 if isinstance(item, (str, list, tuple)) else 1
        _too_big(size, "iteration")
        out.append(item)
    return out


def _estimate_sum(items: Any, start: Any) -> None:
    if isinstance(start, (str, list, tuple)) and isinstance(items, (list, tuple)):
        _too_big(len(start) + sum(len(x) if isinstance(x, (str, list, tuple)) else 1 for x in items), "sum")


def _finalize(value: Any) -> Any:
    """Applied to every ``{{ ... }}`` before it is turned into text: a huge container is refused."""
    _check_text(value, "output")
    return value


_RUNTIME_ARGS = (jinja2.runtime.Context, jinja2.Environment, jinja2.nodes.EvalContext)


def _bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        call = list(args)
        first = next((i for i, a in enumerate(call) if not isinstance(a, _RUNTIME_ARGS)), None)
        if first is not None:
            if name in ("join", "sum"):
                call[first] = _materialize(call[first])
            value, rest = call[first], call[first + 1:]
            if name == "join":
                sep = kwargs.get("d", rest[0] if rest and isinstance(rest[0], str) else "")
                _estimate("join", sep, (value,))
            elif name == "sum":
                _estimate_sum(value, kwargs.get("start", rest[1] if len(rest) > 1 else 0))
            else:
                if name in ("string", "pprint", "tojson", "e", "escape", "forceescape", "safe"):
                    _check_text(value, f"filter {name}")
                _estimate(name, value, tuple(rest) + tuple(kwargs.values()))
        return _check_result(func(*call, **kwargs), f"filter {name}")
    return wrapper


class _BoundedCodeGenerator(CodeGenerator):
    """Compiles ``a ~ b`` to a length-checked join (autoescape is always off here)."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.bounded_join((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _MemoryBytecodeCache(jinja2.BytecodeCache):
    """Compiled templates kept in memory (LRU) across renders: a reconcile re-renders the same files.

    Jinja checks the source checksum on load, so a changed template is always recompiled.
    """

    def __init__(self, capacity: int = 2_000) -> None:
        self.capacity = capacity
        self.entries: OrderedDict[str, bytes] = OrderedDict()
        self.lock = threading.Lock()

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with self.lock:
            data = self.entries.get(bucket.key)
            if data is not None:
                self.entries.move_to_end(bucket.key)
        if data is not None:
            bucket.bytecode_from_string(data)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        data = bucket.bytecode_to_string()
        with self.lock:
            self.entries[bucket.key] = data
            self.entries.move_to_end(bucket.key)
            while len(self.entries) > self.capacity:
                self.entries.popitem(last=False)


_BYTECODE = _MemoryBytecodeCache()


class Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox plus size bounds on every operation that can amplify."""

    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, loader: jinja2.BaseLoader) -> None:
        super().__init__(loader=loader, undefined=jinja2.StrictUndefined, autoescape=False,
                         keep_trailing_newline=True, auto_reload=False, cache_size=0,
                         bytecode_cache=_BYTECODE)
        self.globals.pop("lipsum", None)
        self.filters = {name: _bounded_filter(name, f) for name, f in self.filters.items()}
        self.finalize = _finalize

    def bounded_join(self, parts: tuple[Any, ...]) -> str:
        _too_big(_text_size(parts), "concatenation")
        joined = "".join(map(str, parts))
        _too_big(len(joined), "concatenation")
        return joined

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(left, int) and isinstance(right, int):
            if right > 0 and abs(left) > 1 and abs(left).bit_length() * right > 4096:
                raise SecurityError("integer power too large")
        elif operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int):
                    _too_big(len(seq) * n, "repetition")
        elif operator == "%" and isinstance(left, str):
            _estimate("%", left, (right,))
        return _check_result(super().call_binop(context, operator, left, right), f"operator {operator}")

    def call(__self, __context: jinja2.runtime.Context, __obj: Any,
             *args: Any, **kwargs: Any) -> Any:
        method = getattr(__obj, "__wrapped__", __obj)  # the sandbox wraps str.format
        owner = getattr(method, "__self__", None)
        if isinstance(owner, (str, list, tuple, dict)):
            name = getattr(method, "__name__", "")
            if name == "join" and args:
                args = (_materialize(args[0]), *args[1:])
            _estimate(name, owner, args + tuple(kwargs.values()))
        return _check_result(super().call(__context, __obj, *args, **kwargs), "call")
