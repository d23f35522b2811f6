"""Snapshots: shared and read-only, safe under concurrency, shallow fetches, changed paths, GC."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pygit2
import pytest
from pygit2.enums import FileMode

from gitops.errors import SourceError
from gitops.sources import GitSource, RepoSpec


def test_snapshot_content_modes_and_read_only(builder, daemon, source) -> None:
    repo = builder()
    head = repo.commit({"deploy/app.yaml": "kind: ConfigMap\n", "run.sh": (b"#!/bin/sh\n", 0o100755),
                        "deploy/base/x.txt": "x"})
    snap = source.snapshot(RepoSpec("app", daemon.url("app.git")), head)
    assert snap.revision == head and snap.url == daemon.url("app.git")
    assert (snap.path / "deploy/app.yaml").read_text() == "kind: ConfigMap\n"
    assert stat.S_IMODE((snap.path / "run.sh").stat().st_mode) == 0o555
    assert stat.S_IMODE((snap.path / "deploy/app.yaml").stat().st_mode) == 0o444
    for directory in (snap.path, snap.path / "deploy", snap.path / "deploy/base"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o555
    assert not (snap.path / ".git").exists()


def test_shallow_fetch_then_deeper_for_an_older_commit(builder, daemon, source) -> None:
    repo = builder()
    old = repo.commit({"a": "1"})
    repo.commit({"a": "2"})
    new = repo.commit({"a": "3"})
    spec = RepoSpec("app", daemon.url("app.git"))
    assert (source.snapshot(spec, new).path / "a").read_text() == "3"
    cache = pygit2.Repository(str(source.layout.repo_dir(spec)))
    assert cache.is_shallow, "the tip is fetched with depth=1"
    assert pygit2.Oid(hex=old) not in cache.odb
    assert (source.snapshot(spec, old).path / "a").read_text() == "1"


def test_snapshot_by_ref_name_and_unknown_commit(builder, http, source) -> None:
    repo = builder()
    head = repo.commit({"a": "1"})
    repo.tag("v1", head)
    spec = RepoSpec("app", http.url("app.git"))
    assert source.snapshot(spec, "v1").revision == head
    with pytest.raises(SourceError, match="not found"):
        source.snapshot(spec, "0" * 40)


def test_same_directory_for_every_caller(builder, http, source, tmp_path) -> None:
    head = builder().commit({"a": "1"})
    first = source.snapshot(RepoSpec("app-a", http.url("app.git"), "main"), head)
    assert any(method == "POST" for method, _ in http.requests), "the first caller fetched"
    before = len(http.requests)
    other = GitSource(tmp_path / "cache")  # a second engine instance on the same cache
    second = other.snapshot(RepoSpec("app-b", http.url("app.git"), "main"), head)
    assert first.path == second.path
    assert len(http.requests) == before, "the second caller reuses the snapshot without any request"


def test_concurrent_threads_build_one_snapshot(builder, daemon, source) -> None:
    head = builder().commit({f"f{i}.txt": str(i) for i in range(50)})
    spec = RepoSpec("app", daemon.url("app.git"))
    results: list[Path] = []
    errors: list[BaseException] = []

    def take() -> None:
        try:
            results.append(source.snapshot(spec, head).path)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors and len(set(results)) == 1 and len(results) == 8
    assert sorted(p.name for p in results[0].parent.iterdir()) == [head]  # no leftover temp dirs


_CHILD = """
import sys
from pathlib import Path
from gitops.sources import GitSource, RepoSpec
snap = GitSource(Path(sys.argv[1])).snapshot(RepoSpec("app", sys.argv[2]), sys.argv[3])
print(snap.path, len(list(snap.path.iterdir())))
"""


def test_concurrent_processes_share_one_snapshot(builder, daemon, tmp_path) -> None:
    head = builder().commit({f"f{i}.txt": str(i) for i in range(30)})
    procs = [subprocess.Popen([sys.executable, "-c", _CHILD, str(tmp_path / "cache"), daemon.url("app.git"),
                               head], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), outputs
    assert len({out for out, _ in outputs}) == 1 and outputs[0][0].split()[1] == "30"


def test_changed_paths(builder, daemon, source) -> None:
    repo = builder()
    old = repo.commit({"apps/a/x.yaml": "1", "apps/b/y.yaml": "1", "keep": "k"})
    repo.commit({"apps/a/x.yaml": "2", "apps/b/y.yaml": "1", "keep": "k"})
    new = repo.commit({"apps/a/x.yaml": "2", "apps/c/z.yaml": "new", "keep": "k"})
    spec = RepoSpec("app", daemon.url("app.git"))
    source.snapshot(spec, new)  # shallow cache first: changed_paths must deepen it
    assert source.changed_paths(spec, old, new) == {"apps/a/x.yaml", "apps/b/y.yaml", "apps/c/z.yaml"}
    assert source.changed_paths(spec, new, new) == frozenset()


def test_submodules_are_ignored(builder, daemon, source) -> None:
    repo = builder()
    tree = repo.repo.TreeBuilder()
    tree.insert("a.txt", repo.repo.create_blob(b"a"), FileMode.BLOB)
    tree.insert("sub", pygit2.Oid(hex="1" * 40), FileMode.COMMIT)
    head = repo.repo.create_commit("refs/heads/main", repo_sig(), repo_sig(), "m", tree.write(), [])
    snap = source.snapshot(RepoSpec("app", daemon.url("app.git")), str(head))
    assert sorted(os.listdir(snap.path)) == ["a.txt"]


def repo_sig() -> pygit2.Signature:
    return pygit2.Signature("t", "t@example.invalid", 1_700_000_000, 0)


def _age(path: Path, seconds: float) -> None:
    st = path.stat()
    os.utime(path, (st.st_atime - seconds, st.st_mtime - seconds))


def test_collect_keeps_newest_last_good_and_leased(builder, daemon, source) -> None:
    repo = builder()
    revisions = [repo.commit({"a": str(i)}) for i in range(4)]
    spec = RepoSpec("app", daemon.url("app.git"))
    snaps = [source.snapshot(spec, rev) for rev in revisions]
    for age, snap in zip((400, 300, 200, 100), snaps, strict=True):
        _age(snap.path, age)
    source.head(spec)  # revisions[3] becomes the last good revision
    _age(snaps[3].path, 1000)  # oldest by use, but protected as last good
    with source.lease(snaps[0]):
        removed = source.collect(keep_last=1, min_age_seconds=0)
    assert removed == [snaps[1].path]  # snaps[2] newest, [3] last good, [0] leased
    assert source.collect(keep_last=1, min_age_seconds=0) == [snaps[0].path]
    assert snaps[2].path.is_dir() and snaps[3].path.is_dir()
    with pytest.raises(SourceError, match="collected"), source.lease(snaps[0]):
        pass
    assert (source.snapshot(spec, revisions[0]).path / "a").read_text() == "0"  # rebuilt on demand


def test_collect_respects_min_age(builder, daemon, source) -> None:
    repo = builder()
    spec = RepoSpec("app", daemon.url("app.git"))
    for i in range(3):
        source.snapshot(spec, repo.commit({"a": str(i)}))
    assert source.collect(keep_last=0) == []  # all used just now


def test_concurrent_snapshots_of_different_commits(builder, http, source) -> None:
    repo = builder()
    revisions = [repo.commit({"n": str(i)}, branch=f"b{i}") for i in range(4)]
    revisions.append(repo.commit({"n": "main"}))
    spec = RepoSpec("app", http.url("app.git"))
    found: dict[str, str] = {}
    errors: list[BaseException] = []

    def take(revision: str) -> None:
        try:
            found[revision] = (source.snapshot(spec, revision).path / "n").read_text()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=take, args=(rev,)) for rev in revisions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert [found[rev] for rev in revisions] == ["0", "1", "2", "3", "main"]


def test_unchanged_files_are_stored_once_across_commits(builder, daemon, source) -> None:
    repo = builder()
    big = "x: " + "y" * 200_000 + "\n"
    first = repo.commit({"big.yaml": big, "small.yaml": "a: 1\n", "run.sh": (b"#!/bin/sh\n", 0o100755)})
    second = repo.commit({"big.yaml": big, "small.yaml": "a: 2\n", "run.sh": (b"#!/bin/sh\n", 0o100755)})
    spec = RepoSpec("app", daemon.url("app.git"))
    one, two = source.snapshot(spec, first), source.snapshot(spec, second)
    assert (one.path / "big.yaml").stat().st_ino == (two.path / "big.yaml").stat().st_ino
    assert (one.path / "small.yaml").stat().st_ino != (two.path / "small.yaml").stat().st_ino
    assert (one.path / "small.yaml").read_text() == "a: 1\n"
    assert (two.path / "small.yaml").read_text() == "a: 2\n"
    assert stat.S_IMODE((two.path / "run.sh").stat().st_mode) == 0o555
    assert stat.S_IMODE((two.path / "big.yaml").stat().st_mode) == 0o444
    store = source.layout.blobs_dir(spec.key)
    assert len(list(store.iterdir())) == 4  # big, run.sh, and the two versions of small
    os.utime(one.path, (1_000_000, 1_000_000))  # the older snapshot is collected first
    assert source.collect(keep_last=1, min_age_seconds=0) == [one.path]
    assert len(list(store.iterdir())) == 3  # small.yaml of the first commit was only in that snapshot
    assert (two.path / "big.yaml").read_text() == big
