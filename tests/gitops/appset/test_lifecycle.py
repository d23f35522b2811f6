"""The lifecycle decision: the four policies, no deletion when an input failed, the empty-set guard, the
deletion breaker (share and count, approval of exactly the held change, moves count), kept names."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitops.appset.generated import GeneratedApp
from gitops.appset.lifecycle import change_id, decide
from gitops.config.fanout import SetSyncPolicy


def app(name: str, cluster: str = "c1", path: str = "apps") -> GeneratedApp:
    return GeneratedApp.of({"name": name, "source": {"repository": "demo", "path": path},
                            "destination": {"cluster": cluster}})


def apps(*names: str, **kw: Any) -> dict[str, GeneratedApp]:
    return {n: app(n, **kw) for n in names}


def policy(**kw: Any) -> SetSyncPolicy:
    return SetSyncPolicy.model_validate(kw, by_alias=True, by_name=False)


LOOSE = policy(maxDeleteShare=1.0, maxDeleteCount=100_000)
TEN = [f"a{i}" for i in range(10)]


def run(previous: dict[str, GeneratedApp], generated: dict[str, GeneratedApp], pol: SetSyncPolicy = LOOSE,
        **kw: Any) -> Any:
    args: dict[str, Any] = {"complete": True, "element_errors": 0, "pending": None, "now": 100.0}
    args.update(kw)
    return decide(previous, generated, policy=pol, **args)


def test_sync_creates_updates_and_deletes() -> None:
    d = run(apps("a", "b"), {**apps("b", path="new"), **apps("c")})
    assert (d.created, d.updated, d.deleted) == (("c",), ("b",), ("a",))
    assert sorted(d.desired) == ["b", "c"] and d.desired["b"].document["source"]["path"] == "new"


@pytest.mark.parametrize(("mode", "created", "updated", "deleted"), [
    ("create-only", ("c",), (), ()),
    ("create-update", ("c",), ("b",), ()),
    ("create-delete", ("c",), (), ("a",)),
    ("sync", ("c",), ("b",), ("a",)),
])
def test_policies(mode: str, created: tuple[str, ...], updated: tuple[str, ...],
                  deleted: tuple[str, ...]) -> None:
    pol = policy(applicationsSync=mode, maxDeleteShare=1.0)
    d = run(apps("a", "b"), {**apps("b", path="new"), **apps("c")}, pol)
    assert (d.created, d.updated, d.deleted) == (created, updated, deleted)
    # what was not applied stays as it was: create-update never deletes (argo-cd#16838)
    assert ("a" in d.desired) == (deleted == ())
    assert d.desired["b"].document["source"]["path"] == ("new" if updated else "apps")


def test_a_failed_generator_deletes_nothing() -> None:
    d = run(apps(*TEN), apps("a0"), complete=False)
    assert d.deleted == () and sorted(d.desired) == sorted(TEN)
    assert any("generator failed" in n for n in d.notes)


def test_an_element_error_deletes_nothing_but_creates_and_updates_go_on() -> None:
    d = run(apps("a", "b"), {**apps("b", path="new"), **apps("c")}, element_errors=1)
    assert (d.created, d.updated, d.deleted) == (("c",), ("b",), ())
    assert "a" in d.desired and any("element" in n for n in d.notes)


def test_a_suddenly_empty_generation_keeps_the_set_unless_allowed() -> None:
    kept = run(apps(*TEN), {})
    assert sorted(kept.desired) == sorted(TEN) and kept.deleted == () and "allowEmpty" in kept.notes[0]
    allowed = run(apps(*TEN), {}, policy(allowEmpty=True, maxDeleteShare=1.0, maxDeleteCount=100))
    assert allowed.desired == {} and sorted(allowed.deleted) == sorted(TEN)


def test_the_breaker_holds_deletions_over_the_share_until_that_change_is_approved() -> None:
    previous = apps(*TEN)
    generated = {n: a for n, a in previous.items() if n not in ("a0", "a1")}  # 20% > 10%
    held = run(previous, {**generated, **apps("new")}, policy())
    assert held.deleted == () and held.created == ("new",)  # creations are not held with the deletions
    assert held.pending is not None and held.pending.deletes == ("a0", "a1") and not held.pending.approved
    assert "a0" in held.desired and "gitops appset approve" in held.pending.reason
    # the same change again: still held, since when it was first seen
    again = run(previous, generated, policy(), pending=held.pending, now=500.0)
    assert again.pending is not None and again.pending.since == 100.0 and again.deleted == ()
    # approved: goes ahead, nothing pending any more
    from dataclasses import replace
    approved = run(previous, generated, policy(), pending=replace(held.pending, approved=True))
    assert approved.deleted == ("a0", "a1") and approved.pending is None
    # an approval of one change never lets another through
    other = {n: a for n, a in previous.items() if n not in ("a0", "a2")}
    not_that = run(previous, other, policy(), pending=replace(held.pending, approved=True))
    assert not_that.deleted == () and not_that.pending is not None and not_that.pending.id != held.pending.id


def test_the_breaker_counts_moves_and_has_an_absolute_limit() -> None:
    previous = apps(*TEN)
    moved = {**previous, "a3": app("a3", cluster="elsewhere")}
    held = run(previous, moved, policy())  # 1 move of 10 = 10%: not over the share
    assert held.pending is None and held.updated == ("a3",)
    two = {**moved, "a4": app("a4", cluster="elsewhere")}
    held2 = run(previous, two, policy())
    assert held2.pending is not None and held2.pending.moves == ("a3", "a4") and held2.updated == ()
    assert held2.desired["a3"].cluster == "c1"  # the old destination stays while held
    big = apps(*(f"b{i}" for i in range(1000)))
    by_count = run(big, {n: a for n, a in big.items() if not n.endswith("7")}, policy(maxDeleteCount=50))
    assert by_count.pending is not None and len(by_count.pending.deletes) == 100  # 10% but over 50


def test_kept_names_are_never_deleted() -> None:
    d = run(apps("a", "b"), apps("b"), kept=("a",))
    assert d.deleted == () and "a" in d.desired


def test_change_ids_name_exactly_the_change() -> None:
    assert change_id(["a", "b"], {}) == change_id(["b", "a"], {})
    assert change_id(["a"], {}) != change_id(["a", "b"], {})
    assert change_id([], {"a": app("a", cluster="x")}) != change_id([], {"a": app("a", cluster="y")})


names = st.sets(st.sampled_from([f"n{i}" for i in range(12)]), max_size=12)


@given(names, names, st.booleans(), st.integers(0, 3),
       st.sampled_from(["create-only", "create-update", "create-delete", "sync"]))
def test_nothing_is_deleted_when_an_input_failed_or_the_policy_forbids(
        before: set[str], after: set[str], complete: bool, errors: int, mode: str) -> None:
    d = run(apps(*before), apps(*after, path="p2"), policy(applicationsSync=mode), complete=complete,
            element_errors=errors)
    if not complete or errors or mode in ("create-only", "create-update"):
        assert d.deleted == () and set(before) <= set(d.desired)
    assert set(d.deleted) <= before - after
    assert set(d.desired) == (before | set(d.created)) - set(d.deleted)
    # the breaker: never more deleted than the share allows without an approval
    assert len(d.deleted) <= max(0.1 * len(before), 0) or d.deleted == ()
