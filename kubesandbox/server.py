"""The sandbox's HTTP front: a stdlib ``ThreadingHTTPServer`` speaking HTTP/1.1 with keep-alive.

Used by :class:`kubesandbox.Sandbox`. One handler thread per connection parses the request, counts
it in the stats, applies any matching fault rule, dispatches to the REST verbs or discovery and writes
JSON. Errors become ``meta/v1`` Status bodies with the error's code. Watches stream chunked JSON.

The limits are kube-apiserver's (:class:`ServerLimits`): a request must arrive within ``read_timeout``
of its first byte (the apiserver's ReadHeaderTimeout; the sandbox applies it to the body too), an idle
keep-alive connection is closed after ``idle_timeout``, a send blocked longer than ``write_timeout``
drops the connection, at most ``max_connections`` handler threads run (a connection beyond that gets
the apiserver's max-in-flight answer: 429 with ``Retry-After: 1``), a malformed Content-Length gets Go's
``400 Bad Request`` and a body over ``max_body`` (3 MiB, the apiserver's default) gets 413.
"""

from __future__ import annotations

import io
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from kubesandbox import fieldvalidation, openapi, watch
from kubesandbox.apierrors import ApiError, too_large
from kubesandbox.call import Call
from kubesandbox.catalog import Catalog
from kubesandbox.instruments import WRITE_VERBS, FaultRule, Faults, Stats
from kubesandbox.rest import MAX_BODY, TRUE, Api
from kubesandbox.routes import NOT_FOUND, Route, route
from kubesandbox.store import Store, dumps

log = logging.getLogger(__name__)
VERSION = {"major": "1", "minor": "36", "gitVersion": "v1.36.0-sandbox", "gitCommit": "sandbox",
           "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.25",
           "compiler": "gc", "platform": "linux/amd64"}


@dataclass(frozen=True)
class ServerLimits:
    """The HTTP server's limits; the defaults are kube-apiserver's."""

    read_timeout: float = 32.0  # seconds to receive a whole request (secure serving's ReadHeaderTimeout)
    idle_timeout: float = 90.0  # seconds a keep-alive connection may wait for its next request
    write_timeout: float = 60.0  # seconds one send may block (a client that stopped reading)
    max_connections: int = 600  # handler threads (--max-requests-inflight 400 + mutating 200)
    max_body: int = MAX_BODY  # request body bytes (the apiserver's default MaxRequestBodyBytes)


# Go's net/http answer to a request it cannot frame (bad Content-Length), before any handler runs.
BAD_REQUEST = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close"
               b"\r\n\r\n400 Bad Request")
# kube-apiserver's max-in-flight filter: http.Error(w, "Too many requests, please try again later.", 429).
_TOO_MANY_BODY = b"Too many requests, please try again later.\n"
TOO_MANY_REQUESTS = (b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     b"Retry-After: 1\r\nX-Content-Type-Options: nosniff\r\nContent-Length: %d\r\n"
                     b"Connection: close\r\n\r\n%b" % (len(_TOO_MANY_BODY), _TOO_MANY_BODY))
_CONTENT_LENGTH = re.compile(r"[0-9]{1,18}")
_CHUNK_SIZE = re.compile(rb"[0-9a-fA-F]{1,16}")


class _BadFraming(Exception):
    """The request cannot be framed; answered with :data:`BAD_REQUEST` and the connection closed."""


class _DeadlineReader(io.RawIOBase):
    """The socket as the handler reads it: with ``deadline`` set, no read waits past it."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self.sock = sock
        self.deadline: float | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the request was not received in time")
            self.sock.settimeout(left)
        return self.sock.recv_into(buffer)


class App:
    """Everything one sandbox serves: store, catalog, verbs, counters, faults."""

    def __init__(self) -> None:
        self.store = Store()
        self.catalog = Catalog()
        self.api = Api(self.store, self.catalog)
        self.stats = Stats()
        self.faults = Faults()
        self.watch_epoch = 0  # bumped to drop every open watch
        self._discovery_cache: dict[tuple[tuple[str, ...], str, int], bytes] = {}

    def discovery(self, parts: tuple[str, ...], host: str) -> bytes:
        """A discovery or OpenAPI document, cached until the catalog changes (CRDs)."""
        key = (parts, host, self.catalog.generation)
        cached = self._discovery_cache.get(key)
        if cached is None:
            cached = self._discovery(parts, host)
            if len(self._discovery_cache) > 1000:
                self._discovery_cache.clear()
            self._discovery_cache[key] = cached
        return cached

    def _discovery(self, parts: tuple[str, ...], host: str) -> bytes:
        doc: dict[str, Any] | None = None
        with self.store.lock:
            if parts == ("version",):
                doc = VERSION
            elif parts == ("api",):
                doc = {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": host}]}
            elif parts == ("api", "v1"):
                doc = self.catalog.resource_list("", "v1")
            elif parts == ("apis",):
                doc = self.catalog.group_list()
            elif len(parts) == 2 and parts[0] == "apis":
                doc = self.catalog.group(parts[1])
            elif len(parts) == 3 and parts[0] == "apis":
                doc = self.catalog.resource_list(parts[1], parts[2])
            elif parts == ("openapi", "v3"):
                doc = openapi.root(self.catalog)
            elif parts[:2] == ("openapi", "v3") and len(parts) in (4, 5):
                group, version = ("", parts[3]) if parts[2] == "api" else (parts[3], parts[-1])
                doc = openapi.group_version(self.catalog, group, version)
        if doc is None:
            raise NOT_FOUND
        return dumps(doc)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SandboxHTTPServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without TCP_NODELAY, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rfile.close()  # reads go through the deadline instead
        self._reader = _DeadlineReader(self.connection)
        self._buffered = io.BufferedReader(self._reader)
        self.rfile = self._buffered
        self._served = 0

    def handle_one_request(self) -> None:
        """Wait for a request (``idle_timeout`` between keep-alive requests), then read it by a
        deadline (``read_timeout`` from its first byte, or from the accept for the first request)."""
        limits = self.server.limits
        if self._served:
            self._reader.deadline = None
            self.connection.settimeout(limits.idle_timeout)
            try:
                if not self._buffered.peek(1):
                    self.close_connection = True
                    return
            except OSError:  # idle too long (TimeoutError) or reset
                self.close_connection = True
                return
        self._reader.deadline = time.monotonic() + limits.read_timeout
        self._served += 1
        super().handle_one_request()

    def _reading_done(self) -> None:
        self._reader.deadline = None
        self.connection.settimeout(self.server.limits.write_timeout)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        app = self.server.app
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        try:
            try:
                body = self._body()
            finally:
                self._reading_done()
            if url.path.strip("/") in ("healthz", "livez", "readyz"):
                self._send(200, b"ok", "text/plain")
                return
            r = route(method, url.path, query.get("watch") in TRUE, app.catalog)
            app.stats.record(r.verb, r.rt.kind if r.rt else "", r.rt.plural if r.rt else "")
            fault = app.faults.take(r.verb, self.path)
            if fault is not None and self._fault(fault, r):
                return
            if r.rt is None:
                self._send(200, app.discovery(r.discovery, self.headers.get("Host", "")))
                return
            self._dispatch(r, query, body)
        except ApiError as exc:
            self._error(exc)
        except _BadFraming:
            self.close_connection = True
            self.wfile.write(BAD_REQUEST)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception as exc:  # a bug: answer like the apiserver's panic filter, keep serving
            log.exception("sandbox: internal error on %s %s", method, self.path)
            self._error(ApiError(500, "InternalError", f"Internal error occurred: {exc}"))

    def _content_length(self) -> int | None:
        """The Content-Length as Go's net/http reads it: decimal digits only, repeated values equal."""
        values = [v.strip(" \t") for v in self.headers.get_all("Content-Length") or []]
        if not values:
            return None
        if not _CONTENT_LENGTH.fullmatch(values[0]) or any(v != values[0] for v in values[1:]):
            raise _BadFraming
        return int(values[0])

    def _body(self) -> bytes:
        limit = self.server.limits.max_body
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._chunked_body(limit)
        size = self._content_length()
        if not size:
            return b""
        if size > limit:
            if size <= 4 * limit:  # drain it so the client can read our answer
                while size > 0:
                    size -= len(self.rfile.read(min(size, 65536)) or b"x" * size)
            else:  # the unread body makes the connection unusable
                self.close_connection = True
            raise too_large(limit)
        body = self.rfile.read(size)
        if len(body) < size:
            raise ConnectionError("the client closed the connection before sending the whole body")
        return body

    def _chunked_body(self, limit: int) -> bytes:
        data = bytearray()
        while True:
            line = self.rfile.readline(100)
            size_field = line.split(b";")[0].strip()
            if not line.endswith(b"\n") or not _CHUNK_SIZE.fullmatch(size_field):
                self.close_connection = True
                raise ApiError(400, "BadRequest", "malformed chunked body")
            size = int(size_field, 16)
            if size == 0:
                self.rfile.readline(100)
                return bytes(data)
            if len(data) + size > limit:
                self.close_connection = True
                raise too_large(limit)
            data += self.rfile.read(size)
            self.rfile.readline(10)

    def _fault(self, fault: FaultRule, r: Route) -> bool:
        """Apply a fault rule; True when the response has been sent."""
        if fault.delay:
            time.sleep(fault.delay)
        if fault.drop_watch and r.verb == "watch":
            self._start_stream()
            self._end_stream()
            return True
        if fault.status is None:
            return False
        reasons = {429: "TooManyRequests", 500: "InternalError", 409: "Conflict", 503: "ServiceUnavailable",
                   504: "Timeout", 403: "Forbidden", 401: "Unauthorized", 404: "NotFound"}
        error = ApiError(fault.status, reasons.get(fault.status, "Unknown"),
                         f"injected fault: {fault.status}", retry_after=fault.retry_after)
        if fault.retry_after is not None:
            error.details = {"retryAfterSeconds": int(fault.retry_after)}
        self._error(error)
        return True

    def _dispatch(self, r: Route, query: dict[str, str], body: bytes) -> None:
        assert r.rt is not None
        call = Call(r.rt, r.namespace, r.name, r.subresource, query, body,
                    self.headers.get("Content-Type", "").split(";")[0].strip(),
                    self.headers.get("User-Agent", ""))
        api = self.server.app.api
        if r.verb in WRITE_VERBS:  # query parameters are validated before anything is looked up
            fieldvalidation.mode(query)
            _ = call.dry_run
        if r.verb == "watch":
            self._watch(call)
            return
        handlers: dict[str, Callable[[], tuple[int, bytes]]] = {
            "get": lambda: (200, api.get(call)), "list": lambda: (200, api.list(call)),
            "create": lambda: api.create(call), "update": lambda: api.update(call),
            "patch": lambda: api.patch(call), "delete": lambda: api.delete(call),
            "deletecollection": lambda: api.delete_collection(call)}
        code, payload = handlers[r.verb]()
        self._send(code, payload, warnings=call.warnings)

    def _watch(self, call: Call) -> None:
        app = self.server.app
        epoch = app.watch_epoch
        watch.validate(call)
        self._start_stream()
        try:
            watch.run(app.api, call, self._chunk,
                      lambda: app.watch_epoch != epoch or self.server.stopping)
        except ApiError as exc:
            self._chunk(b'{"type":"ERROR","object":' + dumps(exc.to_status()) + b"}\n")
        self._end_stream()

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.wfile.flush()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%b\r\n" % (len(data), data))
        self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        self.close_connection = True

    def _error(self, exc: ApiError) -> None:
        extra = {"Retry-After": str(int(exc.retry_after))} if exc.retry_after is not None else {}
        self._send(exc.code, dumps(exc.to_status()), headers=extra)

    def _send(self, code: int, payload: bytes, content_type: str = "application/json",
              headers: dict[str, str] | None = None, warnings: list[str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for text in warnings or []:  # RFC 7234 warn-code 299, as the apiserver sends them
            safe = "".join(ch if " " <= ch <= "~" else "?" for ch in text[:300])  # no header injection
            escaped = safe.replace("\\", "\\\\").replace('"', '\\"')
            self.send_header("Warning", f'299 - "{escaped}"')
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: App, limits: ServerLimits | None = None) -> None:
        self.app = app
        self.limits = limits or ServerLimits()
        self.stopping = False
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        if ":" in address[0]:  # an IPv6 literal such as ::1
            self.address_family = socket.AF_INET6
        super().__init__(address, Handler)

    @property
    def connections(self) -> int:
        """Open connections, each served by one handler thread."""
        with self._conn_lock:
            return len(self._connections)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conn_lock:
            full = len(self._connections) >= self.limits.max_connections
            if not full:
                self._connections.add(request)
        if full:
            self._refuse(request)
            return
        super().process_request(request, client_address)

    def _refuse(self, request: socket.socket) -> None:
        """Every handler thread is busy: answer 429 from the accepting thread, without a new thread."""
        try:
            request.setblocking(False)
            try:
                request.recv(65536)  # what already arrived, so that closing does not reset the answer
            except OSError:
                pass
            request.sendall(TOO_MANY_REQUESTS)  # small enough for an empty send buffer
        except OSError:
            pass
        finally:
            self.shutdown_request(request)

    def shutdown_request(self, request: Any) -> None:
        with self._conn_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Cut every open connection so idle keep-alive handler threads end with the server."""
        with self._conn_lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve_in_thread(server: SandboxHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              name="sandbox-http", daemon=True)
    thread.start()
    return thread


def dump_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True)
