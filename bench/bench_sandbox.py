"""Latency of the sandbox API server, against a bare HTTP server measured in the same run.

The peer is Python's own ``ThreadingHTTPServer`` answering every request with a fixed small JSON body
over the same kind of keep-alive connection: the floor for any Python HTTP server on this machine.
The ratio says what the sandbox's Kubernetes semantics (routing, storage, resourceVersion, SSA) cost
on top of serving HTTP. Run: ``python bench/bench_sandbox.py [--samples 200]``.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from kubesandbox import Sandbox
from kubesandbox.client import Client

BODY = json.dumps({"kind": "Status", "status": "Success"}).encode()


class Bare(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    do_GET = do_POST = do_PATCH = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


def median_ms(action: Callable[[int], object], samples: int) -> float:
    times = []
    for i in range(samples):
        started = time.perf_counter()
        action(i)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def deployment(i: int, replicas: int) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": f"d{i}"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "w"}},
                     "template": {"metadata": {"labels": {"app": "w"}},
                                  "spec": {"containers": [{"name": "w", "image": "nginx:1.27"}]}}}}


def measure(client: Client, n: int) -> dict[str, float]:
    cms, deps = "/api/v1/namespaces/default/configmaps", "/apis/apps/v1/namespaces/default/deployments"
    return {
        "GET object": median_ms(lambda i: client.get("/api/v1/namespaces/default"), n),
        "POST ConfigMap": median_ms(lambda i: client.post(cms, {"apiVersion": "v1", "kind": "ConfigMap",
                                                                 "metadata": {"name": f"c{i}"}}), n),
        "SSA Deployment (create)": median_ms(lambda i: client.apply(f"{deps}/d{i}", deployment(i, 1)), n),
        "SSA Deployment (change)": median_ms(lambda i: client.apply(f"{deps}/d{i}", deployment(i, 2)), n),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    bare = ThreadingHTTPServer(("127.0.0.1", 0), Bare)
    threading.Thread(target=bare.serve_forever, daemon=True).start()
    peer = measure(Client(f"http://127.0.0.1:{bare.server_address[1]}"), args.samples)
    bare.shutdown()
    with tempfile.TemporaryDirectory() as tmp, Sandbox.start(kubeconfig=Path(tmp) / "kc") as sandbox:
        ours = measure(Client(sandbox.url), args.samples)
    print(f"{'request':26} {'bare HTTP':>10} {'sandbox':>10} {'ratio':>7}")
    for name, value in ours.items():
        print(f"{name:26} {peer[name]:8.2f}ms {value:8.2f}ms {value / peer[name]:6.1f}x")


if __name__ == "__main__":
    main()
