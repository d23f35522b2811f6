"""The one URL policy: configuration and the Git layer agree, and no message ever carries a credential."""

from __future__ import annotations

import io
import json

import pygit2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops.cli.source import check
from gitops.config.urls import classify
from gitops.domain import Repository as Repo
from gitops.errors import UnsafeSource
from gitops.sources import GitSource, RepoSpec
from gitops.sources.remote import translate
from gitops.sources.urls import redact, redact_text, validate_url

TOKEN = "glpat-S3cr3tT0k3n"


@pytest.mark.parametrize("url", [
    f"https://{TOKEN}@127.0.0.1/r.git",
    f"https://oauth2:{TOKEN}@127.0.0.1/r.git",
    f"http://{TOKEN}@127.0.0.1:8080/r.git",
    f"https://127.0.0.1/r.git?private_token={TOKEN}",
    f"https://127.0.0.1/r.git#{TOKEN}",
    f"ssh://git:{TOKEN}@127.0.0.1/r.git",
    f"git@127.0.0.1:r.git?{TOKEN}",
])
def test_repo_spec_refuses_inline_secrets_without_echoing_them(url: str) -> None:
    with pytest.raises(UnsafeSource) as info:
        RepoSpec("app", url)
    assert TOKEN not in str(info.value) and "refused" in str(info.value)


@pytest.mark.parametrize(("url", "shown"), [
    (f"https://{TOKEN}@host/r.git", "https://***@host/r.git"),
    (f"https://u:{TOKEN}@host/r.git", "https://***@host/r.git"),
    (f"ssh://git:{TOKEN}@host/r.git", "ssh://git:***@host/r.git"),
    ("ssh://git@host/r.git", "ssh://git@host/r.git"),
    (f"https://host/r.git?private_token={TOKEN}&x=1", "https://host/r.git?private_token=***&x=***"),
    (f"https://host/r.git?{TOKEN}", "https://host/r.git?***"),
    (f"https://host/r.git#{TOKEN}", "https://host/r.git#***"),
    ("https://host/org/repo//base?ref=v1.2.0", "https://host/org/repo//base?ref=v1.2.0"),
    ("git@host:org/r.git", "git@host:org/r.git"),
    (f"https://ab/{TOKEN}+/x@host/r.git", "https://***@host/r.git"),  # a token containing '/'
    (f"ssh://we/ird:{TOKEN}@host/r.git", "ssh://***@host/r.git"),
])
def test_redact(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_redact_text_scrubs_every_url_in_a_message() -> None:
    text = (f"redirect from https://u:{TOKEN}@a.example/r.git/info/refs?service=git-upload-pack to "
            f"'https://{TOKEN}@b.example/x?access_token={TOKEN}#{TOKEN}' failed; ssh://git:{TOKEN}@c/r")
    scrubbed = redact_text(text)
    assert TOKEN not in scrubbed
    assert "https://***@a.example/r.git/info/refs?service=git-upload-pack" in scrubbed
    assert "ssh://git:***@c/r" in scrubbed


def test_remote_error_text_is_scrubbed() -> None:
    spec = RepoSpec("app", "https://127.0.0.1/r.git")
    message = f"redirected to https://x:{TOKEN}@evil.example/r?t={TOKEN}"
    error = translate(pygit2.GitError(message), spec, "fetch")
    assert TOKEN not in str(error) and "'app'" in str(error)


def test_source_check_never_prints_a_url_secret(tmp_path) -> None:
    out = io.StringIO()
    repos = [Repo("q", f"https://127.0.0.1:1/r.git?private_token={TOKEN}"),
             Repo("u", f"https://{TOKEN}@127.0.0.1:1/r.git"), Repo("f", f"https://127.0.0.1:1/r.git#{TOKEN}")]
    assert check(repos, GitSource(tmp_path / "cache"), output="json", out=out) == 2
    assert TOKEN not in out.getvalue()
    rows = json.loads(out.getvalue())["repositories"]
    assert all("refused" in row["error"] for row in rows)


CORPUS = [
    "https://github.com/org/repo.git", "https://user@github.com/org/repo", "https://u:p@h/r",
    "http://127.0.0.1:8080/r.git", "http://localhost/r", "http://[::1]/r", "http://git.example.com/r",
    "git://127.0.0.1/r", "git://git.example.com/r", "ssh://git@h/r", "ssh://git:pw@h/r", "git+ssh://h/r",
    "ssh+git://h/r", "git@h:r.git", "h:r.git", "git@h:", "git@[::1]:r.git", "git@-x:r", "-x@h:r",
    "ssh://-x/r", "ssh://-u@h/r", "https://h/r?q=1", "https://h/r#f", "git@h:r?x", "ftp://h/r",
    "ext::sh -c x",
    "fd::17", "a::b", "https:///r", "https://h:99999/r", "https://h:x/r", "https://h/a b", "https://h/\x01",
    "", "file:///srv/r", "file://localhost/srv/r", "file:///srv/r?x", "/srv/r", "./r", "r", "h!x:r",
    "git@h!x:r", "user@host@h:r", "https://[fe80::1]/r", "https://h/r\x7f",
]


@pytest.mark.parametrize("url", CORPUS)
def test_configuration_and_sources_agree(url: str) -> None:
    try:
        classify(url)
        config_ok = True
    except ValueError:
        config_ok = False
    try:
        validate_url(url, allow_local=True)
        source_ok = True
    except UnsafeSource:
        source_ok = False
    assert config_ok == source_ok, url


@given(st.text(max_size=80))
@settings(max_examples=300, deadline=None)
def test_configuration_and_sources_agree_on_any_text(url: str) -> None:
    test_configuration_and_sources_agree(url)
