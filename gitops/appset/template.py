"""Rendering an ApplicationSet's strings with one parameter set, in the renderers' Jinja sandbox.

Called by :mod:`gitops.appset.applications` (the application template, per element) and
:mod:`gitops.appset.generate` (a matrix child that uses an earlier child's parameters). Key design
choice: templates are untrusted, so they run in ``renderers.jinja.sandbox.Sandbox`` (Jinja's immutable
sandbox plus size bounds on every operation that can amplify) with ``StrictUndefined``: a missing
parameter is an error naming it, never an empty string. Only string values are templates (mapping keys
and other scalars are data), and the text one value renders to is bounded (``MAX_OUTPUT``). Filters:
``dns_label`` (normalise to a DNS-1123 label) and ``to_yaml``. A :class:`Renderer` (one per
structure rendered for many parameter sets) reuses the text of a pure template for equal parameters,
which is what makes a large matrix cheap (docs/performance.md, "ApplicationSet generation").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import jinja2
import yaml
from jinja2 import meta, nodes
from jinja2.exceptions import SecurityError

from gitops.appset.params import Params, context, groups, to_data
from renderers.jinja.sandbox import Sandbox

MAX_OUTPUT = 64 * 1024
"""Characters one rendered string may have."""
MAX_TOTAL = 1024 * 1024
"""Characters everything one element renders may add up to."""


class TemplateError(ValueError):
    """A template failed for one parameter set; ``field`` names where in the rendered structure."""

    def __init__(self, message: str, field: str) -> None:
        self.message = message
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


def dns_label(value: object) -> str:
    """``value`` as a DNS-1123 label: lowercase, runs of other characters as one ``-``, at most 63."""
    text = re.sub(r"[^a-z0-9]+", "-", str(value).lower()).strip("-")
    return text[:63].rstrip("-")


def to_yaml(value: object) -> str:
    return yaml.safe_dump(to_data(value), default_flow_style=True, sort_keys=True, width=1_000_000).strip()


def environment() -> Sandbox:
    env = Sandbox(jinja2.DictLoader({}))
    env.filters["dns_label"] = dns_label
    env.filters["to_yaml"] = to_yaml
    return env


_ENV = environment()
_MARKERS = ("{{", "{%", "{#")
MAX_MEMO = 100_000
"""Rendered strings one Renderer remembers (see :class:`Renderer`)."""
MEMO_TRIAL = 1_024
"""Texts of one template remembered before any was reused; with none reused, no more are."""
_SCALARS = (str, int, float, bool, type(None))
_UNPURE_FILTERS = frozenset({"random", "map"})  # map may name any filter, random among them
_UNPURE_NODES = (nodes.Call, nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)


def _reads(text: str) -> tuple[str, ...] | None:
    """The top-level names a template reads, when its text is a pure function of theirs (no call, no
    ``random`` filter, nothing loaded): None when it is not, or cannot be told."""
    try:
        tree = _ENV.parse(text)
    except Exception:  # compiled already, so this does not happen; not remembered if it does
        return None
    if any(True for _ in tree.find_all(_UNPURE_NODES)):
        return None
    if any(f.name in _UNPURE_FILTERS for f in tree.find_all(nodes.Filter)):
        return None
    return tuple(sorted(meta.find_undeclared_variables(tree)))


class _Scope:
    """One parameter set as templates read it: the context, made on first use, and the parameters
    each top-level name stands for, as a hashable key of what a pure template's text depends on."""

    __slots__ = ("_ctx", "_groups", "_keys", "params")

    def __init__(self, params: Params) -> None:
        self.params = params
        self._ctx: dict[str, Any] | None = None
        self._groups: dict[str, tuple[tuple[str, object], ...]] | None = None
        self._keys: dict[tuple[str, ...], tuple[object, ...] | None] = {}

    @property
    def ctx(self) -> dict[str, Any]:
        if self._ctx is None:
            self._ctx = context(self.params)
        return self._ctx

    def key(self, names: tuple[str, ...]) -> tuple[object, ...] | None:
        """What the parameters under ``names`` are, exact types included (``1``, ``1.0`` and
        ``True`` differ); None when a value is not a plain scalar."""
        if names in self._keys:
            return self._keys[names]
        if self._groups is None:
            self._groups = groups(self.params)
        out: list[object] = []
        for name in names:
            items = self._groups.get(name, ())
            if not all(type(v) in _SCALARS for _, v in items):
                self._keys[names] = None
                return None
            out.append(tuple((k, v if type(v) is str else (type(v), repr(v))) for k, v in items))
        key = self._keys[names] = tuple(out)
        return key


class Renderer:
    """Renders the strings of one structure for one parameter set; compiled templates are shared.

    A string whose template is a pure function of the parameters it names (see :func:`_reads`) is
    rendered once per distinct value of those parameters and then reused (at most ``MAX_MEMO`` texts,
    and ``MEMO_TRIAL`` of a template whose texts are never reused, like a name unique per element): in
    a matrix of clusters x directories, ``{{ labels.env }}`` renders once per cluster, not once per
    application. Only successful renders are reused, and a reused text counts against the element's
    output budget as the rendered one does, so results and errors are those of rendering every time.
    """

    def __init__(self, cache: dict[str, jinja2.Template] | None = None) -> None:
        self.cache = cache if cache is not None else {}
        self.reads: dict[str, tuple[str, ...] | None] = {}
        self.memo: dict[tuple[str, tuple[object, ...]], str] = {}
        self.stored: dict[str, int] = {}
        self.reused: set[str] = set()

    def render(self, data: Any, params: Params, field: str = "") -> Any:
        """``data`` with every string rendered; TemplateError naming the first field that failed."""
        budget = [MAX_TOTAL]
        return self._walk(data, _Scope(params), field, budget)

    def _walk(self, data: Any, scope: _Scope, where: str, budget: list[int]) -> Any:
        if isinstance(data, str):
            return self._string(data, scope, where, budget)
        if isinstance(data, Mapping):
            return {k: self._walk(v, scope, f"{where}.{k}" if where else str(k), budget)
                    for k, v in data.items()}
        if isinstance(data, list | tuple):
            return [self._walk(v, scope, f"{where}[{i}]", budget) for i, v in enumerate(data)]
        return data

    def _string(self, text: str, scope: _Scope, where: str, budget: list[int]) -> str:
        if not any(m in text for m in _MARKERS):
            return text
        key: tuple[object, ...] | None = None
        try:
            template = self.cache.get(text)
            if template is None:
                template = self.cache[text] = _ENV.from_string(text)
            if text not in self.reads:
                self.reads[text] = _reads(text)
            names = self.reads[text]
            key = scope.key(names) if names is not None else None
            known = self.memo.get((text, key)) if key is not None else None
            if known is not None:
                self.reused.add(text)
                if len(known) > budget[0]:
                    raise TemplateError(f"rendered output over the limit of {min(MAX_OUTPUT, budget[0])} "
                                        "characters", where)
                budget[0] -= len(known)
                return known
            out: list[str] = []
            size = 0
            for chunk in template.generate(scope.ctx):
                size += len(chunk)
                if size > MAX_OUTPUT or size > budget[0]:
                    raise TemplateError(f"rendered output over the limit of {min(MAX_OUTPUT, budget[0])} "
                                        "characters", where)
                out.append(chunk)
        except TemplateError:
            raise
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"template syntax error: {exc.message}", where) from None
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"undefined parameter: {exc.message}", where) from None
        except SecurityError as exc:
            raise TemplateError(f"unsafe template operation: {exc}", where) from None
        except (RecursionError, MemoryError, OverflowError) as exc:
            raise TemplateError(f"template failed: {type(exc).__name__}", where) from None
        except Exception as exc:  # any other failure of an untrusted template is this element's error
            raise TemplateError(f"template failed: {type(exc).__name__}: {str(exc)[:200]}", where) from None
        budget[0] -= size
        rendered = "".join(out)
        if key is not None and len(self.memo) < MAX_MEMO:
            stored = self.stored.get(text, 0)
            if stored < MEMO_TRIAL or text in self.reused:
                self.memo[(text, key)] = rendered
                self.stored[text] = stored + 1
        return rendered
