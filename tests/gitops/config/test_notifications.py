"""The ``Notification`` kind: defaults, each destination converted into the Fleet's frozen values,
secrets by reference only, located errors (unknown events, two destinations, plain http, header
injection), and every YAML example of docs/notifications.md through ``gitops validate``."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from gitops import domain
from gitops.cli import main
from gitops.config import load_config, to_fleet
from gitops.errors import Problem

Write = Callable[[str, str], Path]
Problems = Callable[[Path], list[Problem]]
DOCS = Path(__file__).resolve().parents[3] / "docs" / "notifications.md"

HEAD = """\
apiVersion: gitops.dev/v1alpha1
kind: Notification
metadata:
  name: hook
spec:
"""  # lines 1-5; the spec starts on line 6


@pytest.fixture
def notification_problems(write: Write, base_text: str, problems: Problems, tmp_path: Path
                          ) -> Callable[[str], list[tuple[int | None, str | None, str]]]:
    def _run(spec: str) -> list[tuple[int | None, str | None, str]]:
        write("base.yaml", base_text)
        write("notify.yaml", HEAD + spec)
        got = problems(tmp_path)
        assert all(Path(p.file or "").name == "notify.yaml" for p in got), got
        return [(p.line, p.field, p.message) for p in got]

    return _run


def test_a_webhook_notification_loads_with_defaults(write: Write, base_text: str, tmp_path: Path) -> None:
    write("base.yaml", base_text)
    write("notify.yaml", HEAD + "  webhook:\n    url: https://hooks.example.com/x\n"
          "    secretRef: {env: HOOK_SECRET}\n")
    n = to_fleet(load_config(tmp_path)).notifications["hook"]
    assert n == domain.Notification(
        "hook", domain.NOTIFICATION_EVENTS, domain.Selector(), domain.Selector(),
        domain.WebhookDestination("https://hooks.example.com/x", domain.SecretRef(env="HOOK_SECRET")), 30)
    assert n.wants("RolloutHalted") and n.selects("any", {}, "where", {})


def test_each_destination_and_the_selectors_convert(write: Write, base_text: str, tmp_path: Path) -> None:
    write("base.yaml", base_text)
    write("notify.yaml", HEAD + """\
  events: [SyncFailed]
  applications: {names: ["web*"], matchLabels: {team: shop}}
  clusters: {names: [prod]}
  commitStatus: {provider: gitlab, tokenRef: {file: tokens/gl}, apiUrl: "http://127.0.0.1:8080/api/v4"}
  rateLimit: {perMinute: 5}
---
""" + HEAD.replace("hook", "chat") + "  apprise: {urlRef: {env: SLACK_URL}}\n")
    fleet = to_fleet(load_config(tmp_path))
    status = fleet.notifications["hook"]
    assert status.destination == domain.CommitStatusDestination(
        "gitlab", domain.SecretRef(file=str(tmp_path / "tokens" / "gl")), "http://127.0.0.1:8080/api/v4")
    assert (status.events, status.per_minute) == (("SyncFailed",), 5)
    assert status.selects("web-1", {"team": "shop"}, "prod", {})
    assert not status.selects("web-1", {"team": "core"}, "prod", {})
    assert not status.selects("api", {"team": "shop"}, "prod", {}) and not status.wants("SyncSucceeded")
    chat = fleet.notifications["chat"]
    assert chat.destination == domain.AppriseDestination(domain.SecretRef(env="SLACK_URL"))


@pytest.mark.parametrize(("spec", "expected"), [
    ("  events: [SyncSucceeded, Deployed]\n  apprise: {urlRef: {env: U}}\n",
     (6, "spec.events[1]", "must be 'SyncSucceeded', 'SyncFailed'")),
    ("  events: [SyncFailed, SyncFailed]\n  apprise: {urlRef: {env: U}}\n",
     (6, "spec.events", "lists an event more than once")),
    ("  events: []\n  apprise: {urlRef: {env: U}}\n", (6, "spec.events", "must not be empty")),
    ("  events: [SyncFailed]\n", (5, "spec", "set exactly one destination")),
    ("  apprise: {urlRef: {env: U}}\n  webhook: {url: 'https://x.example.com', secretRef: {env: S}}\n",
     (5, "spec", "set exactly one destination")),
    ("  webhook: {url: 'http://hooks.example.com/x', secretRef: {env: S}}\n",
     (6, "spec.webhook.url", "must be an https URL (plain http only to a loopback address)")),
    ("  webhook: {url: 'https://user:pw@hooks.example.com/x', secretRef: {env: S}}\n",
     (6, "spec.webhook.url", "without credentials")),
    ("  webhook: {url: 'https://hooks.example.com/x?token=abc', secretRef: {env: S}}\n",
     (6, "spec.webhook.url", "query string")),
    ("  webhook: {url: 'https://hooks.example.com/x', secret: abc}\n", (6, "spec.webhook", "")),
    ("  webhook:\n    url: https://hooks.example.com/x\n    secretRef: {env: S}\n"
     "    headers: {X-A: \"a\\r\\nX-Injected: 1\"}\n", (9, "spec.webhook.headers.X-A", "control characters")),
    ("  webhook:\n    url: https://hooks.example.com/x\n    secretRef: {env: S}\n"
     "    headers: {\"X-A\\nB\": x}\n", (9, "spec.webhook.headers", "token characters")),
    ("  webhook:\n    url: https://hooks.example.com/x\n    secretRef: {env: S}\n"
     "    headers: {X-Gitops-Signature: forged}\n", (9, "spec.webhook.headers", "set by the engine")),
    ("  apprise: {urlRef: {env: U, file: f}}\n", (6, "spec.apprise.urlRef", "set exactly one of env")),
    ("  apprise: {url: 'slack://a/b/c'}\n", (6, "spec.apprise", "")),
    ("  commitStatus: {provider: bitbucket, tokenRef: {env: T}}\n", (6, "spec.commitStatus.provider", "")),
    ("  commitStatus: {provider: github, tokenRef: {env: T}, apiUrl: 'http://github.example.com'}\n",
     (6, "spec.commitStatus.apiUrl", "https")),
    ("  apprise: {urlRef: {env: U}}\n  rateLimit: {perMinute: 0}\n", (7, "spec.rateLimit.perMinute", "")),
    ("  apprise: {urlRef: {env: U}}\n  applications: {names: [\"a\\nb\"]}\n",
     (7, "spec.applications.names[0]", "")),
])
def test_located_errors(notification_problems: Callable[[str], list[tuple[int | None, str | None, str]]],
                        spec: str, expected: tuple[int, str, str]) -> None:
    found = notification_problems(spec)
    line, where, message = expected
    assert any(p[1] is not None and p[1].startswith(where) and message in p[2] for p in found), found
    assert all(p[0] is not None and p[0] >= 5 for p in found), found  # in the spec, never elsewhere
    assert any(p[0] == line for p in found), found


def test_secrets_are_not_read_at_load_time(write: Write, base_text: str, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    write("base.yaml", base_text)
    write("notify.yaml", HEAD + "  apprise: {urlRef: {env: NOT_SET_ANYWHERE}}\n")
    assert "hook" in to_fleet(load_config(tmp_path)).notifications


def test_every_example_in_the_docs_validates(write: Write, base_text: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", DOCS.read_text(), re.S)
              if "kind: Notification" in b]
    assert len(blocks) >= 4
    write("base.yaml", base_text)
    for i, block in enumerate(blocks):
        write(f"example-{i}.yaml", block)
    names = set(to_fleet(load_config(tmp_path)).notifications)
    assert {"shop-slack", "ops-teams", "deploy-log", "github-status", "gitlab-status"} <= names
    assert main(["validate", "-c", str(tmp_path)]) == 0, capsys.readouterr()
