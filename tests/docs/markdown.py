"""The code examples of the project's Markdown pages (docs/**/*.md and README.md), for the docs checks.

Called by tests/docs/test_docs_examples.py. A *block* is a fenced code block (its info string, its text
with the fence's indentation removed, the line of its first content line) or an indented code block (four
spaces, after a blank line, outside a list); a *marker* is an HTML comment on the nearest non-blank line
before the fence (``<!-- invalid-example -->``: a configuration example that must fail to load;
``<!-- not-a-command -->``: CLI-looking lines that are not meant to parse). Inline code spans are
returned with the line they sit on, and a marker right after the span applies to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INVALID = "<!-- invalid-example -->"
NOT_A_COMMAND = "<!-- not-a-command -->"
_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)[^`]*$")
_SPAN = re.compile(r"(?<!`)`([^`\n]+)`(?!`)(\s*<!-- not-a-command -->)?")


@dataclass(frozen=True)
class Block:
    page: str  # relative to the project root
    line: int  # 1-based line of the block's first content line
    info: str  # the fence's language ("" for none or an indented block)
    text: str
    marker: str  # INVALID, NOT_A_COMMAND or ""

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


@dataclass(frozen=True)
class Span:
    page: str
    line: int
    text: str
    marked: bool


def pages() -> list[Path]:
    """README.md and every page under docs/, in a stable order."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _marker(lines: list[str], index: int) -> str:
    """The marker on the nearest non-blank line before ``lines[index]``."""
    for before in reversed(lines[:index]):
        if before.strip():
            text = before.strip()
            return text if text in (INVALID, NOT_A_COMMAND) else ""
    return ""


def parse(path: Path) -> tuple[list[Block], list[Span]]:
    page = str(path.relative_to(ROOT))
    lines = path.read_text().splitlines()
    blocks: list[Block] = []
    spans: list[Span] = []
    i = 0
    in_list = False
    while i < len(lines):
        line = lines[i]
        match = _FENCE.match(line)
        if match:
            indent, fence, info = len(match["indent"]), match["fence"], match["info"].lower()
            body: list[str] = []
            j = i + 1
            while j < len(lines) and not (lines[j].strip().startswith(fence[0] * len(fence))
                                          and not lines[j].strip().strip(fence[0])):
                body.append(lines[j][indent:] if not lines[j][:indent].strip() else lines[j].lstrip())
                j += 1
            blocks.append(Block(page, i + 2, info, "\n".join(body) + "\n", _marker(lines, i)))
            i = j + 1
            continue
        stripped = line.strip()
        if re.match(r"^(\s*)([-*+]|\d+[.)])\s", line):
            in_list = True
        elif not stripped:
            pass
        elif not line.startswith(" "):
            in_list = False
        if (line.startswith("    ") and not in_list and stripped and i > 0 and not lines[i - 1].strip()):
            body = []
            j = i
            while j < len(lines) and (lines[j].startswith("    ") or not lines[j].strip()):
                body.append(lines[j][4:])
                j += 1
            blocks.append(Block(page, i + 1, "", "\n".join(body).rstrip("\n") + "\n", _marker(lines, i)))
            i = j
            continue
        for span in _SPAN.finditer(line):
            spans.append(Span(page, i + 1, span[1], bool(span[2])))
        i += 1
    return blocks, spans
