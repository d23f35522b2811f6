"""docs/helm-chart.md holds: each configuration example (``gitops.dev`` documents) loads with the real
loader as it stands (every example there is complete), each values example (a ```yaml block starting
with ``# values.yaml``) passes the chart's values.schema.json and renders, and the values table names
every top-level value of values.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops.config import load_config
from tests.charts.chartkit import CHART, render
from tests.docs.markdown import ROOT, Block, parse

pytest.importorskip("helm_python", reason="the helm extra is not installed")

PAGE = ROOT / "docs" / "helm-chart.md"
BLOCKS: list[Block] = [b for b in parse(PAGE)[0] if b.info == "yaml"]


def _values_blocks() -> list[Block]:
    return [b for b in BLOCKS if b.text.lstrip().startswith("# values.yaml")]


def _config_blocks() -> list[Block]:
    return [b for b in BLOCKS if "apiVersion: gitops.dev/" in b.text and b not in _values_blocks()]


def test_page_has_examples_of_both_kinds() -> None:
    assert len(_values_blocks()) >= 4 and len(_config_blocks()) >= 3


@pytest.mark.parametrize("block", _config_blocks(), ids=lambda b: b.where)
def test_config_examples_load(block: Block, tmp_path: Path) -> None:
    path = tmp_path / "example.yaml"
    path.write_text(block.text)
    load_config(path)


@pytest.mark.parametrize("block", _values_blocks(), ids=lambda b: b.where)
def test_values_examples_render(block: Block, tmp_path: Path) -> None:
    values: dict[str, Any] = yaml.safe_load(block.text)
    objects = render(values)
    assert any(o["kind"] == "Deployment" for o in objects)
    # configuration files inside the values are configurations too
    for name, text in (values.get("config") or {}).get("files", {}).items():
        (tmp_path / name).write_text(text)
    if (values.get("config") or {}).get("files"):
        load_config(tmp_path)


def test_values_table_covers_every_value() -> None:
    text = PAGE.read_text()
    for key in yaml.safe_load((CHART / "values.yaml").read_text()):
        assert f"`{key}" in text, key
