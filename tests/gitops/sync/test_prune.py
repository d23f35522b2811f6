"""The prune verb on its own (gitops/prune): plan, write ahead, execute, preview."""

from __future__ import annotations

from typing import Any

import pytest

from gitops import plan as diff
from gitops import prune
from gitops.apply import ApplyOptions, apply_plan
from gitops.errors import ClusterUnavailable, PruneRefused
from gitops.render.manifests import prepare
from gitops.testing import FakeCluster
from gitops.vocabulary import Action, Target

TARGET = Target("app", "c1")


def cm(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"v": "1"}}


def planned(cluster: FakeCluster, names: list[str]) -> diff.Plan:
    desired = prepare([cm(n) for n in names], cluster, TARGET, "demo")
    return diff.plan(cluster, desired, diff.DiffOptions(application=TARGET.application))


def inventory(cluster: FakeCluster) -> list[str]:
    return sorted(r.name for r in prune.read_inventory(cluster, TARGET) or [])


def deployed(names: list[str]) -> FakeCluster:
    """A cluster where ``names`` were synced and recorded in the inventory."""
    cluster = FakeCluster("c1")
    the_plan = planned(cluster, names)
    pp = prune.plan(cluster, TARGET, the_plan, prune.PruneOptions(), enabled=True, namespace="demo")
    assert prune.write_ahead(cluster, pp, "gitops") is None
    apply_plan(cluster, the_plan, ApplyOptions())
    return cluster


def test_plan_reads_the_inventory_and_finds_candidates_without_writing() -> None:
    cluster = deployed(["a", "b", "c"])
    cluster.calls.clear()
    pp = prune.plan(cluster, TARGET, planned(cluster, ["a", "b"]), prune.PruneOptions(), enabled=True)
    assert [r.name for r in pp.recorded or []] == ["a", "b", "c"] and [r.name for r in pp.doomed] == ["c"]
    assert [r.name for r in pp.intended] == ["a", "b", "c"] and cluster.writes() == 0


def test_the_guard_refuses_mass_deletes_only_when_pruning() -> None:
    cluster = deployed(["a", "b", "c"])
    the_plan = planned(cluster, ["a"])
    with pytest.raises(PruneRefused, match="prune_max_share"):
        prune.plan(cluster, TARGET, the_plan, prune.PruneOptions(), enabled=True)
    assert prune.plan(cluster, TARGET, the_plan, prune.PruneOptions(), enabled=False).doomed
    allowed = prune.PruneOptions(allow_mass_delete=True)
    assert len(prune.plan(cluster, TARGET, the_plan, allowed, enabled=True).doomed) == 2


def test_write_ahead_records_old_plus_desired_once() -> None:
    cluster = deployed(["a"])
    pp = prune.plan(cluster, TARGET, planned(cluster, ["b"]), prune.PruneOptions(max_share=1.0), enabled=True)
    assert prune.write_ahead(cluster, pp, "gitops") is None and inventory(cluster) == ["a", "b"]
    again = prune.plan(cluster, TARGET, planned(cluster, ["a", "b"]), prune.PruneOptions(), enabled=True)
    cluster.calls.clear()
    assert prune.write_ahead(cluster, again, "gitops") is None and cluster.writes() == 0
    fresh = prune.plan(cluster, TARGET, planned(cluster, ["c"]), prune.PruneOptions(max_share=1.0),
                       enabled=True)
    cluster.faults.append(ClusterUnavailable("down", retry_after=2.0))
    failed = prune.write_ahead(cluster, fresh, "gitops")  # returned, not raised: the caller writes nothing
    assert isinstance(failed, ClusterUnavailable) and failed.retry_after == 2.0
    assert inventory(cluster) == ["a", "b"]


def test_execute_deletes_and_shrinks_or_reports_skipped() -> None:
    cluster = deployed(["a", "b"])
    pp = prune.plan(cluster, TARGET, planned(cluster, ["a"]), prune.PruneOptions(), enabled=True)
    unfinished = prune.execute(cluster, pp, complete=False, field_manager="gitops")
    assert [(r.ref.name, r.action, r.message) for r in unfinished.results] == [
        ("b", Action.SKIPPED, "not pruned: the sync did not finish")]
    disabled = prune.execute(cluster, prune.PrunePlan(pp.target, pp.recorded, pp.inventory, pp.desired,
                                                      pp.doomed, pp.options, enabled=False),
                             complete=True, field_manager="gitops")
    assert [r.message for r in disabled.results] == ["requires pruning (prune disabled)"]
    done = prune.execute(cluster, pp, complete=True, field_manager="gitops")
    assert [(r.ref.name, r.action) for r in done.results] == [("b", Action.DELETED)] and done.failure is None
    assert ("", "ConfigMap", "demo", "b") not in cluster.objects and inventory(cluster) == ["a"]


def test_a_failed_shrink_is_returned_and_the_inventory_still_names_everything() -> None:
    cluster = deployed(["a", "b"])
    pp = prune.plan(cluster, TARGET, planned(cluster, ["a"]), prune.PruneOptions(), enabled=True)
    original = cluster.apply

    def refuse_inventory(obj: dict[str, Any], **kw: Any) -> dict[str, Any]:
        if obj["kind"] == "Namespace":
            raise ClusterUnavailable("503", retry_after=5.0)
        return original(obj, **kw)

    cluster.apply = refuse_inventory  # type: ignore[method-assign]
    done = prune.execute(cluster, pp, complete=True, field_manager="gitops")
    assert done.failure is not None and done.failure.temporary and done.failure.retry_after == 5.0
    assert inventory(cluster) == ["a", "b"]


def test_preview_checks_ownership_on_a_dry_run_and_writes_nothing() -> None:
    cluster = deployed(["a", "b", "c"])
    cluster.objects[("", "ConfigMap", "demo", "c")]["metadata"]["annotations"][
        "gitops.dev/owned-by"] = "other@c1"
    dry = prune.PruneOptions(max_share=1.0, dry_run=True)
    cluster.calls.clear()
    pp = prune.plan(cluster, TARGET, planned(cluster, ["a"]), dry, enabled=True)
    got = {r.ref.name: (r.action, r.message) for r in prune.preview(cluster, pp)}
    assert got["b"] == (Action.DELETED, "would delete (dry run)") and got["c"][0] is Action.SKIPPED
    assert cluster.writes() == 0
    compare = prune.plan(cluster, TARGET, planned(cluster, ["a"]), prune.PruneOptions(max_share=1.0),
                         enabled=True)
    assert {r.message for r in prune.preview(cluster, compare)} == {"requires pruning"}
