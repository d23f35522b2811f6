"""The Jinja2 renderer: templates in a directory -> YAML -> manifests, in a hardened sandbox.

Called by ``renderers.api.render`` as ``render(root, app_dir, options, parameters)``. Template files
(``*.yaml.j2``, ``*.yml.j2``, ``*.j2`` and, unless ``template_yaml: false``, ``*.yaml``/``*.yml``) are
rendered with the merged values (``values_files`` then the per-cluster ``parameters``) and parsed with
the bounded YAML loader. Files whose name starts with ``_`` are partials: only for include/import.

Key design choice: templates come from Git and are untrusted, so they run in Jinja's
``ImmutableSandboxedEnvironment`` (no ``__class__``/``__globals__``, no mutation of values) with
``StrictUndefined``, a loader that cannot leave the application directory, and bounds on everything
that can amplify: ``range`` (Jinja's limit), ``*``/``**``/``+``/``%``, ``~`` concatenation, string
methods and filters (width, replace, join), the output size per file, and a time budget enforced by a
trace hook on template frames only. Values are data: they are never rendered as templates.
"""

from __future__ import annotations

import functools
import re
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import jinja2
import jinja2.bccache
import jinja2.runtime
import jinja2.utils
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from renderers import plain, yamlio
from renderers.errors import RenderError
from renderers.manifest import Manifest, from_documents

OPTIONS = frozenset({"include", "exclude", "recursive", "values_files", "template_yaml"})
MAX_STRING = 4 * 1024 * 1024
MAX_OUTPUT = yamlio.MAX_BYTES
TIMEOUT_SECONDS = 10.0
# a %-format or {}-format spec with a width/precision of 7+ digits, a ``*`` width, or a nested {} width
_BIG_NUMBER = re.compile(r"%[-+ #0]*(?:\d{7,}|\*|\d*\.(?:\d{7,}|\*))|\{[^{}]*:[^{}]*(?:\d{7,}|\{)")


class _Timeout(Exception):
    """Raised by the trace hook when a render runs past its time budget."""


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


def _estimate(name: str, value: Any, args: tuple[Any, ...]) -> None:
    """Refuse a str method/filter call whose result could be huge, before making it."""
    if isinstance(value, str):
        if name in ("format", "format_map", "%"):
            if _BIG_NUMBER.search(value):
                raise SecurityError("format string with a huge width or precision")
            _check_text(args, f"{name} arguments")
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


class _Sandbox(ImmutableSandboxedEnvironment):
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


class _NamespaceName(str):
    """The destination namespace, still callable as Jinja's ``namespace()`` which it shadows."""

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> jinja2.utils.Namespace:
        return jinja2.utils.Namespace(*args, **kwargs)


class _ConfinedLoader(jinja2.BaseLoader):
    """Loads templates by relative name from the application directory only, through ``plain``."""

    def __init__(self, root: Path, app_dir: Path) -> None:
        self.root = root
        self.app_dir = app_dir
        self.names: set[str] = set()

    def get_source(self, environment: jinja2.Environment, template: str
                   ) -> tuple[str, str, Callable[[], bool]]:
        try:
            path = plain.confine(self.root, self.app_dir, template, "template")
            if not path.is_relative_to(self.app_dir):
                raise RenderError("include/import must stay inside the application directory")
            source = plain.display(self.root, path)
            text = yamlio.decode(plain.read_bytes(self.root, path), source)
        except RenderError as exc:
            raise jinja2.TemplateNotFound(template) from exc
        self.names.add(source)
        return text, source, lambda: True


def _deep_merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def load_values(root: Path, app_dir: Path, files: tuple[str, ...]) -> tuple[dict[str, Any], set[Path]]:
    """Values files merged in order (later wins); paths relative to the app dir, inside the root."""
    merged: dict[str, Any] = {}
    used: set[Path] = set()
    for i, rel in enumerate(files):
        path = plain.confine(root, app_dir, rel, f"options.values_files[{i}]", allow_parent=True)
        source = plain.display(root, path)
        data = plain.load_yaml(plain.read_bytes(root, path), source)
        if data is None:
            continue
        if not isinstance(data, dict):
            raise RenderError(f"values file must hold a mapping, got {type(data).__name__}", path=source)
        merged = _deep_merge(merged, data)
        used.add(path)
    return merged, used


def _template_line(tb: TracebackType | None, names: set[str]) -> int | None:
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename in names:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _translate(exc: BaseException, source: str, names: set[str]) -> RenderError:
    line = _template_line(exc.__traceback__, names)
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return RenderError(f"template syntax error: {exc.message}", path=exc.filename or source,
                           line=exc.lineno)
    cause = exc.__cause__
    if isinstance(exc, jinja2.TemplateNotFound) and isinstance(cause, RenderError):
        where = f" ({cause.path})" if cause.path else ""
        return RenderError(f"cannot load template {exc.name!r}{where}: {cause.message}", path=source,
                           line=line)
    kinds: list[tuple[type[BaseException], str]] = [
        (jinja2.UndefinedError, "undefined variable"), (SecurityError, "unsafe template operation"),
        (jinja2.TemplateNotFound, "template not found"), (_Timeout, "template took too long"),
        (OverflowError, "value too large"), (RecursionError, "template recursion too deep"),
        (MemoryError, "out of memory")]
    label = next((text for kind, text in kinds if isinstance(exc, kind)), "template failed")
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, jinja2.TemplateNotFound):
        detail = exc.message or detail
    return RenderError(f"{label}: {detail}", path=source, line=line)


def _guarded(names: set[str], chunks: Iterator[str], source: str, deadline: float) -> str:
    """Join template output under a trace hook that enforces the deadline on template frames."""
    steps = [0]

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        steps[0] += 1
        if steps[0] % 1000 == 0 and time.monotonic() > deadline:
            raise _Timeout(f"over {TIMEOUT_SECONDS:g}s")
        return local

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        return local if frame.f_code.co_filename in names else None

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        out: list[str] = []
        size = 0
        for chunk in chunks:
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise RenderError(f"template output over the limit of {MAX_OUTPUT} characters", path=source)
            out.append(chunk)
        return "".join(out)
    finally:
        sys.settrace(previous)


def render_file(env: _Sandbox, loader: _ConfinedLoader, name: str, context: dict[str, Any],
                source: str) -> str:
    """One template rendered to text; every failure a RenderError with file and line."""
    try:
        template = env.get_template(name)
        return _guarded(loader.names, template.generate(context), source,
                        time.monotonic() + TIMEOUT_SECONDS)
    except RenderError:
        raise
    except Exception as exc:  # every template failure, translated once
        raise _translate(exc, source, loader.names) from exc


def render(root: Path, app_dir: Path, options: Mapping[str, Any],
           parameters: Mapping[str, Any]) -> list[Manifest]:
    """Every manifest the templates in ``app_dir`` produce for these parameters."""
    plain.check_keys(options, OPTIONS, "jinja")
    template_yaml = plain.opt_bool(options, "template_yaml", True)
    recursive = plain.opt_bool(options, "recursive", False)
    selection = plain.Selection((".j2", *plain.MANIFEST_SUFFIXES), plain.opt_paths(options, "include"),
                                plain.opt_paths(options, "exclude"), recursive)
    values, used = load_values(root, app_dir, plain.opt_paths(options, "values_files", allow_parent=True))
    values = _deep_merge(values, parameters)
    context = {**values, "values": values}
    if context.get("namespace") is None or isinstance(context["namespace"], str):
        context["namespace"] = _NamespaceName(context.get("namespace") or "")
    loader = _ConfinedLoader(root, app_dir)
    env = _Sandbox(loader)
    budget = plain.Budget()
    manifests: list[Manifest] = []
    for path in plain.collect(root, app_dir, selection):
        if path.name.startswith("_") or path.resolve() in used:
            continue
        source = plain.display(root, path)
        rel = path.relative_to(app_dir).as_posix()
        if path.name.endswith(".j2") or (template_yaml and not path.name.endswith(".json")):
            text = render_file(env, loader, rel, context, source)
        else:
            text = yamlio.decode(plain.read_bytes(root, path), source)
        budget.take(len(text), source)
        manifests.extend(from_documents(plain.load_documents(text, source), source))
    return manifests
