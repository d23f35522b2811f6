"""Kustomize remote bases resolved through the engine's Git source, served over loopback HTTP."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from gitops.adapters import GitSourcePort, RenderersPort
from gitops.domain import AppSource, Repository
from gitops.errors import AuthError, GitOpsError, InputError, UnsafeSource
from gitops.sources import Credentials, GitSource, RepoSpec
from gitops.sources.remote_bases import RemoteBase, RemoteBaseLoader, parse
from renderers.errors import RenderError

BASE_FILES = {
    "base/kustomization.yaml": "resources: [cm.yaml]\ncommonLabels: {tier: base}\n",
    "base/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {color: blue}\n",
}


GH, EX = "https://github.com/org/repo", "https://example.com/org/repo"
OWN = RepoSpec("app", "https://git.example.com/org/app.git")
TOKEN = "ghp_S3cr3tT0k3n"


class NoNetwork:
    """Stands in for GitSource: any attempt to reach a remote is recorded and fails the test."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def head(self, spec: RepoSpec) -> str:
        self.calls.append(spec.url)
        raise AssertionError(f"a remote was contacted: {spec.url}")

    snapshot = head


@pytest.mark.parametrize(("url", "expected"), [
    ("https://github.com/org/repo//deploy/base?ref=v1.0.6", RemoteBase(GH, "deploy/base", "v1.0.6")),
    ("github.com/org/repo/deploy?ref=main", RemoteBase(GH, "deploy", "main")),
    ("git@github.com:org/repo/deploy?ref=x", RemoteBase("git@github.com:org/repo", "deploy", "x")),
    ("ssh://git@example.com/org/r.git/base", RemoteBase("ssh://git@example.com/org/r.git", "base", None)),
    ("git::https://example.com/org/repo//base?version=v2", RemoteBase(EX, "base", "v2")),
    ("https://example.com/org/repo.git///etc/passwd", RemoteBase(f"{EX}.git", "etc/passwd", None)),  # inside
])
def test_kustomize_url_forms(url: str, expected: RemoteBase) -> None:
    assert parse(url) == expected


@pytest.mark.parametrize(("url", "error"), [
    ("https://example.com/org/repo/base", InputError),  # repository and path cannot be told apart
    ("https://example.com/org/repo.git//../../etc", UnsafeSource),
    ("https://example.com/org/repo.git//base/../../x", UnsafeSource),
])
def test_hostile_urls_rejected(url: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse(url)


def test_dangerous_transports_never_reach_git() -> None:
    git = NoNetwork()
    loader = RemoteBaseLoader(git, OWN)  # type: ignore[arg-type]
    for url in ("ext::sh -c touch% /tmp/pwned//base", "file:///etc//base", "fd::17//base",
                "git::file:///etc//base", "git::ext::sh -c x//base"):
        with pytest.raises(GitOpsError):
            loader(url)
    assert git.calls == []


def app_repository(url: str, **extra: Any) -> Repository:
    return Repository(name="app", url=url, **extra)


def test_engine_renders_an_app_whose_base_is_remote(builder: Any, http: Any, tmp_path: Path) -> None:
    base = builder("base.git")
    base.tag("v1", base.commit(BASE_FILES), annotated=True)
    base.commit({**BASE_FILES, "base/cm.yaml": BASE_FILES["base/cm.yaml"].replace("blue", "red")})
    app = builder("app.git")
    remote = f"{http.url('base.git')}//base?ref=v1"
    app.commit({"overlay/kustomization.yaml": f"namePrefix: prod-\nresources:\n  - {remote}\n"})
    port = GitSourcePort(GitSource(tmp_path / "cache"))
    repository = app_repository(http.url("app.git"))
    root = port.checkout(repository, port.resolve(repository, None))
    source = AppSource("app", "overlay", renderer="kustomize")
    [cm] = RenderersPort().render(root, source, {}, port.remote_loader(repository))
    assert cm["metadata"]["name"] == "prod-settings"
    assert cm["data"] == {"color": "blue"}  # the tag, not the branch head
    assert cm["metadata"]["labels"] == {"tier": "base"}
    with pytest.raises(RenderError, match="remote"):  # without a loader (the standalone CLI's case)
        RenderersPort().render(root, source, {})


def test_missing_directory_in_remote_base_is_a_clear_error(builder: Any, http: Any, tmp_path: Path) -> None:
    builder("base.git").commit(BASE_FILES)
    loader = RemoteBaseLoader(GitSource(tmp_path / "cache"), default_hosts=(f"127.0.0.1:{http.port}",))
    with pytest.raises(InputError, match="no directory 'nope'"):
        loader(f"{http.url('base.git')}//nope")
    assert (loader(f"{http.url('base.git')}//base") / "kustomization.yaml").is_file()


@pytest.mark.parametrize(("url", "rule"), [
    ("git::file:///etc//base", "file://"),
    ("file:///etc//base", "file://"),
    ("git::file://localhost/srv/repo.git//base", "file://"),
    (f"https://x:{TOKEN}@example.com/org/repo.git//base", "inline secrets"),
    (f"https://{TOKEN}@example.com/org/repo.git//base", "inline secrets"),
    (f"https://example.com/org/repo.git//base?ref=v1&access_token={TOKEN}", "query parameter"),
    (f"https://example.com/org/repo.git//base#{TOKEN}", "fragment"),
    ("ftp://example.com/org/repo.git//base", "not allowed"),
])
def test_refused_remote_base_forms_never_echo_secrets(url: str, rule: str) -> None:
    with pytest.raises(UnsafeSource) as info:
        parse(url)
    assert rule in str(info.value) and TOKEN not in str(info.value)


@pytest.mark.parametrize(("url", "rule"), [
    ("http://10.0.0.7/org/repo.git//base", "only allowed to loopback"),
    ("http://git.example.com/org/app.git//base", "only allowed to loopback"),
    ("git://git.example.com/org/app.git//base", "only allowed to loopback"),
    ("https://169.254.169.254/latest.git//x", "link-local or metadata"),
    ("https://169.254.10.1/r.git//x", "link-local or metadata"),
    ("https://[fe80::1]/r.git//x", "link-local or metadata"),
    ("https://[fd00:ec2::254]/r.git//x", "link-local or metadata"),
    ("https://[::ffff:169.254.169.254]/r.git//x", "link-local or metadata"),
    ("https://metadata.google.internal/computeMetadata.git//v1", "link-local or metadata"),
    ("https://METADATA.google.internal./r.git//v1", "link-local or metadata"),
    ("https://internal.example.com/r.git//x", "not in the allowed hosts"),
    ("https://git.example.com:6379/r.git//x", "not in the allowed hosts"),
    ("https://127.0.0.1:6379/r.git//x", "not in the allowed hosts"),
    ("git@internal.example.com:org/r.git//x", "not in the allowed hosts"),
])
def test_remote_bases_are_refused_before_any_connection(url: str, rule: str) -> None:
    git = NoNetwork()
    with pytest.raises(UnsafeSource, match=rule):
        RemoteBaseLoader(git, OWN)(url)  # type: ignore[arg-type]
    assert git.calls == []


def test_link_local_and_metadata_refused_even_when_allow_listed() -> None:
    git = NoNetwork()
    loader = RemoteBaseLoader(git, OWN, default_hosts=("169.254.169.254", "metadata.google.internal",  # type: ignore[arg-type]
                                                       "innocent.example"),
                              resolver=lambda host, port: ["169.254.169.254"])
    for url in ("https://169.254.169.254/r.git//x", "https://metadata.google.internal/r.git//x",
                "https://innocent.example/r.git//x"):
        with pytest.raises(UnsafeSource, match="link-local or metadata"):
            loader(url)
    assert git.calls == []


def test_resolved_addresses_are_checked_not_only_the_name() -> None:
    git = NoNetwork()
    six = RemoteBaseLoader(git, OWN, default_hosts=("aaaa.example",),  # type: ignore[arg-type]
                           resolver=lambda host, port: ["2001:db8::1", "fe80::1"])
    with pytest.raises(UnsafeSource, match="link-local or metadata"):
        six("https://aaaa.example/r.git//x")
    plain = RemoteBaseLoader(git, OWN, default_hosts=("loop.example:8080",),  # type: ignore[arg-type]
                             resolver=lambda host, port: ["127.0.0.1", "10.0.0.1"])
    with pytest.raises(UnsafeSource, match="only allowed to loopback"):
        plain("http://loop.example:8080/r.git//x")
    assert git.calls == []


def test_allow_list_entries(tmp_path: Path) -> None:
    git = NoNetwork()
    loader = RemoteBaseLoader(git, OWN, default_hosts=("*.corp.example", "bases.example:8443"),  # type: ignore[arg-type]
                              resolver=lambda host, port: ["192.0.2.10"])
    for url in ("https://git.corp.example/r.git//x", "git@git.corp.example:r.git//x",
                "https://bases.example:8443/r.git//x", "https://git.example.com/org/base.git//x"):
        with pytest.raises(AssertionError, match="a remote was contacted"):
            loader(url)  # allowed: it reaches the (fake) Git layer
    for url in ("https://corp.example.evil/r.git//x", "https://bases.example/r.git//x",
                "https://xcorp.example/r.git//x"):
        with pytest.raises(UnsafeSource, match="not in the allowed hosts"):
            loader(url)
    assert len(git.calls) == 4


def test_remote_base_on_another_server_needs_the_allow_list(builder: Any, http: Any, http_second: Any,
                                                            tmp_path: Path) -> None:
    builder("base.git").commit(BASE_FILES)
    app = builder("app.git")
    other = http_second  # the same repositories on a second loopback port
    remote = f"{other.url('base.git')}//base"
    app.commit({"overlay/kustomization.yaml": f"resources:\n  - {remote}\n"})
    port = GitSourcePort(GitSource(tmp_path / "cache"))
    repository = app_repository(http.url("app.git"))
    root = port.checkout(repository, port.resolve(repository, None))
    source = AppSource("app", "overlay", renderer="kustomize")
    with pytest.raises(RenderError, match="not in the allowed hosts"):
        RenderersPort().render(root, source, {}, port.remote_loader(repository))
    assert other.requests == [], "a refused remote base must not be contacted"
    listed = app_repository(http.url("app.git"), remote_base_hosts=(f"127.0.0.1:{other.port}",))
    [cm] = RenderersPort().render(root, source, {}, port.remote_loader(listed))
    assert cm["metadata"]["name"] == "settings"
    configured = GitSourcePort(GitSource(tmp_path / "cache2"),
                               repositories=[repository, app_repository(other.url("base.git"))])
    [cm] = RenderersPort().render(root, source, {}, configured.remote_loader(repository))
    assert cm["data"] == {"color": "blue"}


class _Oracle(BaseHTTPRequestHandler):
    """Answers like a non-Git service would: a banner in the body and a telling content type."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        body = b"+PONG redis_version:7.2.4 SECRET-BANNER\r\n"
        self.send_response(int(self.server.status))  # type: ignore[attr-defined]
        self.send_header("Content-Type", "text/x-internal-banner")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.mark.parametrize("status", [200, 403, 500])
def test_remote_base_errors_do_not_echo_the_remote(tmp_path: Path, status: int) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Oracle)
    server.status = status  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        allowed = (f"127.0.0.1:{server.server_address[1]}",)
        loader = RemoteBaseLoader(GitSource(tmp_path / "cache"), OWN, default_hosts=allowed)
        with pytest.raises(GitOpsError) as info:
            loader(f"http://127.0.0.1:{server.server_address[1]}/r.git//base")
    finally:
        server.shutdown()
        server.server_close()
    text = str(info.value).replace(str(server.server_address[1]), "<port>")  # the port may contain "500"
    assert "banner" not in text.lower() and "PONG" not in text and str(status) not in text
    assert "status code" not in text and "content-type" not in text
    assert "could not be fetched" in text


def test_anonymous_remote_base_cannot_read_what_a_credentialed_repository_fetched(
        builder: Any, http_auth: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    head = builder("private.git").commit(BASE_FILES)
    server = http_auth("alice", "pw-private")
    monkeypatch.setenv("PRIVATE_PW", "pw-private")
    git = GitSource(tmp_path / "cache")
    private = RepoSpec("private", server.url("private.git"),
                       credentials=Credentials(username="alice", password_env="PRIVATE_PW"))
    assert (git.snapshot(private, head).path / "base" / "cm.yaml").is_file()
    public_app = RepoSpec("public-app", server.url("app.git"))  # same host, no credentials
    loader = RemoteBaseLoader(git, public_app)
    with pytest.raises(AuthError):
        loader(f"{server.url('private.git')}//base?ref={head}")


def _config(app_url: str, base_url: str | None) -> str:
    docs = ["apiVersion: gitops.dev/v1alpha1\nkind: Repository\nmetadata: {name: app}\n"
            f"spec: {{url: '{app_url}'}}\n"]
    if base_url:
        docs.append("apiVersion: gitops.dev/v1alpha1\nkind: Repository\nmetadata: {name: bases}\n"
                    f"spec: {{url: '{base_url}'}}\n")
    docs.append("apiVersion: gitops.dev/v1alpha1\nkind: Cluster\nmetadata: {name: c}\n"
                "spec: {kubeconfig: missing-kubeconfig.yaml}\n")
    docs.append("apiVersion: gitops.dev/v1alpha1\nkind: Application\nmetadata: {name: web}\nspec:\n"
                "  source: {repository: app, path: overlay, renderer: kustomize}\n"
                "  destination: {cluster: c, namespace: web}\n")
    return "---\n".join(docs)


def test_command_line_allows_remote_bases_from_configured_repositories(
        builder: Any, http: Any, http_second: Any, tmp_path: Path, capsys: Any) -> None:
    from gitops.cli import main

    builder("base.git").commit(BASE_FILES)
    builder("app.git").commit({"overlay/kustomization.yaml":
                               f"resources:\n  - {http_second.url('base.git')}//base\n"})
    config = tmp_path / "config.yaml"
    config.write_text(_config(http.url("app.git"), None))
    cache = ["--cache-dir", str(tmp_path / "cache")]
    assert main(["render", "-c", str(config), "web", *cache]) == 2
    assert "not in the allowed hosts" in capsys.readouterr().err
    assert http_second.requests == []
    config.write_text(_config(http.url("app.git"), http_second.url("base.git")))
    assert main(["render", "-c", str(config), "web", *cache]) == 0
    assert "name: settings" in capsys.readouterr().out
