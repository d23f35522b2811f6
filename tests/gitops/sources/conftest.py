"""Real Git servers on loopback for the source tests: git daemon, smart HTTP, sshd, a black hole.

Repositories are built with pygit2 (``RepoBuilder``) under a temporary base directory and served by
``git daemon`` (git://), a threaded ``http.server`` running ``git-http-backend`` as CGI (with
optional Basic auth and a request log), and, when ``/usr/sbin/sshd`` exists and we are root, an
sshd with throwaway host and client keys. Only 127.0.0.1 is ever used.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pygit2
import pytest
from pygit2.enums import FileMode

from gitops.clock import poll_until
from gitops.sources import GitSource
from gitops.sources.remote import configure_timeouts

HTTP_BACKEND = "/usr/lib/git-core/git-http-backend"
SSHD = "/usr/sbin/sshd"
SIG = pygit2.Signature("Test", "test@example.invalid", 1_700_000_000, 0)


@dataclass(frozen=True)
class Link:
    """A symlink entry in a test tree."""

    target: str


class RepoBuilder:
    """A bare repository under the served base directory, committed to with pygit2."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.repo = pygit2.init_repository(str(path), bare=True, initial_head="main")

    def _tree(self, files: dict[str, Any]) -> pygit2.Oid:
        nested: dict[str, Any] = {}
        for name, content in files.items():
            head, _, rest = name.partition("/")
            if rest:
                nested.setdefault(head, {})[rest] = content
            else:
                nested[head] = content
        builder = self.repo.TreeBuilder()
        for name, content in sorted(nested.items()):
            if isinstance(content, dict):
                builder.insert(name, self._tree(content), FileMode.TREE)
            elif isinstance(content, Link):
                builder.insert(name, self.repo.create_blob(content.target.encode()), FileMode.LINK)
            elif isinstance(content, tuple):  # (bytes, filemode)
                builder.insert(name, self.repo.create_blob(content[0]), content[1])
            else:
                data = content.encode() if isinstance(content, str) else content
                builder.insert(name, self.repo.create_blob(data), FileMode.BLOB)
        return builder.write()

    def commit(self, files: dict[str, Any], branch: str = "main", message: str = "change") -> str:
        ref = f"refs/heads/{branch}"
        parents = [self.repo.references[ref].target] if ref in self.repo.references else []
        oid = self.repo.create_commit(ref, SIG, SIG, message, self._tree(files), parents)
        return str(oid)

    def tag(self, name: str, revision: str, annotated: bool = True) -> None:
        if annotated:
            self.repo.create_tag(name, pygit2.Oid(hex=revision), pygit2.enums.ObjectType.COMMIT, SIG, name)
        else:
            self.repo.references.create(f"refs/tags/{name}", pygit2.Oid(hex=revision))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Wait until ``proc`` listens on ``port``; stop it and raise if it does not."""

    def listening_or_exited() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            return proc.poll() is not None

    if poll_until(listening_or_exited, timeout) and proc.poll() is None:
        return
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=10)
    raise RuntimeError(f"{proc.args!r} did not listen on port {port}")


@dataclass
class GitDaemon:
    base: Path
    port: int
    proc: subprocess.Popen[bytes]

    def url(self, name: str) -> str:
        return f"git://127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def start_daemon(base: Path) -> GitDaemon:
    port = free_port()
    proc = subprocess.Popen(["git", "daemon", "--reuseaddr", "--listen=127.0.0.1", f"--port={port}",
                             "--export-all", f"--base-path={base}", str(base)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc)
    return GitDaemon(base, port, proc)


@dataclass
class HttpGit:
    """Smart-HTTP server: ``requests`` logs (method, path) of every request it answered."""

    base: Path
    server: ThreadingHTTPServer
    requests: list[tuple[str, str]] = field(default_factory=list)
    auth: tuple[str, str] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    trickle: float = 0.0  # seconds to sleep between 1 KiB chunks of a POST answer (slow server)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def ref_listings(self, name: str | None = None) -> int:
        return sum(1 for method, path in self.requests if method == "GET" and "/info/refs" in path
                   and (name is None or path.startswith(f"/{name}/")))

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(handler.rfile.readline().strip().split(b";")[0], 16)
            if size == 0:
                handler.rfile.readline()
                return b"".join(chunks)
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
    return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))


def _cgi_env(handler: BaseHTTPRequestHandler, base: Path, length: int) -> dict[str, str]:
    path, _, query = handler.path.partition("?")
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_PROJECT_ROOT": str(base),
            "GIT_HTTP_EXPORT_ALL": "1", "REQUEST_METHOD": handler.command, "PATH_INFO": path,
            "QUERY_STRING": query, "CONTENT_TYPE": handler.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(length), "REMOTE_ADDR": "127.0.0.1",
            "GIT_PROTOCOL": handler.headers.get("Git-Protocol", "")}


def _handler_for(state: HttpGit) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _authorised(self) -> bool:
            if state.auth is None:
                return True
            expected = base64.b64encode(f"{state.auth[0]}:{state.auth[1]}".encode()).decode()
            return self.headers.get("Authorization", "") == f"Basic {expected}"

        def _serve(self) -> None:
            body = _read_body(self)
            with state.lock:
                state.requests.append((self.command, self.path))
            if not self._authorised():
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            out = subprocess.run([HTTP_BACKEND], input=body, capture_output=True, timeout=60,
                                 env=_cgi_env(self, state.base, len(body))).stdout
            head, _, payload = out.partition(b"\r\n\r\n")
            headers = [line.split(b":", 1) for line in head.split(b"\r\n") if b":" in line]
            status = next((int(v.split()[0]) for k, v in headers if k.lower() == b"status"), 200)
            self.send_response(status)
            for key, value in headers:
                if key.lower() != b"status":
                    self.send_header(key.decode(), value.decode().strip())
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            step = 1024 if state.trickle and self.command == "POST" else len(payload) or 1
            try:
                for start in range(0, len(payload), step):
                    if start:  # simulated slowness (a slow remote), not synchronisation
                        time.sleep(state.trickle)
                    self.wfile.write(payload[start:start + step])
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (timeout tests)

        do_GET = _serve
        do_POST = _serve

    return Handler


def start_http(base: Path, auth: tuple[str, str] | None = None, tls: ssl.SSLContext | None = None) -> HttpGit:
    state = HttpGit(base, None, auth=auth)  # type: ignore[arg-type]
    state.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(state))
    if tls is not None:
        state.server.socket = tls.wrap_socket(state.server.socket, server_side=True)
    state.server.daemon_threads = True
    threading.Thread(target=state.server.serve_forever, daemon=True).start()
    return state


class BlackHole:
    """Accepts connections and never answers (for timeout tests)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.conns:
            conn.close()


@dataclass
class Sshd:
    port: int
    host_pub: str
    client_key: Path
    proc: subprocess.Popen[bytes]
    keydir: Path

    def url(self, path: Path) -> str:
        return f"ssh://root@127.0.0.1:{self.port}{path}"

    def known_hosts(self, line_key: str | None = None) -> Path:
        path = self.keydir / f"known_hosts-{time.monotonic_ns()}"
        key_type, key = (line_key or self.host_pub).split()[:2]
        path.write_text(f"[127.0.0.1]:{self.port} {key_type} {key}\n")
        return path


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


def start_sshd(keydir: Path) -> Sshd:
    for name in ("host", "client", "other"):
        _keygen(keydir / name)
    (keydir / "authorized_keys").write_text((keydir / "client.pub").read_text())
    port = free_port()
    (keydir / "sshd_config").write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {keydir}/host\n"
        f"AuthorizedKeysFile {keydir}/authorized_keys\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nPermitRootLogin prohibit-password\n"
        f"StrictModes no\nUsePAM no\nPidFile {keydir}/sshd.pid\n")
    Path("/run/sshd").mkdir(exist_ok=True)
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(keydir / "sshd_config")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc)
    return Sshd(port, (keydir / "host.pub").read_text(), keydir / "client", proc, keydir)


# ---- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _short_timeouts() -> None:
    configure_timeouts(10.0)


@pytest.fixture
def served(tmp_path: Path) -> Path:
    base = tmp_path / "served"
    base.mkdir()
    return base


@pytest.fixture
def builder(served: Path) -> Any:
    def make(name: str = "app.git") -> RepoBuilder:
        return RepoBuilder(served / name)
    return make


@pytest.fixture
def daemon(served: Path) -> Iterator[GitDaemon]:
    if shutil.which("git") is None:
        pytest.skip("git is not installed (needed to serve git://)")
    server = start_daemon(served)
    yield server
    server.stop()


def _need_http_backend() -> None:
    if not Path(HTTP_BACKEND).exists():
        pytest.skip(f"{HTTP_BACKEND} is not installed (needed to serve smart HTTP)")


@pytest.fixture
def http(served: Path) -> Iterator[HttpGit]:
    _need_http_backend()
    server = start_http(served)
    yield server
    server.stop()


@pytest.fixture
def http_second(served: Path) -> Iterator[HttpGit]:
    """A second smart-HTTP server on another loopback port, serving the same repositories."""
    _need_http_backend()
    server = start_http(served)
    yield server
    server.stop()


@pytest.fixture
def source(tmp_path: Path) -> GitSource:
    return GitSource(tmp_path / "cache")


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    if not Path(SSHD).exists() or os.geteuid() != 0 or not shutil.which("ssh-keygen"):
        pytest.skip("sshd not available (needs /usr/sbin/sshd, ssh-keygen and root)")
    try:
        server = start_sshd(tmp_path_factory.mktemp("sshd"))
    except (RuntimeError, subprocess.CalledProcessError, OSError) as exc:
        pytest.skip(f"sshd could not be started on loopback: {exc}")
    yield server
    server.proc.terminate()
    server.proc.wait(timeout=10)


@pytest.fixture
def http_auth(served: Path) -> Iterator[Any]:
    """Start smart-HTTP servers that demand Basic auth: ``http_auth(user, password)``."""
    _need_http_backend()
    servers: list[HttpGit] = []

    def start(user: str, password: str) -> HttpGit:
        servers.append(start_http(served, auth=(user, password)))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def black_hole() -> Iterator[BlackHole]:
    hole = BlackHole()
    yield hole
    hole.close()


@pytest.fixture
def https_self_signed(served: Path, tmp_path: Path) -> Iterator[HttpGit]:
    """Smart HTTP over TLS with a self-signed certificate (not in any trust store)."""
    _need_http_backend()
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = start_http(served, tls=context)
    yield server
    server.stop()
