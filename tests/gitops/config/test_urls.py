"""Repository URL classification: accepted transports, and every dangerous form rejected by rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops.config.urls import Transport, classify, local_url


@pytest.mark.parametrize(("url", "transport"), [
    ("https://github.com/org/repo.git", Transport.HTTPS),
    ("https://user@github.com/org/repo", Transport.HTTPS),
    ("http://127.0.0.1:8080/repo.git", Transport.HTTP),
    ("ssh://git@github.com/org/repo.git", Transport.SSH),
    ("ssh://git@github.com:2222/org/repo.git", Transport.SSH),
    ("git+ssh://git@host/repo", Transport.SSH),
    ("git@github.com:org/repo.git", Transport.SSH),
    ("github.com:org/repo.git", Transport.SSH),
    ("git@[::1]:repo.git", Transport.SSH),
    ("git://127.0.0.1/repo.git", Transport.GIT),
    ("file:///srv/git/repo", Transport.LOCAL),
    ("/srv/git/repo", Transport.LOCAL),
    ("./demo-repo", Transport.LOCAL),
    ("../repo:with-colon", Transport.LOCAL),
    ("demo-repo", Transport.LOCAL),
])
def test_classifies_supported_urls(url: str, transport: Transport) -> None:
    assert classify(url) is transport


@pytest.mark.parametrize(("url", "rule"), [
    ("ext::sh -c touch% /tmp/pwned", "'ext::' remote-helper transport"),
    ("ext::ssh -oProxyCommand=evil host", "'ext::' remote-helper transport"),
    ("fd::17", "'fd::' remote-helper transport"),
    ("transport::anything", "'transport::' remote-helper"),
    ("--upload-pack=touch /tmp/pwned", "must not start with '-'"),
    ("-oProxyCommand=evil", "must not start with '-'"),
    ("ssh://-oProxyCommand=evil/repo", "host in the URL must not start with '-'"),
    ("-oProxyCommand=evil@host:repo", "must not start with '-'"),
    ("git@-oProxyCommand=evil:repo", "host in the URL must not start with '-'"),
    ("https://user:hunter2@github.com/org/repo", "contains a password"),
    ("https://github.com/org/repo\nmalicious", "whitespace or control characters"),
    ("https://github.com/a b", "whitespace or control characters"),
    ("ftp://example.com/repo", "unsupported URL scheme 'ftp'"),
    ("https:///no-host", "has no host"),
    ("https://host:99999999/repo", "malformed"),
    ("git@host:", "no repository path"),
    ("", "empty"),
    ("https://h/" + "a" * 3000, "longer than"),
])
def test_rejects_dangerous_urls_with_the_rule_broken(url: str, rule: str) -> None:
    with pytest.raises(ValueError) as info:
        classify(url)
    assert rule in str(info.value)


def test_password_in_url_is_never_echoed() -> None:
    with pytest.raises(ValueError) as info:
        classify("https://deploy:s3cr3t-t0ken@github.com/org/repo")
    assert "s3cr3t" not in str(info.value)


@pytest.mark.parametrize(("url", "expected"), [
    ("file://./demo-repo", "file:///base/dir/demo-repo"),
    ("file://../demo-repo", "file:///base/demo-repo"),
    ("./demo-repo", "file:///base/dir/demo-repo"),
    ("demo-repo/", "file:///base/dir/demo-repo"),
    ("/srv/git/repo", "file:///srv/git/repo"),
    ("file:///srv/git/repo", "file:///srv/git/repo"),
    ("file://localhost/srv/git/repo", "file:///srv/git/repo"),
])
def test_local_urls_resolve_against_the_declaring_directory(url: str, expected: str) -> None:
    assert local_url(url, Path("/base/dir")) == expected


def test_file_url_naming_a_remote_host_is_rejected() -> None:
    with pytest.raises(ValueError, match="local path"):
        local_url("file://evil.example.com/share/repo", Path("/base"))
