"""``gitops validate``: exit codes, text and JSON output, and that secrets never reach the output."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from gitops.cli import main

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
ROOT = EXAMPLES.parent
Write = Callable[[str, str], Path]
SECRET = "s3cr3t-VALUE-4711"


def test_valid_config_prints_a_summary_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "-c", str(EXAMPLES / "config")]) == 0
    out = capsys.readouterr().out
    assert out == ("valid: 1 Repository, 2 Cluster, 2 Application, 0 ApplicationSet, "
                   "0 VerificationPolicy, 0 WebhookReceiver, 0 SyncWindow, 0 Notification in 3 file(s)\n")


def test_invalid_config_prints_every_problem_sorted_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "-c", str(EXAMPLES / "broken")]) == 2
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "invalid: 19 problem(s)"
    problems = lines[:-1]
    assert len(problems) == 19
    keys = []
    for line in problems:
        file, row, col, _ = line.split(":", 3)
        keys.append((["apps.yaml", "clusters.yaml", "repositories.yaml"].index(Path(file).name),
                     int(row), int(col)))
    assert keys == sorted(keys)
    assert problems[0] == (f"{EXAMPLES}/broken/apps.yaml:10:15: spec.source.renderer: "
                           "must be 'kustomize', 'jinja', 'plain' or 'helm'")


def test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "-c", str(EXAMPLES / "config"), "-o", "json"]) == 0
    valid = json.loads(capsys.readouterr().out)
    assert valid["valid"] is True and valid["counts"]["Cluster"] == 2 and len(valid["files"]) == 3
    assert main(["validate", "-c", str(EXAMPLES / "broken"), "-o", "json"]) == 2
    broken = json.loads(capsys.readouterr().out)
    assert broken["valid"] is False and len(broken["problems"]) == 19
    assert broken["problems"][1] == {"file": f"{EXAMPLES}/broken/apps.yaml", "line": 12, "column": 14,
                                     "field": "spec.destination.cluster",
                                     "message": 'cluster "prod" is not defined'}


def test_config_from_environment_and_missing_config(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GITOPS_CONFIG", str(EXAMPLES / "config"))
    assert main(["validate"]) == 0
    monkeypatch.delenv("GITOPS_CONFIG")
    assert main(["validate"]) == 2
    assert "no configuration given" in capsys.readouterr().out


@pytest.mark.parametrize("output", ["text", "json"])
def test_secrets_never_appear_in_output(write: Write, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str], output: str) -> None:
    monkeypatch.setenv("GIT_TOKEN", SECRET)
    monkeypatch.setenv("KUBE_TOKEN", SECRET)
    write("secret.txt", SECRET)
    write("config.yaml", f"""\
        apiVersion: gitops.dev/v1alpha1
        kind: Repository
        metadata: {{name: ok}}
        spec:
          url: https://git.example.com/r.git
          credentials: {{tokenEnv: GIT_TOKEN}}
        ---
        apiVersion: gitops.dev/v1alpha1
        kind: Repository
        metadata: {{name: file-ref}}
        spec:
          url: https://git.example.com/r.git
          credentials: {{username: u, passwordFile: secret.txt, tokenEnv: GIT_TOKEN}}
        ---
        apiVersion: gitops.dev/v1alpha1
        kind: Repository
        metadata: {{name: inline}}
        spec:
          url: https://deploy:{SECRET}@git.example.com/r.git
          credentials: {{username: {{nested: {SECRET}}}, password: {SECRET}, token: {SECRET}}}
        ---
        apiVersion: gitops.dev/v1alpha1
        kind: Cluster
        metadata: {{name: c}}
        spec: {{server: "https://127.0.0.1:6443", tokenEnv: KUBE_TOKEN, token: {SECRET},
                bearerToken: {SECRET}, qps: {SECRET}, timeout: {SECRET}, caFile: [{SECRET}]}}
        ---
        apiVersion: gitops.dev/v1alpha1
        kind: Application
        metadata: {{name: {SECRET}}}
        spec:
          source: {{repository: ok, path: p, renderer: {SECRET}, revision: "{SECRET} x"}}
          destination: {{cluster: c, namespace: {SECRET}}}
          syncPolicy: {{automated: {SECRET}, fieldManager: [{SECRET}]}}
        """)
    assert main(["validate", "-c", str(tmp_path), "-o", output]) == 2
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err
    assert SECRET.lower() not in (captured.out + captured.err).lower()
    # the URL password, credentials.password and .token, the cluster's token and bearerToken
    assert captured.out.count("inline secrets are not allowed") == 5


def test_real_command_line_entry_point() -> None:
    result = subprocess.run([sys.executable, "-m", "gitops", "validate", "-c", "examples/broken"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stdout.splitlines()[0].startswith("examples/broken/apps.yaml:10:15: ")
