"""A tiny OTLP/HTTP trace collector on 127.0.0.1 for the worker tests: it records every POST and
decodes it with the opentelemetry-proto classes (no network beyond loopback)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan


@dataclass
class Receiver:
    """An OTLP/HTTP collector: records every POST (path, content type, decoded request)."""

    url: str = ""
    posts: list[tuple[str, str, ExportTraceServiceRequest]] = field(default_factory=list)
    status: int = 200
    hold: threading.Event | None = None   # when set: each POST waits until the event is set
    arrived: threading.Event = field(default_factory=threading.Event)

    def spans(self) -> list[tuple[ProtoSpan, dict[str, str]]]:
        """Every received span with its resource's attributes."""
        out = []
        for _, _, request in self.posts:
            for resource_spans in request.resource_spans:
                resource = attributes(resource_spans.resource.attributes)
                for scope in resource_spans.scope_spans:
                    out.extend((span, resource) for span in scope.spans)
        return out


def attributes(values: Any) -> dict[str, str]:
    return {kv.key: kv.value.string_value for kv in values}


@contextlib.contextmanager
def serve() -> Iterator[Receiver]:
    """A receiver on 127.0.0.1 (an ephemeral port) for the duration of the block."""
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.arrived.set()
            if state.hold is not None:
                state.hold.wait(30)
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            state.posts.append((self.path, self.headers.get("Content-Type", ""), request))
            answer = ExportTraceServiceResponse().SerializeToString() if state.status == 200 else b"down"
            self.send_response(state.status)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        if state.hold is not None:
            state.hold.set()
        server.shutdown()
        server.server_close()
        thread.join(10)


