"""A delivery through the real workers' dispatcher (workers.dispatch.CeleryDispatcher) on the Redis
broker: the task message lands on the reconcile queue with the webhook trigger and the delivery named
in its detail, the target is marked queued, and a second push while it is queued is coalesced."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import replace
from typing import Any

import pytest
from webhook_kit import make_hooks, payload

from gitops.state import RedisStore
from gitops.vocabulary import Target
from workers.redis_server import RedisServer


def _messages(client: Any, queue: str) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in client.lrange(queue, 0, -1)]


def test_a_push_enqueues_coalesced_reconciles_on_the_broker(redis_server: RedisServer,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from workers.app import app, configure
    from workers.dispatch import CeleryDispatcher
    from workers.settings import Settings

    configure(app, replace(Settings.from_env(), redis_url=redis_server.url))
    client = redis_server.client()
    client.delete("reconcile")
    marks = RedisStore(client, prefix=f"gitops:v1:test-{uuid.uuid4().hex[:12]}:")
    hooks = make_hooks(redis_server, CeleryDispatcher(marks), monkeypatch)
    data = payload("github-push.json")
    data["commits"][0]["modified"] = ["bases/common/labels.yaml"]  # shared: both apps of the branch
    with hooks.client:
        first = hooks.send("github", data, delivery="delivery-one")
        assert first.status_code == 202, first.text
        triggered = {t["target"]: t["task"] for t in first.json()["triggered"]}
        assert set(triggered) == {"api@prod", "web@prod"}
        assert all(task != "coalesced" for task in triggered.values())

        messages = _messages(client, "reconcile")
        assert sorted(m["headers"]["id"] for m in messages) == sorted(triggered.values())
        for message in messages:
            assert message["headers"]["task"] == "gitops.reconcile"
            assert message["content-type"] == "application/json"
            args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
            assert triggered[f"{args[0]}@{args[1]}"] == message["headers"]["id"]
            assert args[2] == "webhook" and kwargs == {"detail": "github delivery delivery-one"}
        for key in triggered:
            application, cluster = key.split("@")
            assert client.get(marks.keys.schedule(Target(application, cluster))) == b"queued"

        second = hooks.send("github", data, delivery="delivery-two")  # a new push while both are queued
        assert second.status_code == 202
        assert {t["task"] for t in second.json()["triggered"]} == {"coalesced"}
        assert second.json()["message"] == "refresh requested for 2 target(s) (2 already queued: coalesced)"
        assert len(_messages(client, "reconcile")) == 2  # one reconcile per target, not one per push
    client.delete("reconcile")
