"""A small threaded HTTP receiver on 127.0.0.1 for the notification tests (in process and for real
workers): it records every request (path, headers, body), answers from a script of statuses (then 200),
and can hold every answer until the test releases it (a receiver that hangs)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    requests: list[Request] = field(default_factory=list)
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)  # answers, in order
    hold: bool = False
    release: threading.Event = field(default_factory=threading.Event)
    arrived: int = 0  # requests that reached the handler (held ones included)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self) -> list[bytes]:
        with self.lock:
            return [r.body for r in self.requests]


def _handler(state: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = min(int(self.headers.get("Content-Length") or 0), 4 * 1024 * 1024)
            body = self.rfile.read(length)
            with state.lock:
                state.arrived += 1
            if state.hold:
                state.release.wait(timeout=60)
            with state.lock:
                status, headers = state.script.pop(0) if state.script else (200, {})
                if status < 300:
                    state.requests.append(Request(self.path, {k.lower(): v for k, v in self.headers.items()},
                                                  body))
            answer = b'{"ok": true}' if status < 300 else b"try again later"
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


@contextmanager
def serve() -> Iterator[Receiver]:
    """A receiver on an ephemeral loopback port; stopped (and any held answer released) on exit."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    state = Receiver(f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = _handler(state)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
