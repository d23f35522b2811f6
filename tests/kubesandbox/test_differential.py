"""The sandbox against a real kube-apiserver: the same write sequences on both, compared step by step.

Hypothesis generates sequences of creates, server-side applies (several managers, forced or not),
updates (with no, the current or a stale resourceVersion), JSON/merge/strategic patches and deletes,
each possibly a dry run, on ConfigMaps, Secrets, Deployments, Services and a custom resource; the
harness (``differential.py``) sends each to both servers and compares status codes, Status reasons
and causes, and the normalized objects (its docstring says what is not compared and why). Every
difference is a sandbox bug to fix, or a row of docs/sandbox.md's "Known differences from
kube-apiserver" table with its entry in :data:`KNOWN`.

Needs the ``real_cluster`` fixture (skips locally without the built control plane, fails under CI).
Under the CI profile the examples are derandomized; ``GITOPS_DIFF_EXAMPLES`` raises their number for
a longer local hunt.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubesandbox import Sandbox
from tests.kubesandbox.differential import (
    Difference,
    Endpoint,
    Known,
    Op,
    install_crd,
    real_endpoint,
    run,
    sandbox_endpoint,
)

EXAMPLES = int(os.environ.get("GITOPS_DIFF_EXAMPLES", "60"))

def _unordered(value: Any) -> Any:
    """``value`` with every list sorted (the order of list items disregarded)."""
    if isinstance(value, dict):
        return {k: _unordered(v) for k, v in value.items()}
    if isinstance(value, list):
        return sorted((_unordered(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    return value


def _same_but_order(d: Difference) -> bool:
    return d.sandbox.get("status") == d.real.get("status") and "body" in d.sandbox and \
        _unordered(d.sandbox) == _unordered(d.real)


def _apply_list_order(d: Difference) -> bool:
    """An apply whose result differs only in the order of list items."""
    return d.op.verb == "apply" and _same_but_order(d)


def _strategic_list_order(d: Difference) -> bool:
    """A strategic merge patch whose result differs only in the order of list items."""
    return d.op.verb == "patch" and d.op.patch_type == "strategic" and _same_but_order(d)


def _apply_emptied_map(d: Difference) -> bool:
    """An apply to a custom resource that the real server refuses with a null where the sandbox's
    merge removed an emptied map."""
    return d.op.verb == "apply" and d.op.kind == "Widget" and d.sandbox.get("status") in (200, 201) and \
        d.real.get("status") == 422 and {c[0] for c in d.real.get("causes", [])} == {"FieldValueTypeInvalid"}


# Documented differences (docs/sandbox.md, "Known differences from kube-apiserver"): name -> matcher.
KNOWN: dict[str, Known] = {
    "apply-list-order": Known("docs/sandbox.md#apply-list-order", _apply_list_order),
    "apply-emptied-map": Known("docs/sandbox.md#apply-emptied-map", _apply_emptied_map),
    "strategic-list-order": Known("docs/sandbox.md#strategic-list-order", _strategic_list_order),
}


@pytest.fixture(scope="module")
def endpoints(real_cluster: Path, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[tuple[Endpoint, Endpoint]]:
    real = real_endpoint(real_cluster)
    kubeconfig = tmp_path_factory.mktemp("diff") / "kubeconfig"
    with Sandbox.start(kubeconfig=kubeconfig, controller_delay=0.05) as sbx:
        sandbox = sandbox_endpoint(sbx.url)
        try:
            for endpoint in (sandbox, real):
                install_crd(endpoint)
            yield sandbox, real
        finally:
            sandbox.close()
            real.close()


def _report(result_differences: list[Difference]) -> str:
    return "\n".join(str(d) for d in result_differences)


# --- content ---------------------------------------------------------------------------------------

def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


LABELS = st.dictionaries(st.sampled_from(["team", "tier"]), st.sampled_from(["x", "y"]), max_size=2)
METADATA = st.fixed_dictionaries({}, optional={"labels": LABELS})
VALUES = st.sampled_from(["1", "2"])

CONFIGMAP = st.fixed_dictionaries({}, optional={
    "metadata": METADATA,
    "data": st.dictionaries(st.sampled_from(["a", "b", "c"]), VALUES, max_size=3),
    "immutable": st.sampled_from([True, False]),
})
SECRET = st.fixed_dictionaries({}, optional={
    "metadata": METADATA,
    "data": st.dictionaries(st.sampled_from(["a", "b"]), VALUES.map(_b64), max_size=2),
    "stringData": st.dictionaries(st.sampled_from(["a", "c"]), VALUES, max_size=2),
    "type": st.sampled_from(["Opaque", "Opaque", "example.com/custom"]),
})

IMAGES = st.sampled_from(["nginx:1", "nginx:2"])
APP = st.fixed_dictionaries({"name": st.just("app"), "image": IMAGES}, optional={
    "env": st.lists(st.fixed_dictionaries({"name": st.sampled_from(["A", "B"]), "value": VALUES}),
                    max_size=2, unique_by=lambda e: e["name"]),
    "ports": st.just([{"containerPort": 80}]),
})
SIDE = st.just({"name": "side", "image": "busybox:1"})
CONTAINERS = st.one_of(st.tuples(APP), st.tuples(APP, SIDE)).map(list)


def _deployment(app: str, containers: list[dict[str, Any]], extra: dict[str, Any]) -> dict[str, Any]:
    spec = {"selector": {"matchLabels": {"app": app}},
            "template": {"metadata": {"labels": {"app": app}}, "spec": {"containers": containers}}}
    return {**{k: v for k, v in extra.items() if k != "replicas"},
            "spec": {**spec, **({"replicas": extra["replicas"]} if "replicas" in extra else {})}}


DEPLOYMENT = st.builds(_deployment, st.sampled_from(["web", "web", "web", "api"]), CONTAINERS,
                       st.fixed_dictionaries({}, optional={"metadata": METADATA,
                                                           "replicas": st.sampled_from([1, 2])}))
DEPLOYMENT_PART = st.one_of(
    st.builds(lambda n: {"spec": {"replicas": n}}, st.sampled_from([1, 2, 3])),
    st.builds(lambda m: {"metadata": m}, METADATA),
    st.builds(lambda i: {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": i}]}}}},
              st.sampled_from(["nginx:2", "nginx:3"])),
)
PORTS = st.lists(st.sampled_from([{"name": "http", "port": 80},
                                  {"name": "http", "port": 80, "targetPort": 8080},
                                  {"name": "https", "port": 443}]),
                 min_size=1, max_size=2, unique_by=lambda p: p["name"])
SELECTOR = st.sampled_from(["web", "api"])
SERVICE = st.builds(lambda sel, ports, extra: {**extra, "spec": {"selector": {"app": sel}, "ports": ports}},
                    SELECTOR, PORTS, st.fixed_dictionaries({}, optional={"metadata": METADATA}))
SERVICE_PART = st.one_of(st.builds(lambda m: {"metadata": m}, METADATA),
                         st.builds(lambda sel: {"spec": {"selector": {"app": sel}}}, SELECTOR))
WIDGET = st.fixed_dictionaries({}, optional={
    "metadata": METADATA,
    "spec": st.fixed_dictionaries({}, optional={
        "color": st.sampled_from(["red", "blue"]),
        "replicas": st.sampled_from([1, 2]),
        "items": st.lists(st.fixed_dictionaries({"name": st.sampled_from(["a", "b"]), "value": VALUES}),
                          max_size=2, unique_by=lambda i: i["name"]),
        "tags": st.lists(st.sampled_from(["x", "y", "z"]), max_size=2, unique=True),
        "config": st.dictionaries(st.sampled_from(["k", "l"]), VALUES, max_size=2),
    }),
})

FULL = {"ConfigMap": CONFIGMAP, "Secret": SECRET, "Deployment": DEPLOYMENT, "Service": SERVICE,
        "Widget": WIDGET}
PART = {"ConfigMap": CONFIGMAP, "Secret": SECRET, "Deployment": st.one_of(DEPLOYMENT, DEPLOYMENT_PART),
        "Service": st.one_of(SERVICE, SERVICE_PART), "Widget": WIDGET}
NULLS = {  # merge and strategic patches that remove something
    "ConfigMap": [{"data": {"a": None}}, {"immutable": None}],
    "Secret": [{"data": {"a": None}}, {"stringData": {"a": "3"}}],
    "Deployment": [{"spec": {"replicas": None}},
                   {"spec": {"template": {"spec": {"containers": [{"name": "side", "$patch": "delete"}]}}}}],
    "Service": [{"spec": {"selector": None}}, {"spec": {"ports": [{"name": "https", "port": 443}]}}],
    "Widget": [{"spec": {"color": None}}, {"spec": {"tags": None}}],
}
COMMON_OPS = [{"op": "add", "path": "/metadata/labels/team", "value": "x"},
              {"op": "test", "path": "/metadata/labels/team", "value": "x"},
              {"op": "remove", "path": "/metadata/labels/team"},
              {"op": "add", "path": "/metadata/labels", "value": {"tier": "y"}}]
JSON_OPS = {
    "ConfigMap": [{"op": "add", "path": "/data/a", "value": "2"}, {"op": "remove", "path": "/data/a"},
                  {"op": "replace", "path": "/data/b", "value": "1"},
                  {"op": "add", "path": "/data", "value": {}}],
    "Secret": [{"op": "add", "path": "/data/a", "value": _b64("2")}, {"op": "remove", "path": "/data/a"},
               {"op": "add", "path": "/data/b", "value": "!!"}],
    "Deployment": [{"op": "replace", "path": "/spec/replicas", "value": 3},
                   {"op": "add", "path": "/spec/template/spec/containers/0/image", "value": "nginx:3"},
                   {"op": "remove", "path": "/spec/template/spec/containers/1"}],
    "Service": [{"op": "replace", "path": "/spec/ports/0/port", "value": 8080},
                {"op": "remove", "path": "/spec/selector"}],
    "Widget": [{"op": "add", "path": "/spec/color", "value": "red"}, {"op": "remove", "path": "/spec/tags"},
               {"op": "add", "path": "/spec/items/-", "value": {"name": "c", "value": "3"}},
               {"op": "test", "path": "/spec/color", "value": "red"}],
}
NAMES = st.sampled_from(["a", "a", "a", "b"])
DRY = st.sampled_from([False, False, False, False, True])
UPDATE_MANAGERS = st.sampled_from([None, None, "carol"])
APPLY_MANAGERS = st.sampled_from(["alice", "alice", "bob"])


@st.composite
def operation(draw: st.DrawFn, kinds: list[str]) -> Op:
    op = draw(_operation(kinds))
    if op.verb in ("create", "update", "apply") and draw(st.integers(0, 5)) == 0:  # an unknown field
        where = draw(st.sampled_from(["top", "spec", "metadata"]))
        body = json.loads(json.dumps(op.body or {}))
        target = body if where == "top" else body.setdefault(where, {})
        target["bogus"] = "x"
        validation = draw(st.sampled_from(["", "Strict", "Warn", "Ignore"]))
        return dataclasses.replace(op, body=body, validation=validation)
    return op


@st.composite
def _operation(draw: st.DrawFn, kinds: list[str]) -> Op:
    kind, name, dry = draw(st.sampled_from(kinds)), draw(NAMES), draw(DRY)
    verb = draw(st.sampled_from(["create", "create", "apply", "apply", "apply", "update", "patch", "patch",
                                 "delete"]))
    if verb == "create":
        return Op("create", kind, name, draw(FULL[kind]), manager=draw(UPDATE_MANAGERS), dry_run=dry)
    if verb == "apply":
        return Op("apply", kind, name, draw(PART[kind]), manager=draw(APPLY_MANAGERS),
                  force=draw(st.booleans()), dry_run=dry,
                  rv=draw(st.sampled_from(["none", "none", "none", "current", "stale"])))
    if verb == "update":
        return Op("update", kind, name, draw(FULL[kind]), manager=draw(UPDATE_MANAGERS), dry_run=dry,
                  rv=draw(st.sampled_from(["none", "current", "stale"])))
    if verb == "delete":
        return Op("delete", kind, name, dry_run=dry,
                  rv=draw(st.sampled_from(["none", "none", "current", "stale"])))
    if kind == "Widget" and draw(st.integers(0, 4)) == 0:  # the status subresource (no controller here)
        status = draw(st.sampled_from([{"status": {"phase": "a"}}, {"status": {"phase": "b"}},
                                       {"spec": {"color": "red"}}, {"status": None}]))
        return Op("patch", kind, name, status, patch_type="merge", manager=draw(UPDATE_MANAGERS), dry_run=dry,
                  subresource="status")
    patch_type = draw(st.sampled_from(["json", "merge", "merge", "strategic"]))
    if patch_type == "json":
        body: Any = draw(st.lists(st.sampled_from(COMMON_OPS + JSON_OPS[kind]), min_size=1, max_size=2))
    else:
        body = draw(st.one_of(PART[kind], st.sampled_from(NULLS[kind])))
    return Op("patch", kind, name, body, patch_type=patch_type, manager=draw(UPDATE_MANAGERS), dry_run=dry)


@st.composite
def sequences(draw: st.DrawFn, max_steps: int = 6) -> list[Op]:
    kinds = draw(st.lists(st.sampled_from(sorted(FULL)), min_size=1, max_size=2, unique=True))
    return draw(st.lists(operation(kinds), min_size=1, max_size=max_steps))


# --- tests -------------------------------------------------------------------------------------------

HAND_WRITTEN = [
    Op("create", "ConfigMap", "a", {"metadata": {"labels": {"team": "x"}}, "data": {"a": "1"}}),
    Op("apply", "ConfigMap", "a", {"data": {"a": "2", "b": "1"}}, manager="alice"),
    Op("apply", "ConfigMap", "a", {"data": {"a": "1"}}, manager="bob"),
    Op("apply", "ConfigMap", "a", {"data": {"a": "1"}}, manager="bob", force=True),
    Op("patch", "ConfigMap", "a", {"data": {"c": "3"}}, patch_type="merge"),
    Op("update", "ConfigMap", "a", {"data": {"z": "9"}}, rv="stale"),
    Op("update", "ConfigMap", "a", {"data": {"z": "9"}}, rv="current", manager="carol"),
    Op("patch", "ConfigMap", "a", [{"op": "remove", "path": "/data/nothere"}], patch_type="json"),
    Op("delete", "ConfigMap", "a", dry_run=True),
    Op("create", "Deployment", "a", {"spec": {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}},
                     "spec": {"containers": [{"name": "app", "image": "nginx:1"}]}}}}),
    Op("apply", "Deployment", "a", {"spec": {"replicas": 3}}, manager="hpa"),
    Op("patch", "Deployment", "a",
       {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "x:2"}]}}}},
       patch_type="strategic"),
    Op("create", "Widget", "a", {"spec": {"color": "red", "items": [{"name": "a", "value": "1"}]}}),
    Op("apply", "Widget", "a", {"spec": {"items": [{"name": "b", "value": "2"}], "tags": ["x"]}},
       manager="alice"),
    Op("patch", "Widget", "a", {"spec": {"color": "blue"}}, patch_type="strategic"),
    Op("create", "Secret", "a", {"stringData": {"a": "1"}}),
    Op("apply", "Service", "a",
       {"spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80}]}}, manager="alice"),
    Op("delete", "Service", "a"),
]


def test_hand_written_sequence(endpoints: tuple[Endpoint, Endpoint]) -> None:
    result = run(*endpoints, HAND_WRITTEN, KNOWN)
    assert not result.differences, _report(result.differences)
    assert result.steps == len(HAND_WRITTEN), result.known


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=sequences())
def test_sandbox_matches_the_real_server(endpoints: tuple[Endpoint, Endpoint], ops: list[Op]) -> None:
    result = run(*endpoints, ops, KNOWN)
    assert not result.differences, _report(result.differences)
