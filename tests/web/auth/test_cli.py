"""``gitops user``, ``gitops token`` and ``gitops web``: accounts from the command line (same rules and
audit as the API) and the web server as its own process on a shared Redis."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from gitops.cli import main
from gitops.clock import poll_until
from gitops.state.access import RedisAccounts, RedisAuditLog, hash_secret
from web.auth.passwords import Passwords
from workers.redis_server import RedisServer, free_port

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def accounts(redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> RedisAccounts:
    client = redis_server.client()
    client.flushdb()
    monkeypatch.setenv("GITOPS_REDIS_URL", redis_server.url)
    return RedisAccounts(client)


def test_user_commands(accounts: RedisAccounts, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret = tmp_path / "pw"
    secret.write_text("a long enough password\n")
    assert main(["user", "add", "alice", "--role", "admin", "--password-file", str(secret)]) == 0
    assert capsys.readouterr().out == "user alice created (admin)\n"
    alice = accounts.user("alice")
    assert alice is not None and alice.password_hash.startswith("$argon2id$")
    assert Passwords().check(alice.password_hash, "a long enough password").ok  # the newline is not kept
    # no file and no terminal: a generated password, printed once
    assert main(["user", "add", "bob", "--scope", "team=a"]) == 0
    out = capsys.readouterr().out
    generated = re.search(r"password: (\S+)  \(shown once\)", out)
    assert generated and "bob created (viewer)" in out
    bob = accounts.user("bob")
    assert bob is not None and dict(bob.scope) == {"team": "a"}
    assert Passwords().check(bob.password_hash, generated.group(1)).ok
    assert main(["user", "list", "-o", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [u["name"] for u in listed] == ["alice", "bob"] and "argon2" not in json.dumps(listed)
    assert main(["user", "list"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["NAME", "ROLE", "STATE", "SCOPE"] and table[2].split() == [
        "bob", "viewer", "enabled", "team=a"]
    session = accounts.open_session("bob", 60)
    assert main(["user", "passwd", "bob", "--password-file", str(secret)]) == 0
    assert accounts.session(session.id) is None and "sessions are closed" in capsys.readouterr().out
    assert main(["user", "delete", "bob"]) == 0 and accounts.user("bob") is None
    actions = [(e.action, e.target, e.remote) for e in RedisAuditLog(accounts.redis).entries()]
    assert actions == [("user.delete", "bob", "cli"), ("user.password", "bob", "cli"),
                       ("user.create", "bob", "cli"), ("user.create", "alice", "cli")]
    assert all(e.actor.startswith("cli:") for e in RedisAuditLog(accounts.redis).entries())


def test_user_commands_refuse_bad_input(accounts: RedisAccounts, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    short = tmp_path / "short"
    short.write_text("short")
    assert main(["user", "add", "carol", "--role", "root"]) == 2
    assert "unknown role 'root'" in capsys.readouterr().err
    assert main(["user", "add", "<script>"]) == 2
    assert "invalid user name" in capsys.readouterr().err
    assert main(["user", "add", "carol", "--password-file", str(short)]) == 2
    assert "password must be 8 to 1024 characters" in capsys.readouterr().err
    assert main(["user", "add", "carol", "--scope", "nolabel"]) == 2
    assert "expected KEY=VALUE" in capsys.readouterr().err
    assert main(["user", "add", "carol"]) == 0
    assert main(["user", "add", "carol"]) == 2
    assert "user 'carol' exists" in capsys.readouterr().err
    assert main(["user", "delete", "nobody"]) == 2
    assert "no user 'nobody'" in capsys.readouterr().err
    assert main(["user", "add", "root", "--role", "admin"]) == 0
    assert main(["user", "delete", "root"]) == 2
    assert "last enabled admin" in capsys.readouterr().err


def test_token_commands(accounts: RedisAccounts, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["user", "add", "dave", "--role", "operator"]) == 0
    capsys.readouterr()
    assert main(["token", "create", "--user", "dave", "--role", "admin"]) == 2
    assert "at most operator" in capsys.readouterr().err
    assert main(["token", "create", "--user", "dave", "--expires", "30d", "--name", "ci deploy"]) == 0
    out = capsys.readouterr().out.splitlines()
    secret = out[1]
    token = accounts.token_by_hash(hash_secret(secret))
    assert token is not None and token.role == "operator" and token.name == "ci deploy"
    assert out[0].startswith(f"token {token.id} for dave (operator, expires ")
    assert main(["token", "list", "--user", "dave"]) == 0
    listing = capsys.readouterr().out
    assert token.id in listing and secret not in listing
    assert main(["token", "create", "--user", "dave", "--expires", "soon"]) == 2
    assert "expires" in capsys.readouterr().err
    assert main(["token", "revoke", token.id]) == 0
    assert accounts.token_by_hash(hash_secret(secret)) is None
    assert main(["token", "revoke", token.id]) == 2


def test_commands_without_a_redis_say_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("GITOPS_REDIS_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["user", "list"]) == 2
    assert "GITOPS_REDIS_URL" in capsys.readouterr().err
    (tmp_path / "c.yaml").write_text("")
    assert main(["web", "-c", str(tmp_path / "c.yaml")]) == 2
    assert "GITOPS_REDIS_URL" in capsys.readouterr().err


CONFIG = """apiVersion: gitops.dev/v1alpha1
kind: Repository
metadata: {name: repo}
spec: {url: "file:///nonexistent/repo", allowLocal: true}
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
"""


@pytest.mark.timeout(90)
def test_gitops_web_serves_on_a_shared_redis(accounts: RedisAccounts, redis_server: RedisServer,
                                             tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG)
    secret = tmp_path / "pw"
    secret.write_text("a long enough password")
    assert main(["user", "add", "erin", "--role", "operator", "--password-file", str(secret)]) == 0
    port = free_port()
    env = {**os.environ, "GITOPS_REDIS_URL": redis_server.url, "GITOPS_WEB_SECURE_COOKIES": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "gitops", "web", "-c", str(tmp_path / "config.yaml"),
                             "--port", str(port)], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        def ready() -> bool:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        assert poll_until(ready, timeout=60, every=0.1)
        with httpx.Client(base_url=base, timeout=10) as browser:
            form = browser.get("/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
            assert csrf is not None
            answer = browser.post("/login", data={"name": "erin", "password": "a long enough password",
                                                  "csrf": csrf.group(1)}, follow_redirects=False)
            assert answer.status_code == 303
            me = browser.get("/api/v1/me").json()
            assert (me["name"], me["role"], me["via"]) == ("erin", "operator", "session")
        assert "server" not in answer.headers
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    # uvicorn shuts down cleanly, then re-raises the signal it caught (so its parent sees why it ended)
    assert proc.returncode in (0, -signal.SIGTERM) and b"Application shutdown complete" in out, out
