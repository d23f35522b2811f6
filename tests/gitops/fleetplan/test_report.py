"""The plan's Markdown stays inert and bounded whatever the repository holds; text and JSON shapes."""

from __future__ import annotations

import json
import re

from gitops.fleetplan import FieldChange, FleetPlan, Mode, ObjectChange, PairPlan, Side, Status
from gitops.fleetplan.report import MARKDOWN_LIMIT, fenced, markdown, md_escape, text, to_json
from tests.gitops.fleetplan.conftest import Fleet, _git, overlay, pairs

HOSTILE = ("```\n</details><script>alert(1)</script>\n| a | b |\n"
           "@everyone [x](javascript:alert(1)) <img src=x>")
_ALLOWED_TAGS = {"<details>", "</details>", "</summary>"}
_FENCE = re.compile(r"^(`{3,})(\w*)$")


def assert_inert(md: str) -> None:
    """Outside code fences: no HTML but the details/summary scaffolding, table rows of exactly six cells,
    no mention; every fence closes with its own length."""
    fence: str | None = None
    for line in md.splitlines():
        if fence is not None:
            if line == fence:
                fence = None
            else:
                assert not line.startswith(fence), line
            continue
        opened = _FENCE.match(line)
        if opened:
            fence = opened.group(1)
            continue
        for tag in re.findall(r"<[^>]*>?", line):
            assert tag in _ALLOWED_TAGS or tag == "<summary>", (tag, line)
        assert "@" not in line and "](" not in line and "`" not in line.replace("`gitops plan -o text`", "")\
            .replace("`-o json`", ""), line
        if line.startswith("|"):
            assert line.count("|") == 7, line
    assert fence is None, "a code fence was left open"


def test_md_escape_and_fences() -> None:
    escaped = md_escape("a|b<script>`x`@me\n*y*_z_ ok-1.2")
    assert escaped == ("a&#124;b&#60;script&#62;&#96;x&#96;&#64;me &#42;y&#42;&#95;z&#95; ok-1.2")
    assert md_escape("x" * 500).endswith("...") and len(md_escape("x" * 500)) == 123
    body = "line\n````\nmore ``` here\n\x1b[31mred\n"
    block = fenced(body)
    assert block.startswith("`````diff\n") and block.endswith("\n`````\n") and "\x1b" not in block


def _pair(i: int, diff: str, status: Status = Status.CHANGED) -> PairPlan:
    return PairPlan(f"app-{i}", "prod", status, "Application", Mode.OFFLINE, "--offline",
                    (ObjectChange("ConfigMap/x/y", "changed", (FieldChange(".data.k", "a", "b"),)),), diff)


def test_markdown_is_capped_and_says_what_was_cut() -> None:
    plan = FleetPlan("infra", Side("a" * 40, "main"), Side("b" * 40, "feature"),
                     tuple(_pair(i, f"-old{i}\n+new{i}\n" * 600) for i in range(400)))
    md = markdown(plan)
    assert len(md) <= MARKDOWN_LIMIT
    assert "left out" in md and "400 to change" in md
    assert_inert(md)
    small = markdown(plan, limit=5_000)
    assert len(small) <= 5_000 and "table row(s)" in small
    assert_inert(small)


def test_identical_changes_share_one_block() -> None:
    plan = FleetPlan("infra", Side("a" * 40, "main"), Side("b" * 40, "feature"),
                     (*(_pair(i, "-old\n+new\n") for i in range(30)), _pair(99, "-x\n+y\n")))
    md = markdown(plan)
    assert md.count("<details>") == 2
    assert "app-0 on prod, app-1 on prod" in md and "app-9 on prod and 20 more pairs: changed" in md
    assert "app-99 on prod: changed" in md
    assert_inert(md)


def test_text_and_json_shapes() -> None:
    plan = FleetPlan("infra", Side("a" * 40, "main"), Side("b" * 40, "feature"),
                     (_pair(1, "d"), _pair(2, "", Status.UNCHANGED),
                      PairPlan("bad\x1b[2J", "dev", Status.ERROR, error="NEW: boom\x07")), ("problem one",))
    out = text(plan)
    assert "1 to add" not in out and "0 to add, 1 to change, 0 to remove, 2 errors, 1 unchanged" in out
    assert "\x1b" not in out and "\x07" not in out and "app-2" not in out
    doc = json.loads(to_json(plan))
    assert doc["summary"] == {"add": 0, "change": 1, "remove": 0, "error": 2, "unchanged": 1}
    assert set(doc["pairs"][0]) == {"application", "cluster", "status", "origin", "mode", "reason", "objects",
                                    "diff", "error"}
    assert plan.exit_code() == 1
    assert FleetPlan("r", plan.base, plan.new, (_pair(2, "", Status.UNCHANGED),)).exit_code() == 0


def test_hostile_repository_content_stays_inert_in_markdown(fleet: Fleet) -> None:
    _git(fleet.repo, "checkout", "-q", "-b", "feature")
    value = json.dumps(HOSTILE)
    fleet.commit({"apps/alpha/kustomization.yaml": overlay("5").replace('value: "5"', f"value: {value}"),
                  "apps/beta/kustomization.yaml": "resources: ['x`|<img src=x onerror=alert(1)>.yaml']\n"})
    code, out, _ = fleet.plan("--revision", "feature", "--offline", "-o", "markdown")
    assert code == 1
    assert "alert(1)" in out  # the values are shown ...
    assert_inert(out)          # ... but only inside fences or as character references
    code, doc = fleet.plan_json("--revision", "feature", "--offline")
    assert pairs(doc)["beta-dev@dev"]["status"] == "error"


def test_a_huge_diff_is_cut(fleet: Fleet) -> None:
    _git(fleet.repo, "checkout", "-q", "-b", "feature")
    data = "".join(f"  k{i}: {'v' * 1000}{i}\n" for i in range(90))  # long values are cut at 512 too
    big = f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: big}}\ndata:\n{data}"
    fleet.commit({"apps/alpha/big.yaml": big,
                  "apps/alpha/kustomization.yaml": overlay("2").replace("[../../bases/web]",
                                                                        "[../../bases/web, big.yaml]")})
    code, doc = fleet.plan_json("--revision", "feature", "--offline")
    alpha = pairs(doc)["alpha-dev@dev"]
    assert code == 1 and alpha["status"] == "changed"
    assert len(alpha["diff"]) < 21_000 and "more characters cut" in alpha["diff"]
    code, out, _ = fleet.plan("--revision", "feature", "--offline", "-o", "markdown")
    assert len(out) <= MARKDOWN_LIMIT and "more characters of this diff cut" in out
    assert_inert(out)
