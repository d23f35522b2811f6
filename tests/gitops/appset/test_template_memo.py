"""A Renderer reuses the text of a pure template for equal parameters: the results and errors are those
of rendering every string every time (the reference here is a Renderer that remembers nothing)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops.appset import template as template_module
from gitops.appset.template import MAX_OUTPUT, MAX_TOTAL, Renderer, TemplateError, _reads

STRUCTURE: dict[str, Any] = {
    "metadata": {"name": "{{ (path.basename ~ '-' ~ name) | dns_label }}",
                 "labels": {"env": "{{ labels.env }}", "x": "{{ x }}", "n": "{{ x is number }}"}},
    "spec": {"path": "{{ path }}", "all": "{{ labels | to_yaml }}", "fixed": "text",
             "seg": "{{ path.segments[0] if path is defined else 'none' }}", "list": ["{{ name }}", 3]},
}


def forgetful(data: Any, params: dict[str, object], monkeypatch: pytest.MonkeyPatch) -> Any:
    with monkeypatch.context() as m:
        m.setattr(template_module, "MAX_MEMO", 0)
        return Renderer().render(data, params, "template")


def outcome(renderer: Renderer, data: Any, params: dict[str, object]) -> Any:
    try:
        return renderer.render(data, params, "template")
    except TemplateError as exc:
        return ("error", str(exc))


SCALAR = st.sampled_from([True, False, 1, 0, 1.0, 0.0, -0.0, "1", "True", "", None, "a b"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.fixed_dictionaries({
    "name": st.sampled_from(["c1", "c2"]), "x": SCALAR,
    "labels.env": st.sampled_from(["prod", "dev"]), "labels.tier": SCALAR,
    "path": st.sampled_from(["apps/web", "apps/Billing_API"]),
}), min_size=1, max_size=12))
def test_reused_texts_are_the_rendered_ones(elements: list[dict[str, object]]) -> None:
    shared = Renderer()
    for params in elements:
        full = {**params, "path.basename": str(params["path"]).rsplit("/", 1)[1],
                "path.segments.0": "apps"}
        assert outcome(shared, STRUCTURE, full) == outcome(Renderer(), STRUCTURE, full)


def test_equal_values_of_different_types_are_not_confused() -> None:
    renderer = Renderer()
    out = [renderer.render("{{ x }}", {"x": x}) for x in (True, 1, 1.0, "1", 0.0, -0.0, False, 0)]
    assert out == ["True", "1", "1.0", "1", "0.0", "-0.0", "False", "0"]


def test_only_pure_templates_are_remembered() -> None:
    assert _reads("{{ labels.env }}-{{ name | dns_label }}") == ("labels", "name")
    assert _reads("{% set y = x %}{{ y }}") == ("x",)
    for unpure in ("{{ [1, 2, 3] | random }}", "{{ names | map('random') | join }}", "{{ range(3) | list }}",
                   "{{ labels.items() }}", "{% include 'x' %}"):
        assert _reads(unpure) is None, unpure
    renderer = Renderer()
    seen = {renderer.render("{{ range(1000) | random }}", {}) for _ in range(30)}
    assert len(seen) > 1


def test_errors_are_not_remembered() -> None:
    renderer = Renderer()
    for _ in range(2):
        with pytest.raises(TemplateError, match=r"labels\.tier") as caught:
            renderer.render({"a": "{{ labels.tier }}"}, {"labels.env": "prod"}, "template")
        assert caught.value.field == "template.a"
    assert renderer.memo == {}


def test_a_reused_text_counts_against_the_output_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    big = "x" * (MAX_OUTPUT - 10)
    data = {"items": ["{{ big }}"] * (MAX_TOTAL // len(big) + 2)}
    with pytest.raises(TemplateError) as reference:
        forgetful(data, {"big": big}, monkeypatch)
    with pytest.raises(TemplateError) as reused:
        Renderer().render(data, {"big": big}, "template")
    assert (str(reused.value), reused.value.field) == (str(reference.value), reference.value.field)
    assert "over the limit" in str(reused.value)


def test_a_template_whose_texts_are_never_reused_stops_being_remembered(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(template_module, "MEMO_TRIAL", 4)
    renderer = Renderer()
    data = {"name": "{{ name }}-{{ env }}", "env": "{{ env }}"}
    out = [renderer.render(data, {"name": f"a{i}", "env": "prod" if i % 2 else "dev"}) for i in range(20)]
    assert out[7] == {"name": "a7-prod", "env": "prod"}
    assert renderer.stored == {"{{ name }}-{{ env }}": 4, "{{ env }}": 2}
    assert renderer.reused == {"{{ env }}"}
