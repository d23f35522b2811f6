"""Failing remotes: timeouts, the last good revision, error classes, secrets kept out of messages."""

from __future__ import annotations

import logging
import os
import socket

import pygit2
import pytest
from pygit2.enums import Option

from gitops.errors import AuthError, SourceUnavailable, UnsafeSource
from gitops.sources import Credentials, GitSource, RepoSpec
from gitops.sources.remote import configure_timeouts


@pytest.mark.parametrize("scheme", ["git", "http", "ssh"])
def test_server_that_never_answers_times_out(black_hole, source, scheme: str) -> None:
    configure_timeouts(10.0)  # what the process had before (the autouse fixture's value, made explicit)
    user = "git@" if scheme == "ssh" else ""
    spec = RepoSpec("slow", f"{scheme}://{user}127.0.0.1:{black_hole.port}/r.git", timeout=0.5)
    with pytest.raises(SourceUnavailable) as info:
        source.head(spec)
    # the timeout that fired is libgit2's socket timeout, which the operation set from its spec
    assert pygit2.option(Option.GET_SERVER_TIMEOUT) == 500
    assert pygit2.option(Option.GET_SERVER_CONNECT_TIMEOUT) == 500
    assert info.value.temporary and "timed out" in str(info.value).lower()
    assert "slow" in str(info.value) and "listing refs failed" in str(info.value)


def test_overall_deadline_stops_a_trickling_server(builder, http, source) -> None:
    head = builder().commit({"noise.bin": os.urandom(400_000)})  # incompressible: ~400 chunks
    # Each 1 KiB chunk arrives well inside the socket timeout; the whole pack would take > 4 s.
    # The deadline is checked per received side-band packet (up to 64 KiB, ~0.6 s here).
    http.trickle = 0.01
    with pytest.raises(SourceUnavailable) as info:
        source.snapshot(RepoSpec("slow", http.url("app.git"), timeout=1.0), head)
    # the overall deadline fired (it alone says "after 1s"), not libgit2's socket timeout: no read stalled
    assert str(info.value) == f"repository 'slow' ({http.url('app.git')}): timed out after 1s"
    assert info.value.temporary


def test_connection_refused_is_temporary(source) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(SourceUnavailable) as info:
        source.head(RepoSpec("gone", f"http://127.0.0.1:{port}/r.git"))
    assert info.value.temporary and info.value.revision is None


def test_last_good_revision_survives_the_server_going_away(builder, daemon, tmp_path) -> None:
    repo = builder()
    head = repo.commit({"a.yaml": "a: 1"})
    spec = RepoSpec("app", daemon.url("app.git"))
    source = GitSource(tmp_path / "cache")
    assert source.head(spec) == head
    snap = source.snapshot(spec, head)
    daemon.stop()
    with pytest.raises(SourceUnavailable) as info:
        source.head(spec)
    assert info.value.revision == head and "last good revision" in str(info.value)
    restarted = GitSource(tmp_path / "cache")  # survives a restart: recorded on disk
    assert restarted.last_good(spec) == head
    assert restarted.snapshot(spec, head).path == snap.path  # no network needed
    result = restarted.heads([spec])["app"]
    assert isinstance(result, SourceUnavailable) and result.revision == head


def test_secrets_never_appear_in_errors_or_logs(builder, http_auth, tmp_path, monkeypatch, caplog) -> None:
    builder().commit({"a": "1"})
    server = http_auth("bob", "right-password-123")
    secret_file = tmp_path / "pw"
    secret_file.write_text("wrong-password-456")
    monkeypatch.setenv("GITOPS_TEST_TOKEN", "wrong-token-789")
    source = GitSource(tmp_path / "cache")
    caplog.set_level(logging.DEBUG)
    messages = []
    for creds in (Credentials(username="bob", password_file=str(secret_file)),
                  Credentials(username="bob", token_env="GITOPS_TEST_TOKEN")):
        with pytest.raises(AuthError) as info:
            source.head(RepoSpec("app", server.url("app.git"), credentials=creds))
        messages.append(repr(info.value) + str(info.value) + str(info.value.__cause__))
    text = "\n".join(messages) + caplog.text
    for secret in ("right-password-123", "wrong-password-456", "wrong-token-789"):
        assert secret not in text


def test_unreadable_secret_file_is_auth_error(builder, http_auth, tmp_path, source) -> None:
    builder().commit({"a": "1"})
    server = http_auth("bob", "pw")
    creds = Credentials(username="bob", password_file=str(tmp_path / "missing"))
    with pytest.raises(AuthError, match="cannot read"):
        source.head(RepoSpec("app", server.url("app.git"), credentials=creds))
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe zq-hidden-zq \x00")
    creds = Credentials(username="bob", password_file=str(binary))
    with pytest.raises(AuthError, match="not UTF-8") as info:
        source.head(RepoSpec("app", server.url("app.git"), credentials=creds))
    assert "zq-hidden-zq" not in str(info.value) and info.value.__cause__ is None
    chain, seen = [], info.value  # nothing of the secret anywhere in the chain, context included
    while seen is not None:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    assert not any(b"zq-hidden-zq" in getattr(e, "object", b"") for e in chain), chain


def test_https_with_an_untrusted_certificate_is_refused(builder, https_self_signed, source) -> None:
    builder().commit({"a": "1"})
    url = https_self_signed.url("app.git").replace("http://", "https://")
    with pytest.raises(UnsafeSource, match="certificate") as info:
        source.head(RepoSpec("tls", url))
    assert not info.value.temporary
