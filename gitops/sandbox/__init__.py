"""A Kubernetes API server stand-in for tests, benchmarks and demos (``gitops sandbox``).

``from gitops.sandbox import Sandbox, FaultRule``; see docs/sandbox.md. The server-side apply merge
lives in the ``ssa`` subpackage (its own owner and docs), used through ``fieldmanager``.
"""

from __future__ import annotations

from gitops.sandbox.instruments import FaultRule, Faults, Stats
from gitops.sandbox.sandbox import Sandbox
from gitops.sandbox.server import ServerLimits

__all__ = ["FaultRule", "Faults", "Sandbox", "ServerLimits", "Stats"]
