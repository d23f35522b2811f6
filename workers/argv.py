"""The command line of a Celery worker process of ours (``gitops worker``, ``gitops up``, benchmarks).

A module of its own so that ``gitops up`` (workers/up.py) and the commands (workers/cli.py) share it
without importing each other.
"""

from __future__ import annotations

import sys

from workers.settings import QUEUES

ALL_QUEUES = ",".join(QUEUES)


def worker_argv(queues: str = ALL_QUEUES, concurrency: int = 2, pool: str = "prefork",
                name: str = "gitops-%h-%p") -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "workers.app", "worker", "-Q", queues,
            "-c", str(concurrency), "-P", pool, "-n", name, "--loglevel", "INFO",
            "--without-gossip", "--without-mingle", "--without-heartbeat"]
