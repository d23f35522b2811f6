"""A tiny raw HTTP client for the sandbox, for tests that need exact status codes, headers and bodies.

Used by the sandbox tests and available to other engineers' tests; production code talks to clusters
through the kubernetes client instead. One keep-alive connection per client; not thread-safe.
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

PATCH_TYPES = {"merge": "application/merge-patch+json", "json": "application/json-patch+json",
               "strategic": "application/strategic-merge-patch+json", "apply": "application/apply-patch+yaml"}


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def reason(self) -> str:
        return str(self.body.get("reason", "")) if isinstance(self.body, dict) else ""


class Client:
    """Raw HTTP against the sandbox, so tests see exact status codes and bodies."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)

    def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json",
                headers: dict[str, str] | None = None) -> Reply:
        data: bytes | None
        if body is None:
            data = None
        elif isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = json.dumps(body).encode()
        hdrs = {"Content-Type": content_type, "User-Agent": "sandbox-test/1.0", **(headers or {})}
        self.conn.request(method, path, body=data, headers=hdrs)
        resp = self.conn.getresponse()
        raw = resp.read()
        try:
            parsed: Any = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        if resp.getheader("Connection", "").lower() == "close":
            self.conn.close()
        return Reply(resp.status, parsed, {k.lower(): v for k, v in resp.getheaders()})

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def post(self, path: str, body: Any) -> Reply:
        return self.request("POST", path, body)

    def put(self, path: str, body: Any) -> Reply:
        return self.request("PUT", path, body)

    def patch(self, path: str, body: Any, kind: str = "merge") -> Reply:
        return self.request("PATCH", path, body, PATCH_TYPES[kind])

    def apply(self, path: str, body: Any, manager: str = "test", force: bool = False) -> Reply:
        query = ("&" if "?" in path else "?") + f"fieldManager={manager}" + ("&force=true" if force else "")
        return self.patch(path + query, body, "apply")

    def delete(self, path: str, body: Any = None) -> Reply:
        return self.request("DELETE", path, body)

    def close(self) -> None:
        self.conn.close()
