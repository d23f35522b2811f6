"""``gitops up``: one process tree running Redis, a worker, the beat, the web server (and the demo).

Called by workers/cli.py. Key design choice: start in dependency order (Redis, demo sandboxes, config
check, the first admin, worker, beat, web), stop in reverse on the stop event (Ctrl-C / SIGTERM) or when
a child dies; Redis is stopped last with SHUTDOWN SAVE so nothing written by the workers is lost. The
children get their settings through the environment (``GITOPS_REDIS_URL``, ``GITOPS_CONFIG``,
``GITOPS_DATA_DIR``). "ready" is printed once the web server answers ``/readyz``, with its URL; on the
first start (no user in the store) an ``admin`` with a generated password is created through
``gitops user add`` (the web layer hashes it; this layer never imports it) and the password is printed
once and left in ``<data-dir>/admin-password`` (0600), which later starts point to.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from gitops import program
from gitops.clock import poll_until
from gitops.env import (
    ENV_CONFIG,
    ENV_DATA_DIR,
    ENV_REDIS_URL,
    ENV_RESYNC_SECONDS,
    ENV_WEB_ADMIN_PASSWORD_FILE,
    ENV_WEB_SECURE_COOKIES,
)
from gitops.errors import ConfigError, GitOpsError, Problem, StateError
from gitops.state import recorded_url_path
from gitops.state.access import RedisAccounts
from workers.argv import worker_argv
from workers.redis_server import RedisServer
from workers.settings import QUEUES, Shards
from workers.supervisor import Supervisor

log = logging.getLogger(__name__)
WEB_READY_SECONDS = 60.0
FIRST_ADMIN = "admin"
ADMIN_PASSWORD_FILE = "admin-password"


def say(message: str) -> None:
    print(message, flush=True)


@dataclass
class Up:
    data_dir: Path
    config: str | None
    demo: bool
    port: int
    concurrency: int
    web_argv: list[str] | None
    queues: tuple[str, ...] = QUEUES  # and the shard queues of the configured clusters (_configuration)

    def _env(self, redis_url: str, config: Path) -> dict[str, str]:
        env = dict(os.environ)
        env.update({ENV_REDIS_URL: redis_url, ENV_CONFIG: str(config), ENV_DATA_DIR: str(self.data_dir)})
        # the web server listens on plain HTTP on the loopback: a Secure cookie would never come back
        # from clients that honour the flag (curl, httpx); behind a TLS proxy, set it to 1
        env.setdefault(ENV_WEB_SECURE_COOKIES, "0")
        if self.demo:
            env.setdefault(ENV_RESYNC_SECONDS, "30")
        return env

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _password_file(self) -> Path:
        chosen = os.environ.get(ENV_WEB_ADMIN_PASSWORD_FILE)
        return Path(chosen).resolve() if chosen else self.data_dir / ADMIN_PASSWORD_FILE

    def _config_path(self) -> Path:
        chosen = self.config or os.environ.get(ENV_CONFIG)
        if not chosen:
            raise ConfigError([Problem("no configuration: pass -c CONFIG, set GITOPS_CONFIG, or use --demo")])
        return Path(chosen).resolve()

    def run(self, stop: threading.Event) -> int:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        guard = FileLock(str(self.data_dir / "up.lock"))
        try:
            guard.acquire(timeout=0)
        except Timeout:
            print(f"error: another gitops up is using {self.data_dir} (lock {guard.lock_file})",
                  file=sys.stderr, flush=True)
            return 2
        try:
            return self._run(stop)
        finally:
            guard.release()

    def _run(self, stop: threading.Event) -> int:
        with ExitStack() as stack:  # cleanups run in reverse: children, sandboxes, Redis, the last word
            stack.callback(say, "gitops up: stopped")
            try:
                redis_url = self._redis(stack)
                config = self._configuration(stack, redis_url)
                env = self._env(redis_url, config)
                login = self._first_admin(redis_url, env) if self.web_argv else ""
                supervisor = Supervisor(env)
                stack.callback(supervisor.stop)
                self._spawn(supervisor)
                if self.web_argv:
                    if not self._web_ready(stop, supervisor):
                        return 2
                    say(f"web: {self.url}{login}")
                say("gitops up: ready (Ctrl-C to stop)")
                return self._wait(stop, supervisor)
            except GitOpsError as exc:
                print(f"error: {exc}", file=sys.stderr, flush=True)
                return 2
        return 2  # pragma: no cover - ExitStack does not swallow exceptions

    def _redis(self, stack: ExitStack) -> str:
        redis_url = os.environ.get(ENV_REDIS_URL)
        if not redis_url:
            server = RedisServer.start(self.data_dir / "redis", die_with_parent=True)
            stack.callback(server.stop)
            redis_url = server.url
        self._record(stack, redis_url)
        say(f"redis: {redis_url}")
        return redis_url

    @staticmethod
    def _record(stack: ExitStack, redis_url: str) -> None:
        """Leave the URL in ./.gitops/redis.url, where `gitops status` run from this directory looks
        (also with another --data-dir); owner-only, since a shared Redis URL may carry a password."""
        recorded = recorded_url_path()
        try:
            recorded.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(recorded, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(redis_url + "\n")
        except OSError as exc:  # a read-only working directory: the URL is printed all the same
            log.warning("could not record the Redis URL in %s: %s", recorded, exc)
            return
        stack.callback(recorded.unlink, missing_ok=True)

    def _configuration(self, stack: ExitStack, redis_url: str) -> Path:
        """The demo's or the given configuration, loaded once to fail fast with located problems."""
        # lazy: every gitops command loads this module (through workers.cli), and the configuration
        # brings pydantic and pygit2
        from gitops.config import load_config

        if self.demo:
            from workers.demo import start_demo  # lazy: only --demo needs the demo and the sandbox

            demo = start_demo(self.data_dir)
            stack.callback(demo.stop)
            config = demo.config
        else:
            config = self._config_path()
        loaded = load_config(config)
        self.queues = QUEUES + Shards.of(loaded.clusters.values()).queues()
        if self.demo:
            say(demo.instructions(program()))
        return config

    def _first_admin(self, redis_url: str, env: dict[str, str]) -> str:
        """Create the first admin when the store has no user; what the "web:" line says about logging
        in (the password once, later where it was written, nothing when someone else made the users)."""
        written = self._password_file()
        accounts = RedisAccounts.from_url(redis_url)
        try:
            exists = accounts.has_users()
        finally:
            accounts.redis.close()
        if exists:
            return f" (user {FIRST_ADMIN}, password in {written})" if written.is_file() else ""
        password = secrets.token_urlsafe(18)
        try:
            written.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(written, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(password + "\n")
            os.chmod(written, 0o600)  # an older file keeps its mode through O_TRUNC
        except OSError as exc:
            raise StateError(f"cannot write the first admin's password to {written}: {exc}") from exc
        # through the command, not an import: hashing belongs to the web layer, above this one
        made = subprocess.run([sys.executable, "-m", "gitops", "user", "add", FIRST_ADMIN, "--role", "admin",
                               "--password-file", str(written)], env=env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=120)
        if made.returncode != 0:
            written.unlink(missing_ok=True)
            shown = (made.stderr or made.stdout).strip()[-500:]
            raise StateError(f"could not create the first admin: {shown}")
        return f" (user {FIRST_ADMIN}, password {password})"

    def _spawn(self, supervisor: Supervisor) -> None:
        supervisor.spawn("worker", worker_argv(",".join(self.queues), concurrency=self.concurrency,
                                               name="gitops-up-%h"))
        supervisor.spawn("beat", [sys.executable, "-m", "gitops", "beat"])
        if self.web_argv:
            supervisor.spawn("web", self.web_argv)

    def _web_ready(self, stop: threading.Event, supervisor: Supervisor) -> bool:
        """Wait (bounded) until the web server's /readyz answers 200; False, said on stderr, when a
        child exits first or the time runs out."""
        probe = f"{self.url}/readyz"

        def settled() -> str:
            if stop.is_set():
                return "stopped"
            if supervisor.failed() is not None:
                return "dead"
            try:
                with urllib.request.urlopen(probe, timeout=2) as answer:
                    return "ready" if answer.status == 200 else ""
            except (urllib.error.URLError, OSError):
                return ""

        state = poll_until(settled, timeout=WEB_READY_SECONDS, every=0.1)
        if state == "ready":
            return True
        if state == "stopped":
            return False
        dead = supervisor.failed()
        if dead is not None:
            hint = f" (is port {self.port} free? pass --port)" if dead.name == "web" else ""
            print(f"error: {dead.name} exited with {dead.process.returncode}{hint}; stopping",
                  file=sys.stderr, flush=True)
        else:
            print(f"error: the web server did not answer {probe} within {WEB_READY_SECONDS:.0f}s; stopping",
                  file=sys.stderr, flush=True)
        return False

    def _wait(self, stop: threading.Event, supervisor: Supervisor) -> int:
        while not stop.wait(0.5):
            dead = supervisor.failed()
            if dead is not None:
                print(f"error: {dead.name} exited with {dead.process.returncode}; stopping",
                      file=sys.stderr, flush=True)
                return 2
        return 0
