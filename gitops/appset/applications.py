"""``render_applications(appset, generation, fleet)``: one Application per parameter set, or its error.

Called by ``gitops appset preview`` (and later by the ApplicationSet controller and ``gitops plan``)
after :func:`gitops.appset.generate.generate`. Each parameter set renders the set's template
(:mod:`gitops.appset.template`: the Jinja sandbox, StrictUndefined, bounded output), and the result is
validated by the same pydantic model as a configured ``Application``, so a generated application can
be nothing a configuration file could not declare; it is then converted to the engine's
:class:`gitops.domain.Application` by ``gitops.config.fleet.to_application``. Key design choice: one
bad element is an :class:`~gitops.appset.generate.ElementError` in its place and never stops the
others; names must be unique, and a duplicated name is an error on every element that has it (never
"the first wins"), as is a repository or cluster the configuration does not define.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from gitops.appset.generate import ElementError, Generation
from gitops.appset.template import Renderer, TemplateError
from gitops.config.application import Application, ApplicationSet
from gitops.config.fleet import to_application
from gitops.config.problems import field_path
from gitops.domain import Application as DomainApplication
from gitops.domain import Fleet

TEMPLATE = "template"


@dataclass(frozen=True)
class Generated:
    """The application rendered from parameter set ``index``, and its validated document (the
    Application model dumped in JSON mode without defaults: what the controller stores)."""

    index: int
    application: DomainApplication
    document: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)


Rendered = Generated | ElementError


def render_applications(appset: ApplicationSet, generation: Generation,
                        fleet: Fleet | None = None) -> list[Rendered]:
    """One entry per parameter set of ``generation``, in order: the Application or its error.
    With ``fleet``, an application's repository and cluster must be configured in it."""
    template = appset.template
    if template.metadata is None:
        return [ElementError(TEMPLATE, f"element {i}", "a template needs metadata.name to name the "
                             "applications it generates", "template.metadata.name")
                for i in range(len(generation.parameters))]
    raw: dict[str, Any] = {"metadata": template.metadata.model_dump(by_alias=True), "spec": template.spec}
    renderer = Renderer()
    out: list[Rendered] = []
    for i, params in enumerate(generation.parameters):
        out.append(_one(i, raw, params, renderer, fleet))
    return _unique(out)


def _one(i: int, raw: dict[str, Any], params: Any, renderer: Renderer, fleet: Fleet | None) -> Rendered:
    element = f"element {i}"
    try:
        rendered = renderer.render(raw, params, TEMPLATE)
    except TemplateError as exc:
        return ElementError(TEMPLATE, element, exc.message, exc.field or None)
    metadata, spec = rendered["metadata"], rendered["spec"]
    try:
        app = Application.model_validate({**spec, "name": metadata["name"],
                                          "labels": metadata.get("labels", {})}, by_alias=True, by_name=False)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        loc = tuple(error["loc"])
        prefix = ("template", "metadata") if loc and loc[0] in ("name", "labels") else ("template", "spec")
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        message = str(error["msg"]).removeprefix("Value error, ") + more
        return ElementError(TEMPLATE, element, message, field_path(prefix + loc))
    if fleet is not None:
        if app.source.repository not in fleet.repositories:
            return ElementError(TEMPLATE, element, f"repository {app.source.repository[:64]!r} is not "
                                "defined", "template.spec.source.repository")
        if app.destination.cluster not in fleet.clusters:
            return ElementError(TEMPLATE, element, f"cluster {app.destination.cluster[:64]!r} is not defined",
                                "template.spec.destination.cluster")
    return Generated(i, to_application(app), app.model_dump(mode="json", exclude_defaults=True))


def _unique(out: list[Rendered]) -> list[Rendered]:
    names = Counter(r.application.name for r in out if isinstance(r, Generated))
    return [ElementError(TEMPLATE, f"element {r.index}", f"application name {r.application.name!r} is "
                         f"generated {names[r.application.name]} times; names must be unique",
                         "template.metadata.name")
            if isinstance(r, Generated) and names[r.application.name] > 1 else r for r in out]


__all__ = ["Generated", "Rendered", "render_applications"]
