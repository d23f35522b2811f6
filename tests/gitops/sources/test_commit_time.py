"""What the engine asks of a snapshot beside its files: the commit's time, and a hard refresh that
drops a snapshot so it is built again from the Git objects (real git daemon on loopback)."""

from __future__ import annotations

import os
import stat

import pygit2

from gitops.sources import RepoSpec

COMMITTED = 1_700_000_000.0  # the test signature's time (conftest.SIG)


def test_commit_time_once_the_commit_is_in_the_cache(builder, daemon, source) -> None:
    head = builder().commit({"a": "1"})
    spec = RepoSpec("app", daemon.url("app.git"))
    assert source.commit_time(spec, head) is None  # nothing fetched yet, and asking never fetches
    source.snapshot(spec, head)
    assert source.commit_time(spec, head) == COMMITTED
    assert source.commit_time(spec, head.upper()) == COMMITTED


def test_commit_time_of_junk_is_none(builder, daemon, source) -> None:
    head = builder().commit({"a": "1"})
    spec = RepoSpec("app", daemon.url("app.git"))
    snap = source.snapshot(spec, head)
    tree = str(pygit2.Repository(str(source.layout.repo_dir(spec)))[head].peel(pygit2.Tree).id)
    for junk in ("main", "0" * 40, "../../etc/passwd", "", "g" * 40, head + "0", tree):
        assert source.commit_time(spec, junk) is None, junk
    assert snap.path.is_dir()


def test_drop_snapshot_rebuilds_it_from_the_git_objects(builder, daemon, source) -> None:
    head = builder().commit({"deploy/app.yaml": "replicas: 1\n"})
    spec = RepoSpec("app", daemon.url("app.git"))
    snap = source.snapshot(spec, head)
    tampered = snap.path / "deploy" / "app.yaml"  # a snapshot someone wrote into behind our back
    os.chmod(tampered.parent, 0o755)
    os.chmod(tampered, 0o644)
    tampered.write_text("replicas: 99\n")
    assert source.snapshot(spec, head).path.joinpath("deploy/app.yaml").read_text() == "replicas: 99\n"
    assert source.drop_snapshot(spec, head)
    assert not snap.path.exists()
    again = source.snapshot(spec, head)
    assert again.path == snap.path and (again.path / "deploy/app.yaml").read_text() == "replicas: 1\n"
    assert stat.S_IMODE((again.path / "deploy/app.yaml").stat().st_mode) == 0o444


def test_drop_snapshot_spares_a_leased_one_and_ignores_junk(builder, daemon, source) -> None:
    head = builder().commit({"a": "1"})
    spec = RepoSpec("app", daemon.url("app.git"))
    snap = source.snapshot(spec, head)
    with source.lease(snap):
        assert not source.drop_snapshot(spec, head)
    assert snap.path.is_dir()
    for junk in ("main", "../" * 10, "0" * 40, ""):
        assert not source.drop_snapshot(spec, junk)
    assert snap.path.is_dir() and source.drop_snapshot(spec, head) and not source.drop_snapshot(spec, head)


def test_drop_snapshot_leaves_other_snapshots_of_shared_files_intact(builder, daemon, source) -> None:
    repo = builder()
    old = repo.commit({"shared.yaml": "same\n", "a": "1"})
    new = repo.commit({"shared.yaml": "same\n", "a": "2"})
    spec = RepoSpec("app", daemon.url("app.git"))
    kept, dropped = source.snapshot(spec, old), source.snapshot(spec, new)
    assert (kept.path / "shared.yaml").stat().st_ino == (dropped.path / "shared.yaml").stat().st_ino
    assert source.drop_snapshot(spec, new)
    assert (kept.path / "shared.yaml").read_text() == "same\n"
    rebuilt = source.snapshot(spec, new)
    assert (rebuilt.path / "shared.yaml").read_text() == "same\n" and (rebuilt.path / "a").read_text() == "2"
    assert (rebuilt.path / "shared.yaml").stat().st_ino != (kept.path / "shared.yaml").stat().st_ino
