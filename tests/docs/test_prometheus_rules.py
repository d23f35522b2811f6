"""docs/examples/prometheus-rules.yaml: valid for Prometheus (``promtool check rules``), its alerts fire
on the series they are written for (``promtool test rules``, Prometheus's own rule evaluator), and it
uses only metrics the engine exports.

promtool is Debian's prometheus package (/usr/bin/promtool, installed by .ci/run): absent, the test
skips locally and fails under CI, as the Go tools do (tests/gotools.py).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import missing_reference

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "docs" / "examples" / "prometheus-rules.yaml"
# where the engine names its metrics (docs/observability.md lists them)
EXPORTERS = ("workers/metrics.py", "web/ops.py", "web/webhooks/receive.py")
SUFFIXES = ("_bucket", "_count", "_sum", "_total")


def promtool() -> str:
    path = shutil.which("promtool") or ("/usr/bin/promtool" if Path("/usr/bin/promtool").exists() else None)
    if path is None:
        missing_reference("promtool (Debian's prometheus package)")
    assert path is not None
    return path


def exported() -> set[str]:
    names: set[str] = set()
    for module in EXPORTERS:
        names |= set(re.findall(r"""["'](gitops_[a-z_]+)["']""", (ROOT / module).read_text()))
    return names


def used() -> set[str]:
    rules = yaml.safe_load(RULES.read_text())
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    return {name for expr in exprs for name in re.findall(r"\b(gitops_[a-z_]+)\b", expr)}


def base_name(metric: str, known: set[str]) -> str:
    for suffix in SUFFIXES:
        if metric.endswith(suffix) and metric.removesuffix(suffix) in known:
            return metric.removesuffix(suffix)
    return metric


def test_the_rules_use_only_metrics_the_engine_exports() -> None:
    known = exported()
    assert {"gitops_metrics_up", "gitops_queue_depth", "gitops_reconcile_duration_seconds"} <= known
    unknown = {m for m in used() if base_name(m, known) not in known}
    assert not unknown, f"metrics the engine does not export: {sorted(unknown)}"
    assert len(used()) >= 10


def test_promtool_accepts_the_rules() -> None:
    proc = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


UNIT_TESTS = ROOT / "docs" / "examples" / "prometheus-rules.test.yaml"


def test_the_alerts_fire_on_the_series_they_watch() -> None:
    proc = subprocess.run([promtool(), "test", "rules", str(UNIT_TESTS)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_a_rule_on_a_metric_that_does_not_exist_is_caught() -> None:
    known = exported()
    assert base_name("gitops_reconcile_duration_seconds_bucket", known) in known
    assert base_name("gitops_sync_results_total", known) in known
    assert base_name("gitops_reconciles_total", known) not in known


@pytest.mark.parametrize("broken", ["expr: gitops_queue_depth >", "for: soon"])
def test_promtool_refuses_a_broken_rule(tmp_path: Path, broken: str) -> None:
    key, _, value = broken.partition(": ")
    rule = {"alert": "X", "expr": "gitops_queue_depth > 1", key: value}
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [rule]}]}))
    proc = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode != 0
