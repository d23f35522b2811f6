"""``gitops kustomize``: output bytes, exit codes, no tracebacks."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from gitops.cli import main

Tree = Callable[[dict[str, str | bytes]], Path]


def test_prints_sorted_yaml_like_kubectl(tree: Tree, capsys: pytest.CaptureFixture[str]) -> None:
    root = tree({"kustomization.yaml": "resources:\n- r.yaml\ncommonAnnotations:\n  port: '8080'\n",
                 "r.yaml": "kind: Service\napiVersion: v1\nmetadata:\n  name: s\n---\napiVersion: v1\n"
                           "kind: Namespace\nmetadata:\n  name: ns\n  annotations:\n    note: |\n"
                           "      a\n      b\n"})
    assert main(["kustomize", str(root)]) == 0
    assert capsys.readouterr().out == (
        'apiVersion: v1\nkind: Namespace\nmetadata:\n  annotations:\n    note: |\n      a\n      b\n'
        '    port: "8080"\n  name: ns\n---\napiVersion: v1\nkind: Service\nmetadata:\n  annotations:\n'
        '    port: "8080"\n  name: s\n')


def test_errors_exit_2_with_one_line(tree: Tree, capsys: pytest.CaptureFixture[str]) -> None:
    root = tree({"app/kustomization.yaml": "resources:\n- ../outside.yaml\n", "outside.yaml": "kind: X\n"})
    assert main(["kustomize", str(root / "app")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "security" in err and "Traceback" not in err


def test_load_restrictor_flag_and_remote_rejection(tree: Tree, capsys: pytest.CaptureFixture[str]) -> None:
    root = tree({"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
                 "app/kustomization.yaml": "resources:\n- ../cm.yaml\n",
                 "remote/kustomization.yaml": "resources:\n- https://example.com/repo.git//x?ref=main\n"})
    assert main(["kustomize", "--load-restrictor", "LoadRestrictionsNone", str(root / "app")]) == 0
    assert "name: c" in capsys.readouterr().out
    assert main(["kustomize", str(root / "remote")]) == 2
    assert "remote loader" in capsys.readouterr().err


def test_fifo_as_a_resource_is_refused_not_read(tree: Tree, capsys: pytest.CaptureFixture[str]) -> None:
    root = tree({"kustomization.yaml": "resources:\n- pipe.yaml\n"})
    os.mkfifo(root / "pipe.yaml")
    assert main(["kustomize", str(root)]) == 2
    err = capsys.readouterr().err
    assert "pipe.yaml" in err and "not a regular file" in err


def test_fifo_as_the_kustomization_is_refused(tree: Tree, capsys: pytest.CaptureFixture[str]) -> None:
    root = tree({"app/readme.txt": "x"})
    os.mkfifo(root / "app/kustomization.yaml")
    assert main(["kustomize", str(root / "app")]) == 2
    assert "not a regular file" in capsys.readouterr().err


def test_device_behind_a_symlink_is_refused_not_read(tree: Tree, capsys: pytest.CaptureFixture[str]) -> None:
    root = tree({"kustomization.yaml": "resources:\n- zero.yaml\n"})
    os.symlink("/dev/zero", root / "zero.yaml")
    assert main(["kustomize", "--load-restrictor", "LoadRestrictionsNone", str(root)]) == 2
    err = capsys.readouterr().err
    assert "zero.yaml" in err and "not a regular file" in err


def test_relative_directory_is_the_callers(tree: Tree, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    root = tree({"app/kustomization.yaml": "resources:\n- cm.yaml\n",
                 "app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: here\n"})
    monkeypatch.chdir(root / "app")
    assert main(["kustomize"]) == 0
    assert "name: here" in capsys.readouterr().out
    monkeypatch.chdir(root)
    assert main(["kustomize", "app"]) == 0
    assert "name: here" in capsys.readouterr().out


TWO = {"kustomization.yaml": "resources: [cms.yaml]\n",
       "cms.yaml": ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n"
                    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n")}


def test_budget_flags_set_the_builds_budget(tree: Tree, capsys: pytest.CaptureFixture[str]) -> None:
    root = tree(TWO)
    assert main(["kustomize", "--max-objects", "1", str(root)]) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err.count("\n") == 1
    assert "render exceeded its object budget (1 object)" in out.err
    assert main(["kustomize", "--max-objects", "2", "--cpu-seconds", "30", "--memory", "256Mi",
                 "--max-output", "64Ki", "--max-yaml-nodes", "1000", str(root)]) == 0
    assert "name: a" in capsys.readouterr().out
    assert main(["kustomize", "--max-output", "1024", str(root)]) == 0  # plain bytes, as in the config


def test_the_output_budget_flag_takes_a_size(tree: Tree, capsys: pytest.CaptureFixture[str]) -> None:
    root = tree({**TWO, "cms.yaml": TWO["cms.yaml"].replace("{name: b}", "{name: b}\ndata: {v: '"
                                                                         + "x" * 2000 + "'}")})
    assert main(["kustomize", "--max-output", "1Ki", str(root)]) == 2
    assert "output budget (1024 bytes)" in capsys.readouterr().err


@pytest.mark.parametrize(("flag", "value", "accepted"), [
    ("--max-objects", "0", "an integer from 1 to 1000000"),
    ("--max-objects", "many", "an integer from 1 to 1000000"),
    ("--cpu-seconds", "3601", "an integer from 1 to 3600"),
    ("--memory", "2GB", "from 16Mi to 64Gi, in bytes or with Ki, Mi or Gi"),
    ("--memory", "1Mi", "from 16Mi to 64Gi"),
    ("--max-output", "5Gi", "from 1Ki to 4Gi"),
    ("--max-yaml-nodes", "1.5", "an integer from 1000 to 100000000"),
])
def test_a_bad_budget_flag_is_refused_before_building(tree: Tree, capsys: pytest.CaptureFixture[str],
                                                      flag: str, value: str, accepted: str) -> None:
    root = tree({"kustomization.yaml": "resources: [missing.yaml]\n"})  # never read: refused first
    assert main(["kustomize", flag, value, str(root)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {flag} {value}: must be {accepted}") and err.count("\n") == 1
