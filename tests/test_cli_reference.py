"""docs/reference/cli.md is what scripts/gen-cli-reference makes of the `gitops` command's parser today:
a command, option or help text changed without regenerating the page fails here."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "gen_cli_reference.py"


def test_the_cli_reference_is_up_to_date(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    spec = importlib.util.spec_from_file_location("gen_cli_reference", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    page = (ROOT / "docs" / "reference" / "cli.md").read_text()
    assert module.generate() == page, "docs/reference/cli.md is out of date: run scripts/gen-cli-reference"


def test_every_command_has_a_section() -> None:
    from gitops.cli import build_parser

    page = (ROOT / "docs" / "reference" / "cli.md").read_text()
    parser = build_parser()
    names = next(a.choices for a in parser._actions if hasattr(a, "choices") and isinstance(a.choices, dict))
    assert names, "no subcommands found"
    missing = [n for n in names if f"## `gitops {n}`" not in page]
    assert missing == []
