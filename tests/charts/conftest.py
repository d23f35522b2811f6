"""The chart tests' cluster fixtures: the sync tests' ``backend`` (the sandbox API server, and the real
control plane through the ``real_cluster`` fixture, which skips or fails by its own rules) and ``env``
(a fresh namespace on it, removed afterwards on a real cluster)."""

from tests.gitops.sync.conftest import backend as backend
from tests.gitops.sync.conftest import env as env

__all__ = ["backend", "env"]
