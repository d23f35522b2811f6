#!/usr/bin/env python3
"""Generate docs/reference/cli.md from the ``gitops`` command's own parser, so it cannot drift.

Walks ``gitops.cli.build_parser()`` (the core's commands and those the workers, the web layer and the
sandbox contribute through the ``gitops.commands`` entry points) and writes, per command and
subcommand, its help line, its usage and its arguments as argparse prints them, at a fixed width so
the page is the same on every machine. Checked by tests/test_cli_reference.py, which regenerates the
page in memory.

Run: scripts/gen-cli-reference (writes the page) or scripts/gen-cli-reference --check.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "reference" / "cli.md"
WIDTH = "100"  # argparse wraps at $COLUMNS

HEADER = """\
# Command-line reference

Generated from the `gitops` command's own parser by `scripts/gen-cli-reference`; do not edit by hand
(`tests/test_cli_reference.py` fails when this page and the parser disagree). The commands are
described with examples in the pages of docs/ (README.md lists them); exit codes: 0 ok, 1 "found
something" (drift, changes, a lossy import), 2 error.
"""


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(name, help, parser) of each subcommand of ``parser``, in the order they were added."""
    found: list[tuple[str, str, argparse.ArgumentParser]] = []
    for action in parser._actions:  # argparse keeps no public list of subparsers
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            seen: set[int] = set()
            for name, sub in action.choices.items():
                if id(sub) in seen:  # an alias
                    continue
                seen.add(id(sub))
                found.append((name, helps.get(name, ""), sub))
    return found


def _section(path: list[str], help_text: str, parser: argparse.ArgumentParser, depth: int) -> list[str]:
    lines = [f"{'#' * min(depth, 4)} `{' '.join(path)}`", ""]
    if help_text:
        lines += [help_text[0].upper() + help_text[1:] + ("" if help_text.endswith(".") else "."), ""]
    lines += ["```", parser.format_help().rstrip(), "```", ""]
    for name, sub_help, sub in _subcommands(parser):
        lines += _section([*path, name], sub_help, sub, depth + 1)
    return lines


def generate() -> str:
    os.environ["COLUMNS"] = WIDTH
    from gitops.cli import build_parser  # after COLUMNS: argparse reads it when formatting

    parser = build_parser()
    parser.prog = "gitops"
    lines = [HEADER]
    for name, help_text, sub in sorted(_subcommands(parser), key=lambda s: s[0]):
        sub.prog = f"gitops {name}"
        _rename(sub, sub.prog)
        lines += _section(["gitops", name], help_text, sub, 2)
    return "\n".join(lines).rstrip() + "\n"


def _rename(parser: argparse.ArgumentParser, prog: str) -> None:
    """Name nested parsers after the command path, not after the program that imported them."""
    for name, _, sub in _subcommands(parser):
        sub.prog = f"{prog} {name}"
        _rename(sub, sub.prog)


def main(argv: list[str]) -> int:
    text = generate()
    if "--check" in argv:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT.relative_to(ROOT)} is out of date: run scripts/gen-cli-reference", file=sys.stderr)
            return 1
        return 0
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
