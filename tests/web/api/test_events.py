"""GET /api/v1/events: server-sent events from the real Redis event stream, read by a real HTTP client
from a real uvicorn on 127.0.0.1: live events, the caller's scope, resuming with Last-Event-ID, the
ping, disconnects, a client too slow to keep up, and bad requests.

Synchronisation is on Redis itself: a client is "listening" once the server's reader is a client
blocked in XREAD (``CLIENT LIST``), never after a sleep. The HTTP client's read timeout only keeps a
broken stream from hanging the run; no assertion depends on it.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
import pytest
import uvicorn
from api_kit import TEAM_A, VIEWER, World, make_world, operation_of

from gitops.clock import poll_until
from gitops.state import Event, RedisStore
from gitops.vocabulary import OperationPhase
from web.api import events as events_module
from workers.redis_server import RedisServer, free_port

WAIT = 30.0  # upper bound of every poll (a hang guard: each returns as soon as its condition holds)


@pytest.fixture(scope="module")
def event_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A Redis of this module's own, so the blocked readers counted are this module's."""
    server = RedisServer.start(tmp_path_factory.mktemp("redis-events"))
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def short_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    # an abandoned blocking read returns within this; the protocol is the same at 5000 ms
    monkeypatch.setattr(events_module, "BLOCK_MS", 200)


def blocked_readers(store: RedisStore) -> int:
    return sum(1 for c in store.redis.client_list() if c.get("cmd") == "xread" and "b" in c.get("flags", ""))


@dataclass
class Served:
    world: World
    url: str
    server: uvicorn.Server

    def hub(self) -> events_module.EventHub | None:
        found: tuple[object, events_module.EventHub] | None = getattr(self.world.app.state, "event_hub", None)
        return None if found is None else found[1]


@pytest.fixture
def served(event_redis: RedisServer, actions: Any) -> Iterator[Served]:
    world = make_world(event_redis, actions)
    assert poll_until(lambda: blocked_readers(world.store) == 0, WAIT) is not None  # earlier tests' reads
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(world.app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, name="uvicorn-test")
    thread.start()
    try:
        assert poll_until(lambda: server.started or not thread.is_alive(), WAIT) and server.started
        yield Served(world, f"http://127.0.0.1:{port}", server)
    finally:
        server.should_exit = True
        thread.join()
        world.close()


class Stream:
    """The events of one open SSE response, parsed: (event, id, data) triples; comments apart."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.iter_lines()
        self.comments: list[str] = []

    def next(self) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for line in self.lines:
            if line == "":
                if fields:
                    return fields
                continue
            if line.startswith(":"):
                self.comments.append(line)
                continue
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        raise AssertionError("the stream ended")

    def next_comment(self) -> str:
        for line in self.lines:
            if line.startswith(":"):
                return line
        raise AssertionError("the stream ended")


@pytest.fixture
def connect(served: Served) -> Iterator[Any]:
    opened: list[Any] = []
    client = httpx.Client(timeout=httpx.Timeout(WAIT))

    def open_stream(headers: dict[str, str], *, subscribers: int = 1) -> Stream:
        """An open stream once the server has subscribed it and its reader is blocked in XREAD."""
        manager = client.stream("GET", f"{served.url}/api/v1/events", headers=headers)
        response = manager.__enter__()
        opened.append(manager)
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")

        def listening() -> bool:
            hub = served.hub()
            return (hub is not None and hub.subscribers >= subscribers
                    and blocked_readers(served.world.store) >= 1)

        assert poll_until(listening, WAIT)
        return Stream(response)

    yield open_stream
    for manager in opened:
        manager.__exit__(None, None, None)
    client.close()


def test_a_status_write_reaches_a_connected_client(served: Served, connect: Any) -> None:
    stream = connect(VIEWER)
    served.world.put("web", "prod-eu", op_id="op-7")
    event = stream.next()
    [stored] = served.world.store.events("0")
    assert event["event"] == "status" and event["id"] == stored.id
    data = json.loads(event["data"])
    assert data == {"id": stored.id, "kind": "status", "application": "web", "cluster": "prod-eu",
                    "message": stored.message, "time": stored.time,
                    "data": {"phase": "Succeeded", "operation": "op-7"}}


def test_a_scoped_client_receives_only_its_applications(served: Served, connect: Any) -> None:
    stream = connect(TEAM_A)
    served.world.store.begin(operation_of("db", "staging", op_id="op-db", phase=OperationPhase.RUNNING,
                                          finished=None))
    served.world.store.begin(operation_of("web", "prod-eu", op_id="op-web", phase=OperationPhase.RUNNING,
                                          finished=None))
    event = stream.next()  # events arrive in order: db's came first and was not sent
    assert json.loads(event["data"])["application"] == "web" and event["event"] == "operation"


def test_a_reconnecting_client_gets_what_it_missed_then_live_events(served: Served, connect: Any) -> None:
    store = served.world.store
    ids = [store.publish(Event("note", "web", "prod-eu", f"missed {i}")) for i in range(3)]
    stream = connect({**VIEWER, "Last-Event-ID": ids[0]})
    assert [stream.next()["id"] for _ in range(2)] == ids[1:]
    live = store.publish(Event("note", "web", "prod-eu", "live"))
    event = stream.next()
    assert event["id"] == live and json.loads(event["data"])["message"] == "live"


def test_a_client_that_missed_too_much_is_told_to_reload(served: Served, connect: Any,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events_module, "CATCH_UP", 4)
    monkeypatch.setattr(events_module, "BATCH", 2)
    store = served.world.store
    ids = [store.publish(Event("note", "web", "prod-eu", f"missed {i}")) for i in range(8)]
    stream = connect({**VIEWER, "Last-Event-ID": ids[0]})
    assert [stream.next()["id"] for _ in range(4)] == ids[1:5]
    assert stream.next()["event"] == "reset"
    live = store.publish(Event("note", "web", "prod-eu", "live"))
    assert stream.next()["id"] == live


def test_an_idle_stream_is_pinged(served: Served, connect: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events_module, "PING_SECONDS", 0.05)
    stream = connect(VIEWER)
    assert stream.next_comment().startswith(": ping")


def test_event_kinds_cannot_break_the_stream_framing(served: Served, connect: Any) -> None:
    stream = connect(VIEWER)
    served.world.store.publish(Event("evil\nevent: injected\ndata: x", "web", "prod-eu",
                                     "line one\nline two <script>alert(1)</script>"))
    event = stream.next()
    assert event["event"] == "evileventinjecteddatax"
    assert json.loads(event["data"])["message"] == "line one\nline two <script>alert(1)</script>"


def test_clients_share_one_reader_and_a_disconnect_stops_it(served: Served, connect: Any) -> None:
    first = connect(VIEWER)
    second = connect(TEAM_A, subscribers=2)
    assert blocked_readers(served.world.store) == 1  # one reader for both clients
    hub = served.hub()
    assert hub is not None and hub.subscribers == 2
    served.world.put("web", "prod-eu")
    assert first.next()["event"] == second.next()["event"] == "status"
    first.response.close()
    second.response.close()
    assert poll_until(lambda: hub.subscribers == 0, WAIT) is not None
    assert poll_until(lambda: blocked_readers(served.world.store) == 0, WAIT) is not None


def test_events_need_credentials_and_a_valid_last_event_id(served: Served) -> None:
    with httpx.Client(timeout=WAIT) as client:
        missing = client.get(f"{served.url}/api/v1/events")
        assert missing.status_code == 401
        assert missing.headers["content-type"] == "application/problem+json"
        for bad in ("0; FLUSHALL", "$", "+", "1-2-3", "x" * 65):
            response = client.get(f"{served.url}/api/v1/events", headers={**VIEWER, "Last-Event-ID": bad})
            assert response.status_code in (400, 422), bad
            assert response.headers["content-type"] == "application/problem+json"
    assert served.hub() is None or served.hub().subscribers == 0  # type: ignore[union-attr]


def test_a_subscriber_too_slow_to_drain_its_queue_is_told_to_reconnect(
        event_redis: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events_module, "QUEUE", 2)
    store = RedisStore.from_url(event_redis.url, prefix="gitops:v1:test-slow:")
    hub = events_module.EventHub(store)

    async def scenario() -> list[Event | None]:
        got: list[Event | None] = []
        async with hub.subscribe() as queue:
            listening = await anyio.to_thread.run_sync(
                lambda: poll_until(lambda: blocked_readers(store) >= 1, WAIT))
            assert listening is not None
            for i in range(5):  # the loop is held: the reader can hand over nothing meanwhile
                store.publish(Event("note", "web", "prod-eu", f"burst {i}"))
            while True:
                item = await queue.get()
                got.append(item)
                if item is None:
                    return got

    try:
        got = asyncio.run(scenario())
        assert got[-1] is None and len(got) < 6
        assert poll_until(lambda: blocked_readers(store) == 0, WAIT) is not None
    finally:
        store.redis.close()
