"""``gitops diff`` and ``gitops sync`` end to end: a local Git repository, the sandbox, the real CLI."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gitops.cli import main
from tests.configkit import local_app

APP = """apiVersion: v1
kind: ConfigMap
metadata: {{name: settings}}
data: {{color: {color}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: creds}}
stringData: {{password: {password}}}
"""


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        check=True,
        capture_output=True,
    )


def commit(repo: Path, color: str, password: str = "hunter2-topsecret") -> None:
    (repo / "app").mkdir(parents=True, exist_ok=True)
    (repo / "app" / "all.yaml").write_text(APP.format(color=color, password=password))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"color {color}")


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, Any]:
    from kubesandbox import Sandbox

    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, "blue")
    sandbox = Sandbox.start(kubeconfig=tmp_path / "kubeconfig.yaml")
    config = tmp_path / "config.yaml"
    config.write_text(local_app(repo, tmp_path / "kubeconfig.yaml", app="demo", policy="{prune: true}"))
    yield {"repo": repo, "config": str(config), "cache": str(tmp_path / "cache"), "sandbox": sandbox}
    sandbox.stop()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_sync_then_diff(
    setup: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITOPS_REDIS_URL", raising=False)
    base = ["-c", setup["config"], "demo", "--cache-dir", setup["cache"]]
    code, out, _ = run(capsys, "diff", *base)
    assert code == 1 and "predicted/ConfigMap/default/settings" in out
    code, out, _ = run(capsys, "sync", *base, "--dry-run")
    assert code == 1 and "created" in out and "(dry run)" in out
    code, out, err = run(capsys, "sync", *base)
    assert code == 0, err
    assert out.splitlines()[0].split() == ["ACTION", "KIND", "NAMESPACE", "NAME", "MESSAGE"]
    assert "created  ConfigMap" in out and "2 created" in out
    code, out, _ = run(capsys, "diff", *base)
    assert code == 0 and "Synced" in out
    commit(setup["repo"], "red", password="another-secret-value")
    code, out, _ = run(capsys, "diff", *base, "-o", "json")
    doc = json.loads(out)
    assert code == 1 and doc["sync"] == "OutOfSync"
    paths = {(d["object"], d["path"]): d for d in doc["drift"]}
    assert paths[("ConfigMap/default/settings", ".data.color")]["predicted"] == "red"
    assert paths[("ConfigMap/default/settings", ".data.color")]["manager"] == "gitops"
    code, text, _ = run(capsys, "diff", *base, "-o", "text")
    code, yml, _ = run(capsys, "diff", *base, "-o", "yaml")
    for output in (out, text, yml):
        assert "hunter2" not in output and "another-secret" not in output
        assert "aHVudGVy" not in output  # nor base64 of it
    code, out, _ = run(capsys, "sync", *base)
    assert code == 0 and "configured  ConfigMap" in out
    (setup["repo"] / "app" / "all.yaml").write_text(APP.format(color="red", password="x").split("---")[0])
    git(setup["repo"], "commit", "-q", "-am", "drop the secret")
    code, out, err = run(capsys, "diff", *base)
    assert code == 1, err
    assert ["skipped", "Secret", "default", "creds", "requires", "pruning"] in [
        line.split() for line in out.splitlines()
    ]
    code, out, _ = run(capsys, "sync", *base, "--prune")
    assert code == 0 and ["deleted", "Secret", "default", "creds", "pruned"] in [
        line.split() for line in out.splitlines()
    ]


def test_errors_exit_2(
    setup: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITOPS_REDIS_URL", raising=False)
    code, _, err = run(capsys, "diff", "-c", setup["config"], "nope", "--cache-dir", setup["cache"])
    assert code == 2 and "no application named 'nope'" in err
    code, _, err = run(
        capsys, "sync", "-c", setup["config"], "demo", "--cluster", "prod", "--cache-dir", setup["cache"]
    )
    assert code == 2 and "no cluster named 'prod'" in err
    (setup["repo"] / "app" / "bad.yaml").write_text("kind: ConfigMap\nmetadata: {name: x}\n")
    git(setup["repo"], "add", "-A")
    git(setup["repo"], "commit", "-q", "-m", "bad")
    code, _, err = run(capsys, "sync", "-c", setup["config"], "demo", "--cache-dir", setup["cache"])
    assert code == 2 and "apiVersion" in err
    assert setup["sandbox"].stats.count(write=True) == 0


def test_sync_enqueues_when_redis_is_configured(
    setup: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys
    import types

    calls: list[tuple[Any, ...]] = []
    fake = types.ModuleType("gitops.dispatch")

    def enqueue_sync(app: str, cluster: str | None, *, prune: bool, dry_run: bool) -> str:
        calls.append((app, cluster, prune, dry_run))
        return "task-123"

    fake.enqueue_sync = enqueue_sync  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gitops.dispatch", fake)
    monkeypatch.setenv("GITOPS_REDIS_URL", "redis://127.0.0.1:1/0")
    code, out, _ = run(capsys, "sync", "-c", setup["config"], "demo", "--prune")
    assert code == 0 and "task-123" in out and calls == [("demo", "dev", True, False)]
    assert setup["sandbox"].stats.count(write=True) == 0
