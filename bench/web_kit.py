"""Shared pieces of the web benchmarks (bench/web_latency.py, bench/web_overview.py).

A child process with its output drained to a log file (``Child``), logging in through the login
form with an HTTP client (``log_in``), percentiles, and a one-line description of the machine for
docs/performance.md. Key design choice: the benchmarks start the engine with its own commands
(``gitops up``, ``gitops web``, ``gitops user``, ``gitops token``) in a temporary directory and talk
to it only over loopback HTTP and Redis, so they measure what a user would see.
"""

from __future__ import annotations

import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, TypeVar

import httpx

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
T = TypeVar("T")


def gitops_env(**extra: str) -> dict[str, str]:
    """The environment of the benchmark's children: no GITOPS_* of the caller's, the repository on
    the path (a clone run without installing)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITOPS_", "GIT_"))}
    env.update({"PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **extra})
    return env


class Child:
    """A child process whose output (stdout and stderr) is copied to ``log`` by a thread."""

    def __init__(self, argv: list[str], *, env: dict[str, str], cwd: Path, log: Path) -> None:
        self.log = log
        self.name = " ".join(argv[1:5])
        self.lines: list[str] = []
        self.process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                                        start_new_session=True)
        self._reader = threading.Thread(target=self._drain, args=(self.process.stdout,), daemon=True)
        self._reader.start()

    def _drain(self, stream: IO[str]) -> None:
        with self.log.open("w") as copy:
            for line in stream:
                self.lines.append(line)
                copy.write(line)

    def line(self, pattern: str, timeout: float) -> re.Match[str]:
        """The first printed line matching ``pattern``; RuntimeError if the child exits or time runs out."""
        wanted = re.compile(pattern)

        def found() -> re.Match[str] | None:
            for text in list(self.lines):
                hit = wanted.search(text)
                if hit:
                    return hit
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {self.log}")
            return None

        return wait(found, timeout, what=f"a line matching {pattern!r} (see {self.log})")

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM, then SIGKILL of its process group past ``timeout``."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
        self._reader.join(timeout=30)
        if self.process.stdout is not None:
            self.process.stdout.close()


def wait(check: Callable[[], T | None], timeout: float, *, every: float = 0.05, what: str = "") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"not reached in {timeout:g}s: {what}")
        time.sleep(every)


def gitops(*args: str, env: dict[str, str], cwd: Path, stdin: str | None = None) -> str:
    """Run a ``gitops`` command; its standard output (RuntimeError with its errors when it fails)."""
    done = subprocess.run([sys.executable, "-m", "gitops", *args], env=env, cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"gitops {' '.join(args[:2])}: {done.stderr.strip()[-500:]}")
    return done.stdout


def log_in(url: str, user: str, password: str) -> httpx.Client:
    """An HTTP client holding a session, logged in through the login form as a browser would."""
    client = httpx.Client(base_url=url, timeout=30, follow_redirects=False)
    form = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    if form.status_code != 200 or token is None:
        raise RuntimeError(f"login form: {form.status_code}")
    answer = client.post("/login", data={"name": user, "password": password, "csrf": token.group(1),
                                         "next": "/"})
    if answer.status_code != 303:
        raise RuntimeError(f"login as {user}: {answer.status_code}")
    return client


def percentile(samples: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank on the sorted samples."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def machine() -> str:
    """CPU model and count, memory, load average, Python: what docs/performance.md records."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        memory = next(int(line.split()[1]) // 1024 for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal:"))
    except (OSError, StopIteration, ValueError):
        memory = 0
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{os.cpu_count()} CPU(s) {model}, {memory / 1024:.1f} GiB, load average {load}, "
            f"Python {platform.python_version()}")
