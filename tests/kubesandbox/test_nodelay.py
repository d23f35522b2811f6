"""Responses are not held back by Nagle's algorithm.

The handler writes headers and body separately; without TCP_NODELAY on the accepted socket, Nagle's
algorithm and the client's delayed ACK add ~40 ms to every response on a keep-alive connection. The
check is structural (the option is set on the server's socket for real connections), so it cannot be
fooled or flaked by machine load; bench/bench_sandbox.py measures the latency itself.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubesandbox import Sandbox
from kubesandbox.client import Client
from kubesandbox.server import Handler


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[list[int], Sandbox]]:
    seen: list[int] = []
    original = Handler.setup

    def setup(self: Handler) -> None:
        original(self)
        seen.append(self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    monkeypatch.setattr(Handler, "setup", setup)
    with Sandbox.start(kubeconfig=tmp_path / "kubeconfig") as sandbox:
        yield seen, sandbox


def test_every_accepted_connection_disables_nagle(recorded: tuple[list[int], Sandbox]) -> None:
    seen, sandbox = recorded
    client = Client(sandbox.url)
    for i in range(3):
        client.get("/api/v1/namespaces/default")
        client.post("/api/v1/namespaces/default/configmaps",
                    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{i}"}})
    client.close()
    assert seen and all(flag != 0 for flag in seen), seen
