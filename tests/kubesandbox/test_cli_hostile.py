"""``gitops sandbox`` argument handling, and hostile requests that must never crash the server (no 500)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitops.cli import main
from kubesandbox import Sandbox
from kubesandbox.client import Client
from renderers.k8s import labels


def test_cli_refuses_non_loopback_and_bad_port(capsys: Any) -> None:
    assert main(["sandbox", "--host", "0.0.0.0"]) == 2
    assert "non-loopback" in capsys.readouterr().err
    assert main(["sandbox", "--port", "70000"]) == 2


def test_cli_reports_port_in_use(sandbox: Sandbox) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gitops", "sandbox", "--port", str(sandbox.port)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "cannot serve" in result.stderr


def test_sandbox_start_refuses_remote_hosts() -> None:
    import pytest

    from kubesandbox import UsageError

    with pytest.raises(UsageError):
        Sandbox.start(host="10.1.2.3")


def test_hostile_query_parameters(client: Client) -> None:
    base = "/api/v1/namespaces/default/configmaps"
    for query in (
        "limit=-1",
        "limit=abc",
        "resourceVersion=xyz",
        "labelSelector=" + "a" * 20000,
        "labelSelector=a%20in%20((b))",
        "fieldSelector=metadata.name",
        "continue=%00%01",
        "watch=true&timeoutSeconds=-5",
        "dryRun=Nope",
        "resourceVersion=0&resourceVersionMatch=Exact",
    ):
        reply = client.request(
            "GET" if "dryRun" not in query else "POST",
            f"{base}?{query}",
            {"metadata": {"name": "x"}} if "dryRun" in query else None,
        )
        assert 400 <= reply.status < 500, (query, reply.status, reply.body)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
_methods = st.sampled_from(
    [
        ("POST", "/api/v1/namespaces/default/configmaps", "application/json"),
        ("PUT", "/api/v1/namespaces/default/configmaps/x", "application/json"),
        ("PATCH", "/api/v1/namespaces/default/configmaps/x", "application/json-patch+json"),
        ("PATCH", "/api/v1/namespaces/default/configmaps/x", "application/merge-patch+json"),
        ("PATCH", "/apis/apps/v1/namespaces/default/deployments/x", "application/strategic-merge-patch+json"),
        (
            "PATCH",
            "/apis/apps/v1/namespaces/default/deployments/x?fieldManager=f",
            "application/apply-patch+yaml",
        ),
        ("DELETE", "/api/v1/namespaces/default/configmaps/x", "application/json"),
    ]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=_methods, body=_json, wrap=st.booleans())
def test_random_bodies_never_crash(
    client: Client, target: tuple[str, str, str], body: Any, wrap: bool
) -> None:
    method, path, ctype = target
    if wrap and isinstance(body, dict):  # a plausible object around random content
        kind = "Deployment" if "deployments" in path else "ConfigMap"
        body = {
            "apiVersion": "apps/v1" if kind == "Deployment" else "v1",
            "kind": kind,
            "metadata": {"name": "x"},
            "spec": body,
            "data": body,
        }
    client.request("PUT", "/api/v1/namespaces/default/configmaps/x", None)  # keep the connection warm
    reply = client.request(method, path, json.dumps(body), ctype)
    assert reply.status < 500 or _apiservers_own_500(reply), (method, path, body, reply.body)


# kube-apiserver itself answers some bodies with a 500: an applied configuration with a field its
# schema does not declare, or whose merged result does not convert to the typed object
DELIBERATE_500 = ("failed to create typed patch object", "failed to convert new object")


def _apiservers_own_500(reply: Any) -> bool:
    return reply.status == 500 and str(reply.body.get("message", "")).startswith(DELIBERATE_500)


def test_pathological_selectors_get_exact_answers(client: Client, forbid: Callable[..., list[str]]) -> None:
    base = "/api/v1/namespaces/default/configmaps"
    client.post(base, {"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "x", "labels": {"a": "b"}}})

    def names(selector: str) -> list[str]:
        reply = client.get(f"{base}?{selector}")
        assert reply.status == 200, reply.body
        return [item["metadata"]["name"] for item in reply.body["items"]]

    # the field selector is split on plain substrings (no regex), and 9000 spaces around a value are trimmed
    assert names("fieldSelector=metadata.name%3D" + "%20" * 9000 + "x") == ["x"]
    assert names("labelSelector=a%20in%20(" + "b," * 3000 + ")") == ["x"]
    assert names("fieldSelector=" + "%20" * 20000) == ["x"]  # blank: no selector at all
    # one 9981-character requirement: the label patterns only repeat within a key's or value's bounded
    # length, so it fails to match at once and is quoted, truncated, in the 400
    requirement = "a-" * 4990 + "!"
    reply = client.get(f"{base}?labelSelector={requirement}")
    assert reply.status == 400
    assert reply.body["message"] == (f"unable to parse requirement: {requirement[:200]!r} "
                                     "is not a valid label selector")
    # longer than any selector may be: refused by length before any parsing
    called = forbid((labels, "split_terms"), (labels, "_requirement"))
    for selector, message in (("labelSelector=" + "a" * (labels.MAX_LENGTH + 1), "label selector too long"),
                              ("fieldSelector=metadata.name%3D" + "a" * 10_000, "field selector too long")):
        reply = client.get(f"{base}?{selector}")
        assert (reply.status, reply.body["message"]) == (400, message)
    assert called == []


def test_deeply_nested_json_is_refused_not_crashing(client: Client) -> None:
    base = "/api/v1/namespaces/default/configmaps"
    client.post(base, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
    deep = '{"a":' * 500 + "1" + "}" * 500
    for ctype in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
        reply = client.request("PATCH", f"{base}/x", '{"data":{"x":' + deep + "}}", ctype)
        assert reply.status == 400 and "nested deeper" in reply.body["message"]
    applied = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":' + deep + "}"
    reply = client.request("PATCH", f"{base}/x?fieldManager=a", applied, "application/apply-patch+yaml")
    assert reply.status == 400


def test_ipv6_loopback_is_served_when_available() -> None:
    import socket

    import pytest

    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        sandbox = Sandbox.start(host="::1")
    except OSError as exc:
        pytest.skip(f"IPv6 loopback unavailable: {exc}")
    with sandbox:
        assert sandbox.url.startswith("http://[::1]:")
        client = Client(sandbox.url)
        assert client.get("/version").status == 200
        client.close()
