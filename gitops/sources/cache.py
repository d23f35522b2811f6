"""On-disk layout of the source cache, its locks, leases and the last-good-revision records.

Used by :mod:`gitops.sources.git_source`. Layout under the cache directory::

    repos/<key>/                 bare repository for one (URL, credentials) (<key> = RepoSpec.key)
    snapshots/<key>/<commit>/    read-only files of one (repository, commit)
    snapshots/<key>/.tmp-*       snapshots being built (renamed into place when complete)
    blobs/<key>/<blob>[-x]       file contents, hard-linked into that repository's snapshots
    locks/<key>.lock             held while fetching into repos/<key>
    locks/<key>-<commit>.lock    held while building one snapshot
    leases/<key>-<commit>        flock()ed shared by readers, exclusively by garbage collection
    state/<key>.json             last good revision per ref (survives restarts)

Key design choice: cross-process safety with plain files: ``filelock`` for writers, ``fcntl.flock``
shared/exclusive leases so garbage collection never removes a snapshot somebody is reading, and
atomic ``os.replace`` for the JSON record so readers never see half a file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from gitops.errors import SourceUnavailable
from gitops.sources.spec import RepoSpec

MAX_STATE_BYTES = 1024 * 1024


class Layout:
    """Paths and locks below one cache root."""

    def __init__(self, root: Path, lock_timeout: float) -> None:
        self.root = root
        self.lock_timeout = lock_timeout
        for sub in ("repos", "snapshots", "blobs", "locks", "leases", "state"):
            (root / sub).mkdir(parents=True, exist_ok=True)

    def repo_dir(self, spec: RepoSpec) -> Path:
        return self.root / "repos" / spec.key

    def snapshots_dir(self, key: str) -> Path:
        return self.root / "snapshots" / key

    def blobs_dir(self, key: str) -> Path:
        return self.root / "blobs" / key

    def snapshot_dir(self, spec: RepoSpec, revision: str) -> Path:
        return self.snapshots_dir(spec.key) / revision

    def lease_file(self, key: str, revision: str) -> Path:
        return self.root / "leases" / f"{key}-{revision}"

    @contextlib.contextmanager
    def lock(self, name: str, what: str) -> Iterator[None]:
        lock = FileLock(str(self.root / "locks" / f"{name}.lock"), timeout=self.lock_timeout)
        try:
            with lock:
                yield
        except Timeout as exc:
            raise SourceUnavailable(f"{what}: cache busy for more than {self.lock_timeout:g}s") from exc

    # ---- last good revision -------------------------------------------------------------------

    def _state_file(self, spec: RepoSpec) -> Path:
        return self.root / "state" / f"{spec.key}.json"

    def read_state(self, spec: RepoSpec) -> dict[str, Any]:
        path = self._state_file(spec)
        try:
            if path.stat().st_size > MAX_STATE_BYTES:
                return {}
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) and isinstance(data.get("refs"), dict) else {}

    def last_good(self, spec: RepoSpec) -> str | None:
        entry = self.read_state(spec).get("refs", {}).get(spec.ref)
        revision = entry.get("revision") if isinstance(entry, dict) else None
        return revision if isinstance(revision, str) and len(revision) == 40 else None

    def record_good(self, spec: RepoSpec, revision: str) -> None:
        with self.lock(f"{spec.key}-state", f"repository {spec.name!r}"):
            state = self.read_state(spec) or {"url": spec.display_url, "refs": {}}
            state["refs"][spec.ref] = {"revision": revision,
                                       "checked_at": datetime.now(UTC).isoformat(timespec="seconds")}
            path = self._state_file(spec)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(state, handle, indent=1, sort_keys=True)
            os.replace(tmp, path)

    def good_revisions(self, key: str) -> set[str]:
        path = self.root / "state" / f"{key}.json"
        try:
            refs = json.loads(path.read_text(encoding="utf-8")).get("refs", {})
        except (OSError, ValueError, AttributeError):
            return set()
        return {v["revision"] for v in refs.values() if isinstance(v, dict) and "revision" in v}

    # ---- leases -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def lease(self, key: str, revision: str) -> Iterator[None]:
        """Hold a shared lease on a snapshot: garbage collection skips it meanwhile."""
        fd = os.open(self.lease_file(key, revision), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def exclusive(self, key: str, revision: str) -> Iterator[bool]:
        """Try to take a snapshot's lease exclusively (without waiting); yields whether we got it."""
        fd = os.open(self.lease_file(key, revision), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)


def touch(path: Path) -> None:
    """Mark ``path`` as just used (garbage collection keeps the most recently used snapshots)."""
    now = time.time()
    with contextlib.suppress(OSError):
        os.utime(path, (now, now))
