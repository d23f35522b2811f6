"""docs/hooks.md holds: every YAML example is split into hooks without error (and runs on the fake
cluster), every ``gitops`` command line parses with the real CLI parser, every annotation the page
names is one the engine reads."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from gitops import keys
from gitops.cli import build_parser
from gitops.hooks import Phase, split
from renderers import yamlio

DOC = Path(__file__).resolve().parents[3] / "docs" / "hooks.md"
TEXT = DOC.read_text()


def fences(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced block."""
    out, language, body = [], None, []
    for line in text.splitlines():
        if line.startswith("```"):
            if language is None:
                language, body = line[3:].strip(), []
            else:
                out.append((language, "\n".join(body)))
                language = None
        elif language is not None:
            body.append(line)
    return out


YAML = [body for language, body in fences(TEXT) if language == "yaml"]
COMMANDS = [line.split("#")[0].strip() for language, body in fences(TEXT) if not language
            for line in body.splitlines() if line.startswith("gitops ")]


def test_the_page_has_examples() -> None:
    assert len(YAML) >= 3 and len(COMMANDS) >= 3


@pytest.mark.parametrize("block", YAML)
def test_every_yaml_example_is_a_valid_hook(block: str) -> None:
    documents = yamlio.load_all(block, "docs/hooks.md")
    out = split(documents, source="docs/hooks.md")
    assert out.regular == [] and len(out.hooks) == len(documents)
    assert all(h.phases <= set(Phase) for h in out.hooks)


@pytest.mark.parametrize("line", COMMANDS)
def test_every_command_line_parses(line: str) -> None:
    args = build_parser().parse_args(shlex.split(line)[1:])
    assert args.command == "delete" and callable(args.func)


def test_every_annotation_named_is_read() -> None:
    named = set(re.findall(r"`((?:gitops\.dev|argocd\.argoproj\.io|helm\.sh)/[a-z-]+)", TEXT))
    known = {v for k, v in vars(keys).items() if k.isupper() and isinstance(v, str)}
    assert named and named <= known, named - known
