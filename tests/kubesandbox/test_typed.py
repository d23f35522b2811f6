"""kubesandbox/typed.json (which fields a typed Go object always serializes, and which empty ones it
drops) against the OpenAPI v3 documents of the real kube-apiserver (the ``real_cluster`` fixture).
``GITOPS_REGENERATE=1`` rewrites the file from the server instead of comparing."""

from __future__ import annotations

import json
import os
from pathlib import Path

from kubesandbox import typed
from tests.kubesandbox.differential import real_endpoint


def test_the_table_matches_the_real_servers_openapi(real_cluster: Path) -> None:
    real = real_endpoint(real_cluster)
    try:
        paths = real.request("GET", "/openapi/v3").body["paths"]
        table = typed.build(real.request("GET", f"/openapi/v3/{path}").body for path in sorted(paths))
    finally:
        real.close()
    if os.environ.get("GITOPS_REGENERATE"):
        typed.TABLE.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    assert json.loads(typed.TABLE.read_text()) == table


def test_zero_objects() -> None:
    assert typed.zero("apps/v1", "Deployment") == {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {},
        "spec": {"selector": None, "strategy": {},
                 "template": {"metadata": {}, "spec": {"containers": None}}}}
    assert typed.zero("v1", "ConfigMap") == {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}
