"""The whole engine as a user starts it, for the browser and webhook end-to-end tests.

:func:`running_stack` runs ``gitops up --demo --port P --data-dir D`` in a temporary working directory
(embedded Redis, a Celery worker, beat, the web server, three sandbox clusters, the demo Git
repository), reads the web URL and the first admin's password from what it prints, and stops it with
SIGTERM at the end (then SIGKILL of its process group if it has not stopped within a bound). The
:class:`Stack` it yields drives the system only through its public edges: the HTTP API (with an API
token made by ``gitops token create``), signed webhook deliveries, commits to the demo repository,
server-side apply to a sandbox cluster, and the ``gitops`` CLI run in the same directory.
Called by tests/web/browser/conftest.py (session fixture ``stack``). Key design choice: every wait is
:func:`gitops.clock.poll_until` on an observable condition with a generous bound; the bound only keeps
a broken run from hanging and is never what a test asserts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import yaml

from gitops.clock import poll_until
from gitops.state import RedisStore
from gitops.vocabulary import Target
from workers.demo import CLUSTERS
from workers.redis_server import free_port

T = TypeVar("T")
START_SECONDS = 120.0     # gitops up printing its web URL (a cold machine starts Celery slowly)
SETTLE_SECONDS = 120.0    # the demo's first syncs, until every target is Synced, Healthy and idle
STOP_SECONDS = 60.0       # a warm shutdown of the whole tree after SIGTERM
WAIT = 60.0               # any other wait on the engine (a reconcile, a page update)
DEMO_TARGETS = tuple(Target(f"hello-{c}", c) for c in CLUSTERS)
_WEB = re.compile(r"^web: (?P<url>http://127\.0\.0\.1:\d+)(?: \(user (?P<user>[^,]+), "
                  r"password (?:in (?P<file>.+)|(?P<password>\S+))\))?\s*$")


def wait_until(check: Callable[[], T | None], what: str, timeout: float = WAIT, every: float = 0.1) -> T:
    """``check()``'s first truthy value; AssertionError naming ``what`` when ``timeout`` runs out."""
    found = poll_until(check, timeout, every=every)
    if not found:
        raise AssertionError(f"not reached within {timeout:g}s: {what}")
    return found


@dataclass
class Output:
    """What ``gitops up`` printed (stdout and stderr together), drained by a thread so its pipe never
    fills, and copied to a log file for a failed run's report."""

    lines: list[str] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    def drain(self, stream: Any, log: Path) -> None:
        with log.open("w") as copy:
            for line in stream:
                self.lines.append(line)
                copy.write(line)
                copy.flush()
        self.done.set()

    def tail(self, count: int = 60) -> str:
        return "".join(self.lines[-count:])


@dataclass
class Stack:
    """A running ``gitops up --demo``: where it lives, how to log in, and its public edges."""

    url: str
    admin: str
    password: str
    cwd: Path
    data: Path
    env: dict[str, str]
    process: subprocess.Popen[str]
    output: Output
    token: str = ""

    # -- places ----------------------------------------------------------------------------------
    @property
    def repo(self) -> Path:
        return self.data / "demo" / "repo"

    @property
    def config(self) -> Path:
        return self.data / "demo" / "config.yaml"

    @property
    def redis_url(self) -> str:
        """The URL ``gitops up`` recorded in ./.gitops/redis.url, where other commands find it."""
        return (self.cwd / ".gitops" / "redis.url").read_text().strip()

    def webhook_secret(self) -> bytes:
        """The secret of the demo's WebhookReceiver, read from the file its secretRef names."""
        config = list(yaml.safe_load_all(self.config.read_text()))
        receiver = next(d for d in config if d["kind"] == "WebhookReceiver")
        return Path(receiver["spec"]["secretRef"]["file"]).read_bytes().rstrip(b"\r\n")

    def sandbox(self, cluster: str) -> str:
        """The API server URL of a demo cluster, from the kubeconfig the configuration names."""
        config = list(yaml.safe_load_all(self.config.read_text()))
        found = next(d for d in config if d["kind"] == "Cluster" and d["metadata"]["name"] == cluster)
        kubeconfig = yaml.safe_load(Path(found["spec"]["kubeconfig"]).read_text())
        server: str = kubeconfig["clusters"][0]["cluster"]["server"]
        assert server.startswith("http://127.0.0.1:"), server  # loopback only
        return server

    # -- the CLI, Git and the clusters -------------------------------------------------------------
    def gitops(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """``gitops ARGS`` run in the directory of ``gitops up`` (so it finds the recorded Redis URL)."""
        return subprocess.run([sys.executable, "-m", "gitops", *args], cwd=self.cwd, env=self.env,
                              input=stdin, capture_output=True, text=True, timeout=120)

    def git(self, *args: str) -> str:
        done = subprocess.run(["git", "-C", str(self.repo), *args], env=self.env, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, (args, done.stderr)
        return done.stdout.strip()

    def commit(self, files: dict[str, str], message: str) -> tuple[str, str]:
        """Write ``files`` into the demo repository and commit them as its user would: (before, after)."""
        before = self.git("rev-parse", "HEAD")
        for rel, text in files.items():
            path = self.repo / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return before, self.git("rev-parse", "HEAD")

    def apply_as(self, manager: str, cluster: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply ``body`` to ``path`` on a demo cluster as field manager ``manager``
        (forcing conflicts, as ``kubectl apply --server-side --force-conflicts`` does)."""
        answer = httpx.patch(f"{self.sandbox(cluster)}{path}",
                             params={"fieldManager": manager, "force": "true"}, content=json.dumps(body),
                             headers={"Content-Type": "application/apply-patch+yaml"}, timeout=10)
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    def read(self, cluster: str, path: str) -> dict[str, Any] | None:
        """An object on a demo cluster (None when it does not exist)."""
        answer = httpx.get(f"{self.sandbox(cluster)}{path}", timeout=10)
        if answer.status_code == 404:
            return None
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    # -- the HTTP API --------------------------------------------------------------------------------
    def api(self) -> httpx.Client:
        """An API client with the operator token made for the tests (``gitops token create``)."""
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=10)

    def target(self, target: Target) -> dict[str, Any]:
        """``targets[]`` entry of ``GET /api/v1/applications/{app}`` for the target's cluster."""
        with self.api() as http:
            answer = http.get(f"/api/v1/applications/{target.application}")
        assert answer.status_code == 200, answer.text
        return next(t for t in answer.json()["targets"] if t["cluster"] == target.cluster)

    def status(self, target: Target) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.target(target)["status"]
        return found

    def push(self, *, before: str, after: str, paths: list[str], ref: str = "refs/heads/main",
             urls: dict[str, str] | None = None, secret: bytes | None = None,
             delivery: str | None = None) -> httpx.Response:
        """A GitHub push delivery to the running server, signed like GitHub signs it (HMAC-SHA256 of the
        raw body with the receiver's secret in ``X-Hub-Signature-256``)."""
        repository = urls or {"clone_url": self.repo.as_uri(), "html_url": self.repo.as_uri()}
        payload = {
            "ref": ref, "before": before, "after": after, "created": False, "deleted": False, "forced": False,
            "repository": {"name": "repo", "full_name": "demo/repo", "default_branch": "main", **repository},
            "pusher": {"name": "demo"}, "sender": {"login": "demo"},
            "commits": [{"id": after, "message": "demo change", "added": [], "removed": [],
                         "modified": paths}],
            "head_commit": {"id": after, "message": "demo change", "modified": paths},
        }
        body = json.dumps(payload).encode()
        digest = hmac.new(secret if secret is not None else self.webhook_secret(), body, hashlib.sha256)
        headers = {"Content-Type": "application/json", "X-GitHub-Event": "push",
                   "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
                   "X-Hub-Signature-256": "sha256=" + digest.hexdigest(), "User-Agent": "GitHub-Hookshot/e2e"}
        return httpx.post(f"{self.url}/api/v1/webhooks/github", content=body, headers=headers, timeout=30)

    # -- waits ---------------------------------------------------------------------------------------
    def idle(self) -> bool:
        """No reconcile queued or running for any demo target (the workers' coalescing marks in Redis)."""
        store = RedisStore.from_url(self.redis_url)
        try:
            return all(store.redis.get(store.keys.schedule(t)) is None for t in DEMO_TARGETS)
        finally:
            store.redis.close()

    def refresh(self, target: Target) -> None:
        """Ask for a reconcile of ``target`` through the API, as the dashboard's Refresh button does."""
        with self.api() as http:
            answer = http.post(f"/api/v1/applications/{target.application}/clusters/{target.cluster}/refresh")
        assert answer.status_code == 202, answer.text

    def sync(self, target: Target) -> None:
        """Ask for a forced sync of ``target`` through the API, as the dashboard's Sync button with Force
        does (hello-dev does not self-heal: a drift made on it stays until a sync takes it back)."""
        with self.api() as http:
            answer = http.post(f"/api/v1/applications/{target.application}/clusters/{target.cluster}/sync",
                               json={"force": True})
        assert answer.status_code == 202, answer.text

    def settled(self) -> bool:
        """Every demo target Synced, Healthy, without error, and idle: the baseline each test starts
        from and leaves behind. A target left Progressing by a sync (its Deployment was still rolling
        out) is refreshed once the workers are idle, as a user would press Refresh: the engine looks
        again only at the next resync otherwise."""
        ready = True
        for target in DEMO_TARGETS:
            status = self.status(target)
            if status is None or status["sync"] != "Synced" or status["error"] or not status["revision"]:
                ready = False
            elif status["health"] != "Healthy":
                ready = False
                if status["health"] == "Progressing" and self.idle():
                    self.refresh(target)
        return ready and self.idle()


def _stop(process: subprocess.Popen[str], output: Output) -> None:
    """SIGTERM (``gitops up`` stops its children, then Redis); SIGKILL of the group past the bound."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
    output.done.wait(timeout=30)
    if process.stdout is not None:
        process.stdout.close()


@contextmanager
def running_stack(root: Path) -> Iterator[Stack]:
    """``gitops up --demo`` under ``root`` (work/, data/, home/), ready and settled; stopped on exit."""
    cwd, data, home = root / "work", root / "data", root / "home"
    for where in (cwd, home):
        where.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITOPS_", "GIT_"))}
    # no global Git identity (a fresh machine); the resync is pushed out of the run's way so a drift a
    # test makes is healed only by the reconcile the test asks for, not by a timer racing its checks
    env.update({"HOME": str(home), "GITOPS_RESYNC_SECONDS": "86400", "PYTHONUNBUFFERED": "1"})
    port = free_port()
    argv = [sys.executable, "-m", "gitops", "up", "--demo", "--port", str(port), "--data-dir", str(data)]
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, text=True, start_new_session=True)
    output = Output()
    reader = threading.Thread(target=output.drain, args=(process.stdout, root / "gitops-up.log"), daemon=True)
    reader.start()
    try:
        def web_line() -> re.Match[str] | None:
            for line in list(output.lines):
                found = _WEB.match(line)
                if found:
                    return found
            if process.poll() is not None:
                raise AssertionError(f"gitops up exited with {process.returncode}:\n{output.tail()}")
            return None

        found = poll_until(web_line, START_SECONDS, every=0.1)
        assert found is not None, f"gitops up printed no web URL within {START_SECONDS:g}s:\n{output.tail()}"
        password = found["password"] or (Path(found["file"]).read_text().strip() if found["file"] else "")
        assert found["user"] and password, f"no admin credentials in {found.group(0)!r}"
        assert (data / "admin-password").read_text().strip() == password
        stack = Stack(url=found["url"], admin=found["user"], password=password, cwd=cwd, data=data, env=env,
                      process=process, output=output)
        made = stack.gitops("token", "create", "--user", stack.admin, "--role", "operator", "--name", "e2e")
        assert made.returncode == 0, made.stderr
        stack.token = made.stdout.strip().splitlines()[-1]
        wait_until(stack.settled, "the demo's three targets Synced and Healthy", SETTLE_SECONDS, every=0.3)
        yield stack
    finally:
        _stop(process, output)
        reader.join(timeout=30)
    assert process.returncode == 0, f"gitops up stopped with {process.returncode}:\n{output.tail()}"
