"""Rendering an ApplicationSet's strings with one parameter set, in the renderers' Jinja sandbox.

Called by :mod:`gitops.appset.applications` (the application template, per element) and
:mod:`gitops.appset.generate` (a matrix child that uses an earlier child's parameters). Key design
choice: templates are untrusted, so they run in ``renderers.jinja.sandbox.Sandbox`` (Jinja's immutable
sandbox plus size bounds on every operation that can amplify) with ``StrictUndefined``: a missing
parameter is an error naming it, never an empty string. Only string values are templates (mapping keys
and other scalars are data), and the text one value renders to is bounded (``MAX_OUTPUT``). Filters:
``dns_label`` (normalise to a DNS-1123 label) and ``to_yaml``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import jinja2
import yaml
from jinja2.exceptions import SecurityError

from gitops.appset.params import Params, context, to_data
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


class Renderer:
    """Renders the strings of one structure for one parameter set; compiled templates are shared."""

    def __init__(self, cache: dict[str, jinja2.Template] | None = None) -> None:
        self.cache = cache if cache is not None else {}

    def render(self, data: Any, params: Params, field: str = "") -> Any:
        """``data`` with every string rendered; TemplateError naming the first field that failed."""
        budget = [MAX_TOTAL]
        return self._walk(data, context(params), field, budget)

    def _walk(self, data: Any, ctx: dict[str, Any], where: str, budget: list[int]) -> Any:
        if isinstance(data, str):
            return self._string(data, ctx, where, budget)
        if isinstance(data, Mapping):
            return {k: self._walk(v, ctx, f"{where}.{k}" if where else str(k), budget)
                    for k, v in data.items()}
        if isinstance(data, list | tuple):
            return [self._walk(v, ctx, f"{where}[{i}]", budget) for i, v in enumerate(data)]
        return data

    def _string(self, text: str, ctx: dict[str, Any], where: str, budget: list[int]) -> str:
        if not any(m in text for m in _MARKERS):
            return text
        try:
            template = self.cache.get(text)
            if template is None:
                template = self.cache[text] = _ENV.from_string(text)
            out: list[str] = []
            size = 0
            for chunk in template.generate(ctx):
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
        return "".join(out)
