"""``gitops up --demo`` end to end: real Git repo, real engine, three sandbox clusters, real workers."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import redis
import yaml
from worker_kit import wait_for

from gitops.state import RedisStore
from gitops.vocabulary import HealthStatus, SyncStatus, Target

TARGETS = [Target(f"hello-{c}", c) for c in ("dev", "staging", "prod")]


def _replicas(data: Path, cluster: str) -> int | None:
    kubeconfig = yaml.safe_load((data / "demo" / "kubeconfigs" / f"{cluster}.yaml").read_text())
    server = kubeconfig["clusters"][0]["cluster"]["server"]
    assert server.startswith("http://127.0.0.1:")
    got = httpx.get(f"{server}/apis/apps/v1/namespaces/demo-{cluster}/deployments/hello", timeout=5)
    return int(got.json()["spec"]["replicas"]) if got.status_code == 200 else None


@pytest.mark.timeout(150)
def test_demo_syncs_three_clusters_and_follows_a_commit(tmp_path: Path) -> None:
    data = tmp_path / "data"
    here = tmp_path / "work"  # where the user runs `gitops up` and pastes the printed commands
    home = tmp_path / "home"  # no global Git identity, as on a fresh machine
    here.mkdir()
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITOPS_", "GIT_"))}
    env.update({"GITOPS_DEBOUNCE": "0.2", "HOME": str(home), "GITOPS_PROGRAM": f"{sys.executable} -m gitops"})
    proc = subprocess.Popen([sys.executable, "-m", "gitops", "up", "--demo", "--data-dir", str(data),
                             "--port", "0"],
                            env=env, cwd=here, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith(("gitops up: ready", "error:")):
                break
        text = "".join(lines)
        assert "demo repository:" in text and "gitops up: ready" in text, text
        url = next(line.split(": ", 1)[1].strip() for line in lines if line.startswith("redis: "))
        store = RedisStore(redis.Redis.from_url(url))
        # the dashboard's URL and the first admin's credentials, printed once: they log in
        web = re.match(r"^web: (http://127\.0\.0\.1:\d+) \(user admin, password (\S+)\)$",
                       next(line for line in lines if line.startswith("web: ")).strip())
        assert web is not None, text
        with httpx.Client(base_url=web.group(1), timeout=10) as browser:
            form = re.search(r'name="csrf" value="([^"]+)"', browser.get("/login").text)
            assert form is not None
            answer = browser.post("/login", data={"name": "admin", "password": web.group(2),
                                                  "csrf": form.group(1)}, follow_redirects=False)
            assert answer.status_code == 303
            assert browser.get("/api/v1/me").json()["role"] == "admin"

        def all_synced() -> bool:
            found = [store.status(t) for t in TARGETS]
            return all(s is not None and s.sync is SyncStatus.SYNCED and s.error is None for s in found)

        wait_for(all_synced, timeout=60, every=0.3)
        assert [_replicas(data, c) for c in ("dev", "staging", "prod")] == [1, 2, 3]
        idle = lambda: all(store.redis.get(store.keys.schedule(t)) is None for t in TARGETS)  # noqa: E731
        wait_for(idle, timeout=30, every=0.2)  # the start-up polls and resync have all run
        dev_before = len(store.history(TARGETS[0]))
        # the commands the demo printed, pasted as they are into a shell in the same directory
        tried = text.split("try, in another terminal in this directory:\n", 1)[1].splitlines()
        edit, change, show_status = (line.strip() for line in tried[:3])
        for command in (edit, change):
            done = subprocess.run(["bash", "-c", command], cwd=here, env=env, capture_output=True, text=True,
                                  timeout=30)
            assert done.returncode == 0, (command, done.stderr)
        head = subprocess.run(["git", "-C", str(data / "demo" / "repo"), "rev-parse", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        wait_for(lambda: _replicas(data, "prod") == 4, timeout=40, every=0.3)
        wait_for(lambda: (s := store.status(TARGETS[2])) is not None and s.revision == head, timeout=20)
        prod = store.status(TARGETS[2])
        assert prod is not None and prod.sync is SyncStatus.SYNCED
        assert prod.health in (HealthStatus.HEALTHY, HealthStatus.PROGRESSING)
        dev_ops = store.history(TARGETS[0])
        assert len(dev_ops) == dev_before, [  # only the app whose path changed was reconciled
            (op.trigger, op.revision, op.started) for op in dev_ops]
        assert _replicas(data, "dev") == 1
        assert show_status == f"{sys.executable} -m gitops status"
        # finds the Redis by ./.gitops/redis.url, as printed
        status = subprocess.run(["bash", "-c", show_status], cwd=here, capture_output=True, env=env,
                                text=True, timeout=30)
        assert "hello-prod" in status.stdout and head[:12] in status.stdout, status.stdout + status.stderr
        assert (here / ".gitops" / "redis.url").read_text().strip() == url
    finally:
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, "".join(lines) + rest
