"""A fleet plan as text, JSON or Markdown (pure functions of a :class:`FleetPlan`).

Called by ``gitops plan``. Key design choice for Markdown, which is meant to be pasted into a pull-request
comment written from repository content that may be hostile: every name, reason and value outside a code
block is reduced to letters, digits and ``.,-`` plus HTML numeric character references for everything
else (so no markup, HTML tag, table pipe, mention or link can be formed from it), control characters are
dropped everywhere, each diff sits in a code fence longer than any run of backticks it contains (it
cannot be closed from inside), and the whole comment is capped at :data:`MARKDOWN_LIMIT` characters,
saying how many rows and diffs were left out. Text output drops control characters too (no terminal
escape sequences from a repository).
"""

from __future__ import annotations

import json
import re
from typing import Any

from gitops.fleetplan.model import FleetPlan, PairPlan, Status

MARKDOWN_LIMIT = 60_000
_RESERVE = 1_500           # kept free for the closing notes
_CELL = 120                # characters of one table cell (before escaping)
_PAIR_DIFF = 12_000        # characters of one pair's diff in the comment
_NAMED = 10                # pairs named in the title of a block of identical changes
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_SAFE = re.compile(r"[A-Za-z0-9 .,\-]")
_SIGN = {Status.ADDED: "+", Status.REMOVED: "-", Status.CHANGED: "~", Status.ERROR: "!",
         Status.UNCHANGED: "="}
_OBJECT_SIGN = {"added": "+", "removed": "-", "changed": "~", "error": "!"}


def summary_line(plan: FleetPlan) -> str:
    s = plan.summary
    return (f"{s['add']} to add, {s['change']} to change, {s['remove']} to remove, {s['error']} errors, "
            f"{s['unchanged']} unchanged")


def _plain(value: object) -> str:
    return _CONTROL.sub("?", str(value))


def _value(value: Any) -> str:
    return "<none>" if value is None else _plain(json.dumps(value, default=str))


def _mode(pair: PairPlan) -> str:
    return f"{pair.mode}: {pair.reason}" if pair.reason else str(pair.mode)


# -- text -------------------------------------------------------------------------------------------
def text(plan: FleetPlan) -> str:
    """A header, the summary line, then every pair that is not unchanged with its objects and fields."""
    lines = [f"plan of repository {_plain(plan.repository)}: BASE {_plain(plan.base.label)} -> NEW "
             f"{_plain(plan.new.label)}", summary_line(plan)]
    for pair in plan.pairs:
        if pair.status is Status.UNCHANGED:
            continue
        lines.append("")
        lines.append(f"{_SIGN[pair.status]} {_plain(pair.application)} on {_plain(pair.cluster)}: "
                     f"{pair.status} ({_plain(pair.origin)}; {_plain(_mode(pair))})")
        if pair.error:
            lines.append(f"    error: {_plain(pair.error)}")
        for obj in pair.objects:
            note = f" ({_plain(obj.message)})" if obj.message else ""
            lines.append(f"    {_OBJECT_SIGN.get(obj.change, '?')} {_plain(obj.object)}{note}")
            for change in obj.fields:
                lines.append(f"        {_plain(change.path)}: {_value(change.old)} -> {_value(change.new)}")
    for problem in plan.problems:
        lines.append(f"problem: {_plain(problem)}")
    for note in plan.notes:
        lines.append(f"note: {_plain(note)}")
    return "\n".join(lines) + "\n"


def to_json(plan: FleetPlan) -> str:
    """The ``gitops.dev/plan/v1`` document (docs/plan.md), keys sorted."""
    return json.dumps(plan.to_dict(), indent=2, sort_keys=True, default=str) + "\n"


# -- markdown ---------------------------------------------------------------------------------------
def md_escape(value: object, limit: int = _CELL) -> str:
    """``value`` as inert Markdown and HTML: letters, digits and ``.,-`` and spaces as they are, every
    other character as a numeric character reference, control characters dropped, cut at ``limit``."""
    raw = _CONTROL.sub("", str(value)).replace("\n", " ")
    if len(raw) > limit:
        raw = raw[:limit] + "..."
    return "".join(c if _SAFE.fullmatch(c) else f"&#{ord(c)};" for c in raw)


def fenced(body: str, info: str = "diff") -> str:
    """``body`` in a code fence no line of it can close (longer than its longest run of backticks)."""
    body = _CONTROL.sub("", body.replace("\r", ""))
    runs = [len(r) for r in re.findall(r"`+", body)]
    fence = "`" * max(3, max(runs, default=0) + 1)
    if not body.endswith("\n"):
        body += "\n"
    return f"{fence}{info}\n{body}{fence}\n"


def _objects_cell(pair: PairPlan) -> str:
    if pair.error:
        return "render failed"
    counts: dict[str, int] = {}
    for obj in pair.objects:
        counts[obj.change] = counts.get(obj.change, 0) + 1
    return ", ".join(f"{n} {c}" for c, n in sorted(counts.items())) or "-"


def _body(pair: PairPlan) -> str:
    body = pair.diff
    if pair.error:
        body = f"error: {pair.error}\n"
    elif not body:
        body = "".join(f"{_OBJECT_SIGN.get(o.change, '?')} {o.object}\n" for o in pair.objects)
        body = body or "(no diff)\n"
    if len(body) > _PAIR_DIFF:
        head = body[:_PAIR_DIFF].rsplit("\n", 1)[0]
        body = f"{head}\n... ({len(body) - len(head)} more characters of this diff cut)\n"
    return body


def _details(group: list[PairPlan], body: str) -> str:
    """One ``<details>`` block for pairs whose change reads the same (a base shared by many clusters)."""
    first = group[0]
    names = ", ".join(f"{md_escape(p.application)} on {md_escape(p.cluster)}" for p in group[:_NAMED])
    more = f" and {len(group) - _NAMED} more pairs" if len(group) > _NAMED else ""
    title = f"{names}{more}: {first.status} ({md_escape(_mode(first))})"
    return f"<details><summary>{title}</summary>\n\n{fenced(body)}\n</details>\n\n"


def _grouped(pairs: list[PairPlan]) -> list[tuple[list[PairPlan], str]]:
    groups: dict[tuple[str, str, str], tuple[list[PairPlan], str]] = {}
    for pair in pairs:
        body = _body(pair)
        groups.setdefault((str(pair.status), _mode(pair), body), ([], body))[0].append(pair)
    return list(groups.values())


def markdown(plan: FleetPlan, limit: int = MARKDOWN_LIMIT) -> str:
    """A pull-request comment: a heading, the summary, a table of the pairs that change, then one
    ``<details>`` block per distinct change with its diff (pairs whose status, mode and diff are the
    same, e.g. one base on many clusters, share a block that names them); at most ``limit`` characters
    (what is cut is said)."""
    parts = [f"### gitops plan: {md_escape(plan.repository)}\n\n",
             f"BASE {md_escape(plan.base.label)} &#8594; NEW {md_escape(plan.new.label)}\n\n",
             f"**{summary_line(plan)}**\n\n"]
    size = sum(len(p) for p in parts)
    shown = [p for p in plan.pairs if p.status is not Status.UNCHANGED]
    rows_cut = diffs_cut = 0
    if shown:
        header = "| | Application | Cluster | Change | Mode | Objects |\n|---|---|---|---|---|---|\n"
        parts.append(header)
        size += len(header)
        for pair in shown:
            row = (f"| {_SIGN[pair.status]} | {md_escape(pair.application)} | {md_escape(pair.cluster)} | "
                   f"{pair.status} | {md_escape(_mode(pair))} | {md_escape(_objects_cell(pair))} |\n")
            if size + len(row) > limit // 2:
                rows_cut += 1
                continue
            parts.append(row)
            size += len(row)
        parts.append("\n")
        for group, body in _grouped(shown):
            block = _details(group, body)
            if size + len(block) > limit - _RESERVE:
                diffs_cut += 1
                continue
            parts.append(block)
            size += len(block)
    closing = []
    if plan.problems:
        first = md_escape(plan.problems[0], 300)
        closing.append(f"**{len(plan.problems)} problem(s)**, the first: {first}\n")
    if rows_cut or diffs_cut:
        closing.append(f"_Cut to stay under {limit} characters: {rows_cut} table row(s) and {diffs_cut} "
                       "diff(s) left out; `gitops plan -o text` or `-o json` prints the whole plan._\n")
    out = "".join(parts) + ("\n" + "\n".join(closing) if closing else "")
    return out[:limit]
