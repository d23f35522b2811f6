"""The embedded redis-server: loopback only, durable data dir, clean stop, crash recovery."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from gitops.clock import poll_until
from gitops.errors import StateError
from workers.redis_server import RedisServer, find_redis_server


def test_binary_is_found() -> None:
    assert Path(find_redis_server()).name == "redis-server"


def test_starts_on_loopback_with_appendonly_and_stops(tmp_path: Path) -> None:
    with RedisServer.start(tmp_path) as server:
        client = server.client()
        assert client.ping()
        assert server.url.startswith("redis://127.0.0.1:")
        assert client.config_get("appendonly")["appendonly"] == "yes"
        assert client.config_get("bind")["bind"] == "127.0.0.1"
        proc = server.process
    assert proc is not None and proc.poll() is not None
    assert not server.alive()


def test_data_survives_clean_restart(tmp_path: Path) -> None:
    server = RedisServer.start(tmp_path)
    try:
        server.client().set("k", "v")
        server.restart()
        assert server.client().get("k") == b"v"
    finally:
        server.stop()


def test_data_survives_kill_9_via_appendonly(tmp_path: Path) -> None:
    server = RedisServer.start(tmp_path)
    port = server.port
    server.client().set("k", "durable")

    def in_the_log() -> bool:  # written to the OS (appendfsync everysec only delays the fsync)
        return any(b"durable" in f.read_bytes() for f in tmp_path.rglob("appendonly*") if f.is_file())

    assert poll_until(in_the_log, timeout=10)
    server.kill()
    again = RedisServer.start(tmp_path, port=port)
    try:
        assert again.client().get("k") == b"durable"
    finally:
        again.stop()


def test_unix_socket_only(tmp_path: Path) -> None:
    with RedisServer.start(tmp_path, unix_socket=True) as server:
        assert server.url.startswith("unix://")
        assert server.client().ping()


def test_port_in_use_fails_with_clear_error(tmp_path: Path) -> None:
    with RedisServer.start(tmp_path / "a") as first, pytest.raises(StateError, match="exited"):
        RedisServer.start(tmp_path / "b", port=first.port)


def test_stop_is_idempotent(tmp_path: Path) -> None:
    server = RedisServer.start(tmp_path)
    server.stop()
    server.stop()
    with pytest.raises(redis.ConnectionError):
        redis.Redis(port=server.port, socket_connect_timeout=0.5).ping()
