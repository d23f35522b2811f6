"""Whether a target may write now (dependencies, sync windows, suspension) and whom its success wakes.

Called by workers/service.py around every reconcile. Skeleton: nothing holds, nobody is woken.
"""

from __future__ import annotations

from gitops.state import TargetStatus
from gitops.state.model import Hold
from gitops.vocabulary import Target
from workers.ports import Runtime


def hold_for(rt: Runtime, target: Target, *, manual: bool, dry_run: bool) -> Hold | None:
    """Why ``target`` must only be compared now (None: it may write as its policy or the user asks)."""
    return None


def woken_by(rt: Runtime, target: Target, status: TargetStatus,
             previous: TargetStatus | None) -> tuple[Target, ...]:
    """The dependants to reconcile now that ``target`` recorded ``status``."""
    return ()
