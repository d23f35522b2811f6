"""The ``SyncWindow`` kind: when automated syncs of the selected applications and clusters may run.

Called by the loader (:mod:`gitops.config.loader`); ``gitops.config.to_fleet`` converts it into
:class:`gitops.domain.SyncWindow` (selectors as :class:`gitops.domain.Selector`), which
gitops.permit.windows evaluates (docs/sync-windows.md). Key design choice: everything the evaluation
needs is checked here, at load, with a located error: the cron ``schedule`` is parsed by cronsim (five
fields, bounded length), the ``timeZone`` is loaded by zoneinfo, the ``duration`` is positive (and, as
every duration, at most 366 days), and selectors are bounded lists of name globs and label pairs, so the
workers never meet a window they cannot evaluate.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError
from pydantic import AfterValidator, Field

from gitops.config.fields import LabelKey, LabelValue, Model, Name, PositiveDuration

MAX_SCHEDULE = 128  # characters of a cron expression
MAX_PATTERNS = 64
_GLOB = re.compile(r"^[a-z0-9.*?_-]{1,253}$")
_ZONE = re.compile(r"^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+){0,2}$")
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def _schedule(value: str) -> str:
    if len(value) > MAX_SCHEDULE:
        raise ValueError(f"must be a cron expression of at most {MAX_SCHEDULE} characters")
    if len(value.split()) != 5:
        raise ValueError("must be a cron expression of five fields: minute hour day-of-month month "
                         "day-of-week (e.g. '0 22 * * 1-5')")
    try:
        CronSim(value, _EPOCH)
    except CronSimError as exc:
        raise ValueError(f"is not a valid cron expression: {exc}") from None
    return value


def _time_zone(value: str) -> str:
    if len(value) > 64 or not _ZONE.fullmatch(value):
        raise ValueError("must be an IANA time zone name such as 'Europe/Paris' or 'UTC'")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError("is not a known IANA time zone (e.g. 'Europe/Paris', 'America/New_York', "
                         "'UTC')") from None
    return value


def _glob(value: str) -> str:
    if not _GLOB.fullmatch(value):
        raise ValueError("must be a name or a glob of lowercase letters, digits, '.', '-', '_', '*', '?'")
    return value


Schedule = Annotated[str, AfterValidator(_schedule)]
TimeZone = Annotated[str, AfterValidator(_time_zone)]
NameGlob = Annotated[str, AfterValidator(_glob)]


class Selection(Model):
    """Which applications or clusters: ``names`` (globs, ``*`` and ``?``; empty: any name) and
    ``matchLabels`` (every pair present on the application's or cluster's metadata.labels). Empty:
    everything."""

    names: list[NameGlob] = Field(default=[], max_length=MAX_PATTERNS)
    """Name globs (``*``, ``?``); empty: any name."""
    match_labels: dict[LabelKey, LabelValue] = Field(default={}, max_length=MAX_PATTERNS)
    """Labels that must all be present."""


class SyncWindowSpec(Model):
    """``spec`` of a ``SyncWindow``."""

    kind: Literal["allow", "deny"]
    """``deny`` holds automated syncs while open; ``allow`` permits them only while open."""
    schedule: Schedule
    """Cron expression (five fields) that opens the window, in ``timeZone``."""
    duration_seconds: PositiveDuration = Field(validation_alias="duration")  # at most 366 days
    """How long the window stays open."""
    time_zone: TimeZone = "UTC"
    """IANA time zone of the schedule."""
    manual_sync: bool = False
    """Allow manual syncs while a deny window holds the target."""
    applications: Selection = Selection()
    """Applications the window applies to."""
    clusters: Selection = Selection()
    """Clusters the window applies to."""


class SyncWindow(SyncWindowSpec):
    """A sync window: ``name`` from metadata plus the validated spec."""

    name: Name

