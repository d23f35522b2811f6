"""Fakes of the engine's ports for tests: an in-memory cluster, a directory source, a fixed renderer.

Used by tests of gitops/engine.py and by higher layers (workers, web) that need a reconcile without
Git or a cluster. The fakes implement the same Protocols as the real adapters and raise the same
gitops.errors, so code under test cannot tell the difference in behaviour that matters.
"""

from gitops.testing.cluster import FakeCluster
from gitops.testing.ports import FakeClusters, FakeSource, StaticRenderer, fake_ports

__all__ = ["FakeCluster", "FakeClusters", "FakeSource", "StaticRenderer", "fake_ports"]
