"""``StaticGate``: a fake of the Prometheus gate (gitops.appset.prometheus.GateClient) for tests.

Used by the ApplicationSet controller's tests: it answers a configurable :class:`GateResult` (change
``result`` between calls to make the gate stop or start holding) and records every check it was asked,
so a test can assert which query was asked, and how often, without a Prometheus server.
"""

from __future__ import annotations

import threading

from gitops.appset.rollout import GateResult, PrometheusCheck

HOLDS = GateResult(holds=True, detail="holds (static gate)")


class StaticGate:
    """Answers ``result`` to every check; ``checks`` (and ``queries``) record what was asked."""

    def __init__(self, result: GateResult = HOLDS) -> None:
        self.result = result
        self.checks: list[PrometheusCheck] = []
        self._lock = threading.Lock()

    def check(self, gate: PrometheusCheck) -> GateResult:
        with self._lock:
            self.checks.append(gate)
            return self.result

    @property
    def queries(self) -> list[str]:
        """The queries asked, in order."""
        with self._lock:
            return [gate.query for gate in self.checks]
