"""The ``WebhookReceiver`` kind: provider, secret reference (never inline), repository restriction,
located errors, and the conversion into the Fleet's frozen domain value."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from gitops import domain
from gitops.config import load_config, to_fleet
from gitops.errors import Problem

Write = Callable[[str, str], Path]
Problems = Callable[[Path], list[Problem]]

HEAD = """\
apiVersion: gitops.dev/v1alpha1
kind: WebhookReceiver
metadata:
  name: github-main
spec:
"""  # lines 1-5; the spec starts on line 6


def _where(found: list[Problem]) -> list[tuple[int | None, int | None, str | None, str]]:
    return [(p.line, p.column, p.field, p.message) for p in found]


@pytest.fixture
def receiver_problems(write: Write, base_text: str, problems: Problems, tmp_path: Path
                      ) -> Callable[[str], list[Problem]]:
    def _run(spec: str) -> list[Problem]:
        write("base.yaml", base_text)
        write("hooks.yaml", HEAD + spec)
        got = problems(tmp_path)
        assert all(Path(p.file or "").name == "hooks.yaml" for p in got), got
        return got

    return _run


def test_a_receiver_loads_into_the_fleet_as_a_frozen_value(write: Write, base_text: str,
                                                            tmp_path: Path) -> None:
    write("base.yaml", base_text)
    write("hooks.yaml", HEAD + "  provider: github\n  secretRef: {env: GITHUB_HOOK_SECRET}\n"
          "  repositories: [demo]\n---\n" + HEAD.replace("github-main", "lab")
          + "  provider: gitlab\n  secretRef: {file: secrets/lab}\n")
    config = load_config(tmp_path)
    assert config.counts()["WebhookReceiver"] == 2
    assert config.source_of("lab", kind="WebhookReceiver") == (str(tmp_path / "hooks.yaml"), 10)
    fleet = to_fleet(config)
    github = fleet.receivers["github-main"]
    ref = domain.SecretRef(env="GITHUB_HOOK_SECRET")
    assert github == domain.WebhookReceiver("github-main", "github", ref, ("demo",))
    assert github.may_trigger("demo") and not github.may_trigger("other")
    lab = fleet.receivers["lab"]
    # a relative secret file resolves against the declaring file's directory, like every path
    assert lab.secret == domain.SecretRef(file=str(tmp_path / "secrets" / "lab"))
    assert lab.repositories is None and lab.may_trigger("anything")
    with pytest.raises(dataclasses.FrozenInstanceError):
        github.provider = "gitlab"  # type: ignore[misc]


def test_the_secret_is_never_read_at_load_time(write: Write, base_text: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    write("base.yaml", base_text)
    write("hooks.yaml", HEAD + "  provider: gitea\n  secretRef: {env: NOT_SET_ANYWHERE}\n---\n"
          + HEAD.replace("github-main", "f") + "  provider: generic\n  secretRef: {file: /no/such/file}\n")
    fleet = to_fleet(load_config(tmp_path))
    assert set(fleet.receivers) == {"github-main", "f"}


def test_an_inline_secret_is_refused_naming_the_field_and_the_way_to_reference_it(
        receiver_problems: Callable[[str], list[Problem]]) -> None:
    got = receiver_problems("  provider: github\n  secret: hunter2-very-secret\n  secretRef: {env: X}\n")
    assert _where(got) == [(7, 3, "spec.secret",
                            "inline secrets are not allowed; reference the secret instead "
                            "(secretRef: {env: NAME} or secretRef: {file: PATH})")]
    assert "hunter2" not in str(got)


@pytest.mark.parametrize(("spec", "expected"), [
    ("  provider: githab\n  secretRef: {env: X}\n",
     [(6, 13, "spec.provider", "must be 'github', 'gitlab', 'bitbucket-server', 'bitbucket-cloud', 'gitea' "
                               "or 'generic'")]),
    ("  provider: bitbucket\n  secretRef: {env: X}\n",
     [(6, 13, "spec.provider", "must be 'github', 'gitlab', 'bitbucket-server', 'bitbucket-cloud', 'gitea' "
                               "or 'generic'")]),
    ("  provider: github\n",
     [(5, 1, "spec.secretRef", "required field is missing")]),
    ("  secretRef: {env: X}\n",
     [(5, 1, "spec.provider", "required field is missing")]),
    ("  provider: github\n  secretRef: {env: A, file: b}\n",
     [(7, 3, "spec.secretRef", "set exactly one of env (an environment variable name) or file (a path)")]),
    ("  provider: github\n  secretRef: {}\n",
     [(7, 3, "spec.secretRef", "set exactly one of env (an environment variable name) or file (a path)")]),
    ("  provider: github\n  secretRef: {env: 1BAD}\n",
     [(7, 20, "spec.secretRef.env", "must be an environment variable name (letters, digits and '_', not "
                                    "starting with a digit)")]),
    ("  provider: github\n  secretRef: {value: abc}\n",
     [(7, 15, "spec.secretRef.value", "unknown field")]),
    ("  provider: github\n  secretref: {env: X}\n",
     [(5, 1, "spec.secretRef", "required field is missing"),
      (7, 3, "spec.secretref", "unknown field (did you mean 'secretRef'?)")]),
    ("  provider: github\n  secretRef: {env: X}\n  repositories: demo\n",
     [(8, 17, "spec.repositories", "must be a valid tuple")]),
    ("  provider: github\n  secretRef: {env: X}\n  repositories: [demo, demo]\n",
     [(8, 3, "spec.repositories", "lists a repository more than once")]),
    ("  provider: github\n  secretRef: {env: X}\n  repositories: [demo, Bad_Name]\n",
     [(8, 24, "spec.repositories[1]", "must be a DNS label: 1-63 lowercase letters, digits or '-', "
                                      "starting and ending with a letter or digit"),
      (8, 24, "spec.repositories[1]", 'repository "Bad_Name" is not defined')]),
])
def test_bad_receivers_are_located(receiver_problems: Callable[[str], list[Problem]], spec: str,
                                   expected: list[tuple[int, int, str, str]]) -> None:
    assert _where(receiver_problems(spec)) == expected


def test_unknown_repositories_are_errors_at_their_item(
        receiver_problems: Callable[[str], list[Problem]]) -> None:
    got = receiver_problems("  provider: github\n  secretRef: {env: X}\n  repositories:\n  - demo\n  - nope\n"
                            "  - other\n")
    assert _where(got) == [(10, 5, "spec.repositories[1]", 'repository "nope" is not defined'),
                           (11, 5, "spec.repositories[2]", 'repository "other" is not defined')]


def test_duplicate_receivers_are_refused(receiver_problems: Callable[[str], list[Problem]]) -> None:
    spec = "  provider: github\n  secretRef: {env: X}\n"
    got = receiver_problems(spec + "---\n" + HEAD + spec)
    assert [(p.line, p.field) for p in got] == [(12, "metadata.name")]
    assert got[0].message.startswith('duplicate WebhookReceiver "github-main"; first defined at ')
