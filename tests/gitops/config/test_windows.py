"""The SyncWindow kind: converted to domain values with selectors; bad cron, zone, duration and
selectors are located errors; hostile values never load."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gitops.cli import main
from gitops.config import load_config, to_fleet
from gitops.domain import Selector
from gitops.errors import Problem
from gitops.permit.windows import evaluate, explain

DOCS = Path(__file__).resolve().parents[3] / "docs"

WINDOW = """\
apiVersion: gitops.dev/v1alpha1
kind: SyncWindow
metadata:
  name: freeze
spec:
  kind: deny
  schedule: "{schedule}"
  duration: {duration}
  timeZone: {zone}
  manualSync: true
  applications:
    names: ["db-*", "cache"]
    matchLabels: {{tier: data}}
  clusters:
    matchLabels: {{env: prod}}
"""


def window(schedule: str = "0 22 * * 1-5", duration: str = "8h", zone: str = "Europe/Paris") -> str:
    return WINDOW.format(schedule=schedule, duration=duration, zone=zone)


def test_a_window_loads_into_the_domain(write: Callable[[str, str], Path], base_text: str) -> None:
    path = write("config.yaml", base_text + "---\n" + window())
    fleet = to_fleet(load_config(path))
    w = fleet.sync_windows["freeze"]
    assert (w.kind, w.schedule, w.duration_seconds, w.time_zone, w.manual_sync) == (
        "deny", "0 22 * * 1-5", 8 * 3600.0, "Europe/Paris", True)
    assert w.applications == Selector(("db-*", "cache"), {"tier": "data"})
    assert w.clusters == Selector((), {"env": "prod"})
    assert w.applications.matches("db-main", {"tier": "data"}) and not w.applications.matches("web", {})


@pytest.mark.parametrize(("args", "field", "message"), [
    ({"schedule": "0 0 30 2 *"}, "spec.schedule", "is not a valid cron expression: Bad day-of-month"),
    ({"schedule": "61 * * * *"}, "spec.schedule", "is not a valid cron expression"),
    ({"schedule": "* * * *"}, "spec.schedule", "must be a cron expression of five fields"),
    ({"schedule": "0 0 1 1 * 2030"}, "spec.schedule", "must be a cron expression of five fields"),
    ({"schedule": "1,2,3,4 " * 40}, "spec.schedule", "must be a cron expression of at most 128"),
    ({"zone": "Mars/Olympus"}, "spec.timeZone", "is not a known IANA time zone"),
    ({"zone": "../../etc/passwd"}, "spec.timeZone", "must be an IANA time zone name"),
    ({"zone": "/etc/localtime"}, "spec.timeZone", "must be an IANA time zone name"),
    ({"duration": "0s"}, "spec.duration", "must be greater than zero"),
    ({"duration": "400d"}, "spec.duration", "may not exceed 366 days"),
    ({"duration": "soon"}, "spec.duration", "expected a duration"),
])
def test_bad_values_are_located(write: Callable[[str, str], Path], problems: Callable[[Path], list[Problem]],
                                base_text: str, args: dict[str, str], field: str, message: str) -> None:
    path = write("config.yaml", base_text + "---\n" + window(**args))
    [problem] = problems(path)
    assert problem.field == field and message in problem.message, problem
    assert problem.file == str(path) and problem.line is not None


def test_hostile_selectors_and_unknown_fields(write: Callable[[str, str], Path],
                                              problems: Callable[[Path], list[Problem]]) -> None:
    text = window().replace('names: ["db-*", "cache"]', 'names: ["../*", "' + "a" * 300 + '"]')
    text = text.replace("manualSync: true", "manualSync: true\n  manual_sync: true")
    found = {p.field: p.message for p in problems(write("w.yaml", text))}
    assert "spec.applications.names[0]" in found and "spec.applications.names[1]" in found
    assert "unknown field" in found["spec.manual_sync"]
    many = window().replace('names: ["db-*", "cache"]', "names: [" + ", ".join(["a"] * 65) + "]")
    assert any(p.field == "spec.applications.names" for p in problems(write("m.yaml", many)))
    assert any(p.field == "spec.kind" for p in problems(write("k.yaml", window().replace("kind: deny",
                                                                                         "kind: maybe"))))


def test_the_docs_examples_validate_and_mean_what_the_page_says(tmp_path: Path) -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", (DOCS / "sync-windows.md").read_text(), flags=re.S)
    (tmp_path / "config.yaml").write_text("---\n".join(blocks))
    assert main(["validate", "-c", str(tmp_path / "config.yaml")]) == 0
    fleet = to_fleet(load_config(tmp_path / "config.yaml"))
    assert set(fleet.sync_windows) == {"night-freeze", "office-hours"}
    payments, prod = fleet.applications["payments"], fleet.clusters["prod"]
    night = datetime(2026, 12, 6, 0, 0, tzinfo=ZoneInfo("Europe/Paris")).timestamp()
    state = evaluate(fleet.sync_windows.values(), night, application="payments", app_labels=payments.labels,
                     cluster="prod", cluster_labels=prod.labels)
    assert not state.automated and state.manual and state.blocking == ("night-freeze",)
    assert state.changes_at == datetime(2026, 12, 7, 9, 0, tzinfo=ZoneInfo("America/New_York")).timestamp()
    message = "deny window night-freeze is open; automated syncs resume at 2026-12-07 14:00 UTC"
    assert explain(state) == message and message in (DOCS / "sync-windows.md").read_text()
