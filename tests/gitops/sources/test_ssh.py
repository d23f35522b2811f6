"""SSH against a real sshd on loopback: key auth, known_hosts pinning, wrong host key, bad key."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops.errors import AuthError, UnsafeSource
from gitops.sources import Credentials, GitSource, RepoSpec


def _spec(sshd, served: Path, **creds: object) -> RepoSpec:
    refs = Credentials(**{"ssh_key_file": str(sshd.client_key), **creds})  # type: ignore[arg-type]
    return RepoSpec("ssh-app", sshd.url(served / "app.git"), credentials=refs)


def test_ssh_key_file_with_known_hosts(sshd, builder, served, source) -> None:
    head = builder().commit({"a.yaml": "a: 1"})
    spec = _spec(sshd, served, known_hosts_file=str(sshd.known_hosts()))
    assert source.head(spec) == head
    assert (source.snapshot(spec, head).path / "a.yaml").read_text() == "a: 1"


def test_ssh_key_from_env(sshd, builder, served, source, monkeypatch) -> None:
    head = builder().commit({"a": "1"})
    monkeypatch.setenv("GITOPS_TEST_SSH_KEY", sshd.client_key.read_text())
    refs = Credentials(ssh_key_env="GITOPS_TEST_SSH_KEY", known_hosts_file=str(sshd.known_hosts()))
    spec = RepoSpec("ssh-app", sshd.url(served / "app.git"), credentials=refs)
    assert source.head(spec) == head


def test_wrong_host_key_is_refused(sshd, builder, served, source) -> None:
    builder().commit({"a": "1"})
    other = (sshd.keydir / "other.pub").read_text()
    spec = _spec(sshd, served, known_hosts_file=str(sshd.known_hosts(other)))
    with pytest.raises(UnsafeSource, match="does not match known_hosts") as info:
        source.head(spec)
    assert not info.value.temporary


def test_unknown_host_is_refused_and_insecure_flag_skips_the_check(sshd, builder, served, tmp_path) -> None:
    head = builder().commit({"a": "1"})
    empty = tmp_path / "known_hosts"
    empty.write_text("# nothing here\n")
    source = GitSource(tmp_path / "cache")
    with pytest.raises(UnsafeSource, match="not in known_hosts"):
        source.head(_spec(sshd, served, known_hosts_file=str(empty)))
    assert source.head(_spec(sshd, served, insecure_ignore_host_key=True)) == head


def test_hashed_known_hosts_entry(sshd, builder, served, source, tmp_path) -> None:
    import subprocess

    head = builder().commit({"a": "1"})
    path = sshd.known_hosts()
    subprocess.run(["ssh-keygen", "-H", "-f", str(path)], check=True, capture_output=True)
    assert path.read_text().startswith("|1|")
    assert source.head(_spec(sshd, served, known_hosts_file=str(path))) == head


def test_rejected_key_is_auth_error(sshd, builder, served, source) -> None:
    builder().commit({"a": "1"})
    refs = Credentials(ssh_key_file=str(sshd.keydir / "other"), known_hosts_file=str(sshd.known_hosts()))
    with pytest.raises(AuthError):
        source.head(RepoSpec("ssh-app", sshd.url(served / "app.git"), credentials=refs))


def test_user_from_configuration_when_url_has_none(sshd, builder, served, source) -> None:
    head = builder().commit({"a": "1"})
    refs = Credentials(ssh_key_file=str(sshd.client_key), username="root",
                          known_hosts_file=str(sshd.known_hosts()))
    url = f"ssh://127.0.0.1:{sshd.port}{served / 'app.git'}"
    assert source.head(RepoSpec("ssh-app", url, credentials=refs)) == head
