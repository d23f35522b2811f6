"""The ``ApplicationSet`` spec's structure: its generators, selectors and application template.

Called by :mod:`gitops.config.application` (``ApplicationSetSpec``) when the loader validates an
``ApplicationSet`` document, and by :mod:`gitops.appset.spec`, which validates a matrix child again
after an earlier child's parameters were substituted into it. Key design choice: everything that can
be checked before any parameter is known is checked here, with located field-naming errors (exactly one
generator kind per entry, selector operators and their values, Git globs that stay inside the
repository); the template's ``spec`` stays a mapping, because it is only an Application spec once
rendered, and :mod:`gitops.appset.applications` validates it then, per generated element.
"""

from __future__ import annotations

import posixpath
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from gitops.config.fields import Model, Text
from gitops.config.models import GitRef

MAX_GLOB = 1024
MAX_CHILDREN = 8


def _scalar(value: Any) -> Any:
    if value is not None and not isinstance(value, str | int | float | bool):
        raise ValueError("must be a string, number, boolean or null (a list element is one flat map)")
    return value


def _children(value: list[Any]) -> list[Any]:
    if not 2 <= len(value) <= MAX_CHILDREN:
        raise ValueError(f"needs from 2 to {MAX_CHILDREN} generators")
    return value


Scalar = Annotated[Any, AfterValidator(_scalar)]
KINDS = ("list", "clusters", "git", "matrix", "merge")


def _glob(value: str) -> str:
    if "\x00" in value or "\\" in value or len(value) > MAX_GLOB:
        raise ValueError(f"must be a relative POSIX glob of at most {MAX_GLOB} characters "
                         "(no NUL or backslash)")
    if value.startswith("/"):
        raise ValueError("must be relative to the repository root, not absolute")
    if any(part == ".." for part in value.split("/")):
        raise ValueError("must stay inside the repository ('..' leads out of it)")
    normal = posixpath.normpath(value)
    return "" if normal == "." else normal


Glob = Annotated[str, AfterValidator(_glob)]


class MatchExpression(Model):
    """One set-based requirement: ``key`` In/NotIn ``values``, or Exists/DoesNotExist."""

    key: Text
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] = []

    @model_validator(mode="after")
    def _values(self) -> Self:
        if self.operator in ("In", "NotIn") and not self.values:
            raise ValueError(f"operator {self.operator} needs a non-empty values list")
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise ValueError(f"operator {self.operator} takes no values")
        return self


def _shorthand(value: Any) -> Any:
    """``{env: prod}`` (a plain label map) is short for ``{matchLabels: {env: prod}}``."""
    if isinstance(value, dict) and value and not set(value) <= {"matchLabels", "matchExpressions"}:
        return {"matchLabels": value}
    return value


class Selector(Model):
    """A label selector: every ``matchLabels`` pair and every ``matchExpressions`` entry must hold."""

    match_labels: dict[Text, str] = {}
    match_expressions: list[MatchExpression] = []


LabelSelector = Annotated[Selector, BeforeValidator(_shorthand)]


class ListGenerator(Model):
    """``list``: each element (a map of names to scalars) is one parameter set."""

    elements: list[dict[Text, Scalar]]


class ClustersGenerator(Model):
    """``clusters``: one parameter set per configured Cluster the selector matches."""

    selector: LabelSelector = Selector()


class GitDirectory(Model):
    """A directory glob; ``exclude: true`` removes the directories it matches."""

    path: Glob
    exclude: bool = False


class GitFile(Model):
    """A glob of JSON or YAML files whose content becomes parameters."""

    path: Glob


class GitGenerator(Model):
    """``git``: directories or files of a configured Repository at ``revision`` (default: its ref)."""

    repository: Text
    revision: GitRef | None = None
    directories: list[GitDirectory] = []
    files: list[GitFile] = []

    @model_validator(mode="after")
    def _one(self) -> Self:
        if bool(self.directories) == bool(self.files):
            raise ValueError("set either directories or files (a non-empty list), not both")
        if self.directories and all(d.exclude for d in self.directories):
            raise ValueError("directories need at least one entry without exclude: true")
        return self


Children = Annotated[list["Generator"], AfterValidator(_children)]


class MatrixGenerator(Model):
    """``matrix``: every combination of its children's parameter sets."""

    generators: Children


class MergeGenerator(Model):
    """``merge``: the first child's sets, updated by the later children's sets with equal merge keys."""

    merge_keys: list[Text] = Field(min_length=1)
    generators: Children


class Generator(Model):
    """One generator: exactly one of list, clusters, git, matrix, merge; plus an optional post-selector
    over the parameters it generates."""

    list_: ListGenerator | None = Field(default=None, alias="list")
    clusters: ClustersGenerator | None = None
    git: GitGenerator | None = None
    matrix: MatrixGenerator | None = None
    merge: MergeGenerator | None = None
    selector: LabelSelector | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        given = [k for k, f in zip(KINDS, (self.list_, self.clusters, self.git, self.matrix, self.merge),
                                   strict=True) if f is not None]
        if len(given) != 1:
            raise ValueError(f"set exactly one generator: {', '.join(KINDS)}"
                             + (f" (found {', '.join(given)})" if given else ""))
        return self

    @property
    def kind(self) -> str:
        return next(k for k in KINDS if getattr(self, "list_" if k == "list" else k) is not None)


MatrixGenerator.model_rebuild()
MergeGenerator.model_rebuild()


class TemplateMetadata(Model):
    """The generated application's name and labels (strings may use parameters)."""

    name: Text
    labels: dict[Text, Text] = {}


class ApplicationTemplate(Model):
    """An Application with parameters: ``metadata`` and an Application ``spec`` whose strings are
    Jinja templates; validated as an Application once rendered."""

    metadata: TemplateMetadata | None = None
    spec: dict[Text, Any] = {}
