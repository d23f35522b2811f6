"""Secrets (and ConfigMap binaryData) as kube-apiserver decodes them: ``stringData`` is merged into
``data`` and never stored or returned, and ``[]byte`` fields must hold valid base64."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from kubesandbox import Sandbox
from kubesandbox.client import Client

SECRETS = "/api/v1/namespaces/default/secrets"
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def secret(**fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, **fields}


def owned_data_keys(obj: dict[str, Any], manager: str) -> tuple[set[str], set[str]]:
    """(keys of data, keys of stringData) that ``manager`` owns in managedFields."""
    entry = next(m for m in obj["metadata"]["managedFields"] if m["manager"] == manager)
    fields = entry["fieldsV1"]
    data = {k[2:] for k in fields.get("f:data", {}) if k.startswith("f:")}
    string_data = {k[2:] for k in fields.get("f:stringData", {}) if k.startswith("f:")}
    return data, string_data


def test_string_data_is_merged_into_data_on_create(client: Client, sandbox: Sandbox) -> None:
    made = client.post(
        SECRETS,
        secret(data={"a": b64("old"), "b": b64("keep")}, stringData={"a": "new", "c": "plain"}),
    )
    assert made.status == 201, made.body
    expected = {"a": b64("new"), "b": b64("keep"), "c": b64("plain")}  # stringData wins on collisions
    assert made.body["data"] == expected and "stringData" not in made.body
    read = client.get(f"{SECRETS}/s").body
    assert read["data"] == expected and "stringData" not in read
    assert "stringData" not in sandbox.objects("secrets", "", "default")[0]
    assert owned_data_keys(read, "sandbox-test") == ({"a", "b", "c"}, set())  # the creator owns data


def test_string_data_on_update_and_every_patch_type(client: Client) -> None:
    assert client.post(SECRETS, secret(data={"a": b64("1")})).status == 201
    live = client.get(f"{SECRETS}/s").body
    live["stringData"] = {"a": "2"}
    put = client.put(f"{SECRETS}/s", live)
    assert put.status == 200 and put.body["data"] == {"a": b64("2")} and "stringData" not in put.body
    merged = client.patch(f"{SECRETS}/s", {"stringData": {"b": "3"}})
    assert merged.body["data"] == {"a": b64("2"), "b": b64("3")} and "stringData" not in merged.body
    strategic = client.patch(f"{SECRETS}/s", {"stringData": {"c": "4"}}, "strategic")
    assert strategic.body["data"]["c"] == b64("4") and "stringData" not in strategic.body
    jsonp = client.patch(f"{SECRETS}/s", [{"op": "add", "path": "/stringData", "value": {"d": "5"}}], "json")
    assert jsonp.body["data"]["d"] == b64("5") and "stringData" not in jsonp.body
    assert set(client.get(f"{SECRETS}/s").body["data"]) == {"a", "b", "c", "d"}


def test_string_data_in_server_side_apply(client: Client) -> None:
    applied = client.apply(f"{SECRETS}/s", secret(stringData={"token": "t0"}), manager="app")
    assert applied.status == 201, applied.body
    assert applied.body["data"] == {"token": b64("t0")} and "stringData" not in applied.body
    # The applier owns what it sent, stringData.token (as on a cluster), not data.token.
    assert owned_data_keys(applied.body, "app") == (set(), {"token"})
    again = client.apply(f"{SECRETS}/s", secret(stringData={"token": "t1"}), manager="app")
    assert again.status == 200 and again.body["data"] == {"token": b64("t1")}
    assert "stringData" not in client.get(f"{SECRETS}/s").body


def test_dry_run_create_returns_merged_data(client: Client) -> None:
    reply = client.post(f"{SECRETS}?dryRun=All", secret(stringData={"k": "v"}))
    assert reply.status == 201 and reply.body["data"] == {"k": b64("v")} and "stringData" not in reply.body


@pytest.mark.parametrize(("value", "offset"), [("!!!!", 0), ("YWJj!", 4), ("YWJjZA", 4), ("a", 0)])
def test_invalid_base64_is_refused_when_decoding(client: Client, value: str, offset: int) -> None:
    reply = client.post(SECRETS, secret(data={"k": value}))
    assert reply.status == 400 and reply.reason == "BadRequest", reply.body
    assert reply.body["message"] == (
        f'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte {offset}'
    )
    assert client.get(f"{SECRETS}/s").status == 404


def test_invalid_base64_on_put_patch_and_apply(client: Client) -> None:
    assert client.post(SECRETS, secret(data={"k": b64("v")})).status == 201
    live = client.get(f"{SECRETS}/s").body
    live["data"]["k"] = "not base64"
    put = client.put(f"{SECRETS}/s", live)
    assert put.status == 400 and put.reason == "BadRequest"
    assert put.body["message"].endswith("illegal base64 data at input byte 3")
    # Patches are decoded after patching: kube-apiserver's patch handler answers 422 on field "patch".
    for kind in ("merge", "json", "strategic"):
        body: Any = {"data": {"k": "%%%"}}
        if kind == "json":
            body = [{"op": "replace", "path": "/data/k", "value": "%%%"}]
        reply = client.patch(f"{SECRETS}/s", body, kind)
        assert reply.status == 422 and reply.reason == "Invalid", (kind, reply.body)
        assert list(reply.body["details"]) == ["causes"]  # an Invalid with no kind and no name
        assert reply.body["details"]["causes"][0]["field"] == "patch"
        assert reply.body["message"].startswith(' "" is invalid: patch: Invalid value: ')
        assert "illegal base64 data at input byte 0" in reply.body["message"]
    # Apply merges unstructured content and fails converting the result to the typed object: a 500.
    applied = client.apply(f"{SECRETS}/s", secret(data={"k": "%%%"}), manager="app", force=True)
    assert applied.status == 500 and "illegal base64 data at input byte 0" in applied.body["message"]
    assert client.get(f"{SECRETS}/s").body["data"] == {"k": b64("v")}  # nothing was stored


def test_configmap_binary_data_is_base64_too(client: Client) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "binaryData": {"b": "x!"}}
    reply = client.post(CONFIGMAPS, body)
    assert reply.status == 400 and reply.body["message"].endswith("illegal base64 data at input byte 1")
    body["binaryData"] = {"b": b64("bytes")}
    assert client.post(CONFIGMAPS, body).status == 201


@pytest.fixture
def core(sandbox: Sandbox) -> Iterator[k8s.CoreV1Api]:
    assert sandbox.kubeconfig_path is not None
    api_client = k8s_config.new_client_from_config(config_file=str(sandbox.kubeconfig_path))
    yield k8s.CoreV1Api(api_client)
    api_client.close()


def test_python_client_string_data(core: k8s.CoreV1Api) -> None:
    body = k8s.V1Secret(metadata=k8s.V1ObjectMeta(name="typed"), string_data={"user": "admin"})
    made = core.create_namespaced_secret("default", body)
    assert made.data == {"user": b64("admin")} and made.string_data is None
    read = core.read_namespaced_secret("typed", "default")
    assert base64.b64decode(read.data["user"]) == b"admin" and read.string_data is None
