"""The figures and names docs/scaling.md and docs/operations.md state about the engine are the code's:
the queue of every task (workers/app.py ROUTES), the bounds of the state (history per target, the
event stream), the Sentinel URL scheme, and the alert table matches the example rules file."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from gitops.state import EVENTS_LIMIT, HISTORY_LIMIT
from gitops.state.connect import SENTINEL_SCHEME
from workers.app import ROUTES
from workers.settings import QUEUES, SHARDED_QUEUES

DOCS = Path(__file__).resolve().parents[2] / "docs"


def table_rows(text: str, heading: str) -> list[list[str]]:
    """The cells of the first table after ``heading``."""
    section = text.split(heading, 1)[1]
    rows = []
    for line in section.splitlines():
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
        elif rows:
            break
    return rows[2:]


def test_the_queue_table_is_workers_routes() -> None:
    rows = table_rows((DOCS / "scaling.md").read_text(), "## The three queues")
    documented = {task: row[0].strip("`") for row in rows
                  for task in re.findall(r"`(gitops\.[a-z_]+)`", row[1])}
    assert documented == {task: route["queue"] for task, route in ROUTES.items()}
    assert sorted(row[0].strip("`") for row in rows) == sorted(QUEUES)


def test_the_state_bounds_are_the_stores() -> None:
    text = (DOCS / "scaling.md").read_text()
    assert f"newest **{HISTORY_LIMIT} operations**" in text
    assert f"about **{EVENTS_LIMIT:,} entries**" in text
    assert f"{SENTINEL_SCHEME}://" in text
    assert all(f"`{queue}.<name>`" in text for queue in SHARDED_QUEUES)


def test_the_alert_table_is_the_rules_file() -> None:
    rules = yaml.safe_load((DOCS / "examples" / "prometheus-rules.yaml").read_text())
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"] if "alert" in rule}
    rows = table_rows((DOCS / "operations.md").read_text(), "## Metrics to alert on")
    assert {row[0].strip("`") for row in rows} == alerts
