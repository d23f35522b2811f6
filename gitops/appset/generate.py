"""``generate(appset, inputs) -> Generation``: the parameter sets of an ApplicationSet's generators.

Called by :func:`gitops.appset.applications.render_applications`'s callers (``gitops appset preview``;
later the ApplicationSet controller and ``gitops plan``). Pure over its inputs: the configured
:class:`~gitops.domain.Fleet` (clusters) and a :class:`~gitops.appset.ports.GitTree` (repositories).

Key design choice: failures are values at two levels. A bad *element* (a malformed parameter file, a
matrix combination whose child cannot be rendered, a merge base without a merge key) is an
:class:`ElementError` and every other element is still generated. A generator that fails *as a whole*
(Git unavailable, an unknown repository, more than ``MAX_ELEMENTS`` sets) is a
:class:`GeneratorFailure` of that generator, and the :class:`Generation` says it is not ``complete``:
a caller then keeps the last good set and deletes nothing because an input failed.
"""

from __future__ import annotations

import fnmatch
import json
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from gitops.appset.params import ParamError, Params, flatten, path_params
from gitops.appset.ports import GitTree
from gitops.appset.spec import (
    ClustersSpec,
    GeneratorSpec,
    GitSpec,
    ListSpec,
    MatrixSpec,
    MergeSpec,
    SpecError,
    from_model,
    parse,
)
from gitops.appset.template import Renderer, TemplateError
from gitops.config.application import ApplicationSet
from gitops.domain import Fleet
from gitops.errors import Failure, GitOpsError, InputError, SourceError
from renderers import yamlio
from renderers.errors import RenderError

MAX_ELEMENTS = 100_000
MAX_FILE_BYTES = 256 * 1024
_FILE_SUFFIXES = (".json", ".yaml", ".yml")


@dataclass(frozen=True)
class ElementError:
    """One element that could not be generated or rendered; the others are unaffected."""

    generator: str
    element: str
    message: str
    field: str | None = None

    def __str__(self) -> str:
        where = f"{self.generator}: {self.element}"
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"

    def to_dict(self) -> dict[str, str | None]:
        return {"generator": self.generator, "element": self.element, "field": self.field,
                "message": self.message}


@dataclass(frozen=True)
class GeneratorFailure:
    """A generator that failed as a whole: its sets are unknown, not empty."""

    generator: str
    failure: Failure

    def __str__(self) -> str:
        return f"{self.generator}: {self.failure.message}"


@dataclass(frozen=True)
class Generation:
    """The parameter sets of one ApplicationSet, the elements that failed, the generators that failed."""

    appset: str
    parameters: tuple[Params, ...] = ()
    errors: tuple[ElementError, ...] = ()
    failures: tuple[GeneratorFailure, ...] = field(default=())

    @property
    def complete(self) -> bool:
        """Every generator ran: only then may a caller act on what is missing from ``parameters``."""
        return not self.failures


@dataclass(frozen=True)
class Inputs:
    """What generators read: the configured fleet and the repositories' files."""

    fleet: Fleet
    git: GitTree


@dataclass
class _Out:
    params: list[dict[str, object]] = field(default_factory=list)
    errors: list[ElementError] = field(default_factory=list)


def generate(appset: ApplicationSet, inputs: Inputs) -> Generation:
    """Every generator of ``appset`` run over ``inputs`` (see the module docstring)."""
    params: list[Params] = []
    errors: list[ElementError] = []
    failures: list[GeneratorFailure] = []
    for i, model in enumerate(appset.generators):
        spec = from_model(model)
        where = f"generators[{i}].{spec.name}"
        try:
            out = _run(spec, where, inputs)
        except GitOpsError as exc:
            failures.append(GeneratorFailure(where, Failure.of(exc)))
            continue
        params += out.params
        errors += out.errors
    if len(params) > MAX_ELEMENTS:
        failures.append(GeneratorFailure("generators", Failure.of(InputError(
            f"{len(params)} parameter sets, over the limit of {MAX_ELEMENTS}"))))
        params = []
    return Generation(appset.name, tuple(params), tuple(errors), tuple(failures))


def _run(spec: GeneratorSpec, where: str, inputs: Inputs) -> _Out:
    kind = spec.kind
    if isinstance(kind, ListSpec):
        out = _Out([dict(e) for e in kind.elements])
    elif isinstance(kind, ClustersSpec):
        out = _clusters(kind, inputs.fleet)
    elif isinstance(kind, GitSpec):
        out = _git(kind, where, inputs.git)
    elif isinstance(kind, MatrixSpec):
        out = _matrix(kind, where, inputs)
    else:
        out = _merge(kind, where, inputs)
    if len(out.params) > MAX_ELEMENTS:
        raise InputError(f"{where}: {len(out.params)} parameter sets, over the limit of {MAX_ELEMENTS}")
    if spec.selector is not None:
        selector = spec.selector
        out.params = [p for p in out.params if selector.matches(p)]
    return out


def _clusters(spec: ClustersSpec, fleet: Fleet) -> _Out:
    out = _Out()
    for name in sorted(fleet.clusters):
        cluster = fleet.clusters[name]
        if not spec.selector.matches(cluster.labels):
            continue
        params: dict[str, object] = {"name": cluster.name}
        if cluster.server is not None:
            params["server"] = cluster.server
        params.update({f"labels.{k}": v for k, v in sorted(cluster.labels.items())})
        params.update({f"annotations.{k}": v for k, v in sorted(cluster.annotations.items())})
        out.params.append(params)
    return out


def glob_match(path: str, pattern: str) -> bool:
    """Whether ``path`` matches ``pattern`` segment by segment: ``*``, ``?`` and ``[...]`` stay within
    one segment, a ``**`` segment matches any number of segments (none included)."""
    parts, globs = path.split("/") if path else [], pattern.split("/") if pattern else []
    memo: dict[tuple[int, int], bool] = {}

    def match(i: int, j: int) -> bool:
        if (i, j) not in memo:
            if j == len(globs):
                memo[(i, j)] = i == len(parts)
            elif globs[j] == "**":
                memo[(i, j)] = match(i, j + 1) or (i < len(parts) and match(i + 1, j))
            else:
                memo[(i, j)] = (i < len(parts) and fnmatch.fnmatchcase(parts[i], globs[j])
                                and match(i + 1, j + 1))
        return memo[(i, j)]
    return match(0, 0)


def _git(spec: GitSpec, where: str, git: GitTree) -> _Out:
    try:
        files = git.files(spec.repository, spec.revision)
    except SourceError as exc:
        raise type(exc)(f"{where}: repository {spec.repository!r}: {exc.message}", revision=exc.revision,
                        temporary=exc.temporary, retry_after=exc.retry_after) from exc
    if spec.files:
        return _files(spec, where, git, files)
    directories: set[str] = set()
    for path in files:
        parent = posixpath.dirname(path)
        while parent and parent not in directories:
            directories.add(parent)
            parent = posixpath.dirname(parent)
    chosen = [d for d in sorted(directories)
              if any(glob_match(d, g) for g in spec.include)
              and not any(glob_match(d, g) for g in spec.exclude)]
    return _Out([dict(path_params(d)) for d in chosen])


def _files(spec: GitSpec, where: str, git: GitTree, files: Sequence[str]) -> _Out:
    out = _Out()
    for path in files:
        if not any(glob_match(path, g) for g in spec.files):
            continue
        element = f"file {path}"
        try:
            if not path.endswith(_FILE_SUFFIXES):
                raise ParamError("not a JSON or YAML file (.json, .yaml, .yml)")
            data = git.read(spec.repository, spec.revision, path, MAX_FILE_BYTES)
            content = _parse_file(path, data)
            items = content if isinstance(content, list) else [content]
            for i, item in enumerate(items):
                if not isinstance(item, Mapping):
                    raise ParamError("must hold a mapping (or a list of mappings) of parameters"
                                     + (f": item {i} is not one" if isinstance(content, list) else ""))
                params: dict[str, object] = dict(flatten(item))
                directory = posixpath.dirname(path)
                params.update(path_params(directory))
                params["path.filename"] = posixpath.basename(path)
                out.params.append(params)
        except SourceError as exc:
            raise type(exc)(f"{where}: {element}: {exc.message}", revision=exc.revision,
                            temporary=exc.temporary) from exc
        except (InputError, ParamError, RenderError) as exc:
            message = exc.problem.message if isinstance(exc, InputError) else (
                exc.message if isinstance(exc, RenderError) else str(exc))
            out.errors.append(ElementError(where, element, message))
    return out


def _parse_file(path: str, data: bytes) -> object:
    if len(data) > MAX_FILE_BYTES:
        raise ParamError(f"file is {len(data)} bytes, over the limit of {MAX_FILE_BYTES}")
    if path.endswith(".json"):
        try:
            return json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ParamError(f"invalid JSON: {str(exc)[:200]}") from None
        except RecursionError:
            raise ParamError("JSON nested too deeply") from None
    return yamlio.load(data, path, max_bytes=MAX_FILE_BYTES)


def _combine(left: Mapping[str, object], right: Mapping[str, object]) -> dict[str, object]:
    for key in left.keys() & right.keys():
        if left[key] != right[key]:
            raise ParamError(f"parameter {key!r} is generated by two children with different values")
    return {**left, **right}


def _templated(raw: object) -> bool:
    if isinstance(raw, str):
        return "{{" in raw or "{%" in raw
    if isinstance(raw, Mapping):
        return any(_templated(v) for v in raw.values())
    if isinstance(raw, list | tuple):
        return any(_templated(v) for v in raw)
    return False


def _matrix(spec: MatrixSpec, where: str, inputs: Inputs) -> _Out:
    first = spec.children[0]
    head = _run(first, f"{where}.generators[0].{first.name}", inputs)
    combos, errors = head.params, list(head.errors)
    renderer = Renderer()
    for n, child in enumerate(spec.children[1:], start=1):
        child_where = f"{where}.generators[{n}].{child.name}"
        fixed = None if _templated(child.raw) else _run(child, child_where, inputs)
        if fixed is not None:
            errors += fixed.errors
        new: list[dict[str, object]] = []
        for i, left in enumerate(combos):
            element = f"combination {i}"
            try:
                if fixed is None:
                    rendered = renderer.render(child.raw, left)
                    out = _run(parse(rendered), child_where, inputs)
                    errors += out.errors
                else:
                    out = fixed
                for j, right in enumerate(out.params):
                    try:
                        new.append(_combine(left, right))
                    except ParamError as exc:
                        pair = f"{element} x element {j} of generators[{n}]"
                        errors.append(ElementError(where, pair, str(exc)))
                    if len(new) > MAX_ELEMENTS:
                        raise InputError(f"{where}: over {MAX_ELEMENTS} combinations")
            except TemplateError as exc:
                errors.append(ElementError(child_where, element, exc.message, exc.field or None))
            except SpecError as exc:
                (field_name, message), more = exc.problems[0], len(exc.problems) - 1
                message += f" (and {more} more)" if more else ""
                errors.append(ElementError(child_where, element, message, field_name or None))
        combos = new
    return _Out(combos, errors)


def _merge(spec: MergeSpec, where: str, inputs: Inputs) -> _Out:
    first = spec.children[0]
    base = _run(first, f"{where}.generators[0].{first.name}", inputs)
    errors = list(base.errors)
    result: list[dict[str, object]] = []
    keyed: list[tuple[tuple[object, ...], dict[str, object]]] = []
    for i, params in enumerate(base.params):
        missing = [k for k in spec.merge_keys if k not in params]
        if missing:
            errors.append(ElementError(where, f"element {i} of generators[0]",
                                       f"has no merge key {', '.join(missing)}"))
            continue
        keyed.append((tuple(params[k] for k in spec.merge_keys), dict(params)))
    for n, child in enumerate(spec.children[1:], start=1):
        out = _run(child, f"{where}.generators[{n}].{child.name}", inputs)
        errors += out.errors
        updates = {tuple(p[k] for k in spec.merge_keys): p for p in out.params
                   if all(k in p for k in spec.merge_keys)}
        keyed = [(key, {**params, **updates[key]} if key in updates else params) for key, params in keyed]
    result = [params for _, params in keyed]
    return _Out(result, errors)
