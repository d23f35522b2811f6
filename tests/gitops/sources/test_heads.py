"""Head checks against real servers: resolution of refs, no fetch, one listing per URL, HTTP auth."""

from __future__ import annotations

import socket
from pathlib import Path

import pygit2
import pytest

from gitops.errors import AuthError, SourceError
from gitops.sources import Credentials, GitSource, RepoSpec


def _object_count(source: GitSource, spec: RepoSpec) -> int:
    repo = pygit2.Repository(str(source.layout.repo_dir(spec)))
    return sum(1 for _ in repo.odb)


def test_head_over_git_daemon_lists_without_fetching(builder, daemon, source) -> None:
    repo = builder()
    first = repo.commit({"a.yaml": "a: 1"})
    second = repo.commit({"a.yaml": "a: 2"})
    spec = RepoSpec("app", daemon.url("app.git"), "main")
    assert source.head(spec) == second != first
    assert _object_count(source, spec) == 0, "head() must not fetch objects"
    assert source.last_good(spec) == second


def test_head_resolves_tags_full_refs_and_pinned_commits(builder, http, source) -> None:
    repo = builder()
    first = repo.commit({"a": "1"})
    repo.tag("v1", first, annotated=True)
    repo.tag("light", first, annotated=False)
    second = repo.commit({"a": "2"}, branch="release")
    url = http.url("app.git")
    assert source.head(RepoSpec("t", url, "v1")) == first  # annotated tag peeled to its commit
    assert source.head(RepoSpec("l", url, "refs/tags/light")) == first
    assert source.head(RepoSpec("b", url, "release")) == second
    before = http.ref_listings()
    assert source.head(RepoSpec("p", url, second)) == second
    assert http.ref_listings() == before, "a pinned commit needs no remote lookup"


def test_unknown_ref_is_a_clear_error(builder, daemon, source) -> None:
    builder().commit({"a": "1"})
    with pytest.raises(SourceError, match="ref 'nope' not found"):
        source.head(RepoSpec("app", daemon.url("app.git"), "nope"))


def test_missing_repository_is_permanent_error(served, daemon, source) -> None:
    with pytest.raises(SourceError) as info:
        source.head(RepoSpec("ghost", daemon.url("ghost.git")))
    assert not info.value.temporary


def test_heads_lists_each_url_once(builder, http, source) -> None:
    one, two = builder("one.git"), builder("two.git")
    main_one = one.commit({"a": "1"})
    dev_one = one.commit({"a": "dev"}, branch="dev")
    main_two = two.commit({"b": "1"})
    specs = [RepoSpec(f"app{i}", http.url("one.git"), "main") for i in range(5)]
    specs += [RepoSpec("dev", http.url("one.git"), "dev"), RepoSpec("two", http.url("two.git"))]
    specs.append(RepoSpec("bad", http.url("one.git"), "missing"))
    result = source.heads(specs)
    assert {name: result[name] for name in ("app0", "app4", "dev", "two")} == {
        "app0": main_one, "app4": main_one, "dev": dev_one, "two": main_two}
    assert isinstance(result["bad"], SourceError)
    assert http.ref_listings("one.git") == 1
    assert http.ref_listings("two.git") == 1


def test_http_basic_auth_with_password_file(builder, http_auth, tmp_path, source) -> None:
    head = builder().commit({"a": "1"})
    server = http_auth("alice", "s3cret-pass")
    secret = tmp_path / "password"
    secret.write_text("s3cret-pass\n")
    creds = Credentials(username="alice", password_file=str(secret))
    assert source.head(RepoSpec("app", server.url("app.git"), credentials=creds)) == head
    snap = source.snapshot(RepoSpec("app", server.url("app.git"), credentials=creds), head)
    assert (snap.path / "a").read_text() == "1"


def test_http_token_from_env_and_rejected_token(builder, http_auth, monkeypatch, source) -> None:
    head = builder().commit({"a": "1"})
    server = http_auth("x-access-token", "tok-123-good")
    creds = Credentials(token_env="GITOPS_TEST_TOKEN")
    spec = RepoSpec("app", server.url("app.git"), credentials=creds)
    monkeypatch.setenv("GITOPS_TEST_TOKEN", "tok-123-good")
    assert source.head(spec) == head
    monkeypatch.setenv("GITOPS_TEST_TOKEN", "tok-999-wrong")
    with pytest.raises(AuthError) as info:
        source.head(spec)
    assert "tok-999-wrong" not in str(info.value) and "rejected" in str(info.value)
    assert not info.value.temporary
    monkeypatch.delenv("GITOPS_TEST_TOKEN")
    with pytest.raises(AuthError, match="GITOPS_TEST_TOKEN is not set"):
        source.head(spec)


def test_http_without_credentials_is_auth_error(builder, http_auth, source) -> None:
    builder().commit({"a": "1"})
    server = http_auth("u", "p")
    with pytest.raises(AuthError, match="not configured"):
        source.head(RepoSpec("app", server.url("app.git")))


def test_local_repository_needs_allow_local(builder, served: Path, source) -> None:
    head = builder().commit({"a": "1"})
    spec = RepoSpec("local", str(served / "app.git"), allow_local=True)
    assert source.head(spec) == head
    assert source.snapshot(spec, head).path.joinpath("a").read_text() == "1"


def test_repositories_sharing_a_url_do_not_share_credentials_or_cache(builder, http_auth, monkeypatch,
                                                                      source) -> None:
    head = builder("private.git").commit({"secret.yaml": "password: x"})
    server = http_auth("alice", "pw-private")
    monkeypatch.setenv("PRIVATE_PW", "pw-private")
    url = server.url("private.git")
    creds = Credentials(username="alice", password_env="PRIVATE_PW")
    private = RepoSpec("private", url, credentials=creds)
    snooper = RepoSpec("snooper", url)  # the same URL, no credentials
    assert private.key != snooper.key
    assert (source.snapshot(private, head).path / "secret.yaml").is_file()
    with pytest.raises(AuthError):  # pinned to the commit the private repository fetched
        source.snapshot(RepoSpec("snooper", url, head), head)
    for order in ([private, snooper], [snooper, private]):
        result = source.heads(order)
        assert result["private"] == head
        assert isinstance(result["snooper"], AuthError) and "'snooper'" in str(result["snooper"])
    assert source.layout.last_good(snooper) is None


def test_errors_name_each_repository_of_a_shared_url(source) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/gone.git"  # nothing listens there
    result = source.heads([RepoSpec("first", url), RepoSpec("second", url), RepoSpec("third", url, "dev")])
    for name in ("first", "second", "third"):
        error = result[name]
        assert isinstance(error, SourceError) and f"repository {name!r}" in str(error), error
        assert not any(f"'{other}'" in str(error) for other in ("first", "second", "third") if other != name)
