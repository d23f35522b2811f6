"""GitSource: head checks, shared read-only snapshots, changed paths and garbage collection.

The engine, workers and ``gitops source check`` call this. Key design choices: a poll is a remote
ref listing only (no fetch); a snapshot of one (repository, commit) is built once, under a lock, in
a temporary directory renamed into place, and then shared read-only by every application and
cluster; fetching asks only for what the wanted commit needs (a shallow fetch of a ref whose tip is
that commit, deeper only when it is not a tip). Each successful head check is recorded so that the
last good revision (and its snapshot) stays usable while the remote is away. Everything on disk is
keyed by ``RepoSpec.key`` (URL *and* credential references), so a repository without credentials
never reads a cache that another repository's credentials filled. A hard refresh drops one snapshot
and the stored contents it links to (:meth:`GitSource.drop_snapshot`); the next use rebuilds it from
the Git objects. Commit times are read from the cached objects (:meth:`GitSource.commit_time`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import pygit2

from gitops.errors import InputError, SourceError, SourceUnavailable
from gitops.sources import remote
from gitops.sources.cache import Layout, touch
from gitops.sources.materialise import Limits, forget_stored, make_writable, materialise, prune_store
from gitops.sources.spec import RepoSpec

_SHA = re.compile(r"^[0-9a-f]{40}$")
_STALE_TMP_SECONDS = 3600.0


@dataclass(frozen=True)
class Snapshot:
    """The read-only files of one (repository, commit). ``url`` has any secret masked."""

    path: Path
    revision: str
    url: str


class GitSource:
    """Git repositories cached under ``cache_dir`` (safe to share between threads and processes)."""

    def __init__(self, cache_dir: Path, *, limits: Limits | None = None, lock_timeout: float = 300.0,
                 max_parallel: int = 4) -> None:
        self.layout = Layout(Path(cache_dir).resolve(), lock_timeout)
        self.limits = limits or Limits()
        self.max_parallel = max_parallel

    # ---- polling ------------------------------------------------------------------------------

    def head(self, spec: RepoSpec) -> str:
        """The commit ``spec.ref`` points to now, from a remote listing only (no objects fetched)."""
        if spec.pinned:
            return spec.ref
        return self._record(spec, remote.resolve(self._list(spec), spec))

    def heads(self, specs: Iterable[RepoSpec]) -> dict[str, str | Exception]:
        """``{spec.name: commit or error}``, listing each distinct (URL, credentials) once, in parallel.

        Specs with the same URL but different credentials are listed separately: a repository
        without credentials never sees what another's credentials can read.
        """
        by_key: dict[str, list[RepoSpec]] = defaultdict(list)
        result: dict[str, str | Exception] = {}
        for spec in specs:
            if spec.pinned:
                result[spec.name] = spec.ref
            else:
                by_key[spec.key].append(spec)
        groups = list(by_key.values())
        with ThreadPoolExecutor(max_workers=max(1, min(self.max_parallel, len(groups) or 1))) as pool:
            for group_result in pool.map(self._heads_of_group, groups):
                result.update(group_result)
        return result

    def _heads_of_group(self, group: list[RepoSpec]) -> dict[str, str | Exception]:
        out: dict[str, str | Exception] = {}
        leader = group[0]
        try:
            refs = remote.list_refs(self._repo(leader), leader)
        except SourceError as exc:  # each spec gets the error under its own name and last good revision
            return {spec.name: self._with_last_good(spec, _attributed(exc, leader, spec)) for spec in group}
        for spec in group:
            try:
                out[spec.name] = self._record(spec, remote.resolve(refs, spec))
            except SourceError as exc:
                out[spec.name] = exc
        return out

    def last_good(self, spec: RepoSpec) -> str | None:
        """The revision the last successful head check of ``spec`` returned, if any."""
        return spec.ref if spec.pinned else self.layout.last_good(spec)

    def _record(self, spec: RepoSpec, revision: str) -> str:
        self.layout.record_good(spec, revision)
        return revision

    def _list(self, spec: RepoSpec) -> dict[str, str]:
        try:
            return remote.list_refs(self._repo(spec), spec)
        except SourceError as exc:
            annotated = self._with_last_good(spec, exc)
            if annotated is exc:
                raise
            raise annotated from exc

    def _with_last_good(self, spec: RepoSpec, exc: SourceError) -> SourceError:
        good = self.layout.last_good(spec)
        if not isinstance(exc, SourceUnavailable) or good is None or exc.revision:
            return exc
        return SourceUnavailable(f"{exc.message}; last good revision {good} stays in use", revision=good)

    def _repo(self, spec: RepoSpec) -> pygit2.Repository:
        path = self.layout.repo_dir(spec)
        if (path / "HEAD").exists():
            return pygit2.Repository(str(path))
        with self.layout.lock(spec.key, f"repository {spec.name!r}"):
            return remote.open_cache(path)

    # ---- snapshots ----------------------------------------------------------------------------

    def snapshot(self, spec: RepoSpec, revision: str) -> Snapshot:
        """The read-only snapshot of ``revision`` (a commit id, or a ref name resolved remotely)."""
        revision = self._commit_id(spec, revision)
        final = self.layout.snapshot_dir(spec, revision)
        if not final.is_dir():
            with self.layout.lock(f"{spec.key}-{revision}", f"snapshot of {spec.name!r}"):
                if not final.is_dir():
                    self._build(spec, revision, final)
        touch(final)
        return Snapshot(final, revision, spec.display_url)

    @contextlib.contextmanager
    def lease(self, snapshot: Snapshot) -> Iterator[Snapshot]:
        """Keep ``snapshot`` safe from :meth:`collect` while the block runs (any process)."""
        with self.layout.lease(snapshot.path.parent.name, snapshot.revision):
            if not snapshot.path.is_dir():
                raise SourceError(f"snapshot {snapshot.revision} of {snapshot.url} was collected",
                                  revision=snapshot.revision)
            yield snapshot

    def _commit_id(self, spec: RepoSpec, revision: str) -> str:
        if _SHA.match(revision.lower()):
            return revision.lower()
        try:
            return self.head(replace(spec, ref=revision))
        except InputError as exc:
            raise SourceError(f"repository {spec.name!r}: invalid revision {revision!r}") from exc

    def _build(self, spec: RepoSpec, revision: str, final: Path) -> None:
        repo = self._ensure_commits(spec, (revision,))
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=".tmp-"))
        try:
            materialise(repo, revision, tmp, spec.limits or self.limits, self.layout.blobs_dir(spec.key))
            os.rename(tmp, final)
        except InputError as exc:
            make_writable(tmp)
            shutil.rmtree(tmp, ignore_errors=True)
            raise InputError(f"repository {spec.name!r} ({spec.display_url}) at {revision[:12]}: "
                             f"{exc.problem.message}", file=exc.problem.file) from None
        except BaseException:
            make_writable(tmp)
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _ensure_commits(self, spec: RepoSpec, revisions: tuple[str, ...]) -> pygit2.Repository:
        repo = self._repo(spec)
        if all(remote.has_commit(repo, r) for r in revisions):
            return repo
        with self.layout.lock(spec.key, f"repository {spec.name!r}"):
            repo = pygit2.Repository(str(self.layout.repo_dir(spec)))
            if all(remote.has_commit(repo, r) for r in revisions):
                return repo  # another thread or process fetched it while we waited for the lock
            for step in self._fetch_plan(repo, spec, revisions):
                step()
                missing = [r for r in revisions if not remote.has_commit(repo, r)]
                if not missing:
                    return repo
        raise SourceError(f"repository {spec.name!r} ({spec.display_url}): commit {missing[0]} not found "
                          "on any branch or tag of the remote", revision=missing[0])

    def _fetch_plan(self, repo: pygit2.Repository, spec: RepoSpec,
                    revisions: tuple[str, ...]) -> Iterator[_Step]:
        refs = self._list(spec)
        tips = sorted(name for name, oid in refs.items() if oid in revisions and name.startswith("refs/"))
        if tips and len(revisions) == 1:
            yield _Step(repo, spec, [_refspec(tips[0])], deep=False)
        own = remote.remote_ref_for(refs, spec)
        if own is not None:
            yield _Step(repo, spec, [_refspec(own)], deep=True)
        yield _Step(repo, spec, [_refspec("refs/heads/*"), _refspec("refs/tags/*")], deep=True)

    def drop_snapshot(self, spec: RepoSpec, revision: str) -> bool:
        """Remove the snapshot of ``revision``, and the stored file contents it links to, so the next
        :meth:`snapshot` builds it again from the Git objects (a hard refresh). False when there was
        none, or when a reader holds its lease (it is left alone)."""
        if not _SHA.match(revision.lower()):
            return False
        snap = self.layout.snapshot_dir(spec, revision.lower())
        return snap.is_dir() and self._remove_snapshot(spec.key, snap, forget_blobs=True)

    # ---- history ------------------------------------------------------------------------------

    def commit_time(self, spec: RepoSpec, revision: str) -> float | None:
        """The committer time (epoch seconds) of commit ``revision`` if the cache holds it (it does once
        a snapshot of it was built); None otherwise. Never fetches."""
        if not _SHA.match(revision.lower()):
            return None
        path = self.layout.repo_dir(spec)
        if not (path / "HEAD").exists():
            return None
        try:
            commit = pygit2.Repository(str(path)).get(revision.lower())
        except (KeyError, ValueError, pygit2.GitError):
            return None
        return float(commit.commit_time) if isinstance(commit, pygit2.Commit) else None

    def changed_paths(self, spec: RepoSpec, old: str, new: str) -> frozenset[str]:
        """Every file path added, removed or modified between commits ``old`` and ``new``."""
        old, new = self._commit_id(spec, old), self._commit_id(spec, new)
        if old == new:
            return frozenset()
        repo = self._ensure_commits(spec, (old, new))
        diff = repo[old].peel(pygit2.Tree).diff_to_tree(repo[new].peel(pygit2.Tree))
        paths: set[str] = set()
        for delta in diff.deltas:
            paths.update(p for p in (delta.old_file.path, delta.new_file.path) if p)
        return frozenset(paths)

    # ---- garbage collection -------------------------------------------------------------------

    def collect(self, keep_last: int, *, min_age_seconds: float = 300.0) -> list[Path]:
        """Delete snapshots beyond the ``keep_last`` most recently used per repository.

        Kept regardless: leased snapshots, the last good revision of every ref, and anything used in
        the last ``min_age_seconds``. Returns the removed directories.
        """
        removed: list[Path] = []
        root = self.layout.root / "snapshots"
        for repo_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            removed.extend(self._collect_repo(repo_dir, max(0, keep_last), min_age_seconds))
            prune_store(self.layout.blobs_dir(repo_dir.name), min_age_seconds)
        return removed

    def _collect_repo(self, repo_dir: Path, keep_last: int, min_age: float) -> list[Path]:
        now = time.time()
        self._remove_stale_tmp(repo_dir, now)
        snaps = sorted((p for p in repo_dir.iterdir() if _SHA.match(p.name) and p.is_dir()),
                       key=lambda p: p.stat().st_mtime, reverse=True)
        protected = self.layout.good_revisions(repo_dir.name)
        removed = []
        for snap in snaps[keep_last:]:
            if snap.name in protected or now - snap.stat().st_mtime < min_age:
                continue
            if self._remove_snapshot(repo_dir.name, snap):
                removed.append(snap)
        return removed

    def _remove_snapshot(self, key: str, snap: Path, *, forget_blobs: bool = False) -> bool:
        with self.layout.exclusive(key, snap.name) as got:
            if not got:
                return False
            if forget_blobs:
                forget_stored(snap, self.layout.blobs_dir(key))
            trash = snap.with_name(f".tmp-gc-{snap.name}-{os.getpid()}")
            os.rename(snap, trash)
            make_writable(trash)
            shutil.rmtree(trash, ignore_errors=True)
        with contextlib.suppress(OSError):
            self.layout.lease_file(key, snap.name).unlink()
        return True

    def _remove_stale_tmp(self, repo_dir: Path, now: float) -> None:
        for tmp in repo_dir.glob(".tmp-*"):
            with contextlib.suppress(OSError):
                if now - tmp.stat().st_mtime > _STALE_TMP_SECONDS:
                    make_writable(tmp)
                    shutil.rmtree(tmp, ignore_errors=True)


def _attributed(exc: SourceError, leader: RepoSpec, spec: RepoSpec) -> SourceError:
    """``exc`` (raised for ``leader``'s listing) reworded for ``spec``, which shares its URL and
    credentials: every repository's error names that repository."""
    if spec is leader:
        return exc
    prefix = f"repository {leader.name!r}"
    message = f"repository {spec.name!r}{exc.message[len(prefix):]}" if exc.message.startswith(prefix) else (
        f"repository {spec.name!r}: {exc.message}")
    copy = type(exc)(message, revision=exc.revision, temporary=exc.temporary)
    copy.__cause__ = exc.__cause__
    return copy


def _refspec(ref: str) -> str:
    return f"+{ref}:{remote.CACHE_NS}{ref.removeprefix('refs/')}"


@dataclass(frozen=True)
class _Step:
    """One fetch in a plan (run lazily: later steps only when earlier ones did not suffice)."""

    repo: pygit2.Repository
    spec: RepoSpec
    refspecs: list[str]
    deep: bool

    def __call__(self) -> None:
        remote.fetch(self.repo, self.spec, self.refspecs, deep=self.deep)
