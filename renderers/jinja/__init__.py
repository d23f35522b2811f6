"""The Jinja2 renderer: templates in a directory -> YAML -> manifests, in a hardened sandbox.

Called by ``renderers.api.render`` as ``render(root, app_dir, options, parameters)``. Template files
(``*.yaml.j2``, ``*.yml.j2``, ``*.j2`` and, unless ``template_yaml: false``, ``*.yaml``/``*.yml``) are
rendered with the merged values (``values_files`` then the per-cluster ``parameters``) and parsed with
the bounded YAML loader. Files whose name starts with ``_`` are partials: only for include/import.

Key design choice: templates come from Git and are untrusted, so they run in the hardened sandbox of
``renderers.jinja.sandbox`` (Jinja's immutable sandbox plus size bounds on everything that can
amplify) with ``StrictUndefined`` and a loader that cannot leave the application directory; this
module adds the output size limit per file. Time and memory are not bounded here: no check inside a
template can interrupt a built-in, so the render's CPU and memory budgets are enforced by the kernel
on the worker process it runs in (:mod:`renderers.isolation`). Values are data: they are never
rendered as templates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2
import jinja2.utils
from jinja2.exceptions import SecurityError

from renderers import plain, yamlio
from renderers.errors import RenderError
from renderers.jinja.sandbox import Sandbox
from renderers.manifest import Collector, Manifest, from_documents

OPTIONS = frozenset({"include", "exclude", "recursive", "values_files", "template_yaml"})
MAX_OUTPUT = yamlio.MAX_BYTES


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
        merged = plain.deep_merge(merged, data)
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
        (jinja2.TemplateNotFound, "template not found"),
        (OverflowError, "value too large"), (RecursionError, "template recursion too deep"),
        (MemoryError, "out of memory")]
    label = next((text for kind, text in kinds if isinstance(exc, kind)), "template failed")
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, jinja2.TemplateNotFound):
        detail = exc.message or detail
    return RenderError(f"{label}: {detail}", path=source, line=line)


def _joined(chunks: Iterator[str], source: str) -> str:
    """Template output joined, refused as soon as it is over ``MAX_OUTPUT``."""
    out: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_OUTPUT:
            raise RenderError(f"template output over the limit of {MAX_OUTPUT} characters", path=source)
        out.append(chunk)
    return "".join(out)


def render_file(env: Sandbox, loader: _ConfinedLoader, name: str, context: dict[str, Any],
                source: str) -> str:
    """One template rendered to text; every failure a RenderError with file and line."""
    try:
        template = env.get_template(name)
        return _joined(template.generate(context), source)
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
    values = plain.deep_merge(values, parameters)
    context = {**values, "values": values}
    if context.get("namespace") is None or isinstance(context["namespace"], str):
        context["namespace"] = _NamespaceName(context.get("namespace") or "")
    loader = _ConfinedLoader(root, app_dir)
    env = Sandbox(loader)
    budget = plain.Budget()
    manifests = Collector()
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
        manifests.extend(from_documents(plain.load_documents(text, source), source), source)
    return manifests.manifests
