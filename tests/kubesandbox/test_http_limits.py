"""The HTTP front's limits, as kube-apiserver's server sets them: a deadline for reading a request
(ReadHeaderTimeout) and for idle keep-alive connections (IdleTimeout), a bound on concurrent handler
threads answered like max-requests-inflight (429, ``Retry-After: 1``), Go's 400 for a malformed
Content-Length, and 413 for a body over the limit.

Synchronisation is by the socket: a client blocks until the server hangs up (EOF). ``GUARD`` only keeps
a broken server from hanging the test run; no assertion depends on elapsed time."""

from __future__ import annotations

import socket

import pytest

from kubesandbox import Sandbox, ServerLimits
from kubesandbox.client import Client

GUARD = 10.0
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


def connect(sbx: Sandbox) -> socket.socket:
    return socket.create_connection((sbx.host, sbx.port), timeout=GUARD)


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    sock.close()
    return b"".join(chunks)


def version_status(sbx: Sandbox) -> int:
    client = Client(sbx.url)
    try:
        return client.get("/version").status
    finally:
        client.close()


def test_silent_or_slow_clients_are_cut_off_and_their_threads_freed() -> None:
    with Sandbox.start(limits=ServerLimits(read_timeout=0.2)) as sbx:
        assert read_all(connect(sbx)) == b""  # sends nothing: the server hangs up without answering
        assert sbx.connections == 0
        partial = connect(sbx)
        partial.sendall(b"GET /version HTTP/1.1\r\nHost: sandbox\r\n")  # headers never finished
        assert read_all(partial) == b""
        assert sbx.connections == 0
        assert version_status(sbx) == 200


def test_idle_keep_alive_connection_is_closed() -> None:
    with Sandbox.start(limits=ServerLimits(idle_timeout=0.2)) as sbx:
        sock = connect(sbx)
        sock.sendall(b"GET /version HTTP/1.1\r\nHost: sandbox\r\n\r\n")
        data = read_all(sock)  # one answer, then the idle connection is closed
        assert data.startswith(b"HTTP/1.1 200 ") and b"v1.36.0-sandbox" in data
        assert sbx.connections == 0


@pytest.mark.parametrize(
    "header",
    [b"Content-Length: -5", b"Content-Length: +2", b"Content-Length: 1_0", b"Content-Length: abc",
     b"Content-Length: ", b"Content-Length: 2\r\nContent-Length: 3"],
)
def test_malformed_content_length_is_400(sandbox: Sandbox, header: bytes) -> None:
    sock = connect(sandbox)
    sock.sendall(b"POST " + CONFIGMAPS.encode() + b" HTTP/1.1\r\nHost: sandbox\r\n"
                 b"Content-Type: application/json\r\n" + header + b"\r\n\r\n{}")
    data = read_all(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 Bad Request\r\n"), data
    assert b"\r\nConnection: close" in head and body == b"400 Bad Request"  # Go's net/http answer


def test_body_over_the_limit_is_413() -> None:
    with Sandbox.start(limits=ServerLimits(max_body=1024)) as sbx:
        client = Client(sbx.url)
        big = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"},
               "data": {"a": "x" * 2000}}
        reply = client.post(CONFIGMAPS, big)
        assert reply.status == 413 and reply.reason == "RequestEntityTooLarge"
        assert reply.body["message"] == "Request entity too large: limit is 1024"
        sock = connect(sbx)
        chunk = b"x" * 800
        sock.sendall(b"POST " + CONFIGMAPS.encode() + b" HTTP/1.1\r\nHost: sandbox\r\n"
                     b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                     + (b"%x\r\n%b\r\n" % (len(chunk), chunk)) * 2 + b"0\r\n\r\n")
        assert read_all(sock).startswith(b"HTTP/1.1 413 ")
        small = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "small"}, "data": {"a": "x"}}
        assert client.post(CONFIGMAPS, small).status == 201
        client.close()


def test_connections_over_the_bound_get_429_with_retry_after() -> None:
    with Sandbox.start(limits=ServerLimits(max_connections=2)) as sbx:
        held = [connect(sbx), connect(sbx)]  # accepted in order: both handler threads are busy
        data = read_all(connect(sbx))
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 429 Too Many Requests\r\n"), data
        assert b"\r\nRetry-After: 1\r\n" in head + b"\r\n"
        assert body == b"Too many requests, please try again later.\n"  # kube-apiserver's maxinflight text
        assert sbx.connections == 2
        for sock in held:  # finishing them frees their slots
            sock.sendall(b"GET /version HTTP/1.1\r\nHost: sandbox\r\nConnection: close\r\n\r\n")
            assert read_all(sock).startswith(b"HTTP/1.1 200 ")
        assert sbx.connections == 0
        assert version_status(sbx) == 200
