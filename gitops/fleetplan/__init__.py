"""The fleet-wide plan: every (application, cluster) pair a commit (or a working tree) adds, removes or
changes, with field-level diffs. The public face of the package::

    from gitops.fleetplan import PlanRequest, plan_fleet, text, to_json, markdown

``plan_fleet(PlanRequest(...))`` (:mod:`.orchestrate`) computes the pairs at BASE and at NEW (configured
Applications and every ApplicationSet's, generators included), renders each through the engine's render
step with a cache keyed by the render's full input (a base shared by many clusters renders once per side),
diffs them offline (:mod:`.diff`) and, for reachable clusters, again with the engine's server-side dry-run;
:mod:`.report` prints it as text, JSON (schema ``gitops.dev/plan/v1``) or a Markdown pull-request comment.
The two sides come from the :class:`~gitops.fleetplan.ports.TreeSource` port (:mod:`.trees`: a commit, an
uncommitted working tree). Caller: ``gitops plan`` (gitops/cli/plan.py), bench/fleet_plan.py. Key design
choice: pure diffing and formatting, a thin orchestrator over ports; a pair that cannot be rendered is an
error of that pair and never stops the others. docs/plan.md is the user's guide.
"""

from __future__ import annotations

from gitops.fleetplan.model import FieldChange, FleetPlan, Mode, ObjectChange, PairPlan, Side, Status
from gitops.fleetplan.orchestrate import PlanRequest, plan_fleet
from gitops.fleetplan.ports import Tree, TreeSource
from gitops.fleetplan.report import markdown, text, to_json

__all__ = ["FieldChange", "FleetPlan", "Mode", "ObjectChange", "PairPlan", "PlanRequest", "Side", "Status",
           "Tree", "TreeSource", "markdown", "plan_fleet", "text", "to_json"]
