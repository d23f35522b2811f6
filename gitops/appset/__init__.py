"""ApplicationSets: generators fan one Application template out into many applications.

The public face of the package::

    from gitops.appset import Inputs, generate, render_applications

``generate(appset, Inputs(fleet, git))`` runs the set's generators (list, clusters, git directories
and files, matrix, merge, each with an optional post-selector; :mod:`gitops.appset.generate`) into
parameter sets, with per-element errors and per-generator failures as values;
``render_applications(appset, generation, fleet)`` renders the template once per set in the Jinja
sandbox (:mod:`gitops.appset.template`) and validates each result as an Application. Callers:
``gitops appset preview``; later the ApplicationSet controller and ``gitops plan``. Key design choice:
everything here is pure over typed values and the :class:`~gitops.appset.ports.GitTree` port; the real
Git adapter (:mod:`gitops.appset.snapshots`, which loads pygit2) is not imported by this package.
The controller (:mod:`gitops.appset.controller`) adds the lifecycle policy and the deletion breaker
(:mod:`~gitops.appset.lifecycle`), tombstones, and the progressive rollout (:mod:`~gitops.appset.rollout`)
over the set's record (:mod:`~gitops.appset.record`); :mod:`~gitops.appset.fleetview` shows the released
applications to the workers and the web.
"""

from __future__ import annotations

from gitops.appset.applications import Generated, Rendered, render_applications
from gitops.appset.generate import ElementError, Generation, GeneratorFailure, Inputs, generate
from gitops.appset.ports import GitTree

__all__ = ["ElementError", "Generated", "Generation", "GeneratorFailure", "GitTree", "Inputs", "Rendered",
           "generate", "render_applications"]
