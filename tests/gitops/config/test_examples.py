"""The bundled examples: examples/config loads cleanly, examples/broken reports exactly its errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops.config import load_config
from gitops.errors import ConfigError

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"

EXPECTED_BROKEN = [
    ("apps.yaml", 10, 15, "spec.source.renderer", "must be 'kustomize', 'jinja', 'plain' or 'helm'"),
    ("apps.yaml", 12, 14, "spec.destination.cluster", 'cluster "prod" is not defined'),
    ("apps.yaml", 14, 5, "spec.syncPolicy.selfheal", "unknown field (did you mean 'selfHeal'?)"),
    ("apps.yaml", 15, 20, "spec.syncPolicy.pruneMaxShare", "must be less than or equal to 1"),
    ("apps.yaml", 17, 7, "spec.ignoreDifferences[0].kind", "required field is missing"),
    ("apps.yaml", 18, 22, "spec.ignoreDifferences[0].jsonPointers[0]", "a JSON pointer starts with '/'"),
    ("apps.yaml", 23, 9, "metadata.name", "must be a DNS label"),
    ("apps.yaml", 26, 17, "spec.source.repository", 'repository "missing-repo" is not defined'),
    ("apps.yaml", 27, 11, "spec.source.path", "must stay inside the repository"),
    ("apps.yaml", 28, 3, "spec.destination.cluster", "required field is missing"),
    ("clusters.yaml", 3, 13, "apiVersion", "unknown apiVersion; expected gitops.dev/v1alpha1"),
    ("clusters.yaml", 11, 7, "kind", "unknown kind 'Clutser'; expected one of Repository, Cluster,"),
    ("clusters.yaml", 16, 1, None, "a document must be a mapping"),
    ("clusters.yaml", 23, 1, "spec", "set either kubeconfig (with an optional context) or server"),
    ("repositories.yaml", 8, 8, "spec.url", "the 'ext::' remote-helper transport is not allowed"),
    ("repositories.yaml", 9, 13, "spec.interval", "expected a duration such as 30s"),
    ("repositories.yaml", 12, 5, "spec.credentials.password", "inline secrets are not allowed"),
    ("repositories.yaml", 17, 9, "metadata.name", 'duplicate Repository "demo"; first defined at '),
    ("repositories.yaml", 19, 8, "spec.url", "local repositories (file:// URLs and paths) are refused"),
]


def test_example_config_is_valid() -> None:
    config = load_config(EXAMPLES / "config")
    assert config.counts() == {"Repository": 1, "Cluster": 2, "Application": 2, "ApplicationSet": 0,
                               "VerificationPolicy": 0, "WebhookReceiver": 0,
                               "SyncWindow": 0, "Notification": 0}
    assert {a.source.renderer for a in config.applications.values()} == {"kustomize", "plain"}
    assert all(c.kubeconfig and Path(c.kubeconfig).is_absolute() for c in config.clusters.values())
    repo = config.repositories["demo"]
    assert repo.allow_local and repo.url == "file://" + str(EXAMPLES.parent)


def test_broken_examples_report_every_error_at_its_exact_place() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(EXAMPLES / "broken")
    got = [(Path(p.file or "").name, p.line, p.column, p.field, p.message) for p in info.value.problems]
    assert len(got) == len(EXPECTED_BROKEN), "\n".join(map(str, info.value.problems))
    for (file, line, column, field, message), expected in zip(got, EXPECTED_BROKEN, strict=True):
        assert (file, line, column, field) == expected[:4]
        assert message.startswith(expected[4]), (message, expected[4])


def test_broken_examples_never_print_the_inline_password() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(EXAMPLES / "broken")
    assert "hunter2" not in str(info.value)
    assert all("hunter2" not in str(p) for p in info.value.problems)
