"""docs/reference/configuration.md is generated from the configuration models
(scripts/gen_config_reference.py): regenerated in memory, it must equal the committed page, and it must
name every kind and every field the models accept, under the key YAML uses."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from gitops.config.loader import KINDS

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "reference" / "configuration.md"


def generator() -> ModuleType:
    path = ROOT / "scripts" / "gen_config_reference.py"
    spec = importlib.util.spec_from_file_location("gen_config_reference", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


def test_the_committed_reference_is_what_the_models_generate() -> None:
    text = generator().render()
    assert PAGE.is_file(), "docs/reference/configuration.md is missing: run scripts/gen-config-reference"
    assert PAGE.read_text() == text, (
        "docs/reference/configuration.md is out of date: run scripts/gen-config-reference")


def test_every_kind_and_spec_field_is_documented_under_its_yaml_key() -> None:
    gen = generator()
    text = gen.render()
    for kind, (spec, _public, _attr) in KINDS.items():
        assert f"\n## {kind}\n" in text
        section = text.split(f"\n## {kind}\n", 1)[1].split("\n## ", 1)[0]
        for name, field in spec.model_fields.items():
            assert f"| `{gen.yaml_key(name, field)}`" in section, (kind, name)
    # keys as YAML spells them, never the Python attribute
    assert "| `interval` |" in text and "interval_seconds" not in text
    assert "| `managedFieldsManagers` |" in text and "| `list` |" in text


def test_attribute_docstrings_are_read_through_the_class_hierarchy() -> None:
    from gitops.config.models import Repository
    from gitops.config.verification import VerificationPolicySpec

    gen = generator()
    assert "Kustomize remote bases" in gen.attribute_docstrings(Repository)["remote_base_hosts"]
    assert gen.attribute_docstrings(VerificationPolicySpec)["default_action"].startswith("What happens")


def test_descriptions_cannot_break_the_tables() -> None:
    gen = generator()
    assert gen._clean("a | b\n  ``c`` :class:`D`") == "a \\| b `c` `D`"
    for line in gen.render().splitlines():
        if line.startswith("| `"):
            assert len(re.split(r"(?<!\\)\|", line)) == 7, line


def test_the_check_mode_says_what_to_run(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    gen = generator()
    assert gen.main(["gen-config-reference", "--check"]) == 0
    stale = tmp_path / "docs" / "reference" / "configuration.md"
    stale.parent.mkdir(parents=True)
    stale.write_text(gen.render().replace("| `url` (required)", "| `uri` (required)"))
    monkeypatch.setattr(gen, "ROOT", tmp_path)
    monkeypatch.setattr(gen, "OUT", stale)
    assert gen.main(["gen-config-reference", "--check"]) == 1
    assert "run scripts/gen-config-reference" in capsys.readouterr().err
    assert gen.main(["gen-config-reference", "--bogus"]) == 2
    assert gen.main(["gen-config-reference"]) == 0 and stale.read_text() == gen.render()
