"""The ApplicationSet controller's state: one versioned JSON record per set, and tombstones.

Written by the ApplicationSet controller (:mod:`gitops.appset.controller`) and by ``gitops appset
approve|pause|resume|restore`` (read-modify-write with compare-and-set); read by the workers' catalog
(the released generated applications join the configured ones) and by ``gitops status``. Two
implementations of one :class:`AppSetStore` Protocol: :class:`RedisAppSets` (production) and
:class:`InMemoryAppSets` (tests, time from an injected :class:`gitops.clock.Clock`); a contract test runs
both. Key design choice: the store keeps the record as opaque text with a version number (the schema is
:mod:`gitops.appset.record`'s), and every save names the version it read, so two controllers, or a
controller and an approving user, can never overwrite each other's change; a counter that every save
moves lets a catalog reload only when some set changed. Tombstones expire by themselves (Redis expiry).

NOTE: skeleton; the implementations are being written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Versioned:
    """A stored record and the version a save must name to replace it."""

    version: int
    text: str


@dataclass(frozen=True)
class Tombstone:
    """A deleted generated application, restorable until ``expires_at``: ``document`` is its JSON
    Application document (:class:`gitops.appset.record.GeneratedApp`)."""

    appset: str
    application: str
    document: str
    deleted_at: float
    expires_at: float
    reason: str


class AppSetStore(Protocol):
    def load(self, appset: str) -> Versioned | None:
        """The record of ``appset``, or None when there is none."""

    def save(self, appset: str, text: str, expected: int) -> int | None:
        """Replace the record if its version is still ``expected`` (0: there must be none yet); returns
        the new version, or None when another writer got there first (nothing written)."""

    def drop(self, appset: str) -> bool:
        """Delete the record (an ApplicationSet removed from the configuration); True if there was one."""

    def names(self) -> list[str]:
        """Every set with a record, sorted."""

    def changes(self) -> int:
        """A counter every save and drop increments: unchanged means no record changed."""

    def bury(self, tombstone: Tombstone) -> None:
        """Keep a tombstone until its ``expires_at`` (replacing one of the same set and application)."""

    def tombstones(self, appset: str | None = None) -> list[Tombstone]:
        """Unexpired tombstones (of ``appset``, or of every set), newest first."""

    def exhume(self, appset: str, application: str) -> Tombstone | None:
        """Remove and return the tombstone, or None when there is none (or it expired)."""
