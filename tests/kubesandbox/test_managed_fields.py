"""User-set ``metadata.managedFields`` in create, update and patch requests, as kube-apiserver's field
manager treats them: valid entries replace the stored ones, ``[]`` (or one empty entry) resets them
(and an object without managedFields stays untracked until an apply), entries the field manager
cannot decode are ignored (the live ones are kept), the result is validated (422 for an unprintable
or too long manager), and a body whose managedFields do not even decode into the typed object is
refused (400, or 422 on field ``patch`` for patches)."""

from __future__ import annotations

from typing import Any

import pytest

from kubesandbox.client import Client

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
OWN_A = {"f:data": {"f:a": {}}}
T1, T2 = "2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z"


def entry(manager: str = "alice", fields: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    item = {"manager": manager, "operation": "Update", "apiVersion": "v1", "time": T1,
            "fieldsType": "FieldsV1", "fieldsV1": OWN_A if fields is None else fields}
    item.update(extra)
    return {k: v for k, v in item.items() if v is not None}


@pytest.fixture
def live(client: Client) -> dict[str, Any]:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}}
    made = client.post(f"{CONFIGMAPS}?fieldManager=creator", body)
    assert made.status == 201
    assert [m["manager"] for m in made.body["metadata"]["managedFields"]] == ["creator"]
    return dict(made.body)


def put_with(client: Client, live: dict[str, Any], managed: Any) -> Any:
    body = {**live, "metadata": {**live["metadata"], "managedFields": managed}}
    return client.put(f"{CONFIGMAPS}/c?fieldManager=bob", body)


def test_valid_entries_replace_the_stored_ones(client: Client, live: dict[str, Any]) -> None:
    reply = put_with(client, live, [entry()])
    assert reply.status == 200
    assert reply.body["metadata"]["managedFields"] == [entry()]  # bob changed nothing, so gained nothing
    patched = client.patch(f"{CONFIGMAPS}/c?fieldManager=carol",
                           {"metadata": {"managedFields": [entry("dave", time=T2)]}})
    assert patched.body["metadata"]["managedFields"] == [entry("dave", time=T2)]


@pytest.mark.parametrize("managed", [[], [{}], [None], [{"manager": "", "fieldsV1": None}]])
def test_empty_list_or_one_empty_entry_resets(client: Client, live: dict[str, Any], managed: Any) -> None:
    """A reset leaves the object untracked (kube-apiserver's skipNonAppliedManager: an update that
    starts from no managedFields records none, as a real v1.36 server answers), until an apply puts
    the existing fields under ``before-first-apply``."""
    reply = client.patch(f"{CONFIGMAPS}/c?fieldManager=bob",
                         {"metadata": {"managedFields": managed}, "data": {"c": "3"}})
    assert reply.status == 200
    assert "managedFields" not in reply.body["metadata"]
    again = client.patch(f"{CONFIGMAPS}/c?fieldManager=bob", {"data": {"d": "4"}})
    assert "managedFields" not in again.body["metadata"]
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"e": "5"}}
    applied = client.apply(f"{CONFIGMAPS}/c", config, manager="al")
    owners = {m["manager"]: m["fieldsV1"] for m in applied.body["metadata"]["managedFields"]}
    assert owners == {"al": {"f:data": {"f:e": {}}},
                      "before-first-apply": {"f:data": {".": {}, "f:a": {}, "f:b": {}, "f:c": {}, "f:d": {}}}}


def test_omitted_keeps_the_stored_entries(client: Client, live: dict[str, Any]) -> None:
    body = {**live, "metadata": {k: v for k, v in live["metadata"].items() if k != "managedFields"}}
    reply = client.put(f"{CONFIGMAPS}/c?fieldManager=bob", body)
    assert reply.body["metadata"]["managedFields"] == live["metadata"]["managedFields"]


@pytest.mark.parametrize(
    "bad",
    [
        entry(operation="Patch"),  # operation must be Apply or Update
        entry(fieldsType=None),  # fieldsType is required ...
        entry(fieldsType="FieldsV2"),  # ... and must be FieldsV1
        entry(apiVersion=None),  # apiVersion must not be empty
        entry(fields={"f:data": {"k:{not json": {}}}),  # undecodable FieldsV1
        entry(fields=["f:data"]),  # FieldsV1 must be an object
    ],
)
def test_undecodable_entries_are_ignored(client: Client, live: dict[str, Any], bad: dict[str, Any]) -> None:
    reply = put_with(client, live, [entry("zed"), bad])
    assert reply.status == 200, reply.body
    assert reply.body["metadata"]["managedFields"] == live["metadata"]["managedFields"]


def test_unknown_path_element_types_are_skipped(client: Client, live: dict[str, Any]) -> None:
    reply = put_with(client, live, [entry("zed"), entry("future", fields={"x:later": {}})])
    assert reply.body["metadata"]["managedFields"] == [entry("zed")]  # "future" owns nothing


def test_duplicate_entries_last_one_wins(client: Client, live: dict[str, Any]) -> None:
    later = entry(fields={"f:data": {"f:b": {}}}, time=T2)
    reply = put_with(client, live, [entry(), later])
    assert reply.status == 200
    assert reply.body["metadata"]["managedFields"] == [later]


@pytest.mark.parametrize(
    ("bad", "cause"),
    [
        (entry("bad\tname"), 'Invalid value: "bad\\tname": invalid character U+0009 (at position 3)'),
        (entry("m" * 129), "Too long: must have at most 128 bytes"),
        (entry(subresource="s" * 257), "Too long: must have at most 256 bytes"),
    ],
)
def test_invalid_stored_entries_are_422(client: Client, live: dict[str, Any], bad: dict[str, Any],
                                        cause: str) -> None:
    reply = put_with(client, live, [bad])
    assert reply.status == 422 and reply.reason == "Invalid", reply.body
    field = "metadata.managedFields[0]." + ("subresource" if "subresource" in bad else "manager")
    assert reply.body["details"]["causes"] == [
        {"reason": "FieldValueTooLong" if "Too long" in cause else "FieldValueInvalid",
         "message": cause, "field": field}]
    assert reply.body["message"] == f'ConfigMap "c" is invalid: {field}: {cause}'
    stored = client.get(f"{CONFIGMAPS}/c").body
    assert stored["metadata"]["managedFields"] == live["metadata"]["managedFields"]


@pytest.mark.parametrize(
    "managed",
    ["all of them", [1], [{"manager": 7}], [{"operation": True}], [entry(time="yesterday")], {"a": {}}],
)
def test_mistyped_managed_fields_do_not_decode(client: Client, live: dict[str, Any], managed: Any) -> None:
    reply = put_with(client, live, managed)
    assert reply.status == 400 and reply.reason == "BadRequest", reply.body
    assert reply.body["message"].startswith('ConfigMap in version "v1" cannot be handled as a ConfigMap: ')
    created = client.post(CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap",
                                       "metadata": {"name": "d", "managedFields": managed}})
    assert created.status == 400
    patched = client.patch(f"{CONFIGMAPS}/c", {"metadata": {"managedFields": managed}})
    assert patched.status == 422 and patched.body["details"]["causes"][0]["field"] == "patch"


def test_custom_resources_drop_malformed_managed_fields(client: Client) -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}],
        },
    }
    assert client.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd).status == 201
    path = "/apis/example.com/v1/namespaces/default/widgets"
    body = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "managedFields": 5},
            "spec": {"size": 1}}
    made = client.post(f"{path}?fieldManager=maker", body)
    assert made.status == 201, made.body  # the CR decoder drops malformed metadata fields
    assert [m["manager"] for m in made.body["metadata"]["managedFields"]] == ["maker"]
