"""The Jinja renderer: values, partials, errors with file and line, sandbox escapes and resource bombs."""

from __future__ import annotations

import re
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from renderers import jinja
from renderers.api import RenderRequest, cluster_parameters, render, render_in_process
from renderers.budget import Budget, BudgetExceeded, MiB
from renderers.errors import RenderError
from renderers.jinja.sandbox import MAX_STRING

CM = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}
data:
  value: {value}
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


def run(root: Path, parameters: dict[str, Any] | None = None, *, in_process: bool = False,
        budget: Budget | None = None, **options: Any) -> list[dict[str, Any]]:
    """Render ``root/app`` as the engine does (in a worker process), or ``in_process`` (to watch this
    process's allocations, or to see a monkeypatched module)."""
    request = RenderRequest(root=root, path="app", renderer="jinja", options=options,
                            parameters=parameters or {}, budget=budget)
    return render_in_process(request) if in_process else render(request)


def template(root: Path, value: str, parameters: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """Render one ConfigMap whose data.value is the template expression ``value``."""
    write(root, {"app/cm.yaml.j2": CM.format(name="cm", value=value)})
    return run(root, parameters, **kwargs)[0]["data"]["value"]


def failure(root: Path, value: str, parameters: dict[str, Any] | None = None, **kwargs: Any) -> RenderError:
    with pytest.raises(RenderError) as err:
        template(root, value, parameters, **kwargs)
    return err.value


def test_cluster_parameters_and_values_files(tmp_path: Path) -> None:
    write(tmp_path, {
        "app/deploy.yaml.j2": (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web-{{ cluster.name }}\n"
            "  labels: {region: {{ cluster.labels.region }}}\n"
            "spec:\n  replicas: {{ replicas }}\n  template: {metadata: {labels: {tier: {{ tier }}}}}\n"),
        "app/values.yaml": "replicas: 1\ntier: base\n", "app/env/prod.yaml": "tier: prod\n",
        "common.yaml": "replicas: 7\n"})
    params = cluster_parameters(cluster="east", labels={"region": "eu"}, application="web",
                                namespace="apps", parameters={"replicas": 3})
    [deploy] = run(tmp_path, params, values_files=["values.yaml", "env/prod.yaml"])
    assert deploy["metadata"] == {"name": "web-east", "labels": {"region": "eu"}, "annotations": {
        "internal.config.kubernetes.io/path": "app/deploy.yaml.j2",
        "internal.config.kubernetes.io/index": "0"}}
    assert deploy["spec"]["replicas"] == 3
    assert deploy["spec"]["template"]["metadata"]["labels"]["tier"] == "prod"
    [deploy] = run(tmp_path, {"cluster": {"name": "x", "labels": {"region": "r"}}},
                   values_files=["values.yaml", "../common.yaml"])
    assert deploy["spec"]["replicas"] == 7


def test_plain_yaml_is_templated_unless_told_otherwise(tmp_path: Path) -> None:
    write(tmp_path, {"app/a.yaml": CM.format(name="a", value="'{{ 1 + 1 }}'"),
                     "app/b.json": '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}}'})
    assert [m["metadata"]["name"] for m in run(tmp_path)] == ["a", "b"]
    assert run(tmp_path)[0]["data"]["value"] == "2"
    assert run(tmp_path, template_yaml=False)[0]["data"]["value"] == "{{ 1 + 1 }}"


def test_partials_include_and_import(tmp_path: Path) -> None:
    write(tmp_path, {
        "app/_macros.j2": "{% macro label(k, v) %}{{ k }}: {{ v | tojson }}{% endmacro %}",
        "app/_header.j2": "apiVersion: v1\nkind: ConfigMap\n",
        "app/cm.yaml.j2": ("{% import '_macros.j2' as m %}{% include '_header.j2' %}"
                           "metadata:\n  name: x\n  labels:\n    {{ m.label('team', team) }}\n")})
    [cm] = run(tmp_path, {"team": "a: b"})
    assert cm["metadata"]["labels"] == {"team": "a: b"}


def test_recursive_and_globs(tmp_path: Path) -> None:
    write(tmp_path, {"app/a.yaml.j2": CM.format(name="a", value="x"),
                     "app/sub/b.yml.j2": CM.format(name="b", value="x"),
                     "app/sub/c.j2": CM.format(name="c", value="x")})
    got = [m["metadata"]["name"] for m in run(tmp_path, recursive=True, exclude=["c.j2"])]
    assert got == ["a", "b"]
    assert [m["metadata"]["name"] for m in run(tmp_path, recursive=True, include=["sub/*"])] == ["b", "c"]


def test_values_files_are_not_rendered_as_manifests(tmp_path: Path) -> None:
    write(tmp_path, {"app/values.yaml": "name: from-values\n", "app/cm.yaml.j2": CM.format(
        name="{{ name }}", value="x")})
    assert [m["metadata"]["name"] for m in run(tmp_path, values_files=["values.yaml"])] == ["from-values"]


def test_undefined_variable_names_file_line_and_name(tmp_path: Path) -> None:
    err = failure(tmp_path, "{{ no_such_value }}")
    assert err.path == "app/cm.yaml.j2" and err.line == 6
    assert "undefined" in err.message and "no_such_value" in err.message


def test_undefined_attribute_in_an_included_partial_names_the_partial(tmp_path: Path) -> None:
    write(tmp_path, {"app/_p.j2": "line1\n{{ cluster.nope }}\n", "app/cm.yaml.j2": "{% include '_p.j2' %}"})
    with pytest.raises(RenderError) as err:
        run(tmp_path, {"cluster": {"name": "c"}})
    assert err.value.line == 2 and "nope" in err.value.message


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, {"app/cm.yaml.j2": "a: 1\nb: {% if %}\n"})
    with pytest.raises(RenderError) as err:
        run(tmp_path)
    assert (err.value.path, err.value.line) == ("app/cm.yaml.j2", 2) and "syntax" in err.value.message


def test_rendered_yaml_that_is_invalid_names_the_template(tmp_path: Path) -> None:
    write(tmp_path, {"app/cm.yaml.j2": "a: [{{ 1 }}\n"})
    with pytest.raises(RenderError, match=r"app/cm\.yaml\.j2:.*invalid YAML"):
        run(tmp_path)


def test_unknown_option(tmp_path: Path) -> None:
    write(tmp_path, {"app/cm.yaml.j2": CM.format(name="a", value="x")})
    with pytest.raises(RenderError) as err:
        run(tmp_path, value_files=["x.yaml"])
    assert err.value.field == "options.value_files"


# --- injection: values are data --------------------------------------------------------------------

def test_parameter_holding_template_syntax_comes_out_literally(tmp_path: Path) -> None:
    assert template(tmp_path, "'{{ payload }}'", {"payload": "{{ 7*7 }}"}) == "{{ 7*7 }}"
    assert template(tmp_path, "'{{ payload }}'", {"payload": "{% for x in range(3) %}x{% endfor %}"}) == (
        "{% for x in range(3) %}x{% endfor %}")


def test_values_file_holding_template_syntax_comes_out_literally(tmp_path: Path) -> None:
    write(tmp_path, {"app/v.yaml": "payload: \"{{ cycler.__init__.__globals__ }}\"\n"})
    assert template(tmp_path, "{{ payload | tojson }}", values_files=["v.yaml"]) == (
        "{{ cycler.__init__.__globals__ }}")


def test_tojson_stops_yaml_injection(tmp_path: Path) -> None:
    hostile = "x\nkind: Secret\nstringData: {token: stolen}"
    assert template(tmp_path, "{{ payload | tojson }}", {"payload": hostile}) == hostile


# --- sandbox escapes -------------------------------------------------------------------------------

@pytest.mark.parametrize("expr", [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ joiner.__init__.__globals__.os }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ self.__init__.__globals__ }}",
    "{{ values.__class__ }}",
    "{{ range.__self__ }}",
    "{{ (1).__class__.__base__.__subclasses__() }}",
    "{{ lipsum.__globals__ }}",
    "{{ ''|attr('__class__') }}",
    "{% set x = values.update({'a': 1}) %}",
    "{{ dict.mro() }}",
])
def test_sandbox_escapes_are_blocked(tmp_path: Path, expr: str) -> None:
    err = failure(tmp_path, expr)
    assert err.path == "app/cm.yaml.j2"
    assert any(w in err.message for w in ("unsafe", "undefined")), err.message


def test_mutation_of_values_is_blocked(tmp_path: Path) -> None:
    params = {"items": [1, 2]}
    err = failure(tmp_path, "{{ items.append(3) }}", params)
    assert "unsafe" in err.message and params == {"items": [1, 2]}


def test_include_cannot_leave_the_application_directory(tmp_path: Path) -> None:
    write(tmp_path, {"secret.yaml": "token: x\n"})
    for target in ("../secret.yaml", "/etc/passwd", "sub/../../secret.yaml"):
        err = failure(tmp_path, "{% include '" + target + "' %}")
        assert "cannot load template" in err.message and err.line == 6, err.message


def test_include_through_a_symlink_out_of_the_root_is_blocked(tmp_path: Path) -> None:
    write(tmp_path, {"outside/secret.txt": "token", "repo/app/x": ""})
    (tmp_path / "repo" / "app" / "_link.j2").symlink_to(tmp_path / "outside" / "secret.txt")
    write(tmp_path, {"repo/app/cm.yaml.j2": CM.format(name="a", value="{% include '_link.j2' %}")})
    with pytest.raises(RenderError, match="outside the repository"):
        render(RenderRequest(root=tmp_path / "repo", path="app", renderer="jinja"))


@pytest.mark.parametrize("rel", ["../../etc/passwd", "/etc/passwd", "../outside/v.yaml"])
def test_values_files_cannot_leave_the_root(tmp_path: Path, rel: str) -> None:
    write(tmp_path, {"outside/v.yaml": "a: 1\n", "repo/app/cm.yaml.j2": CM.format(name="a", value="x")})
    with pytest.raises(RenderError) as err:
        render(RenderRequest(root=tmp_path / "repo", path="app", renderer="jinja",
                             options={"values_files": [rel]}))
    assert err.value.field == "options.values_files[0]"


def test_values_file_must_be_a_mapping(tmp_path: Path) -> None:
    write(tmp_path, {"app/v.yaml": "- a\n", "app/cm.yaml.j2": CM.format(name="a", value="x")})
    with pytest.raises(RenderError, match=r"app/v\.yaml: values file must hold a mapping"):
        run(tmp_path, values_files=["v.yaml"])


def test_huge_template_is_rejected_before_reading(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    with (tmp_path / "app" / "big.yaml.j2").open("wb") as handle:
        handle.truncate(jinja.yamlio.MAX_BYTES + 1)
    with pytest.raises(RenderError, match="over the limit"):
        run(tmp_path)


def test_binary_template_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "bin.j2").write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\xff\xfe")
    with pytest.raises(RenderError, match=r"app/bin\.j2.*(binary|UTF-8)"):
        run(tmp_path)


def test_malformed_values_file_names_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, {"app/v.yaml": "a: 1\nb: [unclosed\n", "app/cm.yaml.j2": CM.format(name="a", value="x")})
    with pytest.raises(RenderError) as err:
        run(tmp_path, values_files=["v.yaml"])
    assert err.value.path == "app/v.yaml" and err.value.line is not None


# --- resource bombs --------------------------------------------------------------------------------

@pytest.mark.parametrize("expr", [
    "{{ range(10**9) | list }}",
    "{{ range(1000000000) | length }}",
    "{{ 10 ** 10 ** 10 }}",  # Jinja's ** is left-associative: (10**10)**10 is small, so also:
    "{{ 10 ** 100000000 }}",
    "{{ 'a' * 1000000000 }}",
    "{{ [1] * 1000000000 }}",
    "{{ 'a'.center(1000000000) }}",
    "{{ 'a' | center(1000000000) }}",
    "{{ 'a\\n' | indent(100000000) }}",
    "{{ '%1000000000d' % 1 }}",
    "{{ '{:>1000000000}'.format(1) }}",
    "{{ '%s' | format(1) ~ '{:{w}}'.format(1, w=1000000000) }}",
    "{% set ns = namespace(s='aaaaaaaa') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
    "{% set ns = namespace(s='aaaaaaaa') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
    "{% set s = 'a' * 1000000 %}{{ s.replace('a', s) }}",
    "{% set s = 'a' * 1000000 %}{{ s | replace('a', s) }}",
    "{% set s = 'a' * 1000 %}{{ (s * 1000).join([s] * 1000) }}",
    "{% set s = 'a' * 4000000 %}{{ ''.join(([s] * 100) | map('lower')) }}",
    "{% set s = 'a' * 4000000 %}{{ ([s] * 100) | map('lower') | join }}",
    "{% set s = 'a' * 4000000 %}{{ ([s] * 100) | map('lower') | join(',') }}",
    "{% set a = [0] * 4000000 %}{{ ([a] * 8) | sum(start=[]) | length }}",
    "{% set a = [0] * 4000000 %}{{ ([a] * 8) | sum(none, []) | length }}",
    "{% set a = 'x' * 4000000 %}{{ ([a] * 8) | sum(start='') | length }}",
    "{% set s = 'a' * 4000000 %}{{ [s] * 100 }}",
    "{% set s = 'a' * 4000000 %}{{ {'k': [s] * 100} }}",
    "{% set s = 'a' * 4000000 %}{{ 'x' ~ ([s] * 100) }}",
    "{% set s = 'a' * 4000000 %}{{ '%s' % ([s] * 100,) }}",
    "{% set s = 'a' * 4000000 %}{{ '{}'.format([s] * 100) }}",
    "{% set s = 'a' * 4000000 %}{{ ([s] * 100) | string | length }}",
    "{% set s = 'a' * 4000000 %}{{ ([s] * 100) | tojson | length }}",
    "{% set s = 'a' * 4000000 %}{{ ([s] * 100) | pprint | length }}",
    "{% set s = 'a' * 4000000 %}{{ [[s] * 100] | join }}",
])
def test_resource_bombs_fail_fast(tmp_path: Path, expr: str) -> None:
    if expr == "{{ 10 ** 10 ** 10 }}":
        assert template(tmp_path, expr) == 10 ** 100
        return
    tracemalloc.start()
    try:
        err = failure(tmp_path, expr, in_process=True)  # the sandbox refuses before allocating
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 48 * 1024 * 1024, f"refused only after allocating {peak} bytes"
    assert err.path == "app/cm.yaml.j2"
    # the limit that fired is named: the sandbox's size limit (with what the operation would produce),
    # Jinja's MAX_RANGE, or the power guard
    named = (rf"(would produce \d+ items/characters|huge width or precision: up to \d+ characters), "
             rf"over the limit of {MAX_STRING}$|larger than MAX_RANGE \(100000\)|integer power too large")
    assert re.search(named, err.message), err.message


@pytest.mark.parametrize("expr", [
    "{{ '%(a)99999999s' % {'a': 1} }}",
    "{{ '%(a).99999999f' % {'a': 1.5} }}",
    "{{ '%(a)99999999s' | format(a=1) }}",
    "{{ ('%999999s' * 60) % ((1,) * 60) }}",
    "{{ ('%(a)999999s' * 60) | format(a=1) }}",
    "{{ ('{:999999}' * 60).format(*([1] * 60)) }}",
    "{{ ('{0[a]:>999999}' * 60).format({'a': 1}) }}",
])
def test_format_widths_are_summed_before_formatting(tmp_path: Path, expr: str) -> None:
    tracemalloc.start()
    try:
        err = failure(tmp_path, expr, in_process=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024, f"refused only after allocating {peak} bytes"
    assert "width" in err.message and err.path == "app/cm.yaml.j2"


def test_values_accumulated_in_a_loop_hit_the_memory_budget(tmp_path: Path) -> None:
    loop = ("{% set big = 'a' * 4000000 %}{% set ns = namespace(items=[]) %}{% for i in range(150) %}"
            "{% set ns.items = ns.items + [big ~ i] %}{% endfor %}{{ ns.items | length }}")
    err = failure(tmp_path, loop, budget=Budget(memory_bytes=256 * MiB))
    assert isinstance(err, BudgetExceeded) and err.budget == "memory_bytes"
    assert "render exceeded its memory budget (256 MiB)" in str(err)


def test_one_builtin_comparison_hits_the_cpu_budget(tmp_path: Path) -> None:
    shared = ("{% set ns = namespace(a=[1], b=[1]) %}{% for i in range(80) %}{% set ns.a = [ns.a, ns.a] %}"
              "{% set ns.b = [ns.b, ns.b] %}{% endfor %}{{ ns.a == ns.b }}")  # 2**80 element comparisons
    err = failure(tmp_path, shared, budget=Budget(cpu_seconds=1))
    assert isinstance(err, BudgetExceeded) and err.budget == "cpu_seconds"
    assert str(err) == "render exceeded its CPU budget (1 s)"


def test_cpu_loop_hits_the_cpu_budget(tmp_path: Path) -> None:
    loop = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
    err = failure(tmp_path, loop, budget=Budget(cpu_seconds=1))
    assert isinstance(err, BudgetExceeded) and "CPU budget (1 s)" in err.message


def test_the_worker_is_replaced_after_a_budget_kill(tmp_path: Path) -> None:
    failure(tmp_path, "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
            budget=Budget(cpu_seconds=1))
    assert template(tmp_path, "'{{ 6 * 7 }}'") == "42"


def test_output_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jinja, "MAX_OUTPUT", 10_000)
    err = failure(tmp_path, "{% for i in range(5000) %}xx{% endfor %}", in_process=True)
    assert "output over the limit" in err.message and err.path == "app/cm.yaml.j2"


def test_recursion_bomb(tmp_path: Path) -> None:
    err = failure(tmp_path, "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}")
    assert "recursion" in err.message


def test_legitimate_templates_stay_unaffected_by_the_bounds(tmp_path: Path) -> None:
    got = template(tmp_path, "'{{ (\"%05d\" % 42) ~ \"-\" ~ \"{:>4}\".format(7) ~ (\"ab\" * 3) ~ 2 ** 10 }}'")
    assert got == "00042-   7ababab1024"
    assert template(tmp_path, "'{{ range(1000) | join(\",\") | length }}'") == "3889"
    expr = "'{{ [[1], [2]] | sum(start=[]) }}-{{ \"\".join([\"a\", \"b\"] | map(\"upper\")) }}'"
    assert template(tmp_path, expr) == "[1, 2]-AB"


def test_tracing_is_restored_after_render(tmp_path: Path) -> None:
    import sys

    before = sys.gettrace()
    template(tmp_path, "x")
    with pytest.raises(RenderError):
        template(tmp_path, "{{ nope }}")
    assert sys.gettrace() is before


def test_namespace_parameter_and_jinja_namespace_both_work(tmp_path: Path) -> None:
    expr = ("'{% set n = namespace(c=0) %}{% for i in range(3) %}{% set n.c = n.c + 1 %}{% endfor %}"
            "{{ namespace }}-{{ n.c }}'")
    assert template(tmp_path, expr, cluster_parameters(cluster="c", namespace="apps")) == "apps-3"
    assert template(tmp_path, expr, cluster_parameters(cluster="c")) == "-3"
    assert template(tmp_path, expr) == "-3"


def test_compiled_template_cache_never_serves_a_stale_template(tmp_path: Path) -> None:
    assert template(tmp_path, "'{{ 1 + 1 }}'") == "2"
    assert template(tmp_path, "'{{ 2 + 2 }}'") == "4"
    assert template(tmp_path / "other", "'{{ 1 + 1 }}'") == "2"
    assert template(tmp_path, "'{{ 2 + 2 }}'") == "4"


def test_extends_with_blocks(tmp_path: Path) -> None:
    base = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {% block name %}b{% endblock %}\n"
    child = "{% extends '_base.j2' %}{% block name %}child-{{ cluster.name }}{% endblock %}"
    write(tmp_path, {"app/_base.j2": base, "app/cm.yaml.j2": child})
    assert run(tmp_path, cluster_parameters(cluster="east"))[0]["metadata"]["name"] == "child-east"


def test_self_include_recursion_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, {"app/cm.yaml.j2": "x\n{% include 'cm.yaml.j2' %}"})
    with pytest.raises(RenderError, match="recursion"):
        run(tmp_path)


# --- fuzzing: whatever the template, the only failure is a RenderError --------------------------------


_PIECES = st.sampled_from([
    "{{", "}}", "{%", "%}", "{#", "#}", " if ", " for x in ", " endfor ", " endif ", " set ", "range(",
    ")", "(", "[", "]", "'", '"', "|", "~", "*", "**", "%", ".", "__class__", "cluster", "values", "x",
    "namespace", "include", "'_p.j2'", "\n", ": ", "- ",
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
    "10", "1000000000", "join", "format", "replace", "center", "tojson", "items()", "none", "=", ",",
])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_PIECES, max_size=25).map("".join))
def test_any_template_renders_or_raises_render_error(tmp_path: Path, text: str) -> None:
    write(tmp_path, {"app/_p.j2": "{{ cluster.name }}", "app/cm.yaml.j2": text})
    try:
        out = run(tmp_path, cluster_parameters(cluster="c", namespace="n"))
    except RenderError as err:
        assert err.path and err.path.startswith("app/")
    else:
        assert all(isinstance(m, dict) for m in out)


def test_recursive_alias_in_a_values_file_is_rejected(tmp_path: Path) -> None:
    write(tmp_path, {"app/v.yaml": "a: &a [1, *a]\n", "app/cm.yaml.j2": CM.format(name="a", value="x")})
    with pytest.raises(RenderError, match="recursive YAML alias") as err:
        run(tmp_path, values_files=["v.yaml"])
    assert err.value.path == "app/v.yaml"


def test_recursive_alias_in_rendered_output_is_rejected(tmp_path: Path) -> None:
    assert "recursive YAML alias" in failure(tmp_path, "&a [*a]").message
