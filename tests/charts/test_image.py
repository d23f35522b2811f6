"""The Dockerfile the chart's image is built from (no container builder runs in the tests, so this
checks the recipe against the project): the lock installed with hashes, every package pyproject.toml
ships copied in and let through .dockerignore, a numeric non-root user, ``gitops`` as the entry point,
and the writable paths the chart mounts."""

from __future__ import annotations

import fnmatch
import re
import tomllib

from tests.charts.chartkit import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _instructions(name: str) -> list[str]:
    joined = DOCKERFILE.replace("\\\n", " ")
    return [line.split(None, 1)[1] for line in joined.splitlines() if line.startswith(f"{name} ")]


def test_dependencies_are_installed_from_the_lock_with_hashes() -> None:
    runs = " ".join(_instructions("RUN"))
    assert "--require-hashes --no-deps -r requirements/lock.txt" in runs
    assert "--no-deps --no-build-isolation ." in runs  # nothing resolved outside the lock
    assert any(i.startswith("${PYTHON_IMAGE}") or "python:3.11" in i for i in _instructions("FROM"))


def test_every_shipped_package_is_copied_and_not_ignored() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shipped = {p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = {i.split()[0] for i in _instructions("COPY") if not i.startswith("--from")}
    assert shipped <= copied, shipped - copied
    allowed = [line[1:].rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.startswith("!")]
    for path in copied:
        assert any(fnmatch.fnmatch(path, pattern) for pattern in allowed), path


def test_runs_as_a_numeric_non_root_user_with_gitops_as_entry_point() -> None:
    [user] = _instructions("USER")
    uid, _, gid = user.partition(":")
    assert int(uid) > 0 and int(gid) > 0
    assert _instructions("ENTRYPOINT") == ['["gitops"]']
    env = " ".join(_instructions("ENV"))
    settings = ("GITOPS_DATA_DIR=/data", "GITOPS_CONFIG=/config", "HOME=/tmp", "PYTHONDONTWRITEBYTECODE=1")
    for setting in settings:
        assert setting in env
    assert re.search(r"chown 10001:10001 /data", DOCKERFILE)
    # the chart's pod security context runs the same IDs
    values = (ROOT / "charts" / "gitops" / "values.yaml").read_text()
    assert f"runAsUser: {uid}" in values and f"runAsGroup: {gid}" in values
