"""Typed generator specs: the frozen values :mod:`gitops.appset.generate` runs.

Built from the validated configuration (:func:`from_model`, for an ``ApplicationSet`` the loader
accepted) or from raw data (:func:`parse`, for a matrix child once an earlier child's parameters were
substituted into it; the same pydantic models validate both, so both paths refuse the same input with
the same field-naming messages). Key design choice: the specs are plain frozen dataclasses with no
pydantic in them, and each keeps the raw mapping it came from (``raw``), which is what a matrix renders
again per parameter set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from gitops.config.generators import Generator as GeneratorModel
from gitops.config.generators import Selector as SelectorModel
from gitops.config.problems import field_path

Scalar = str | int | float | bool | None


@dataclass(frozen=True)
class Requirement:
    """``key`` In/NotIn ``values``, or Exists/DoesNotExist."""

    key: str
    operator: str
    values: frozenset[str] = frozenset()

    def holds(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "In":
            return labels.get(self.key) in self.values
        if self.operator == "NotIn":
            return labels.get(self.key) not in self.values
        if self.operator == "Exists":
            return self.key in labels
        return self.key not in labels


@dataclass(frozen=True)
class Selector:
    """matchLabels and matchExpressions, all of which must hold (an empty selector matches all).

    Kubernetes semantics (NotIn and DoesNotExist match a map without the key), over label maps and
    over flattened parameters alike; values are compared as text.
    """

    match_labels: tuple[tuple[str, str], ...] = ()
    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, object]) -> bool:
        text = {k: _text(v) for k, v in labels.items()}
        return (all(text.get(k) == v for k, v in self.match_labels)
                and all(r.holds(text) for r in self.requirements))


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


@dataclass(frozen=True)
class ListSpec:
    elements: tuple[Mapping[str, Scalar], ...]


@dataclass(frozen=True)
class ClustersSpec:
    selector: Selector = Selector()


@dataclass(frozen=True)
class GitSpec:
    """Directories (``include``/``exclude`` globs) or files (``files`` globs) of ``repository``."""

    repository: str
    revision: str | None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    files: tuple[str, ...] = ()


@dataclass(frozen=True)
class MatrixSpec:
    children: tuple[GeneratorSpec, ...]


@dataclass(frozen=True)
class MergeSpec:
    merge_keys: tuple[str, ...]
    children: tuple[GeneratorSpec, ...]


Kind = ListSpec | ClustersSpec | GitSpec | MatrixSpec | MergeSpec


@dataclass(frozen=True)
class GeneratorSpec:
    """One generator: its kind's spec, an optional post-selector and the raw mapping it came from."""

    kind: Kind
    selector: Selector | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def name(self) -> str:
        return {ListSpec: "list", ClustersSpec: "clusters", GitSpec: "git", MatrixSpec: "matrix",
                MergeSpec: "merge"}[type(self.kind)]


class SpecError(ValueError):
    """A raw generator failed validation; ``problems`` lists ``(field, message)`` pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{f}: {m}" if f else m for f, m in problems))


def selector(model: SelectorModel) -> Selector:
    requirements = tuple(Requirement(e.key, e.operator, frozenset(e.values)) for e in model.match_expressions)
    return Selector(tuple(sorted(model.match_labels.items())), requirements)


def from_model(model: GeneratorModel) -> GeneratorSpec:
    """The typed spec of a validated generator model."""
    raw = model.model_dump(by_alias=True, exclude_unset=True)
    post = selector(model.selector) if model.selector is not None else None
    kind: Kind
    if model.list_ is not None:
        kind = ListSpec(tuple(dict(e) for e in model.list_.elements))
    elif model.clusters is not None:
        kind = ClustersSpec(selector(model.clusters.selector))
    elif model.git is not None:
        g = model.git
        kind = GitSpec(g.repository, g.revision, tuple(d.path for d in g.directories if not d.exclude),
                       tuple(d.path for d in g.directories if d.exclude), tuple(f.path for f in g.files))
    elif model.matrix is not None:
        kind = MatrixSpec(tuple(from_model(c) for c in model.matrix.generators))
    else:
        assert model.merge is not None
        kind = MergeSpec(tuple(model.merge.merge_keys), tuple(from_model(c) for c in model.merge.generators))
    return GeneratorSpec(kind, post, raw)


def parse(raw: object) -> GeneratorSpec:
    """The typed spec of raw generator data; SpecError naming each bad field."""
    try:
        model = GeneratorModel.model_validate(raw, by_alias=True, by_name=False)
    except ValidationError as exc:
        raise SpecError([(field_path(tuple(e["loc"])), str(e["msg"]).removeprefix("Value error, "))
                         for e in exc.errors(include_url=False, include_input=False)]) from None
    return from_model(model)
