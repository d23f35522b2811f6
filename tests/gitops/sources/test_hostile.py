"""Hostile input: dangerous transports, escaping symlinks, forged tree entries, huge files."""

from __future__ import annotations

import os
from pathlib import Path

import pygit2
import pytest
from pygit2.enums import FileMode, ObjectType

from gitops.errors import InputError, UnsafeSource
from gitops.sources import GitSource, Limits, RepoSpec
from gitops.sources.urls import redact, validate_url

SIG = pygit2.Signature("t", "t@example.invalid", 1_700_000_000, 0)


@pytest.mark.parametrize("url", [
    "ext::sh -c touch% /tmp/pwned",
    "fd::17",
    "fd::0,1/x",
    "transport::https://example.com/r.git",
    "ftp://127.0.0.1/r.git",
    "rsync://127.0.0.1/r.git",
    "ssh://-oProxyCommand=touch%20/tmp/x/r.git",
    "-u touch /tmp/x",
    "https://127.0.0.1/r.git\nother",
    "https://user:hunter2@127.0.0.1/r.git",
    "",
    "https:///no-host",
])
def test_dangerous_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeSource) as info:
        RepoSpec("bad", url)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize("url", ["/srv/git/r.git", "file:///srv/git/r.git", "./relative/r.git"])
def test_local_paths_need_allow_local(url: str) -> None:
    with pytest.raises(UnsafeSource, match="allowLocal"):
        RepoSpec("local", url)
    assert RepoSpec("local", url, allow_local=True).url.endswith("r.git")


@pytest.mark.parametrize("url", ["https://127.0.0.1/r.git", "http://localhost:8080/r.git",
                                 "git://127.0.0.1/r.git", "ssh://git@127.0.0.1:2222/r.git",
                                 "git@localhost:org/r.git", "git+ssh://git@127.0.0.1/r.git",
                                 "git@[::1]:org/r.git"])
def test_ordinary_urls_are_accepted(url: str) -> None:
    assert validate_url(url) == url


def test_redaction_masks_tokens_and_passwords() -> None:
    assert redact("https://tok123@host/r.git") == "https://***@host/r.git"
    assert "pw" not in redact("ssh://git:pw@host/r.git")
    assert redact("ssh://git@host/r.git") == "ssh://git@host/r.git"


def test_invalid_refs_are_refused() -> None:
    for ref in ("", "-x", "main~1", "a b", "HEAD^"):
        with pytest.raises(InputError, match="invalid ref"):
            RepoSpec("r", "https://127.0.0.1/r.git", ref)


@pytest.mark.parametrize("target", ["/etc/passwd", "../../outside", "x/../../../outside",
                                    "../../../../../etc", "../..", "/"])
def test_escaping_symlinks_fail_the_snapshot(builder, daemon, source, target: str) -> None:
    head = builder().commit({"ok.yaml": "a: 1", "dir/evil": _link(target)})
    with pytest.raises(UnsafeSource, match="dir/evil"):
        source.snapshot(RepoSpec("app", daemon.url("app.git")), head)
    _assert_no_snapshot(source)


def test_top_level_parent_link_is_refused(builder, daemon, source) -> None:
    head = builder().commit({"up": _link("../sibling")})
    with pytest.raises(UnsafeSource, match="'up' points outside"):
        source.snapshot(RepoSpec("app", daemon.url("app.git")), head)


def test_symlink_chain_through_dot_link_is_caught(builder, daemon, source) -> None:
    # Lexically "d/s/../../x" is "x" (inside), but d/s -> "." makes it really ../x (outside).
    head = builder().commit({"d/s": _link("."), "d/file": "f", "chain": _link("d/s/../../x")})
    with pytest.raises(UnsafeSource, match="chain"):
        source.snapshot(RepoSpec("app", daemon.url("app.git")), head)
    _assert_no_snapshot(source)


def test_inner_symlinks_are_kept(builder, daemon, source) -> None:
    head = builder().commit({"base/a.yaml": "a: 1", "overlay/a.yaml": _link("../base/a.yaml")})
    snap = source.snapshot(RepoSpec("app", daemon.url("app.git")), head)
    assert os.readlink(snap.path / "overlay/a.yaml") == "../base/a.yaml"
    assert (snap.path / "overlay/a.yaml").read_text() == "a: 1"


@pytest.mark.parametrize("name", [b"..", b".git", b".GIT", b"a/b", b"."])
def test_forged_tree_entry_names_are_refused(builder, daemon, source, name: bytes) -> None:
    repo = builder().repo
    blob = repo.create_blob(b"x")
    raw = b"100644 " + name + b"\x00" + bytes.fromhex(str(blob))
    tree = repo.odb.write(ObjectType.TREE, raw)
    head = repo.create_commit("refs/heads/main", SIG, SIG, "forged", tree, [])
    with pytest.raises(UnsafeSource, match="unsafe name"):
        source.snapshot(RepoSpec("app", daemon.url("app.git")), str(head))
    _assert_no_snapshot(source)


def test_duplicate_entry_with_symlink_cannot_redirect_writes(builder, daemon, source, tmp_path) -> None:
    repo = builder().repo
    outside = tmp_path / "outside"
    outside.mkdir()
    link = repo.create_blob(str(outside).encode())
    blob = repo.create_blob(b"pwned")
    inner = repo.TreeBuilder()
    inner.insert("f", blob, FileMode.BLOB)
    raw = (b"120000 a\x00" + bytes.fromhex(str(link)) + b"40000 a\x00" + bytes.fromhex(str(inner.write())))
    tree = repo.odb.write(ObjectType.TREE, raw)
    head = repo.create_commit("refs/heads/main", SIG, SIG, "dup", tree, [])
    with pytest.raises(UnsafeSource):
        source.snapshot(RepoSpec("app", daemon.url("app.git")), str(head))
    assert list(outside.iterdir()) == []


def test_huge_file_limit(builder, daemon, tmp_path) -> None:
    head = builder().commit({"small": "x", "big.bin": b"\0" * 200_000})
    source = GitSource(tmp_path / "cache", limits=Limits(max_file_bytes=100_000))
    with pytest.raises(InputError, match=r"big\.bin.*200000 bytes"):
        source.snapshot(RepoSpec("app", daemon.url("app.git")), head)
    _assert_no_snapshot(source)
    total = GitSource(tmp_path / "cache2", limits=Limits(max_total_bytes=150_000))
    with pytest.raises(InputError, match="snapshot larger"):
        total.snapshot(RepoSpec("app", daemon.url("app.git")), head)


def test_entry_count_limit(builder, daemon, tmp_path) -> None:
    head = builder().commit({f"d/f{i}": "x" for i in range(20)})
    source = GitSource(tmp_path / "cache", limits=Limits(max_entries=10))
    with pytest.raises(InputError, match="more than 10 entries"):
        source.snapshot(RepoSpec("app", daemon.url("app.git")), head)


def _link(target: str) -> tuple[bytes, int]:
    return (target.encode(), FileMode.LINK)


def _assert_no_snapshot(source: GitSource) -> None:
    root: Path = source.layout.root / "snapshots"
    leftovers = [p for p in root.rglob("*") if p.parent.parent == root]
    assert leftovers == [], "nothing half-materialised may remain"


def test_deeply_nested_tree_is_refused(builder, daemon, source) -> None:
    head = builder().commit({"/".join(["d"] * 150) + "/f": "x"})
    with pytest.raises(InputError, match="nested deeper than 100"):
        source.snapshot(RepoSpec("app", daemon.url("app.git")), head)
    _assert_no_snapshot(source)


def test_snapshot_caps_name_the_repository_and_the_limit(builder, daemon, source) -> None:
    head = builder().commit({"a.yaml": "x" * 60_000, "b.yaml": "y" * 60_000, "c.yaml": "z" * 60_000})
    spec = RepoSpec("huge-repo", daemon.url("app.git"), limits=Limits(max_total_bytes=150_000))
    with pytest.raises(InputError) as info:
        source.snapshot(spec, head)
    message = str(info.value)
    assert "repository 'huge-repo'" in message and "150000 bytes" in message and "maxBytes" in message
    _assert_no_snapshot(source)
    many = RepoSpec("many-files", daemon.url("app.git"), limits=Limits(max_entries=2))
    with pytest.raises(InputError) as info:
        source.snapshot(many, head)
    assert "repository 'many-files'" in str(info.value) and "2 entries" in str(info.value)
    assert "maxEntries" in str(info.value)
    _assert_no_snapshot(source)
    assert (source.snapshot(RepoSpec("fits", daemon.url("app.git")), head).path / "c.yaml").is_file()


def test_default_snapshot_caps_are_modest() -> None:
    assert Limits().max_total_bytes <= 1024**3 and Limits().max_entries <= 100_000
