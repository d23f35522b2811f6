"""A tiny process supervisor for ``gitops up``: start children, stop them all cleanly, once.

Used by workers/cli.py. Key design choice: every child runs in its own session (so a terminal Ctrl-C
reaches only ``gitops up``, which then stops children in order: SIGTERM for a warm Celery shutdown,
SIGKILL after a grace period) and asks the kernel to SIGTERM it if ``gitops up`` itself dies, so no
orphan worker keeps running against a Redis that is gone.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

log = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]


@dataclass
class Supervisor:
    env: Mapping[str, str]
    children: list[Child] = field(default_factory=list)

    def spawn(self, name: str, argv: Sequence[str]) -> Child:
        proc = subprocess.Popen(list(argv), env=dict(self.env), stdin=subprocess.DEVNULL,
                                start_new_session=True, preexec_fn=_die_with_parent)
        child = Child(name, proc)
        self.children.append(child)
        log.info("started %s (pid %d)", name, proc.pid)
        return child

    def failed(self) -> Child | None:
        """The first child that exited on its own, if any."""
        return next((c for c in self.children if c.process.poll() is not None), None)

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM every child (newest first), wait up to ``grace`` seconds, then SIGKILL the rest."""
        for child in reversed(self.children):
            if child.process.poll() is None:
                try:
                    os.killpg(child.process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + grace
        for child in reversed(self.children):
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %.0fs: killing it", child.name, grace)
                try:
                    os.killpg(child.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                child.process.wait()
        self.children.clear()
