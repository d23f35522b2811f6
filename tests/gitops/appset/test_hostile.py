"""Hostile input never escapes as an exception: any template text and any parameter file content ends
as a Generated application or an ElementError in its place (property tests), and no rendered text
exceeds the bounds."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitops import domain
from gitops.appset import ElementError, Generated, Inputs, generate, render_applications
from gitops.appset.template import MAX_OUTPUT
from gitops.config.application import ApplicationSet, ApplicationSetSpec
from gitops.testing.gittree import FakeGitTree

FLEET = domain.Fleet({"demo": domain.Repository("demo", "https://git.example/demo.git")},
                     {"prod": domain.Cluster("prod", {"env": "prod"}, server="https://prod.example:6443")})
FRAGMENTS = ["{{", "}}", "{%", "%}", "{#", "#}", " name ", " path ", ".", "__class__", "__mro__", "[0]",
             "|", " dns_label ", " to_yaml ", " upper ", "~", "*", " 99999 ", "**", "(", ")", "'x'", "\"",
             " for i in range(9999) ", " endfor ", " if ", " else ", " set x = ", "self", "cycler",
             "lipsum", "namespace", "joiner", ".__init__", ".__globals__", "attr", "format", "%", "a-b"]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def appset(generators: list[Any], template: dict[str, Any]) -> ApplicationSet:
    spec = ApplicationSetSpec.model_validate({"generators": generators, "template": template},
                                             by_alias=True, by_name=False)
    return ApplicationSet(name="s", generators=spec.generators, template=spec.template)


@SETTINGS
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=12).map("".join))
def test_any_template_is_an_application_or_an_element_error(text: str) -> None:
    s = appset([{"list": {"elements": [{"name": "prod", "path": "apps/web"}]}}],
               {"metadata": {"name": "app-{{ name }}"},
                "spec": {"source": {"repository": "demo", "path": "apps", "parameters": {"x": text}},
                         "destination": {"cluster": "prod"}}})
    (out,) = render_applications(s, generate(s, Inputs(FLEET, FakeGitTree({}))), FLEET)
    assert isinstance(out, Generated | ElementError)
    if isinstance(out, Generated):
        value = out.application.source.parameters["x"]
        assert isinstance(value, str) and len(value) <= MAX_OUTPUT


@SETTINGS
@given(st.binary(max_size=2000) | st.text(max_size=2000).map(str.encode))
def test_any_parameter_file_is_parameters_or_an_element_error(content: bytes) -> None:
    git = FakeGitTree({"demo": {None: {"a/p.yaml": content, "b/p.json": content, "c/p.yaml": b"name: ok\n"}}})
    s = appset([{"git": {"repository": "demo", "files": [{"path": "*/p.*"}]}}],
               {"metadata": {"name": "{{ name }}"}, "spec": {}})
    generation = generate(s, Inputs(FLEET, git))
    assert generation.complete
    assert {"name": "ok"}.items() <= dict(generation.parameters[-1]).items()
    for params in generation.parameters:
        assert all(isinstance(k, str) for k in params)
