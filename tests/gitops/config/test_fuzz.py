"""Property tests: any YAML-shaped document, however wrong, yields a Config or located problems.

Documents are generated from the configuration's own vocabulary (kinds, field names) with values of
every YAML type, so the validators and the error-location mapping meet every odd combination.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitops.config import KINDS, load_config
from gitops.errors import ConfigError

FIELDS = ["url", "ref", "interval", "credentials", "allowLocal", "kubeconfig", "server", "qps", "timeout",
          "source", "destination", "repository", "cluster", "path", "renderer", "syncPolicy", "retry",
          "ignoreDifferences", "kind", "jsonPointers", "generators", "template", "images", "keys",
          "mode", "name", "labels", "tokenEnv", "password", "limit", "backoff", "namespace", "x"]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**6), st.floats(allow_nan=True),
                    st.sampled_from(["", "prod", "demo", "5m", "/abs", "../x", "ext::sh", "kustomize",
                                     "https://h/r", "git@h:r", "\x1b[2J", "a" * 70]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(FIELDS), inner, max_size=4)),
    max_leaves=12)
documents = st.fixed_dictionaries({
    "apiVersion": st.sampled_from(["gitops.dev/v1alpha1", "v1"]),
    "kind": st.sampled_from([*KINDS, "Other"]),
    "metadata": st.one_of(st.fixed_dictionaries({"name": st.sampled_from(["a", "demo", "prod", "Bad"])}),
                          values),
    "spec": st.dictionaries(st.sampled_from(FIELDS), values, max_size=6),
})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(documents, min_size=1, max_size=4))
def test_any_document_yields_config_or_located_problems(tmp_path: Path, docs: list[dict[str, Any]]) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump_all(docs, allow_unicode=True))
    try:
        load_config(path)
    except ConfigError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.file == str(path) and problem.line is not None and problem.column is not None
            assert "\x1b" not in str(problem)
