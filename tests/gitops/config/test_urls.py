"""Repository URL classification: accepted transports, and every dangerous form rejected by rule."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gitops.config import load_config
from gitops.config.urls import Transport, classify, local_url
from gitops.errors import Problem


@pytest.mark.parametrize(("url", "transport"), [
    ("https://github.com/org/repo.git", Transport.HTTPS),
    ("http://127.0.0.1:8080/repo.git", Transport.HTTP),
    ("ssh://git@github.com/org/repo.git", Transport.SSH),
    ("ssh://git@github.com:2222/org/repo.git", Transport.SSH),
    ("git+ssh://git@host/repo", Transport.SSH),
    ("git@github.com:org/repo.git", Transport.SSH),
    ("github.com:org/repo.git", Transport.SSH),
    ("git@[::1]:repo.git", Transport.SSH),
    ("git://127.0.0.1/repo.git", Transport.GIT),
    ("http://localhost:8080/repo.git", Transport.HTTP),
    ("http://[::1]:8080/repo.git", Transport.HTTP),
    ("ssh://git@[::1]:2222/repo.git", Transport.SSH),
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
    ("https://user:hunter2@github.com/org/repo", "contains credentials"),
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
        classify("file://evil.example.com/share/repo")


TOKEN = "ghp_S3cr3tT0k3n"


@pytest.mark.parametrize(("url", "rule"), [
    (f"https://{TOKEN}@github.com/org/repo.git", "inline secrets are not allowed"),
    (f"https://x-access-token:{TOKEN}@github.com/org/repo.git", "inline secrets are not allowed"),
    ("https://deploy@github.com/org/repo.git", "inline secrets are not allowed"),  # a user is often a token
    (f"ssh://git:{TOKEN}@github.com/org/repo.git", "inline secrets are not allowed"),
    (f"git://{TOKEN}@127.0.0.1/repo.git", "inline secrets are not allowed"),
    (f"https://github.com/org/repo.git?private_token={TOKEN}", "query"),
    (f"https://github.com/org/repo.git?{TOKEN}", "query"),
    (f"https://github.com/org/repo.git#{TOKEN}", "fragment"),
    (f"ssh://git@github.com/org/repo.git?key={TOKEN}", "query"),
    (f"git@github.com:org/repo.git?{TOKEN}", "query"),
    (f"git@github.com:org/repo.git#{TOKEN}", "fragment"),
    (f"file:///srv/git/repo?{TOKEN}", "query"),
    ("http://git.example.com/org/repo.git", "plain http:// and git:// are only allowed to loopback"),
    ("git://git.example.com/org/repo.git", "plain http:// and git:// are only allowed to loopback"),
    ("http://10.0.0.7/org/repo.git", "plain http:// and git:// are only allowed to loopback"),
])
def test_inline_secrets_query_fragment_and_plain_http_refused_without_echo(url: str, rule: str) -> None:
    with pytest.raises(ValueError) as info:
        classify(url)
    assert rule in str(info.value)
    assert TOKEN not in str(info.value)


def test_ssh_user_is_not_a_secret() -> None:
    assert classify("ssh://git@github.com/org/repo.git") is Transport.SSH
    assert classify("git@github.com:org/repo.git") is Transport.SSH


CLUSTER = """\
apiVersion: gitops.dev/v1alpha1
kind: Cluster
metadata: {{name: c}}
spec: {{server: "{server}", tokenEnv: KUBE_TOKEN}}
"""


@pytest.mark.parametrize("server", [
    f"https://10.0.0.1:6443/?token={TOKEN}",
    f"https://10.0.0.1:6443?{TOKEN}",
    f"https://10.0.0.1:6443/api#{TOKEN}",
    f"https://{TOKEN}@10.0.0.1:6443",
    f"https://admin:{TOKEN}@10.0.0.1:6443",
    "https://10.0.0.1:notaport",
    "https://10.0.0.1:99999",
    "ftp://10.0.0.1",
    "https://-oProxyCommand=x",
])
def test_cluster_server_refuses_query_fragment_credentials_and_bad_ports(
        write: Callable[[str, str], Path], problems: Callable[[Path], list[Problem]], server: str) -> None:
    (problem,) = problems(write("c.yaml", CLUSTER.format(server=server)))
    assert (problem.line, problem.field) == (4, "spec.server")
    assert TOKEN not in str(problem)


@pytest.mark.parametrize("server", ["https://10.0.0.1:6443", "http://127.0.0.1:7001", "https://k8s.example.com/prefix/"])
def test_cluster_server_accepts_plain_api_urls(write: Callable[[str, str], Path], server: str) -> None:
    assert load_config(write("c.yaml", CLUSTER.format(server=server))).clusters["c"].server == server


def test_tilde_of_an_unknown_user_is_a_problem_not_a_crash(write: Callable[[str, str], Path],
                                                           problems: Callable[[Path], list[Problem]]) -> None:
    path = write("r.yaml", "apiVersion: gitops.dev/v1alpha1\nkind: Repository\nmetadata: {name: r}\n"
                           "spec: {url: '~0no-such-user/repo', allowLocal: true}\n---\n"
                           "apiVersion: gitops.dev/v1alpha1\nkind: Cluster\nmetadata: {name: c}\n"
                           "spec: {kubeconfig: '~0no-such-user/kubeconfig'}\n")
    assert sorted(p.field or "" for p in problems(path)) == ["spec.kubeconfig", "spec.url"]
