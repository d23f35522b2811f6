"""docs/migrating-from-argocd.md is true: the worked example's output and report are what
``gitops import argocd`` prints for its input, and every example of our kinds on the page validates."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gitops.cli import main
from gitops.config import load_config
from renderers import yamlio

PAGE = Path(__file__).resolve().parents[3] / "docs" / "migrating-from-argocd.md"
BASE = {("Repository", "platform"): "kind: Repository\nmetadata: {name: platform}\n"
                                    "spec: {url: 'https://github.com/example/platform.git'}\n",
        ("Cluster", "in-cluster"): "kind: Cluster\nmetadata: {name: in-cluster}\n"
                                   "spec: {server: 'https://kubernetes.default.svc'}\n"}


def block(marker: str) -> str:
    text = PAGE.read_text()
    match = re.search(rf"<!-- {marker} -->\n```[a-z]*\n(.*?)^```$", text, re.S | re.M)
    assert match, f"no block after <!-- {marker} --> in {PAGE.name}"
    return match.group(1)


def our_blocks() -> list[str]:
    found = re.findall(r"^( *)```yaml\n(.*?)^\1```$", PAGE.read_text(), re.S | re.M)
    texts = ["\n".join(line[len(indent):] for line in body.splitlines()) + "\n" for indent, body in found]
    return [t for t in texts if "apiVersion: gitops.dev/v1alpha1" in t]


def test_the_worked_example_is_what_the_converter_prints(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "argocd.yaml"
    source.write_text(block("argocd-input"))
    assert main(["import", "argocd", str(source)]) == 1  # the page says: exits 1
    captured = capsys.readouterr()
    assert captured.out == block("argocd-output")
    assert captured.err == block("argocd-report")
    assert "not-a-real-password" not in captured.out + captured.err


@pytest.mark.parametrize("index", range(len(our_blocks())))
def test_every_example_of_our_kinds_validates(index: int, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    text = our_blocks()[index]
    declared = {(d["kind"], d["metadata"]["name"]) for d in yamlio.load_all(text)}
    base = "".join(f"---\napiVersion: gitops.dev/v1alpha1\n{doc}" for key, doc in BASE.items()
                   if key not in declared)
    (tmp_path / "example.yaml").write_text(text + base)
    load_config(tmp_path / "example.yaml")  # raises ConfigError naming every problem
    assert main(["validate", "-c", str(tmp_path / "example.yaml")]) == 0, capsys.readouterr().out


def test_the_page_has_examples_of_our_kinds() -> None:
    kinds = {d["kind"] for text in our_blocks() for d in yamlio.load_all(text)}
    assert kinds >= {"Repository", "Cluster", "Application", "ApplicationSet", "SyncWindow", "Notification"}
