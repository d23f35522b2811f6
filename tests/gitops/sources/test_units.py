"""Pure pieces: RepoSpec.from_config, known_hosts matching, ref resolution, error translation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from pathlib import Path

import pygit2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops.domain import Credentials as Creds
from gitops.domain import Repository as Repo
from gitops.errors import AuthError, SourceError, SourceUnavailable, UnsafeSource
from gitops.sources import RepoSpec
from gitops.sources import known_hosts as kh
from gitops.sources.remote import resolve, translate
from gitops.sources.urls import redact, validate_url

KEY = base64.b64encode(b"\x00\x00\x00\x0bssh-ed25519" + b"k" * 32).decode()
FP = hashlib.sha256(base64.b64decode(KEY)).digest()
OTHER_FP = hashlib.sha256(b"other").digest()


def test_from_config_copies_references_only(tmp_path: Path) -> None:
    spec = RepoSpec.from_config(Repo("r", "https://127.0.0.1/r.git", "v1", credentials=Creds(token_env="T")),
                                timeout=7)
    assert (spec.name, spec.ref, spec.timeout, spec.credentials.token_env) == ("r", "v1", 7, "T")
    local = RepoSpec.from_config(Repo("l", "repos/r.git", allow_local=True), base=tmp_path)
    assert local.url == str(tmp_path / "repos/r.git")
    with pytest.raises(UnsafeSource):
        RepoSpec.from_config(Repo("l", "repos/r.git"))


def test_from_config_accepts_the_loaded_configuration(tmp_path: Path) -> None:
    from gitops.config import load_config, to_fleet

    path = tmp_path / "gitops.yaml"
    path.write_text("apiVersion: gitops.dev/v1alpha1\nkind: Repository\nmetadata: {name: r}\n"
                    "spec: {url: 'git@localhost:org/r.git',\n"
                    "       credentials: {sshKeyFile: /k, knownHostsFile: /kh}}\n")
    spec = RepoSpec.from_config(to_fleet(load_config(path)).repositories["r"])
    assert spec.credentials is not None and spec.credentials.ssh_key_file == "/k"
    assert spec.url == "git@localhost:org/r.git" and spec.key and not spec.pinned


def test_pinned_and_key() -> None:
    assert RepoSpec("r", "https://127.0.0.1/r.git", "a" * 40).pinned
    assert RepoSpec("a", "https://127.0.0.1/r.git").key == RepoSpec("b", "https://127.0.0.1/r.git").key


def _hashed(name: str) -> str:
    salt = b"saltsaltsaltsaltsalt"
    digest = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"


@pytest.mark.parametrize("line,host,port", [
    (f"example.org ssh-ed25519 {KEY}", "example.org", None),
    (f"a.org,example.org ssh-ed25519 {KEY}", "example.org", 22),
    (f"[127.0.0.1]:2222 ssh-ed25519 {KEY}", "127.0.0.1", 2222),
    (f"{_hashed('[127.0.0.1]:2222')} ssh-ed25519 {KEY}", "127.0.0.1", 2222),
])
def test_known_hosts_match(tmp_path: Path, line: str, host: str, port: int | None) -> None:
    path = tmp_path / "kh"
    path.write_text(f"# comment\n\ngarbage\n{line}\n")
    kh.check(kh.load(path), host, port, FP)
    with pytest.raises(UnsafeSource, match="does not match"):
        kh.check(kh.load(path), host, port, OTHER_FP)


def test_known_hosts_port_must_match_and_revoked_and_negation(tmp_path: Path) -> None:
    path = tmp_path / "kh"
    path.write_text(f"127.0.0.1 ssh-ed25519 {KEY}\n")
    with pytest.raises(UnsafeSource, match="not in known_hosts"):
        kh.check(kh.load(path), "127.0.0.1", 2222, FP)
    path.write_text(f"@revoked example.org ssh-ed25519 {KEY}\nexample.org ssh-ed25519 {KEY}\n")
    with pytest.raises(UnsafeSource, match="revoked"):
        kh.check(kh.load(path), "example.org", None, FP)
    path.write_text(f"*.org,!example.org ssh-ed25519 {KEY}\n")
    kh.check(kh.load(path), "other.org", None, FP)
    with pytest.raises(UnsafeSource, match="not in known_hosts"):
        kh.check(kh.load(path), "example.org", None, FP)
    path.write_text(f"@cert-authority example.org ssh-ed25519 {KEY}\n")
    with pytest.raises(UnsafeSource, match="not in known_hosts"):
        kh.check(kh.load(path), "example.org", None, FP)


def test_known_hosts_missing_file_fails_closed(tmp_path: Path) -> None:
    with pytest.raises(UnsafeSource, match="cannot read"):
        kh.load(tmp_path / "absent")


def test_resolve_prefers_branch_then_tag() -> None:
    refs = {"refs/heads/x": "1" * 40, "refs/tags/x": "2" * 40, "refs/tags/v1": "3" * 40, "HEAD": "4" * 40}
    spec = RepoSpec("r", "https://127.0.0.1/r.git", "x")
    assert resolve(refs, spec) == "1" * 40
    assert resolve(refs, RepoSpec("r", "https://127.0.0.1/r.git", "refs/tags/x")) == "2" * 40
    assert resolve(refs, RepoSpec("r", "https://127.0.0.1/r.git", "v1")) == "3" * 40
    assert resolve(refs, RepoSpec("r", "https://127.0.0.1/r.git", "HEAD")) == "4" * 40


@pytest.mark.parametrize("message,kind", [
    ("unexpected http status code: 401", AuthError),
    ("too many redirects or authentication replays", AuthError),
    ("unexpected http status code: 404", SourceError),
    ("could not read from socket: timed out", SourceUnavailable),
    ("unexpected http status code: 503", SourceUnavailable),
    ("the SSL certificate is invalid", UnsafeSource),
    ("failed to connect to 127.0.0.1:4013: Connection refused", SourceUnavailable),
])
def test_translate(message: str, kind: type[Exception]) -> None:
    spec = RepoSpec("r", "https://127.0.0.1/r.git")
    error = translate(pygit2.GitError(message), spec, "listing refs")
    assert type(error) is kind and "'r'" in str(error)


@given(st.text(max_size=120))
@settings(max_examples=300, deadline=None)
def test_url_policy_never_crashes_and_only_accepts_allowed_transports(url: str) -> None:
    try:
        accepted = validate_url(url)
    except UnsafeSource:
        return
    scheme = accepted.split("://", 1)[0].lower() if "://" in accepted else "scp"
    assert scheme in {"https", "http", "ssh", "git+ssh", "ssh+git", "git", "scp"}
    assert not re.match(r"^[A-Za-z0-9+._-]*::", accepted), "transport helpers are never accepted"


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.~!$&'()*+,;=%", min_size=1, max_size=30))
def test_redact_never_shows_the_password(secret: str) -> None:
    for scheme in ("https", "http", "ssh"):
        shown = redact(f"{scheme}://user:{secret}@127.0.0.1/r.git")
        assert f":{secret}@" not in shown
    assert redact(f"https://{secret}@127.0.0.1/r.git") == "https://***@127.0.0.1/r.git"


def test_from_config_with_a_loaded_local_repository(tmp_path: Path) -> None:
    config = pytest.importorskip("gitops.config")
    (tmp_path / "repos").mkdir()
    path = tmp_path / "gitops.yaml"
    path.write_text("apiVersion: gitops.dev/v1alpha1\nkind: Repository\nmetadata: {name: local}\n"
                    "spec: {url: repos/app.git, allowLocal: true}\n")
    repo = config.to_fleet(config.load_config(path)).repositories["local"]
    spec = RepoSpec.from_config(repo)
    assert spec.allow_local and spec.url.endswith("repos/app.git") and "repos" in spec.url
