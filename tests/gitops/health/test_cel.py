"""CEL health rules (gitops.health.cel): Flux's healthCheckExprs semantics, errors that never crash,
bounds on hostile expressions and objects, and custom resources nothing judges (Unknown)."""

from __future__ import annotations

from typing import Any

import pytest

from gitops.domain import HealthCheck
from gitops.expressions import MAX_EXPRESSION, ExpressionError, compile_expression
from gitops.health import assess, rules_for
from gitops.health.cel import MAX_VALUES, evaluate, user_rule
from gitops.vocabulary import HealthStatus as H


def widget(status: dict[str, Any] | None = None, generation: int = 1, **spec: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": "ns", "generation": generation},
        "spec": spec,
    }
    if status is not None:
        obj["status"] = status
    return obj


def rules(current: str | None = None, in_progress: str | None = None, failed: str | None = None) -> Any:
    return rules_for((HealthCheck("example.com/v1", "Widget", current, in_progress, failed),))


def test_an_empty_expression_is_refused() -> None:
    with pytest.raises(ExpressionError, match="empty"):
        compile_expression("")


PHASES = rules(
    current="status.phase == 'Running'",
    in_progress="status.phase == 'Pending'",
    failed="status.phase == 'Failed'",
)


@pytest.mark.parametrize(
    ("phase", "want", "message"),
    [
        ("Running", H.HEALTHY, "cel: current: status.phase == 'Running'"),
        ("Pending", H.PROGRESSING, "cel: inProgress: status.phase == 'Pending'"),
        ("Failed", H.DEGRADED, "cel: failed: status.phase == 'Failed'"),
        ("Other", H.PROGRESSING, "cel: no expression is true yet"),
    ],
)
def test_the_first_true_expression_decides(phase: str, want: H, message: str) -> None:
    health = assess(widget({"phase": phase}), PHASES)
    assert (health.status, health.message) == (want, message)


def test_order_is_flux_s_in_progress_then_failed_then_current() -> None:
    everything = rules(current="true", in_progress="true", failed="true")
    assert assess(widget({}), everything).status is H.PROGRESSING
    assert assess(widget({}), rules(current="true", failed="true")).status is H.DEGRADED


def test_the_variables_are_the_object_s_top_level_fields() -> None:
    r = rules(current="metadata.name == 'w' && spec.size == 3 && status.ready")
    assert assess(widget({"ready": True}, size=3), r).status is H.HEALTHY


def test_a_stale_observed_generation_waits_before_any_expression() -> None:
    health = assess(widget({"observedGeneration": 1, "phase": "Running"}, generation=2), PHASES)
    assert health.status is H.PROGRESSING and "observe the latest generation" in health.message


def test_a_missing_field_is_progressing_as_flux_waits() -> None:
    health = assess(widget(), PHASES)  # no status yet: status is an empty map
    assert health.status is H.PROGRESSING
    assert (
        health.message.startswith("cel: inProgress: error: no such member")
        and "not yet written" in health.message
    )
    guarded = rules(current="has(status.phase) && status.phase == 'Running'")
    assert assess(widget(), guarded).message == "cel: no expression is true yet"


@pytest.mark.parametrize(
    ("current", "error"),
    [
        ("status.phase == 1", "no matching overload"),
        ("status.phase + 1 == 2", "no matching overload"),
        ("status.phase", "evaluated to a string, not a boolean"),
        ("status.count / 0 == 1", "divide by zero"),
        ("status.phase.matches('[')", "error"),
    ],
)
def test_an_expression_that_errors_is_unknown_and_names_the_rule(current: str, error: str) -> None:
    health = assess(widget({"phase": "Running", "count": 3}), rules(current=current))
    assert health.status is H.UNKNOWN
    assert health.message.startswith("cel: current: ") and error in health.message
    assert "Activation" not in health.message and len(health.message) < 400


def test_compiled_once_per_text() -> None:
    assert compile_expression("status.x == 1") is compile_expression("status.x == 1")


def test_a_rule_that_does_not_compile_judges_unknown_instead_of_raising() -> None:
    health = assess(widget({"phase": "Running"}), rules(current="status.phase == ("))
    assert health.status is H.UNKNOWN
    assert health.message.startswith("cel: current: does not compile: not a valid CEL expression")


# -- custom resources nothing judges --------------------------------------------------------------
def test_a_custom_resource_without_status_is_unknown_never_healthy() -> None:
    health = assess(widget())
    assert (health.status, health.message) == (
        H.UNKNOWN,
        "no health rule for example.com/Widget and no status",
    )
    assert assess(widget({"replicas": 3})).status is H.UNKNOWN
    assert assess(widget({"conditions": [{"type": "Ready", "status": "True"}]})).status is H.HEALTHY
    assert assess(widget(), rules(current="true")).status is H.HEALTHY  # unless a rule says otherwise


@pytest.mark.parametrize(
    ("api", "kind"),
    [
        ("v1", "ConfigMap"),
        ("v1", "Secret"),
        ("v1", "ServiceAccount"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole"),
        ("networking.k8s.io/v1", "NetworkPolicy"),
    ],
)
def test_built_in_kinds_without_status_stay_healthy(api: str, kind: str) -> None:
    assert assess({"apiVersion": api, "kind": kind, "metadata": {"name": "x"}}).status is H.HEALTHY


# -- hostile input -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("status.ready == true || " * 50_000 + "true", f"over the limit of {MAX_EXPRESSION}"),
        ("(" * 150 + "true" + ")" * 150, "nested deeper than"),
        ("[" * 40 + "]" * 40 + " == []", "nested deeper than"),
        ("true" + " && true" * 300, "nested deeper than"),
        ("status.a.all(x, status.b.all(y, y == x))", "comprehensions nest deeper"),
        ("system('rm -rf /') == 0", "unknown function system"),
        ("status.phase.exec() == 1", "unknown function exec"),
        ("self.status.ready", "unknown variable self"),
        ("__import__('os')", "unknown function __import__"),
        ("  ", "empty"),
        ("status.ready ==", "not a valid CEL expression"),
    ],
)
def test_hostile_expressions_are_refused_at_compile(text: str, error: str) -> None:
    with pytest.raises(ExpressionError, match=error):
        compile_expression(text)
    health = evaluate(user_rule("example.com/v1", "Widget", text, None, None), widget({"ready": True}))
    assert health[0] is H.UNKNOWN and error.split()[0] in health[1]


def test_a_huge_list_in_status_is_unknown_not_a_long_evaluation() -> None:
    conditions = [{"type": f"T{i}", "status": "False"} for i in range(50_000)]
    conditions.append({"type": "Ready", "status": "True"})
    r = rules(current="status.conditions.exists(c, c.type == 'Ready' && c.status == 'True')")
    health = assess(widget({"conditions": conditions}), r)
    assert health.status is H.UNKNOWN
    assert health.message == f"cel: the object has more than {MAX_VALUES} values, too many to evaluate"
    assert assess(widget({"conditions": conditions[-500:]}), r).status is H.HEALTHY


def test_managed_fields_do_not_count_against_the_bound() -> None:
    obj = widget({"ready": True})
    obj["metadata"]["managedFields"] = [{"manager": f"m{i}", "fieldsV1": {"f:spec": {}}} for i in range(5000)]
    assert assess(obj, rules(current="status.ready")).status is H.HEALTHY


def test_a_deeply_nested_object_is_unknown_not_a_crash() -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(3000):  # under MAX_VALUES, over what a recursive conversion survives
        node["a"] = {}
        node = node["a"]
    health = assess(widget(deep), rules(current="has(status.a)"))
    assert (health.status, health.message) == (H.UNKNOWN, "cel: the object is nested too deeply to evaluate")


@pytest.mark.parametrize(
    "status",
    [
        {"phase": None},
        {"phase": ["Running"]},
        {"phase": {"x": 1}},
        {"phase": 1e308},
        {"phase": "Running\x00"},
        {"phase": "Ŗunning"},
    ],
)
def test_strange_values_in_status_never_crash(status: dict[str, Any]) -> None:
    health = assess(widget(status), PHASES)
    assert health.status in (H.UNKNOWN, H.PROGRESSING)
