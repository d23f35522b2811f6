"""``gitops plan`` end to end on real Git repositories: changed, added, removed and failed pairs, the
working-tree mode, the render cache, exit codes and the per-pair offline fallback."""

from __future__ import annotations

import os
from pathlib import Path

from tests.gitops.fleetplan.conftest import Fleet, _git, overlay, pairs


def branch(fleet: Fleet, name: str = "feature") -> None:
    _git(fleet.repo, "checkout", "-q", "-b", name)


def test_a_changed_overlay_changes_exactly_its_pairs_with_the_field_diff(fleet: Fleet) -> None:
    branch(fleet)
    fleet.commit({"apps/alpha/kustomization.yaml": overlay("5")})
    code, doc = fleet.plan_json("--revision", "feature", "--offline")
    assert code == 1
    by = pairs(doc)
    changed = {k for k, p in by.items() if p["status"] == "changed"}
    assert changed == {"alpha-dev@dev", "alpha-prod@prod"}
    assert {by[k]["status"] for k in by.keys() - changed} == {"unchanged"}
    (obj,) = by["alpha-dev@dev"]["objects"]
    assert obj == {"object": "ConfigMap/alpha/settings", "change": "changed", "message": "",
                   "fields": [{"path": ".data.size", "old": "2", "new": "5"}]}
    assert by["alpha-dev@dev"]["mode"] == "offline" and by["alpha-dev@dev"]["reason"] == "--offline"
    assert by["alpha-dev@dev"]["origin"] == "ApplicationSet apps"
    assert "-  size: '2'" in by["alpha-dev@dev"]["diff"] and "+  size: '5'" in by["alpha-dev@dev"]["diff"]
    assert doc["summary"] == {"add": 0, "change": 2, "remove": 0, "error": 0, "unchanged": 3}
    assert doc["schema"] == "gitops.dev/plan/v1" and doc["new"]["label"].startswith("feature (")
    # each kustomize overlay renders once per side for both clusters; the jinja one per cluster and side
    assert doc["renders"] == 2 * 2 + 2


def test_text_output_has_the_summary_line_and_each_pair(fleet: Fleet) -> None:
    branch(fleet)
    fleet.commit({"apps/alpha/kustomization.yaml": overlay("5")})
    code, out, _ = fleet.plan("--revision", "feature", "--offline")
    assert code == 1
    assert "0 to add, 2 to change, 0 to remove, 0 errors, 3 unchanged" in out
    assert "~ alpha-dev on dev: changed (ApplicationSet apps; offline: --offline)" in out
    assert '.data.size: "2" -> "5"' in out and "beta" not in out


def test_a_new_directory_is_an_added_pair_and_a_removed_one_a_removed_pair(fleet: Fleet) -> None:
    branch(fleet)
    fleet.commit({"apps/gamma/kustomization.yaml": overlay("9"), "apps/beta/kustomization.yaml": None})
    code, doc = fleet.plan_json("--revision", "feature", "--offline")
    by = pairs(doc)
    assert code == 1
    assert by["gamma-dev@dev"]["status"] == by["gamma-prod@prod"]["status"] == "added"
    assert {o["object"]: o["change"] for o in by["gamma-dev@dev"]["objects"]} == {
        "ConfigMap/gamma/settings": "added", "Secret/gamma/creds": "added"}
    assert by["beta-dev@dev"]["status"] == by["beta-prod@prod"]["status"] == "removed"
    assert doc["summary"]["add"] == 2 and doc["summary"]["remove"] == 2
    assert "hunter2" not in str(doc)  # Secret values masked in the listing and the diff


def test_worktree_mode_plans_the_uncommitted_change(fleet: Fleet) -> None:
    (fleet.repo / "apps" / "beta" / "kustomization.yaml").write_text(overlay("7"))
    code, doc = fleet.plan_json("--worktree", str(fleet.repo), "--offline")
    by = pairs(doc)
    assert code == 1
    assert by["beta-prod@prod"]["objects"][0]["fields"] == [{"path": ".data.size", "old": "3", "new": "7"}]
    assert doc["new"]["revision"].startswith("worktree:")
    assert doc["new"]["label"] == f"working tree {fleet.repo}"
    _git(fleet.repo, "checkout", "--", ".")
    code, doc = fleet.plan_json("--worktree", str(fleet.repo), "--offline")
    assert code == 0 and doc["summary"]["unchanged"] == 5


def test_worktree_symlinks_out_of_the_directory_are_left_out(fleet: Fleet, tmp_path: Path) -> None:
    secret = tmp_path / "outside.yaml"
    secret.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: stolen}\ndata: {k: outside-only}\n")
    os.symlink(secret, fleet.repo / "apps" / "alpha" / "stolen.yaml")
    os.symlink(fleet.repo / "bases" / "web" / "all.yaml", fleet.repo / "apps" / "alpha" / "inside.yaml")
    os.symlink("/", fleet.repo / "apps" / "alpha" / "root")
    (fleet.repo / "apps" / "alpha" / "kustomization.yaml").write_text(
        "resources: [stolen.yaml]\nnamespace: alpha\n")
    code, doc = fleet.plan_json("--worktree", str(fleet.repo), "--offline")
    by = pairs(doc)
    assert code == 1
    assert by["alpha-dev@dev"]["status"] == "error" and "stolen.yaml" in by["alpha-dev@dev"]["error"]
    assert "outside-only" not in str(doc)
    notes = " ".join(doc["notes"])
    assert "apps/alpha/stolen.yaml" in notes and "apps/alpha/root" in notes
    assert "inside.yaml" not in notes  # a link to a file inside the tree is copied as that file
    assert by["beta-dev@dev"]["status"] == "unchanged"  # the others are still planned


def test_a_path_out_of_the_repository_is_refused(fleet: Fleet, tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    outside = os.path.relpath(tmp_path / "outside", fleet.repo / "apps" / "beta")
    branch(fleet)
    fleet.commit({"apps/alpha/kustomization.yaml": overlay("5"),
                  "apps/beta/kustomization.yaml": f"resources: [{outside}]\n"})
    code, doc = fleet.plan_json("--revision", "feature", "--offline")
    by = pairs(doc)
    assert code == 1 and by["beta-dev@dev"]["status"] == "error"
    assert "outside" in by["beta-dev@dev"]["error"]
    assert by["alpha-dev@dev"]["status"] == "changed"
    text = fleet.config.read_text().replace("path: jinja, renderer: jinja", "path: ../../.., renderer: plain")
    fleet.config.write_text(text)  # a configured path out of the repository: the configuration is refused
    code, _, err = fleet.plan("--revision", "feature", "--offline")
    assert code == 2 and "must stay inside the repository" in err


def test_a_render_error_in_one_pair_does_not_stop_the_others(fleet: Fleet) -> None:
    branch(fleet)
    fleet.commit({"apps/alpha/kustomization.yaml": overlay("5"),
                  "apps/beta/kustomization.yaml": "resources: [missing.yaml]\n"})
    code, doc = fleet.plan_json("--revision", "feature", "--offline")
    by = pairs(doc)
    assert code == 1
    assert by["alpha-dev@dev"]["status"] == by["alpha-prod@prod"]["status"] == "changed"
    for key in ("beta-dev@dev", "beta-prod@prod"):
        assert by[key]["status"] == "error" and by[key]["error"].startswith("NEW: ")
        assert "missing.yaml" in by[key]["error"] and str(fleet.root / "cache") not in by[key]["error"]
    assert doc["summary"]["error"] == 2


def test_exit_codes(fleet: Fleet) -> None:
    code, out, _ = fleet.plan("--offline")
    assert code == 0 and "0 to add, 0 to change, 0 to remove, 0 errors, 5 unchanged" in out
    first = _git(fleet.repo, "rev-parse", "HEAD")
    shared = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {color: red, size: '1'}\n"
    fleet.commit({"bases/web/all.yaml": shared})  # a shared base: every kustomize pair changes
    code, out, _ = fleet.plan("--offline", "--base", first)  # NEW: the head of main
    assert code == 1 and "4 to change" in out and "~ Secret" not in out and "- Secret/alpha/creds" in out
    code, _, err = fleet.plan("--offline", "--revision", "no-such-branch")
    assert code == 2 and "no-such-branch" in err
    code, _, err = fleet.plan("--offline", "--repository", "nope")
    assert code == 2 and "no repository named 'nope'" in err and "infra" in err
    code, _, err = fleet.plan("--offline", "--worktree", str(fleet.root / "missing"))
    assert code == 2 and "not a directory" in err
    extra = ("---\napiVersion: gitops.dev/v1alpha1\nkind: Repository\nmetadata: {name: other}\n"
             f'spec: {{url: "file://{fleet.repo}", allowLocal: true}}\n')
    fleet.config.write_text(fleet.config.read_text() + extra)
    code, _, err = fleet.plan("--offline")
    assert code == 2 and "2 repositories are configured (infra, other)" in err and "--repository" in err
    assert fleet.plan("--offline", "--repository", "infra")[0] == 0


def test_a_generator_failing_as_a_whole_is_exit_2(fleet: Fleet) -> None:
    gone = ("---\napiVersion: gitops.dev/v1alpha1\nkind: Repository\nmetadata: {name: gone}\n"
            f'spec: {{url: "file://{fleet.root}/gone", allowLocal: true}}\n')
    fleet.config.write_text(fleet.config.read_text().replace("git: {repository: infra,",
                                                             "git: {repository: gone,") + gone)
    code, doc = fleet.plan_json("--offline", "--repository", "infra")
    assert code == 2 and not doc["complete"]
    assert any("gone" in p for p in doc["problems"])


def test_an_unreachable_cluster_falls_back_to_offline_per_pair(fleet: Fleet) -> None:
    branch(fleet)
    fleet.commit({"apps/alpha/kustomization.yaml": overlay("5")})
    code, doc = fleet.plan_json("--revision", "feature")
    by = pairs(doc)
    assert code == 1
    for key in ("alpha-dev@dev", "alpha-prod@prod"):
        assert by[key]["mode"] == "offline"
        assert by[key]["reason"] == "cluster unreachable (ClusterUnavailable)"
        assert by[key]["objects"][0]["fields"] == [{"path": ".data.size", "old": "2", "new": "5"}]


def test_an_element_error_fails_the_plan_only_when_the_change_brings_it(fleet: Fleet) -> None:
    files_set = ("---\napiVersion: gitops.dev/v1alpha1\nkind: ApplicationSet\nmetadata: {name: params}\n"
                 "spec:\n  generators:\n    - git: {repository: infra, files: [{path: \"params/*.json\"}]}\n"
                 "  template:\n    metadata: {name: \"p-{{ app }}\"}\n    spec:\n"
                 "      source: {repository: infra, path: \"apps/{{ app }}\", renderer: kustomize}\n"
                 "      destination: {cluster: dev, namespace: \"{{ app }}\"}\n")
    fleet.config.write_text(fleet.config.read_text() + files_set)
    fleet.commit({"params/alpha.json": '{"app": "alpha"}', "params/old.json": "{broken"})
    code, doc = fleet.plan_json("--offline")  # broken before the change too: a note, not a failure
    assert (code, doc["problems"]) == (0, [])
    assert any(n.startswith("already failing at BASE:") and "old.json" in n for n in doc["notes"])
    branch(fleet)
    fleet.commit({"params/new.json": "[not, an, object"})
    code, doc = fleet.plan_json("--revision", "feature", "--offline")
    assert code == 1 and len(doc["problems"]) == 1 and "new.json" in doc["problems"][0]
