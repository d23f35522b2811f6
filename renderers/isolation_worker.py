"""The worker side of :mod:`renderers.isolation`: the process a render runs in.

Started by the pool as ``python -P -m renderers.isolation_worker FD``: it imports the renderers and
loads their tables (:func:`_preload`), then serves one job at a time from its stdin, each under the
job's budget (``RLIMIT_CPU`` and ``RLIMIT_DATA`` set for that job only, counters in-process), runs it
with the in-process renderers (``renderers.api.*_in_process``, :func:`execute`) and writes the reply
to its private pipe (frames and encodings shared with the parent, in :mod:`renderers.isolation`).
A remote Kustomize base is asked of the parent over the same pipe. A module of its own, not the
bottom half of :mod:`renderers.isolation`: the worker runs :mod:`renderers.api`, which uses the pool,
so one module holding both sides imported the API back.
"""

from __future__ import annotations

import os
import pickle
import resource
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from renderers import api
from renderers.budget import Budget, BudgetExceeded, cpu_limit
from renderers.errors import RenderError
from renderers.isolation import FRAME_HEADER, RETIRE_DATA_BYTES, RemoteLoader, encode, encode_frame
from renderers.kustomize import clear_caches


class RemoteBaseError(Exception):
    """The caller's remote loader refused a URL (its message is the loader's)."""


class _Channel:
    """The worker's ends of the conversation: jobs and remote replies in, replies out."""

    def __init__(self, reply_fd: int) -> None:
        self.reply_fd = reply_fd
        self.jobs = sys.stdin.buffer

    def send(self, message: Any) -> None:
        data = encode_frame(message)
        view = memoryview(data)
        while view:
            view = view[os.write(self.reply_fd, view):]

    def receive(self) -> Any:
        header = self.jobs.read(FRAME_HEADER.size)
        if len(header) < FRAME_HEADER.size:
            return None
        (size,) = FRAME_HEADER.unpack(header)
        return pickle.loads(self.jobs.read(size))

    def remote(self, url: str) -> Path:
        self.send(("remote", url))
        reply = self.receive()
        if reply is None:
            raise SystemExit(0)
        if reply[0] == "remote-ok":
            return Path(reply[1])
        _, kind, message, path, field, line = reply
        if kind == "render":
            raise RenderError(message, path=path, field=field, line=line)
        raise RemoteBaseError(message)


def execute(job: tuple[Any, ...], remote: RemoteLoader | None) -> Any:
    """The jobs a worker runs: ``("render", RenderRequest)`` and ``("kustomize", dir, restrictor)``."""
    if job[0] == "render":
        return api.render_in_process(job[1], remote_loader=remote, check_output=False)
    if job[0] == "kustomize":
        return api.build_kustomization_in_process(Path(job[1]), job[2], job[3], check_output=False)
    raise RenderError(f"unknown render job {job[0]!r}")


def _data_bytes() -> int:
    """This process's data segment (what RLIMIT_DATA counts), from /proc."""
    with open("/proc/self/status", "rb") as status:
        for line in status:
            if line.startswith(b"VmData:"):
                return int(line.split()[1]) * 1024
    return 0


def _memory_error(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, MemoryError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _error_reply(exc: BaseException, budget: Budget) -> tuple[Any, ...]:
    path = exc.path if isinstance(exc, RenderError) else None
    if _memory_error(exc):
        exc = budget.exceeded("memory_bytes", path=path)
    if isinstance(exc, BudgetExceeded):
        return ("error", exc.message, exc.path, exc.field, exc.line, exc.budget, exc.budget == "memory_bytes")
    if isinstance(exc, RenderError):
        return ("error", exc.message, exc.path, exc.field, exc.line, None, False)
    return ("error", f"render failed: {type(exc).__name__}: {exc}", None, None, None, None, True)


def _serve(channel: _Channel, message: tuple[Any, ...]) -> bool:
    """Run one job under its budget and reply; True when this worker should retire."""
    _, job, budget, has_remote = message
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_soft, cpu_hard = resource.getrlimit(resource.RLIMIT_CPU)
    data_soft, data_hard = resource.getrlimit(resource.RLIMIT_DATA)
    cpu = _capped(cpu_limit(budget, usage.ru_utime + usage.ru_stime), cpu_hard)
    data = _capped(_data_bytes() + budget.memory_bytes, data_hard)
    reply: tuple[Any, ...]
    failure: BaseException | None = None
    try:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu_hard))
        resource.setrlimit(resource.RLIMIT_DATA, (data, data_hard))
        try:
            payload = encode(execute(job, channel.remote if has_remote else None), budget)
        except BaseException as exc:  # every failure becomes a reply; SystemExit/KeyboardInterrupt too
            failure = exc
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (data_soft, data_hard))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_soft, cpu_hard))
    if failure is not None:
        reply = _error_reply(failure, budget)
    else:
        reply = ("ok", payload, _data_bytes() > RETIRE_DATA_BYTES)
    channel.send(reply)
    return bool(reply[-1])


def _capped(value: int, hard: int) -> int:
    return value if hard == resource.RLIM_INFINITY else min(value, hard)


def _preload() -> None:
    """Import the renderers and load their tables, so the first render of this worker is not slower
    than the next (caches are emptied again: a fresh worker starts with cold caches)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "kustomization.yaml").write_text("resources: [d.yaml]\nimages: [{name: x, newTag: '1'}]\n")
        (root / "d.yaml").write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n"
                                     "spec: {template: {spec: {containers: [{name: c, image: x}]}}}\n")
        api.build_kustomization_in_process(root, "RootOnly", Budget())
    clear_caches()


def _worker_main(argv: list[str]) -> int:
    channel = _Channel(int(argv[1]))
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # whatever a library prints goes nowhere; replies use the private pipe
    signal.signal(signal.SIGXCPU, signal.SIG_DFL)  # the CPU budget kills, even if the parent ignored it
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when a worker ends
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _preload()
    channel.send(("ready",))
    while True:
        message = channel.receive()
        if message is None or message[0] != "job":
            return 0
        if _serve(channel, message):
            return 0


if __name__ == "__main__":
    sys.exit(_worker_main(sys.argv))
