"""``spec.healthCheckExprs`` in the configuration: located errors from ``gitops validate``, the
conversion to domain values, the documented examples, and the configuration's check held to the
engine's (same bounds, same verdicts: gitops/config/health.py cannot import gitops.health)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from gitops.cli import build_parser, main
from gitops.config import health as config_health
from gitops.config import load_config, to_fleet
from gitops.domain import HealthCheck
from gitops.errors import ConfigError
from gitops.health import assess, rules_for
from gitops.vocabulary import HealthStatus as H

DOC = Path(__file__).resolve().parents[3] / "docs" / "health.md"
BASE = """\
apiVersion: gitops.dev/v1alpha1
kind: Repository
metadata: {name: demo}
spec: {url: https://git.example.com/org/demo.git}
---
apiVersion: gitops.dev/v1alpha1
kind: Cluster
metadata: {name: prod}
spec: {server: https://prod.example:6443}
---
"""
APP = """\
apiVersion: gitops.dev/v1alpha1
kind: Application
metadata: {name: web}
spec:
  source: {repository: demo, path: apps/web}
  destination: {cluster: prod, namespace: web}
  healthCheckExprs:
"""


def problems(tmp_path: Path, entries: str) -> list[tuple[int | None, str | None, str]]:
    path = tmp_path / "config.yaml"
    path.write_text(BASE + APP + entries)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return [(p.line, p.field, p.message) for p in info.value.problems]


def test_valid_rules_convert_to_the_domain(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(BASE + APP + """\
    - apiVersion: example.com/v1
      kind: Widget
      inProgress: has(status.phase) && status.phase == 'Pending'
      failed: |
        has(status.phase) &&
        status.phase == 'Failed'
      current: has(status.phase) && status.phase == 'Running'
    - apiVersion: v1
      kind: ConfigMap
      current: has(metadata.annotations)
""")
    app = to_fleet(load_config(path)).applications["web"]
    assert app.health_checks == (
        HealthCheck("example.com/v1", "Widget", "has(status.phase) && status.phase == 'Running'",
                    "has(status.phase) && status.phase == 'Pending'",
                    "has(status.phase) &&\nstatus.phase == 'Failed'\n"),
        HealthCheck("v1", "ConfigMap", "has(metadata.annotations)"))
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
              "status": {"phase": "Failed"}}
    assert assess(widget, rules_for(app.health_checks)).status is H.DEGRADED


@pytest.mark.parametrize(("entry", "line", "field", "message"), [
    ("    - {apiVersion: example.com/v1, kind: Widget, current: \"status.ready ==\"}\n", 8,
     "spec.healthCheckExprs[0].current", "not a valid CEL expression at line 1"),
    ("    - {apiVersion: example.com/v1, kind: Widget, failed: \"foo(status)\"}\n", 8,
     "spec.healthCheckExprs[0].failed", "unknown function foo"),
    ("    - {apiVersion: example.com/v1, kind: Widget, inProgress: \"self.status.ready\"}\n", 8,
     "spec.healthCheckExprs[0].inProgress", "unknown variable self"),
    ("    - {apiVersion: example.com/v1, kind: Widget}\n", 8, "spec.healthCheckExprs[0]",
     "name at least one of current, inProgress or failed"),
    ("    - {apiVersion: example.com, kind: Widget, current: 'true'}\n", 8,
     "spec.healthCheckExprs[0].apiVersion", "must be group/version"),
    ("    - {apiVersion: v2, kind: Widget, current: 'true'}\n", 8,
     "spec.healthCheckExprs[0].apiVersion", "must be group/version"),
    ("    - {apiVersion: example.com/v1, kind: 'widget', current: 'true'}\n", 8,
     "spec.healthCheckExprs[0].kind", "must be a Kubernetes kind"),
    ("    - {apiVersion: example.com/v1, kind: Widget, current: 'true', healthy: 'true'}\n", 8,
     "spec.healthCheckExprs[0].healthy", "unknown field"),
    ("    - {apiVersion: example.com/v1, kind: Widget, current: 1}\n", 8,
     "spec.healthCheckExprs[0].current", ""),
])
def test_errors_are_located_at_the_field(tmp_path: Path, entry: str, line: int, field: str,
                                         message: str) -> None:
    got = problems(tmp_path, entry)
    assert len(got) == 1, got
    assert got[0][1] == field and (got[0][0] or 0) >= line - 1
    assert got[0][2].startswith(message) or message in got[0][2], got


def test_gitops_validate_prints_the_located_compile_error(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "apps.yaml"
    path.write_text(BASE + APP + "    - apiVersion: example.com/v1\n      kind: Widget\n"
                    "      current: status.conditions.exists(c, c.type == 'Ready'\n")
    assert main(["validate", "-c", str(path)]) == 2
    out = capsys.readouterr()
    assert f"{path}:20:16: spec.healthCheckExprs[0].current: not a valid CEL expression" in out.out + out.err


@pytest.mark.parametrize("text", [
    "x" * 1_000_000,  # an expression 1 MB long
    "status.ready == true || " * 200 + "true",
    "(" * 500 + "true" + ")" * 500,
    "status.a.exists(x, status.b.exists(y, x == y))",
    "\x07status.ready",
])
def test_hostile_expressions_are_refused_without_echoing_them(tmp_path: Path, text: str) -> None:
    entry = f"    - apiVersion: example.com/v1\n      kind: Widget\n      current: {json.dumps(text)}\n"
    got = problems(tmp_path, entry)
    assert len(got) == 1 and got[0][1] == "spec.healthCheckExprs[0].current", got
    assert len(got[0][2]) < 200


def test_one_entry_per_kind() -> None:
    adapter = TypeAdapter(config_health.HealthCheckExprs)
    entry = {"apiVersion": "example.com/v1", "kind": "Widget", "current": "true"}
    assert len(adapter.validate_python([entry, {**entry, "kind": "Gadget"}])) == 2
    with pytest.raises(ValidationError, match=r"Widget of example\.com/v2 has more than one entry"):
        adapter.validate_python([entry, {**entry, "apiVersion": "example.com/v2"}])
    with pytest.raises(ValidationError):
        adapter.validate_python([{**entry, "kind": f"K{i}"} for i in range(config_health.MAX_RULES + 1)])


def test_two_entries_for_one_kind_are_refused_at_the_list(tmp_path: Path) -> None:
    entry = "    - apiVersion: example.com/{v}\n      kind: Gadget\n      current: 'true'\n"
    got = problems(tmp_path, entry.format(v="v1") + entry.format(v="v2"))
    assert got == [(17, "spec.healthCheckExprs",
                    "Gadget of example.com/v2 has more than one entry; merge them into one")]


# -- the documentation's examples ---------------------------------------------------------------
def doc_examples() -> list[str]:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S)
    return [b for b in blocks if "kind: Application" in b]


def test_the_documentation_has_examples() -> None:
    assert len(doc_examples()) >= 1


@pytest.mark.parametrize("example", doc_examples())
def test_every_documented_example_validates(tmp_path: Path, example: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(BASE + example)
    assert main(["validate", "-c", str(path)]) == 0, capsys.readouterr()
    assert to_fleet(load_config(path)).applications  # converts too


@pytest.mark.parametrize("line", re.findall(r"`(gitops [^`]*)`", DOC.read_text().replace("\n", " ")))
def test_every_command_the_page_names_parses(line: str) -> None:
    args = build_parser().parse_args(shlex.split(line)[1:])
    assert callable(args.func)


def test_the_documented_error_lines_are_what_validate_prints() -> None:
    text = DOC.read_text()
    assert "spec.healthCheckExprs[1].failed: unknown function foo" in text
    assert "spec.healthCheckExprs[0].current: not a valid CEL expression at line 1, column 62" in text
