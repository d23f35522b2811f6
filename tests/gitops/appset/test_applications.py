"""Rendering the template per parameter set: valid Applications, and one error per bad element.

StrictUndefined (a missing parameter is an error naming it), hostile templates (sandbox escapes, huge
output) refused, the filters, the Application validation of the result, unique names, and isolation:
a failing element never stops the others.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gitops import domain
from gitops.appset import ElementError, Generated, Generation, Inputs, generate, render_applications
from gitops.appset.template import dns_label
from gitops.testing.gittree import FakeGitTree

NO_GIT = FakeGitTree({})


def template(name: str = "{{ name }}", path: str = "apps", cluster: str = "{{ name }}",
             **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name},
            "spec": {"source": {"repository": "demo", "path": path}, "destination": {"cluster": cluster},
                     **spec}}


def render(appset: Callable[..., Any], fleet: domain.Fleet, elements: list[dict[str, Any]],
           tmpl: dict[str, Any]) -> list[Any]:
    s = appset([{"list": {"elements": elements}}], tmpl)
    return render_applications(s, generate(s, Inputs(fleet, NO_GIT)), fleet)


def test_one_application_per_cluster(appset: Callable[..., Any], fleet: domain.Fleet) -> None:
    s = appset([{"clusters": {"selector": {"env": "prod"}}}], template(
        name="guestbook-{{ name }}", path="envs/{{ labels.env }}/{{ labels['region'] }}",
        syncPolicy={"automated": True}))
    out = render_applications(s, generate(s, Inputs(fleet, NO_GIT)), fleet)
    assert all(isinstance(r, Generated) for r in out)
    apps = [r.application for r in out if isinstance(r, Generated)]
    assert [(a.name, a.destination.cluster, a.source.path) for a in apps] == [
        ("guestbook-prod-eu", "prod-eu", "envs/prod/eu"), ("guestbook-prod-us", "prod-us", "envs/prod/us")]
    assert apps[0].sync_policy.automated and isinstance(apps[0], domain.Application)


def test_path_parameters_in_templates(appset: Callable[..., Any], fleet: domain.Fleet) -> None:
    git = FakeGitTree({"infra": {None: {"apps/Web_Front/k.yaml": "x"}}})
    s = appset([{"git": {"repository": "infra", "directories": [{"path": "apps/*"}]}}], template(
        name="{{ path.basename | dns_label }}", path="{{ path }}", cluster="prod-eu",
        source={"repository": "demo", "path": "{{ path }}",
                "parameters": {"seg": "{{ path.segments[0] }}", "all": "{{ path.segments | to_yaml }}"}}))
    (out,) = render_applications(s, generate(s, Inputs(fleet, git)), fleet)
    assert isinstance(out, Generated)
    app = out.application
    assert (app.name, app.source.path) == ("web-front", "apps/Web_Front")
    assert app.source.parameters == {"seg": "apps", "all": "[apps, Web_Front]"}


def test_a_missing_parameter_is_an_error_naming_it(appset: Callable[..., Any], fleet: domain.Fleet) -> None:
    out = render(appset, fleet, [{"name": "prod-eu", "team": "a"}, {"name": "prod-us"}],
                 template(name="{{ name }}-{{ team }}"))
    assert isinstance(out[0], Generated) and out[0].application.name == "prod-eu-a"
    error = out[1]
    assert isinstance(error, ElementError)
    assert (error.element, error.field) == ("element 1", "template.metadata.name")
    assert "'team' is undefined" in error.message


def test_a_missing_nested_parameter_is_an_error(appset: Callable[..., Any], fleet: domain.Fleet) -> None:
    s = appset([{"clusters": {}}], template(path="{{ labels.tier }}"))
    out = render_applications(s, generate(s, Inputs(fleet, NO_GIT)), fleet)
    assert all(isinstance(r, ElementError) and "tier" in r.message for r in out)


@pytest.mark.parametrize("hostile", [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ name.__class__ }}",
    "{{ self._TemplateReference__context }}",
    "{% set x = [] %}{{ x.append(1) }}",
])
def test_sandbox_escapes_are_refused(appset: Callable[..., Any], fleet: domain.Fleet, hostile: str) -> None:
    out = render(appset, fleet, [{"name": "prod-eu"}, {"name": "prod-us"}], template(path=hostile))
    assert all(isinstance(r, ElementError) for r in out)
    assert all(r.field == "template.spec.source.path" for r in out if isinstance(r, ElementError))


@pytest.mark.parametrize("hostile", [
    "{{ 'x' * 100000000 }}",
    "{% for i in range(100000) %}xxxxxxxxxx{% endfor %}",
    "{{ '%99999999d' % 1 }}",
    "{{ 9 ** 999999 }}",
])
def test_huge_output_is_refused(appset: Callable[..., Any], fleet: domain.Fleet, hostile: str) -> None:
    (error,) = render(appset, fleet, [{"name": "prod-eu"}], template(path=hostile))
    assert isinstance(error, ElementError)
    assert any(w in error.message for w in ("over the limit", "too large", "unsafe"))


def test_a_template_syntax_error_is_an_element_error(appset: Callable[..., Any], fleet: domain.Fleet) -> None:
    (error,) = render(appset, fleet, [{"name": "prod-eu"}], template(path="{{ name "))
    assert isinstance(error, ElementError) and "syntax error" in error.message


def test_the_result_is_validated_as_an_application(appset: Callable[..., Any], fleet: domain.Fleet) -> None:
    out = render(appset, fleet, [{"name": "prod-eu", "p": "ok"}, {"name": "prod-us", "p": "../../etc"},
                                 {"name": "Not_A_Label", "p": "ok"}],
                 template(path="{{ p }}", cluster="prod-eu"))
    assert isinstance(out[0], Generated)
    assert isinstance(out[1], ElementError) and out[1].field == "template.spec.source.path"
    assert "stay inside the repository" in out[1].message
    assert isinstance(out[2], ElementError) and out[2].field == "template.metadata.name"


def test_undefined_references_are_element_errors(appset: Callable[..., Any], fleet: domain.Fleet) -> None:
    out = render(appset, fleet, [{"name": "prod-eu"}, {"name": "nowhere"}], template())
    assert isinstance(out[0], Generated)
    assert isinstance(out[1], ElementError) and out[1].field == "template.spec.destination.cluster"


def test_duplicate_names_are_errors_on_every_element(appset: Callable[..., Any], fleet: domain.Fleet) -> None:
    out = render(appset, fleet, [{"name": "prod-eu", "c": "prod-eu"}, {"name": "prod-us", "c": "prod-us"},
                                 {"name": "prod-eu", "c": "prod-us"}], template(cluster="{{ c }}"))
    assert isinstance(out[1], Generated)
    assert [type(r) for r in out] == [ElementError, Generated, ElementError]
    assert all("generated 2 times" in r.message for r in out if isinstance(r, ElementError))


def test_a_template_without_a_name(appset: Callable[..., Any], fleet: domain.Fleet) -> None:
    s = appset([{"list": {"elements": [{"a": 1}]}}], {"spec": {}})
    (error,) = render_applications(s, generate(s, Inputs(fleet, NO_GIT)), fleet)
    assert isinstance(error, ElementError) and error.field == "template.metadata.name"


def test_no_parameter_sets_render_nothing(appset: Callable[..., Any], fleet: domain.Fleet) -> None:
    assert render_applications(appset([{"list": {"elements": []}}]), Generation("set"), fleet) == []


@pytest.mark.parametrize(("value", "label"), [
    ("Web_Front", "web-front"), ("--a..b--", "a-b"), ("x" * 80, "x" * 63), ("a" * 62 + "-b", "a" * 62),
    ("ÄÖ ü", ""), (42, "42")])
def test_dns_label(value: object, label: str) -> None:
    assert dns_label(value) == label
