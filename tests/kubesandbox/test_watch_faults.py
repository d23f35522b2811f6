"""WATCH streams and fault injection through the sandbox, over real HTTP."""

from __future__ import annotations

import http.client
import json
import threading
import time
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest

from kubesandbox import FaultRule, Sandbox
from kubesandbox import server as sandbox_server
from kubesandbox.client import Client

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


def cm(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}, "data": {}}


def watch(sandbox: Sandbox, query: str, until: int, timeout: float = 5.0,
          opened: threading.Event | None = None) -> list[dict[str, Any]]:
    """Read events from a watch until ``until`` events or the stream ends (a read that waits longer than
    ``timeout`` raises: a stream the server did not end is never mistaken for an ended one). ``opened``
    is set once the response headers arrived: the server has registered the stream by then."""
    parts = urlsplit(sandbox.url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    conn.request("GET", f"{CONFIGMAPS}?watch=true&{query}")
    resp = conn.getresponse()
    assert resp.status == 200
    if opened is not None:
        opened.set()
    events = []
    while len(events) < until:
        line = resp.readline()
        if not line:
            break
        events.append(json.loads(line))
    conn.close()
    return events


def test_watch_from_resource_version(sandbox: Sandbox, client: Client) -> None:
    rv = client.post(CONFIGMAPS, cm("a")).body["metadata"]["resourceVersion"]
    opened = threading.Event()

    def writes() -> None:  # once the watch is open: the events reach it live, not from the backlog
        assert opened.wait(10)
        client2 = Client(sandbox.url)
        client2.patch(f"{CONFIGMAPS}/a", {"data": {"x": "1"}})
        client2.post(CONFIGMAPS, cm("b"))
        client2.delete(f"{CONFIGMAPS}/a")
        client2.close()

    thread = threading.Thread(target=writes)
    thread.start()
    events = watch(sandbox, f"resourceVersion={rv}", until=3, opened=opened)
    thread.join()
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("MODIFIED", "a"),
        ("ADDED", "b"),
        ("DELETED", "a"),
    ]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(rvs) and rvs[0] > int(rv)


def test_watch_without_version_starts_with_existing_objects_and_filters(
    sandbox: Sandbox, client: Client
) -> None:
    client.post(CONFIGMAPS, cm("a", app="x"))
    client.post(CONFIGMAPS, cm("b", app="y"))
    events = watch(sandbox, "labelSelector=app%3Dx&timeoutSeconds=1", until=5)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "a")]


def test_watch_too_old_version_is_gone(sandbox: Sandbox, client: Client) -> None:
    sandbox.app.store._events = type(sandbox.app.store._events)(maxlen=3)
    for i in range(6):
        client.post(CONFIGMAPS, cm(f"c{i}"))
    events = watch(sandbox, "resourceVersion=2", until=1)
    assert events[0]["type"] == "ERROR"
    assert events[0]["object"]["code"] == 410 and events[0]["object"]["reason"] == "Expired"
    assert "too old resource version" in events[0]["object"]["message"]


def test_watch_bookmarks(sandbox: Sandbox, client: Client) -> None:
    events = watch(sandbox, "allowWatchBookmarks=true&timeoutSeconds=3", until=1)
    assert events[0]["type"] == "BOOKMARK" and events[0]["object"]["metadata"]["resourceVersion"]


def test_dropped_watch_ends_stream(sandbox: Sandbox) -> None:
    # no timeoutSeconds (the server's default is 30 minutes): only the fault or the drop can end these
    rule = sandbox.faults.add(FaultRule(verb="watch", drop_watch=True))
    assert watch(sandbox, "", until=1) == []  # ended empty right after its headers, by the fault
    assert rule.hits == 1
    holder: list[list[dict[str, Any]]] = []
    opened = threading.Event()
    thread = threading.Thread(target=lambda: holder.append(watch(sandbox, "", until=1, opened=opened)))
    thread.start()
    assert opened.wait(10)
    sandbox.drop_watches()
    thread.join(timeout=10)  # a guard against a hang; the stream ends as soon as the drop is seen
    assert not thread.is_alive() and holder == [[]]
    assert rule.hits == 1  # the fault was used up: the drop ended the second stream


def test_fault_429_with_retry_after_then_recovers(sandbox: Sandbox, client: Client) -> None:
    sandbox.faults.add(FaultRule(verb="list", status=429, times=2, retry_after=1))
    first = client.get(CONFIGMAPS)
    assert first.status == 429 and first.headers["retry-after"] == "1"
    assert first.body["reason"] == "TooManyRequests" and first.body["details"]["retryAfterSeconds"] == 1
    assert client.get(CONFIGMAPS).status == 429
    assert client.get(CONFIGMAPS).status == 200


def test_fault_by_path_and_status_and_delay(sandbox: Sandbox, client: Client,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    client.post(CONFIGMAPS, cm("a"))
    sandbox.faults.add(FaultRule(path_regex=r"/configmaps/a$", status=500, times=None))
    assert client.get(f"{CONFIGMAPS}/a").status == 500
    assert client.get(f"{CONFIGMAPS}/a").status == 500
    assert client.get(CONFIGMAPS).status == 200
    sandbox.faults.clear()
    sandbox.faults.add(FaultRule(verb="patch", status=409))
    assert client.patch(f"{CONFIGMAPS}/a", {"data": {"k": "v"}}).status == 409
    slept: list[float] = []  # the server's waits, recorded instead of spent
    monkeypatch.setattr(sandbox_server, "time", SimpleNamespace(monotonic=time.monotonic, sleep=slept.append))
    delay = sandbox.faults.add(FaultRule(verb="get", delay=0.3))
    assert client.get(f"{CONFIGMAPS}/a").status == 200
    assert slept == [0.3] and delay.hits == 1  # held back by the rule's delay, then answered normally
    assert sandbox.stats.count(verb="patch") == 1  # faulted requests are still counted


def test_watch_selector_transitions(sandbox: Sandbox, client: Client) -> None:
    rv = client.post(CONFIGMAPS, cm("a", app="x")).body["metadata"]["resourceVersion"]
    client.patch(f"{CONFIGMAPS}/a", {"metadata": {"labels": {"app": "y"}}})  # leaves the selection
    client.patch(f"{CONFIGMAPS}/a", {"data": {"k": "v"}})  # invisible to the watcher
    client.patch(f"{CONFIGMAPS}/a", {"metadata": {"labels": {"app": "x"}}})  # enters it again
    client.patch(f"{CONFIGMAPS}/a", {"data": {"k": "w"}})
    events = watch(sandbox, f"resourceVersion={rv}&labelSelector=app%3Dx&timeoutSeconds=1", until=4)
    assert [e["type"] for e in events] == ["DELETED", "ADDED", "MODIFIED"]
