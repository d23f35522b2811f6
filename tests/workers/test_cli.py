"""The commands: ``gitops up`` as a process tree (start, work, clean stop), ``status``, the dispatcher."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import redis
from worker_kit import wait_for

from gitops import dispatch
from gitops.cli import main
from gitops.errors import GitOpsError, InputError
from gitops.state import RedisStore, TargetStatus
from gitops.state.access import RedisAccounts
from gitops.vocabulary import HealthStatus, SyncStatus, Target
from workers.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[2]
CONFIG = """apiVersion: gitops.dev/v1alpha1
kind: Repository
metadata: {name: repo}
spec: {url: "file:///nonexistent/repo", allowLocal: true, interval: 1s}
---
apiVersion: gitops.dev/v1alpha1
kind: Cluster
metadata: {name: prod}
spec: {server: "https://127.0.0.1:6443", insecureSkipTlsVerify: true}
---
apiVersion: gitops.dev/v1alpha1
kind: Application
metadata: {name: web}
spec:
  source: {repository: repo, path: apps/web}
  destination: {cluster: prod}
  syncPolicy: {automated: true}
"""


WEB_LINE = re.compile(r"^web: (http://127\.0\.0\.1:\d+)(?: \(user (\S+), password (\S+)\))?$")


def _web(lines: list[str]) -> tuple[str, str | None, str | None]:
    """The printed web URL, user and password (None when not printed)."""
    found = next((WEB_LINE.match(line.strip()) for line in lines if line.startswith("web: ")), None)
    assert found is not None, "".join(lines)
    return found.group(1), found.group(2), found.group(3)


def _log_in(url: str, user: str, password: str) -> dict[str, object]:
    """Log in through the login form like a browser; who the web server then says we are."""
    with httpx.Client(base_url=url, timeout=10) as browser:
        form = browser.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf is not None, form.text
        answer = browser.post("/login", data={"name": user, "password": password, "csrf": csrf.group(1)},
                              follow_redirects=False)
        assert answer.status_code == 303, answer.text
        me: dict[str, object] = browser.get("/api/v1/me").json()
        return me


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


@pytest.mark.timeout(90)
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_up_runs_the_tree_and_stops_cleanly(tmp_path: Path, stop_signal: int) -> None:
    from conftest import worker_env

    (tmp_path / "config.yaml").write_text(CONFIG)
    env = worker_env("unused", FAKE_TARGETS='["web@prod"]')
    env.pop("GITOPS_REDIS_URL")
    here = tmp_path / "work"  # started here, with its data elsewhere
    here.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "gitops", "up", "-c", str(tmp_path / "config.yaml"),
                             "--data-dir", str(tmp_path / "data"), "--concurrency", "1", "--port", "0"],
                            env=env,
                            cwd=here, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    lines: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if line.startswith(("gitops up: ready", "error:")):
            break
    url = next(line.split(": ", 1)[1].strip() for line in lines if line.startswith("redis: "))
    recorded = here / ".gitops" / "redis.url"  # found by `gitops status` run from the same directory
    assert recorded.read_text().strip() == url and recorded.stat().st_mode & 0o777 == 0o600
    # the web server answered /readyz before "ready"; the first admin's printed credentials log in
    web_url, user, password = _web(lines)
    assert httpx.get(f"{web_url}/readyz", timeout=10).status_code == 200
    assert user == "admin" and password is not None
    me = _log_in(web_url, user, password)
    assert (me["name"], me["role"], me["via"]) == ("admin", "admin", "session")
    written = tmp_path / "data" / "admin-password"
    assert written.read_text().strip() == password and written.stat().st_mode & 0o777 == 0o600
    client = redis.Redis.from_url(url)
    client.set("fake:head:repo", "c1")
    store = RedisStore(client)
    wait_for(lambda: (s := store.status(Target("web", "prod"))) is not None and s.revision == "c1", 40)
    status = subprocess.run([sys.executable, "-m", "gitops", "status"], cwd=here, env=env, text=True,
                            capture_output=True, timeout=60)
    assert "web" in status.stdout and "prod" in status.stdout, status.stdout + status.stderr
    children = _children(proc.pid)
    assert len(children) >= 2  # worker, beat (and redis-server)
    proc.send_signal(stop_signal)
    rest, _ = proc.communicate(timeout=40)
    assert proc.returncode == 0, "".join(lines) + rest
    assert "gitops up: stopped" in rest
    assert not recorded.exists()
    for pid in children:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    with pytest.raises(redis.ConnectionError):
        client.ping()
    with RedisServer.start(tmp_path / "data" / "redis") as again:  # state survived the stop
        assert RedisStore(again.client()).status(Target("web", "prod")) is not None
        admin = RedisAccounts(again.client()).user("admin")  # only the password's argon2 hash is kept
        assert admin is not None and admin.role == "admin" and admin.password_hash.startswith("$argon2id$")
        found = again.client()
        values = [found.get(k) or b"" for k in found.scan_iter(count=1000) if found.type(k) == b"string"]
        values += [b"".join(v) for k in found.scan_iter(_type="stream") for _, e in found.xrange(k)
                   for v in e.items()]
        assert values and not any(password.encode() in v for v in values)


@pytest.mark.timeout(90)
def test_up_stops_everything_when_a_child_dies(tmp_path: Path) -> None:
    from conftest import worker_env

    (tmp_path / "config.yaml").write_text(CONFIG)
    env = worker_env("unused", FAKE_TARGETS='["web@prod"]')
    env.pop("GITOPS_REDIS_URL")
    proc = subprocess.Popen([sys.executable, "-m", "gitops", "up", "-c", str(tmp_path / "config.yaml"),
                             "--data-dir", str(tmp_path / "data"), "--concurrency", "1", "--port", "0"],
                            env=env,
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith(("gitops up: ready", "error:")):
            break
    url = next(line.split(": ", 1)[1].strip() for line in lines if line.startswith("redis: "))
    beat = next(pid for pid in _children(proc.pid)
                if b"gitops\x00beat" in Path(f"/proc/{pid}/cmdline").read_bytes())
    os.kill(beat, signal.SIGKILL)
    rest, _ = proc.communicate(timeout=40)
    assert proc.returncode == 2
    assert "beat exited" in rest and "gitops up: stopped" in rest
    assert _children(proc.pid) == []
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()


def test_a_later_start_points_to_the_first_admins_password(rclient: redis.Redis, redis_server: RedisServer,
                                                          tmp_path: Path) -> None:
    from workers.up import Up

    up = Up(data_dir=tmp_path, config=None, demo=False, port=8080, concurrency=1, web_argv=["unused"])
    RedisAccounts(rclient).add_user("admin", password_hash="$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA",
                                    role="admin")
    assert up._first_admin(redis_server.url, {}) == ""  # users made elsewhere: nothing to point to
    (tmp_path / "admin-password").write_text("secret\n")
    pointer = up._first_admin(redis_server.url, {})
    assert pointer == f" (user admin, password in {tmp_path / 'admin-password'})"
    assert (tmp_path / "admin-password").read_text() == "secret\n"  # never rewritten once users exist


def test_up_refuses_a_bad_port(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG)
    assert main(["up", "-c", str(tmp_path / "config.yaml"), "--port", "70000"]) == 2
    assert "--port 70000" in capsys.readouterr().err


def test_second_up_on_the_same_data_dir_is_refused(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from filelock import FileLock

    (tmp_path / "config.yaml").write_text(CONFIG)
    (tmp_path / "data").mkdir()
    with FileLock(str(tmp_path / "data" / "up.lock")):
        code = main(["up", "-c", str(tmp_path / "config.yaml"), "--data-dir", str(tmp_path / "data")])
    assert code == 2
    assert "another gitops up is using" in capsys.readouterr().err
    assert not (tmp_path / "data" / "redis").exists()  # nothing was started


@pytest.mark.timeout(90)
def test_up_killed_with_9_leaves_no_orphans(tmp_path: Path) -> None:
    from conftest import worker_env

    (tmp_path / "config.yaml").write_text(CONFIG)
    env = worker_env("unused", FAKE_TARGETS='["web@prod"]')
    env.pop("GITOPS_REDIS_URL")
    proc = subprocess.Popen([sys.executable, "-m", "gitops", "up", "-c", str(tmp_path / "config.yaml"),
                             "--data-dir", str(tmp_path / "data"), "--concurrency", "1", "--port", "0"],
                            env=env,
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith(("gitops up: ready", "error:")):
            break
    children = _children(proc.pid)
    assert len(children) >= 3  # redis-server, worker, beat
    proc.kill()
    proc.wait()
    proc.stdout.close()

    def gone(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        return state == "Z"

    wait_for(lambda: all(gone(pid) for pid in children), timeout=30, every=0.2)


def test_up_with_a_broken_config_fails_fast(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.yaml").write_text("kind: Application\nmetadata: {name: Bad_Name}\n")
    code = main(["up", "-c", str(tmp_path / "bad.yaml"), "--data-dir", str(tmp_path / "data")])
    assert code == 2
    assert "bad.yaml" in capsys.readouterr().err


@pytest.fixture
def filled(rclient: redis.Redis, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> RedisStore:
    monkeypatch.setenv("GITOPS_REDIS_URL", redis_server.url)
    store = RedisStore(rclient)
    from gitops.state import Operation
    from gitops.vocabulary import OperationPhase, Trigger

    for app, sync, error in (("web", SyncStatus.SYNCED, None), ("api", SyncStatus.OUT_OF_SYNC, "boom\nmore")):
        status = TargetStatus(app, "prod", revision="0123456789abcdef", sync=sync,
                              health=HealthStatus.HEALTHY, error=error, reconciled_at=1.0)
        store.record(status, Operation(f"op-{app}", app, "prod", Trigger.POLL, OperationPhase.SUCCEEDED))
    return store


def test_status_table_and_exit_code(filled: RedisStore, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status"]) == 1  # api is OutOfSync
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["APPLICATION", "CLUSTER", "SYNC", "HEALTH", "REVISION", "IMAGES", "HOLD",
                              "AGE", "ERROR"]
    assert out[1].split()[:6] == ["api", "prod", "OutOfSync", "Healthy", "0123456789ab", "-"]
    assert out[1].rstrip().endswith("boom") and out[2].split()[:3] == ["web", "prod", "Synced"]


def test_status_shows_the_image_verdicts(rclient: redis.Redis, redis_server: RedisServer,
                                         capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from gitops.results import ImageCheck
    from gitops.state import Operation
    from gitops.vocabulary import OperationPhase, Trigger

    monkeypatch.setenv("GITOPS_REDIS_URL", redis_server.url)
    store = RedisStore(rclient)
    signed = ImageCheck("127.0.0.1:5000/web:1", "sha256:" + "a" * 64, "verified", ("key SHA256:k1",), (),
                        time.time())
    unsigned = ImageCheck("127.0.0.1:5000/side:2", "sha256:" + "b" * 64, "refused", (),
                          ("policy p rule r: keys: no cosign signature",), time.time())
    for app, checks, error in (("web", (signed,), None), ("db", None, None),
                               ("api", (signed, unsigned), "1 of 2 image(s) refused")):
        status = TargetStatus(app, "prod", revision="0" * 40, sync=SyncStatus.SYNCED, error=error,
                              reconciled_at=1.0, verification=checks)
        store.record(status, Operation(f"op-{app}", app, "prod", Trigger.POLL, OperationPhase.SUCCEEDED))
    assert main(["status"]) == 1
    table = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[1:4]}
    assert table["web"][5:7] == ["1/1", "verified"] and table["api"][5:7] == ["1/2", "refused"]
    assert table["db"][5] == "-"
    assert main(["status", "--images"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:5] == ["APPLICATION", "CLUSTER", "IMAGE", "DIGEST", "VERDICT"]
    assert len(lines) == 4  # db was not verified: no image rows
    refused = next(line for line in lines if "side:2" in line)
    assert "refused" in refused and "no cosign signature" in refused
    assert "key SHA256:k1" in next(line for line in lines if line.startswith("web"))
    assert main(["status", "-o", "json"]) == 1
    rows = {r["application"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["api"]["verification"][1]["status"] == "refused" and rows["db"]["verification"] is None


def test_status_json_lists_configured_targets_never_reconciled(filled: RedisStore, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "c.yaml").write_text(CONFIG)
    assert main(["status", "-o", "json", "-c", str(tmp_path / "c.yaml")]) == 1
    rows = json.loads(capsys.readouterr().out)
    assert [(r["application"], r["sync"]) for r in rows] == [("api", "OutOfSync"), ("web", "Synced")]


def test_status_without_redis_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("GITOPS_REDIS_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["status"]) == 2
    assert "GITOPS_REDIS_URL" in capsys.readouterr().err


def test_status_finds_the_redis_of_gitops_up_in_this_directory(
        filled: RedisStore, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("GITOPS_REDIS_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".gitops").mkdir()
    (tmp_path / ".gitops" / "redis.url").write_text(redis_server.url + "\n")
    assert main(["status"]) == 1  # the filled store: api is OutOfSync
    out = capsys.readouterr().out
    assert "APPLICATION" in out and "OutOfSync" in out


def test_status_with_redis_down_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--redis-url", "redis://127.0.0.1:1/0"]) == 2
    assert "redis" in capsys.readouterr().err


def test_dispatch_enqueues_on_the_sync_queue(rclient: redis.Redis, redis_server: RedisServer) -> None:
    from dataclasses import replace

    from workers.app import app, configure
    from workers.settings import Settings

    configure(app, replace(Settings.from_env(), redis_url=redis_server.url))
    task_id = dispatch.enqueue_sync("web", "prod", prune=True, dry_run=False)
    raw = rclient.lindex("sync", 0)
    assert raw is not None
    message = json.loads(raw)
    assert message["headers"]["id"] == task_id and message["headers"]["task"] == "gitops.sync"
    assert message["content-type"] == "application/json"
    with pytest.raises(InputError):
        dispatch.enqueue_sync("web;rm -rf", "prod", prune=False, dry_run=False)


def test_dispatch_without_workers_installed_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dispatch, "entry_points", lambda group: [])
    with pytest.raises(GitOpsError, match="no dispatcher installed"):
        dispatch.enqueue_sync("web", "prod", prune=False, dry_run=True)




def test_dispatcher_coalesces_webhook_storms(rclient: redis.Redis, redis_server: RedisServer) -> None:
    from dataclasses import replace

    from workers.app import app, configure
    from workers.dispatch import CeleryDispatcher
    from workers.settings import Settings

    configure(app, replace(Settings.from_env(), redis_url=redis_server.url))
    dispatcher = CeleryDispatcher(RedisStore(rclient))
    ids = [dispatcher.request_reconcile("web", "prod") for _ in range(50)]
    assert ids[0] is not None and ids[1:] == [None] * 49
    assert rclient.llen("reconcile") == 1
    assert dispatcher.enqueue_poll("repo") and rclient.llen("poll") == 1
    with pytest.raises(InputError):
        dispatcher.enqueue_poll("repo\r\nDEL *")
    with pytest.raises(InputError):
        dispatcher.request_reconcile("web", "../prod")


def test_each_task_lands_on_its_own_queue_only(rclient: redis.Redis, redis_server: RedisServer) -> None:
    from dataclasses import replace

    from workers import tasks
    from workers.app import app, configure
    from workers.settings import Settings

    configure(app, replace(Settings.from_env(), redis_url=redis_server.url))
    expected = {"poll": [tasks.poll.apply_async(("repo",)).id],
                "reconcile": [tasks.reconcile.apply_async(("web", "prod", "poll")).id,
                              tasks.refresh.apply_async(("web", "prod")).id],
                "sync": [tasks.sync.apply_async(("web", "prod", False, True)).id,
                         tasks.prune.apply_async(("web", "prod")).id]}
    for queue, ids in expected.items():
        found = [json.loads(m)["headers"]["id"] for m in rclient.lrange(queue, 0, -1)]
        assert sorted(found) == sorted(ids), queue
    rclient.flushall()  # bindings gone, the publisher still thinks its queues are declared
    again = tasks.poll.apply_async(("repo",)).id
    assert [json.loads(m)["headers"]["id"] for m in rclient.lrange("poll", 0, -1)] == [again]
