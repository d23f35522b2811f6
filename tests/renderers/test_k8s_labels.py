"""The one label-selector parser shared by kustomize target selectors and the sandbox's LIST."""

from __future__ import annotations

import pytest

from renderers.k8s import labels

LABELS = {"app": "web", "tier": "front", "example.com/team": "a"}


@pytest.mark.parametrize(("selector", "expected"), [
    ("app=web", True), ("app==web", True), ("app!=web", False), ("missing!=x", True),
    ("app in (web, api)", True), ("app in(api)", False), ("app notin (api)", True),
    ("missing notin (x)", True),
    ("tier", True), ("!tier", False), ("!missing", True), ("example.com/team=a", True),
    ("app=web,tier=front", True), ("app=web, tier=back", False), ("app=web,tier in (front,back),!x", True),
    ("", True), ("   ", True),
])
def test_documented_grammar(selector: str, expected: bool) -> None:
    assert labels.matches(selector, LABELS) is expected


@pytest.mark.parametrize("selector", [
    "app=web=x", "app in ()", "app in (a b)", "=web", "app in (web", "a b", "app=" + "x" * 64,
    "x" * 20_000, "app in (${HOME})",
])
def test_malformed_selectors_are_errors(selector: str) -> None:
    with pytest.raises(labels.SelectorError):
        labels.matches(selector, LABELS)
