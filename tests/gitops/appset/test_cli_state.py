"""``gitops appset status|approve|pause|resume|restore|delete|tombstones`` and the ApplicationSet table of
``gitops status``, against a real redis-server holding records the controller wrote."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from gitops import domain
from gitops.appset.controller import ControllerPorts, load_state, run_appset
from gitops.cli import main
from gitops.clock import SYSTEM_CLOCK
from gitops.state import RedisStore
from gitops.state.appsets import RedisAppSets
from gitops.testing.gittree import FakeGitTree
from workers.redis_server import RedisServer

from .test_controller import CLUSTERS, Heads, cluster, fleet, make_set


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer.start(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop(save=False)


@pytest.fixture
def url(redis_server: RedisServer) -> str:
    redis_server.client().flushdb()
    return redis_server.url


def run(url: str, *clusters: domain.Cluster) -> None:
    store = RedisAppSets.from_url(url)
    ports = ControllerPorts(store, RedisStore.from_url(url), FakeGitTree({}), Heads(), SYSTEM_CLOCK)
    s = make_set([{"clusters": {"selector": {"env": "prod"}}}])
    run_appset(s, fleet(*clusters), ports)


def test_status_approve_and_tombstones_through_the_cli(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    run(url, *CLUSTERS)
    assert main(["appset", "status", "--redis-url", url]) == 0
    out = capsys.readouterr().out
    assert "APPLICATIONSET" in out and "web" in out and "5" in out
    fewer = [c if c.name not in ("c1", "c3") else cluster(c.name, env="gone") for c in CLUSTERS]
    run(url, *fewer)
    assert main(["appset", "status", "web", "--redis-url", url]) == 1  # a held change waits for you
    out = capsys.readouterr().out
    held = load_state(RedisAppSets.from_url(url), "web")[0].pending
    assert held is not None and f"held change {held.id}" in out and "delete web-c1" in out
    assert main(["appset", "approve", "web", "--change", "nope", "--redis-url", url]) == 2
    assert "held change is" in capsys.readouterr().err
    assert main(["appset", "approve", "web", "--change", held.id, "--redis-url", url]) == 0
    assert "approved change" in capsys.readouterr().out
    run(url, *fewer)
    assert main(["appset", "tombstones", "-o", "json", "--redis-url", url]) == 0
    stones = json.loads(capsys.readouterr().out)
    assert sorted(s["application"] for s in stones) == ["web-c1", "web-c3"]
    assert main(["appset", "restore", "web", "web-c1", "--redis-url", url]) == 0
    assert "restored 'web-c1'" in capsys.readouterr().out
    assert main(["appset", "status", "web", "-o", "json", "--redis-url", url]) == 0
    doc = json.loads(capsys.readouterr().out)[0]
    assert doc["kept"] == ["web-c1"] and "web-c1" in doc["released"] and doc["pending"] is None
    assert main(["appset", "delete", "web", "web-c1", "--redis-url", url]) == 0


def test_pause_resume_and_gitops_status_lists_the_sets(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    run(url, *CLUSTERS)
    assert main(["appset", "pause", "web", "--redis-url", url]) == 0
    assert main(["status", "--redis-url", url]) in (0, 1)
    out = capsys.readouterr().out
    assert "APPLICATIONSET" in out and "web" in out
    assert main(["appset", "resume", "web", "--redis-url", url]) == 0
    assert main(["appset", "pause", "nope", "--redis-url", url]) == 2
    assert "no state yet" in capsys.readouterr().err
    assert main(["appset", "status", "nope", "--redis-url", url]) == 2
    assert main(["appset", "pause", "Bad:Name", "--redis-url", url]) == 2  # refused before Redis
