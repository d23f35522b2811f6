"""The :class:`Sandbox`: an in-process stand-in for a Kubernetes API server, for tests and demos.

Other engineers' tests start one with ``Sandbox.start()`` (a background HTTP thread plus the
controller thread) and point the kubernetes client or kubectl at ``.url`` / ``.kubeconfig_path``.
``.stats`` counts requests, ``.faults`` injects errors, delays and dropped watches. The key choice:
real HTTP on loopback, so clients exercise the same code paths as against a cluster.
"""

from __future__ import annotations

import ipaddress
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from kubesandbox import kubeconfig
from kubesandbox.call import Call
from kubesandbox.controller import Controller
from kubesandbox.errors import UsageError
from kubesandbox.instruments import Faults, Stats
from kubesandbox.server import App, SandboxHTTPServer, ServerLimits, serve_in_thread
from kubesandbox.store import dumps

SEED_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Sandbox:
    """A running sandbox API server. Use :meth:`start`; stop with :meth:`stop` or a ``with`` block."""

    def __init__(self, app: App, server: SandboxHTTPServer, thread: threading.Thread,
                 controller: Controller, name: str, kubeconfig_path: Path | None) -> None:
        self.app = app
        self.name = name
        self.kubeconfig_path = kubeconfig_path
        self._server = server
        self._thread = thread
        self._controller = controller
        host, port = server.server_address[:2]
        self.host = str(host)
        self.port = int(port)
        self.url = f"http://[{self.host}]:{self.port}" if ":" in self.host else f"http://{self.host}:{self.port}"

    @classmethod
    def start(cls, host: str = "127.0.0.1", port: int = 0, kubeconfig: Path | None = None,
              controller_delay: float = 0.2, name: str = "sandbox", *,
              allow_remote: bool = False, limits: ServerLimits | None = None) -> Sandbox:
        """Serve on ``host:port`` (0 picks a free port) in background threads; write a kubeconfig if asked.

        ``limits`` overrides the HTTP server's timeouts and bounds (kube-apiserver's by default)."""
        if not allow_remote and not is_loopback(host):
            raise UsageError(f"refusing to serve the sandbox on non-loopback address {host!r}",
                             field="host")
        app = App()
        seed(app)
        server = SandboxHTTPServer((host, port), app, limits)
        thread = serve_in_thread(server)
        controller = Controller(app, delay=controller_delay)
        controller.start()
        sandbox = cls(app, server, thread, controller, name, None)
        if kubeconfig is not None:
            sandbox.kubeconfig_path = sandbox.write_kubeconfig(kubeconfig)
        return sandbox

    @property
    def stats(self) -> Stats:
        return self.app.stats

    @property
    def faults(self) -> Faults:
        return self.app.faults

    @property
    def connections(self) -> int:
        """Open client connections (each holds one handler thread until it closes or times out)."""
        return self._server.connections

    def write_kubeconfig(self, path: Path) -> Path:
        return kubeconfig.write(Path(path), self.url, self.name)

    def drop_watches(self) -> None:
        """End every open watch stream now (clients see the stream close and must re-watch)."""
        with self.app.store.lock:
            self.app.watch_epoch += 1
            self.app.store.lock.notify_all()

    def settle(self, timeout: float = 10.0) -> bool:
        """Wait until the controller has seen every write and no simulated rollout is still running.

        Returns False on timeout. Tests use it instead of sleeping for ``controller_delay``."""
        return self._controller.wait_settled(timeout)

    def objects(self, plural: str, group: str = "", namespace: str | None = None) -> list[dict[str, Any]]:
        """Copies of the stored objects of one resource (test helper; no HTTP, not counted)."""
        with self.app.store.lock:
            return [e.copy() for e in self.app.store.list((group, plural), namespace)]

    def stop(self) -> None:
        self._server.stopping = True
        self._controller.stop()
        self.app.store.close()
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()
        self._thread.join(timeout=5)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def seed(app: App) -> None:
    """The namespaces every cluster starts with."""
    rt = app.catalog.lookup("", "v1", "namespaces")
    assert rt is not None
    for ns in SEED_NAMESPACES:
        body = dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        app.api.create(Call(rt, "", "", "", {}, body, "application/json", "kube-apiserver/sandbox"))
