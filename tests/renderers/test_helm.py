"""The Helm renderer with a real chart written by the test: values precedence, release, CRDs, hooks,
Helm errors with file and line, and hostile charts (symlink escapes, FIFOs, traversal)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from renderers import helm
from renderers.api import RenderRequest, cluster_parameters, render, render_in_process
from renderers.budget import Budget, BudgetExceeded, MiB
from renderers.errors import RenderError

pytest.importorskip("helm_python", reason="the helm extra is not installed")

CHART = {
    "Chart.yaml": "apiVersion: v2\nname: demo\nversion: 0.1.0\n",
    "values.yaml": "replicas: 1\nimage: nginx:1.0\nlevel: chart\ncolor: chart\nsize: chart\nextra: {}\n",
    "templates/_helpers.tpl": '{{- define "demo.labels" }}app: {{ .Release.Name }}{{ end }}\n',
    "templates/NOTES.txt": "Thanks for installing {{ .Release.Name }}\n",
    "templates/deployment.yaml": """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "demo.labels" . | nindent 4 }}
spec:
  replicas: {{ .Values.replicas }}
  selector: {matchLabels: {app: {{ .Release.Name }}}}
  template:
    metadata: {labels: {app: {{ .Release.Name }}}}
    spec:
      containers: [{name: web, image: {{ .Values.image | quote }}}]
""",
    "templates/configmap.yaml": """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
data:
  level: {{ .Values.level | quote }}
  color: {{ .Values.color | quote }}
  size: {{ .Values.size | quote }}
  cluster: {{ (.Values.cluster).name | default "none" | quote }}
  extra: {{ .Values.extra | toJson | quote }}
""",
    "templates/tests/test-connection.yaml": """apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-test
  annotations: {"helm.sh/hook": test}
spec: {containers: [{name: t, image: busybox}]}
""",
    "crds/widgets.yaml": """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]
""",
}


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


def chart(root: Path, where: str = "app", **overrides: str) -> Path:
    return write(root, {f"{where}/{k}": v for k, v in {**CHART, **overrides}.items()})


def run(root: Path, parameters: dict[str, Any] | None = None, path: str = "app", *,
        budget: Budget | None = None, in_process: bool = False, **options: Any) -> list[dict[str, Any]]:
    request = RenderRequest(root=root, path=path, renderer="helm", options=options,
                            parameters=parameters or {}, budget=budget)
    return render_in_process(request) if in_process else render(request)


def by_kind(manifests: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [found] = [m for m in manifests if m["kind"] == kind]
    return found


def test_chart_renders_to_manifests(tmp_path: Path) -> None:
    chart(tmp_path)
    out = run(tmp_path, release_name="web", namespace="apps")
    assert [m["kind"] for m in out] == ["CustomResourceDefinition", "ConfigMap", "Deployment"]
    deploy = by_kind(out, "Deployment")
    assert deploy["metadata"] == {"name": "web", "namespace": "apps", "labels": {"app": "web"},
                                  "annotations": {  # the chart's file it came from, for messages
                                      "internal.config.kubernetes.io/path": "app/templates/deployment.yaml",
                                      "internal.config.kubernetes.io/index": "0"}}
    assert deploy["spec"]["replicas"] == 1
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.0"


def test_values_precedence_chart_files_inline_cluster(tmp_path: Path) -> None:
    chart(tmp_path)
    write(tmp_path, {"app/env/one.yaml": "level: file1\ncolor: file1\nsize: file1\nextra: {a: 1}\n",
                     "app/env/two.yaml": "color: file2\nsize: file2\nextra: {b: 2}\n"})
    params = cluster_parameters(cluster="east", application="web", namespace="apps",
                                parameters={"size": "cluster"})
    out = run(tmp_path, params, values_files=["env/one.yaml", "env/two.yaml"],
              values={"size": "inline", "color": "inline"})
    data = by_kind(out, "ConfigMap")["data"]
    assert data == {"level": "file1", "color": "inline", "size": "cluster", "cluster": "east",
                    "extra": '{"a":1,"b":2}'}
    deploy = by_kind(out, "Deployment")
    assert deploy["metadata"]["name"] == "web" and deploy["metadata"]["namespace"] == "apps"


def test_release_defaults_to_chart_name_and_default_namespace(tmp_path: Path) -> None:
    chart(tmp_path)
    deploy = by_kind(run(tmp_path), "Deployment")
    assert deploy["metadata"]["name"] == "demo" and deploy["metadata"]["namespace"] == "default"


def test_crds_and_test_hooks_are_configurable(tmp_path: Path) -> None:
    chart(tmp_path)
    kinds = [m["kind"] for m in run(tmp_path, include_crds=False, skip_tests=False)]
    assert kinds == ["ConfigMap", "Deployment", "Pod"]


def test_chart_elsewhere_in_the_repository(tmp_path: Path) -> None:
    chart(tmp_path, where="charts/demo")
    write(tmp_path, {"apps/web/values-prod.yaml": "replicas: 5\n"})
    out = run(tmp_path, path="apps/web", chart="../../charts/demo", values_files=["values-prod.yaml"])
    assert by_kind(out, "Deployment")["spec"]["replicas"] == 5


def test_template_error_names_file_and_line(tmp_path: Path) -> None:
    chart(tmp_path, **{"templates/broken.yaml": "a: 1\nb: {{ .Values.missing.deeper }}\n"})
    with pytest.raises(RenderError) as err:
        run(tmp_path)
    assert err.value.path == "app/templates/broken.yaml" and err.value.line == 2


def test_required_value_message_is_kept(tmp_path: Path) -> None:
    chart(tmp_path, **{"templates/req.yaml": "x: {{ required \"set .Values.token\" .Values.token }}\n"})
    with pytest.raises(RenderError, match=r"set \.Values\.token"):
        run(tmp_path)


def test_rendered_non_manifest_names_the_template(tmp_path: Path) -> None:
    chart(tmp_path, **{"templates/junk.yaml": "just: data\n"})
    with pytest.raises(RenderError) as err:
        run(tmp_path)
    assert err.value.path == "app/templates/junk.yaml#0" and err.value.field == "apiVersion"


def test_schema_violation_is_a_render_error(tmp_path: Path) -> None:
    schema = '{"type": "object", "properties": {"replicas": {"type": "integer", "maximum": 10}}}'
    chart(tmp_path, **{"values.schema.json": schema})
    assert by_kind(run(tmp_path, values={"replicas": 3}), "Deployment")["spec"]["replicas"] == 3
    with pytest.raises(RenderError, match="replicas"):
        run(tmp_path, values={"replicas": 50})


@pytest.mark.parametrize(("options", "field"), [
    ({"valuesFiles": ["x"]}, "options.valuesFiles"),
    ({"values": ["x"]}, "options.values"),
    ({"include_crds": "yes"}, "options.include_crds"),
    ({"release_name": 5}, "options.release_name"),
])
def test_bad_options(tmp_path: Path, options: dict[str, Any], field: str) -> None:
    chart(tmp_path)
    with pytest.raises(RenderError) as err:
        run(tmp_path, **options)
    assert err.value.field == field


@pytest.mark.parametrize("name", ["Not_A_Valid_Name", "a" * 54, "-x", "x/../y"])
def test_invalid_release_name(tmp_path: Path, name: str) -> None:
    chart(tmp_path)
    with pytest.raises(RenderError) as err:
        run(tmp_path, release_name=name)
    assert err.value.field == "options.release_name"


def test_chart_yaml_without_a_name(tmp_path: Path) -> None:
    chart(tmp_path, **{"Chart.yaml": "apiVersion: v2\nversion: 1.0.0\n"})
    with pytest.raises(RenderError) as err:
        run(tmp_path)
    assert (err.value.path, err.value.field) == ("app/Chart.yaml", "name")


def test_memory_bomb_in_a_template_hits_the_memory_budget(tmp_path: Path) -> None:
    chart(tmp_path, **{"templates/bomb.yaml": "{{ range $i, $e := until 2000000000 }}{{ end }}\n"})
    with pytest.raises(BudgetExceeded, match=r"render exceeded its memory budget \(512 MiB\)") as err:
        run(tmp_path, budget=Budget(memory_bytes=512 * MiB))
    assert err.value.path == "app" and err.value.budget == "memory_bytes"


def test_endless_template_loop_hits_the_cpu_budget(tmp_path: Path) -> None:
    loop = "{{ range until 100000 }}{{ range until 100000 }}{{ end }}{{ end }}\n"
    chart(tmp_path, **{"templates/loop.yaml": loop})
    with pytest.raises(BudgetExceeded, match=r"render exceeded its CPU budget \(1 s\)") as err:
        run(tmp_path, budget=Budget(cpu_seconds=1))
    assert err.value.path == "app" and err.value.budget == "cpu_seconds"
    assert "signal" not in str(err.value)


def test_library_output_cannot_forge_the_reply(tmp_path: Path) -> None:
    chart(tmp_path, **{"templates/fail.yaml": '{{ fail "{\\"pieces\\": []}" }}\n'})
    with pytest.raises(RenderError, match="pieces"):
        run(tmp_path)


def test_values_that_are_not_json_serialisable(tmp_path: Path) -> None:
    chart(tmp_path)
    with pytest.raises(RenderError, match="JSON"):
        run(tmp_path, {"when": object()})


def test_directory_without_chart(tmp_path: Path) -> None:
    write(tmp_path, {"app/values.yaml": "a: 1\n"})
    with pytest.raises(RenderError, match=r"no Chart\.yaml"):
        run(tmp_path)


def test_template_injection_through_values_stays_data(tmp_path: Path) -> None:
    chart(tmp_path)
    out = run(tmp_path, values={"level": '{{ .Release.Name }}{{ include "demo.labels" . }}'})
    assert by_kind(out, "ConfigMap")["data"]["level"] == '{{ .Release.Name }}{{ include "demo.labels" . }}'


# --- hostile charts --------------------------------------------------------------------------------

def test_symlink_in_the_chart_pointing_outside_is_refused(tmp_path: Path) -> None:
    write(tmp_path, {"secret.txt": "token: hunter2\n"})
    chart(tmp_path / "repo")
    (tmp_path / "repo/app/templates/leak.yaml").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(RenderError) as err:
        run(tmp_path / "repo")
    assert err.value.path == "app/templates/leak.yaml" and "outside the repository" in err.value.message


def test_files_get_cannot_read_outside_the_chart(tmp_path: Path) -> None:
    write(tmp_path, {"secret.txt": "hunter2"})
    chart(tmp_path / "repo", **{"templates/cm2.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: leak}\n"
        "data: {s: {{ .Files.Get \"../../secret.txt\" | quote }}}\n")})
    leak = [m for m in run(tmp_path / "repo") if m["metadata"]["name"] == "leak"]
    assert leak[0].get("data", {}).get("s", "") == ""


def test_fifo_in_the_chart_is_refused(tmp_path: Path) -> None:
    chart(tmp_path)
    os.mkfifo(tmp_path / "app/templates/pipe.yaml")
    with pytest.raises(RenderError, match="not a regular file"):
        run(tmp_path)


@pytest.mark.parametrize(("options", "field"), [
    ({"chart": "../../outside"}, "options.chart"),
    ({"chart": "/etc"}, "options.chart"),
    ({"values_files": ["../../outside/v.yaml"]}, "options.values_files[0]"),
    ({"values_files": ["/etc/passwd"]}, "options.values_files[0]"),
])
def test_traversal_out_of_the_snapshot(tmp_path: Path, options: dict[str, Any], field: str) -> None:
    chart(tmp_path / "outside")
    write(tmp_path, {"outside/v.yaml": "a: 1\n"})
    chart(tmp_path / "repo")
    with pytest.raises(RenderError) as err:
        run(tmp_path / "repo", **options)
    assert err.value.field == field


def test_values_file_bomb_is_rejected(tmp_path: Path) -> None:
    chart(tmp_path)
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    write(tmp_path, {"app/bomb.yaml": "\n".join(lines) + "\n"})
    with pytest.raises(RenderError, match="alias bomb"):
        run(tmp_path, values_files=["bomb.yaml"])


def test_helm_missing_gives_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    chart(tmp_path)
    monkeypatch.setitem(sys.modules, "helm_python", None)
    with pytest.raises(RenderError, match=r"helm' extra"):
        run(tmp_path, in_process=True)


def test_recursive_alias_in_a_values_file_is_rejected(tmp_path: Path) -> None:
    chart(tmp_path)
    write(tmp_path, {"app/loop.yaml": "a: &a {b: *a}\n"})
    with pytest.raises(RenderError, match="recursive YAML alias") as err:
        run(tmp_path, values_files=["loop.yaml"])
    assert err.value.path == "app/loop.yaml"


def test_unset_reserved_parameters_do_not_erase_chart_values(tmp_path: Path) -> None:
    chart(tmp_path, **{"values.yaml": CHART["values.yaml"] + "namespace: chart-ns\n",
                       "templates/ns.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ns}\n"
                                            "data: {ns: {{ .Values.namespace | quote }}}\n"})
    out = run(tmp_path, cluster_parameters(cluster="east"))
    assert next(m for m in out if m["metadata"]["name"] == "ns")["data"]["ns"] == "chart-ns"
    out = run(tmp_path, cluster_parameters(cluster="east", namespace="apps"))
    assert next(m for m in out if m["metadata"]["name"] == "ns")["data"]["ns"] == "apps"


# --- error locations and budgets -------------------------------------------------------------------

@pytest.mark.parametrize("template", ["a: {{ .Values.x \n", "a: {{ nosuchfn 1 }}\n"])
def test_parse_errors_name_the_template_as_it_is_in_the_repository(tmp_path: Path, template: str) -> None:
    chart(tmp_path, **{"templates/p.yaml": template})
    with pytest.raises(RenderError, match="parse error") as err:
        run(tmp_path)
    assert err.value.path == "app/templates/p.yaml" and err.value.line is not None


def test_chart_at_the_snapshot_root_names_plain_paths(tmp_path: Path) -> None:
    chart(tmp_path, where=".", **{"templates/broken.yaml": "a: 1\nb: {{ .Values.missing.deeper }}\n"})
    with pytest.raises(RenderError) as err:
        run(tmp_path, path=".")
    assert err.value.path == "templates/broken.yaml" and err.value.line == 2


def test_subchart_errors_name_the_subchart_file(tmp_path: Path) -> None:
    chart(tmp_path, **{"charts/sub/Chart.yaml": "apiVersion: v2\nname: sub\nversion: 0.1.0\n",
                       "charts/sub/templates/x.yaml": "b: {{ .Values.q.w }}\n"})
    with pytest.raises(RenderError) as err:
        run(tmp_path)
    assert err.value.path == "app/charts/sub/templates/x.yaml" and err.value.line == 1


@pytest.mark.parametrize("stderr", [
    "fatal error: runtime: cannot allocate memory\n",
    "runtime: out of memory: cannot allocate 16000000000-byte block (3801088 in use)\n"
    "fatal error: out of memory\n",
    "runtime: failed to create new OS thread (have 5 already; errno=11)\n"
    "runtime: may need to increase max user processes (ulimit -u)\nfatal error: newosproc\n",
])
def test_go_runtime_stopped_by_the_memory_limits_is_the_memory_budget(stderr: str) -> None:
    proc = subprocess.CompletedProcess(["helm"], 2, "", stderr)
    error = helm._failure(proc, Budget(memory_bytes=512 * MiB), "app")
    assert isinstance(error, BudgetExceeded) and error.budget == "memory_bytes", error
