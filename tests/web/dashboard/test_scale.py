"""A page is bounded by what it shows, not by the fleet: the overview of 10,000 targets (1,000
applications x 10 clusters, 100 clusters configured) renders one page of 50 rows in well under
200 KB, in list and matrix mode, with error messages at their stored maximum length."""

from __future__ import annotations

import re

from dashboard_kit import NOW, Dashboard, fleet_of, hooks

from gitops.errors import Failure
from gitops.state import DriftRecord, ObjectRecord
from gitops.state.model import MAX_TEXT
from gitops.vocabulary import HealthStatus, SyncStatus

LIMIT = 200 * 1024


def test_overview_of_ten_thousand_targets_stays_small(dashboard: Dashboard) -> None:
    apps = {f"application-{a:04d}": {"team": f"team-{a % 20}", "tier": "web"} for a in range(1000)}
    clusters = {f"cluster-{c:03d}": {"env": "prod" if c % 2 else "staging", "region": f"r-{c % 5}"}
                for c in range(100)}
    dashboard.use_fleet(fleet_of(apps, clusters))
    long_error = Failure("ClusterUnavailable", "x" * (MAX_TEXT * 2), True)
    drift = tuple(DriftRecord(f"Deployment/ns/d{i}", ".spec.replicas", "5", "3", "kubectl")
                  for i in range(20))
    objects = tuple(ObjectRecord(f"ConfigMap/ns/c{i}", "unchanged", health="Healthy") for i in range(20))
    for a in range(1000):
        for c in range(10):
            failed = (a + c) % 7 == 0
            dashboard.writer.target(
                f"application-{a:04d}", f"cluster-{c:03d}", at=NOW - a - c,
                sync=SyncStatus.OUT_OF_SYNC if failed else SyncStatus.SYNCED,
                health=HealthStatus.DEGRADED if failed else HealthStatus.HEALTHY,
                failure=long_error if failed else None, drift=drift if failed else (),
                objects=objects)
    client = dashboard.as_user("viewer")
    listing = client.get("/?view=list")
    assert listing.status_code == 200
    assert hooks(listing.text, "target-row") == 50
    assert re.search(r'data-testid="count-total">10,000<', listing.text)
    assert len(listing.content) < LIMIT, len(listing.content)
    failing = client.get("/?view=list&failed=1&sort=reconciled&desc=1")
    assert hooks(failing.text, "target-row") == 50
    assert len(failing.content) < LIMIT, len(failing.content)
    matrix = client.get("/")
    assert hooks(matrix.text, "matrix-cell") == 50
    assert len(matrix.content) < LIMIT, len(matrix.content)
    bigger = client.get("/?view=list&limit=200")
    assert hooks(bigger.text, "target-row") == 200
    cluster = client.get("/clusters/cluster-003")
    assert hooks(cluster.text, "target-row") == 50 and len(cluster.content) < LIMIT
    clusters = client.get("/clusters")
    assert hooks(clusters.text, "cluster-row") == 100 and len(clusters.content) < LIMIT
