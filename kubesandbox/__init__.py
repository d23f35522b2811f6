"""A Kubernetes API server stand-in for tests, benchmarks and demos (``gitops sandbox``).

``from kubesandbox import Sandbox, FaultRule``; see docs/sandbox.md. A top-level package of its own:
it imports only the shared Kubernetes helpers (``renderers.k8s``: schema, strategic merge, label
selectors, field paths and FieldsV1, JSON pointers and patches) and never the engine (``gitops``),
which in turn never imports it; its errors are its own (:mod:`kubesandbox.errors`). The command
``gitops sandbox`` (:mod:`kubesandbox.cli`) reaches the ``gitops`` CLI through the ``gitops.commands``
entry point. The server-side apply merge lives in the ``ssa`` subpackage (its own owner and docs),
used through ``fieldmanager``. (Named ``kubesandbox``, not ``sandbox``: the Jinja renderer has a
sandbox of its own, ``renderers.jinja.sandbox``.)
"""

from __future__ import annotations

from kubesandbox.controller import FAIL_ROLLOUT
from kubesandbox.errors import SandboxError, UsageError
from kubesandbox.instruments import FaultRule, Faults, Stats
from kubesandbox.sandbox import Sandbox
from kubesandbox.server import ServerLimits

__all__ = ["FAIL_ROLLOUT", "FaultRule", "Faults", "Sandbox", "SandboxError", "ServerLimits", "Stats",
           "UsageError"]
