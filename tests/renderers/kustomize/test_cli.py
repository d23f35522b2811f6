"""``gitops kustomize``: output bytes, exit codes, no tracebacks."""

from __future__ import annotations

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
