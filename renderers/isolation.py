"""Renders run in resource-limited child processes from a small warm pool.

Called by :func:`renderers.api.render` and :func:`renderers.api.build_kustomization` (the engine, the CLI,
the benchmark). Repository content is untrusted and Python cannot interrupt a built-in (one comparison of
two shared-structure lists runs for hours, one ``%``-format allocates gigabytes), so the only bound that
always holds is one the kernel enforces on a process. Each render runs in a worker process (``python -P -m
renderers.isolation_worker``, :mod:`renderers.isolation_worker`) that sets, for that render only,
``RLIMIT_CPU`` (its CPU time so far plus the budget: SIGXCPU kills it at the limit) and ``RLIMIT_DATA`` (its
data segment so far plus the memory budget: allocations fail with MemoryError), and counts objects, output
bytes and YAML nodes in-process (:mod:`renderers.budget`). The parent kills a worker that outlives the
wall-clock backstop.

Key design choices:

- Warm pool: workers are started once, with the renderers imported and their tables loaded, and
  reused (most recently used first, so Kustomize's parse and base caches and Jinja's compiled
  templates stay warm across renders). A worker that died, ran out of memory or grew past
  ``RETIRE_DATA_BYTES`` is replaced; the replacement is started at once, so the next render finds
  it ready.
- Protocol: length-prefixed pickle frames. Jobs go down the worker's stdin (trusted: we wrote them);
  replies come back on a private pipe (nothing the renderers print can forge one) and are unpickled
  with an unpickler that builds only plain data and ``datetime`` values, after a size check.
- The reply's pickle is written with the memo off, so a value shared by many objects counts (and is
  sent) once per use, and into a sink that stops at the output budget: the output budget is checked
  while the output is serialised, before it exists twice.
- Remote Kustomize bases are fetched by the caller's loader (Git credentials and caches live in the
  parent): the worker sends the URL back up the pipe and waits for the directory, so bases are still
  resolved lazily, in build order, with the same errors.
"""

from __future__ import annotations

import atexit
import io
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from renderers.budget import Budget, BudgetExceeded
from renderers.errors import RenderError

RemoteLoader = Callable[[str], Path]

MAX_IDLE = 2
RETIRE_DATA_BYTES = 1024 * 1024 * 1024
_REPLY_SLACK = 1024 * 1024  # frame overhead allowed on top of the output budget
FRAME_HEADER = struct.Struct("!Q")
_PACKAGE_PARENT = Path(__file__).resolve().parent.parent
_SAFE_GLOBALS = frozenset({("datetime", "datetime"), ("datetime", "date"), ("datetime", "time"),
                           ("datetime", "timedelta"), ("datetime", "timezone")})


# --- frames and encodings (both sides; the worker side is renderers.isolation_worker) ----------------

class _OutputFull(Exception):
    pass


class _BoundedSink:
    """A write-only buffer that refuses to grow past ``limit`` bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.size += len(data)
        if self.size > self.limit:
            raise _OutputFull
        self.chunks.append(bytes(data))
        return len(data)


def encode(value: Any, budget: Budget) -> bytes:
    """``value`` pickled with the memo off (shared values counted per use), within the output budget."""
    sink = _BoundedSink(budget.max_output_bytes)
    pickler = pickle.Pickler(sink, protocol=5)
    pickler.fast = True
    try:
        pickler.dump(value)
    except _OutputFull:
        raise budget.exceeded("max_output_bytes", detail="the rendered manifests are larger") from None
    except (ValueError, RecursionError) as exc:
        raise RenderError(f"rendered output cannot be serialised: {exc}") from exc
    return b"".join(sink.chunks)


class _PlainUnpickler(pickle.Unpickler):
    """Builds plain data only: no class but ``datetime``'s can be named by a reply."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"render process reply names {module}.{name}")


def decode(data: bytes) -> Any:
    return _PlainUnpickler(io.BytesIO(data)).load()


def encode_frame(message: Any) -> bytes:
    data = pickle.dumps(message, protocol=5)
    return FRAME_HEADER.pack(len(data)) + data


# --- parent side ---------------------------------------------------------------------------------------

class _Died(Exception):
    """The worker process ended (or broke the protocol) in the middle of a render."""


class Worker:
    """One render process; used by one render at a time."""

    def __init__(self) -> None:
        read_fd, write_fd = os.pipe()
        self.stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the worker
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (str(_PACKAGE_PARENT), os.environ.get("PYTHONPATH")) if p)}
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-P", "-m", "renderers.isolation_worker", str(write_fd)],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL, stderr=self.stderr, pass_fds=(write_fd,), cwd=_PACKAGE_PARENT,
                env=env, start_new_session=True)
        except BaseException:
            os.close(read_fd)
            self.stderr.close()
            raise
        finally:
            os.close(write_fd)
        self.reply_fd = read_fd
        self.owner = os.getpid()
        self.ready = False
        self.usable = True

    # -- the conversation -----------------------------------------------------------------------------
    def call(self, job: tuple[Any, ...], budget: Budget, remote_loader: RemoteLoader | None) -> Any:
        """Run ``job`` under ``budget``; its result, or the RenderError it raised."""
        deadline = time.monotonic() + budget.wall_seconds
        remote_error: BaseException | None = None
        try:
            frame = encode_frame(("job", job, budget, remote_loader is not None))
        except Exception as exc:  # a lambda in the options, say: the worker is still fine
            raise RenderError(f"options and parameters must be plain data: {exc}", field="options") from exc
        try:
            self._send_frame(frame)
            while True:
                message = self._receive(deadline, budget)
                if message[0] == "ready":
                    self.ready = True
                elif message[0] == "remote":
                    started = time.monotonic()
                    reply, error = _fetch_remote(remote_loader, str(message[1]))
                    remote_error = error or remote_error
                    deadline += time.monotonic() - started  # Git time is the caller's, not the render's
                    self._send(reply)
                elif message[0] == "ok":
                    self.usable = not message[2]
                    return decode(message[1])
                elif message[0] == "error":
                    _, text, path, field, line, which, retire = message
                    self.usable = not retire
                    error_type = BudgetExceeded if which else RenderError
                    err = (BudgetExceeded(text, budget=which, path=path, field=field, line=line)
                           if error_type is BudgetExceeded else RenderError(text, path=path, field=field,
                                                                            line=line))
                    raise err from remote_error
                else:
                    raise _Died(f"unexpected reply {message[0]!r:.40}")
        except _Died as died:
            self.usable = False
            raise self._death(budget, str(died)) from None

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Block until the worker has loaded the renderers (benchmarks start the clock after this)."""
        if not self.ready:
            message = self._receive(time.monotonic() + timeout, Budget())
            self.ready = message[0] == "ready"

    def _send(self, message: Any) -> None:
        self._send_frame(encode_frame(message))

    def _send_frame(self, frame: bytes) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        try:
            stdin.write(frame)
            stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise _Died(f"cannot send: {exc}") from exc

    def _receive(self, deadline: float, budget: Budget) -> Any:
        (size,) = FRAME_HEADER.unpack(self._read(FRAME_HEADER.size, deadline, budget))
        if size > budget.max_output_bytes + _REPLY_SLACK:
            raise _Died(f"reply of {size} bytes is over the output budget")
        try:
            return decode(self._read(size, deadline, budget))
        except Exception as exc:  # a malformed reply: the worker is not trusted any more
            raise _Died(f"malformed reply: {exc}") from exc

    def _read(self, size: int, deadline: float, budget: Budget) -> bytes:
        chunks: list[bytes] = []
        while size > 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.reply_fd], [], [], remaining)[0]:
                self.kill()
                raise budget.exceeded("wall")
            chunk = os.read(self.reply_fd, min(size, 1 << 20))
            if not chunk:
                raise _Died("the render process ended")
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def _death(self, budget: Budget, what: str) -> RenderError:
        """Why the worker died, naming the budget when the kernel enforced one."""
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.proc.returncode
        tail = self._stderr_tail()
        if code == -signal.SIGXCPU:
            return budget.exceeded("cpu_seconds")
        if code == -signal.SIGKILL or "MemoryError" in tail:
            return budget.exceeded("memory_bytes", detail="the render process was killed")
        how = f"killed by {signal.Signals(-code).name}" if code is not None and code < 0 else (
            f"exit status {code}")
        last = tail.strip().splitlines()[-1:] if tail.strip() else []
        return RenderError(f"render process failed ({what}; {how})" + (f": {last[0][:300]}" if last else ""))

    def _stderr_tail(self) -> str:
        try:
            self.stderr.seek(0, os.SEEK_END)
            size = self.stderr.tell()
            self.stderr.seek(max(0, size - 4000))
            return self.stderr.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""

    # -- lifetime -------------------------------------------------------------------------------------
    def kill(self) -> None:
        self.usable = False
        try:
            self.proc.kill()
        except OSError:
            pass

    def close(self, *, wait: float = 0.0) -> None:
        """End the worker (EOF on its stdin; killed if still there after ``wait`` seconds)."""
        self.usable = False
        if self.owner == os.getpid():
            try:
                if self.proc.stdin is not None:
                    self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                self.kill()
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
        self.forget()

    def forget(self) -> None:
        """Drop this process's handles on the worker without signalling it (after fork, in the child)."""
        if self.reply_fd >= 0:
            try:
                os.close(self.reply_fd)
            except OSError:
                pass
        self.reply_fd = -1
        self.stderr.close()


def _fetch_remote(loader: RemoteLoader | None, url: str) -> tuple[tuple[Any, ...], BaseException | None]:
    """The reply to a worker's request for a remote base, and the error behind a refusal."""
    if loader is None:
        return ("remote-error", "other", "no remote loader is configured", None, None, None), None
    try:
        return ("remote-ok", os.fspath(loader(url))), None
    except RenderError as exc:
        return ("remote-error", "render", exc.message, exc.path, exc.field, exc.line), exc
    except Exception as exc:
        return ("remote-error", "other", str(exc) or type(exc).__name__, None, None, None), exc


class Pool:
    """Idle workers of this process (most recently used last), topped up after a worker is lost."""

    def __init__(self, max_idle: int = MAX_IDLE) -> None:
        self.max_idle = max_idle
        self.idle: list[Worker] = []
        self.lock = threading.Lock()

    def acquire(self) -> Worker:
        with self.lock:
            while self.idle:
                worker = self.idle.pop()
                if worker.owner == os.getpid() and worker.proc.poll() is None:
                    return worker
                worker.close()
        return Worker()

    def release(self, worker: Worker) -> None:
        if worker.usable and worker.owner == os.getpid():
            with self.lock:
                if len(self.idle) < self.max_idle:
                    self.idle.append(worker)
                    return
            worker.close()
            return
        worker.close(wait=0.5)
        self.warm(1)

    def warm(self, count: int = 1) -> list[Worker]:
        """Start workers until ``count`` are idle (they load the renderers in the background)."""
        started: list[Worker] = []
        with self.lock:
            while len(self.idle) < min(count, self.max_idle):
                worker = Worker()
                self.idle.insert(0, worker)
                started.append(worker)
        return started

    @contextmanager
    def widened(self, max_idle: int) -> Iterator[None]:
        """Keep up to ``max_idle`` workers warm for the duration (a burst of parallel renders, such as
        ``gitops plan``), then go back to the previous limit, closing the workers above it."""
        with self.lock:
            before = self.max_idle
            self.max_idle = max(before, max_idle)
        try:
            yield
        finally:
            with self.lock:
                self.max_idle = before
                cut = max(0, len(self.idle) - before)  # keep the most recently used
                surplus, self.idle = self.idle[:cut], self.idle[cut:]
            for worker in surplus:
                worker.close(wait=1.0)

    def shutdown(self) -> None:
        with self.lock:
            idle, self.idle = self.idle, []
        for worker in idle:
            worker.close(wait=1.0)

    def forget(self) -> None:
        """After fork, in the child: the workers belong to the parent."""
        idle, self.idle = self.idle, []
        self.lock = threading.Lock()
        for worker in idle:
            worker.forget()


POOL = Pool()
atexit.register(POOL.shutdown)
os.register_at_fork(after_in_child=POOL.forget)


def run(job: tuple[Any, ...], budget: Budget, remote_loader: RemoteLoader | None = None) -> Any:
    """Run ``job`` (``("render", request)`` or ``("kustomize", ...)``: what
    :func:`renderers.isolation_worker.execute` runs) in a pooled worker under ``budget``."""
    worker = POOL.acquire()
    try:
        return worker.call(job, budget, remote_loader)
    finally:
        POOL.release(worker)


def warm(count: int = 1) -> None:
    """Start render workers ahead of the first render (a long-running engine calls this at start)."""
    POOL.warm(count)
