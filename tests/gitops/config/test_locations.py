"""Every kind of located error names the exact line and column (1-based) and the YAML field path.

Rule under test: a scalar's own position; for a block (mapping or list) and for unknown fields, the
key; for a missing field, the key of the mapping lacking it, or that mapping's start when it has no key.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gitops.errors import Problem

Write = Callable[[str, str], Path]
Problems = Callable[[Path], list[Problem]]
AppProblems = Callable[[str], list[Problem]]

HEAD = """\
apiVersion: gitops.dev/v1alpha1
kind: Application
metadata:
  name: web
spec:
"""
# Lines 6-10; whatever a test appends starts on line 11.
OK_SPEC = """\
  source:
    repository: demo
    path: apps/web
  destination:
    cluster: prod
"""


@pytest.fixture
def app_problems(write: Write, base_text: str, problems: Problems, tmp_path: Path) -> AppProblems:
    """Problems of ``text`` written as app.yaml beside a valid base (repository demo, cluster prod)."""

    def _run(text: str) -> list[Problem]:
        write("base.yaml", base_text)
        write("app.yaml", text)
        got = problems(tmp_path)
        assert all(Path(p.file or "").name == "app.yaml" for p in got), got
        return got

    return _run


def _where(problems: list[Problem]) -> list[tuple[int | None, int | None, str | None, str]]:
    return [(p.line, p.column, p.field, p.message) for p in problems]


def test_wrong_scalar_type_points_at_the_value(app_problems: AppProblems) -> None:
    text = HEAD + OK_SPEC + '  syncPolicy:\n    automated: "yes"\n    retry: {limit: 1.5}\n'
    assert _where(app_problems(text)) == [
        (12, 16, "spec.syncPolicy.automated", "expected true or false"),
        (13, 20, "spec.syncPolicy.retry.limit", "expected an integer")]


def test_unknown_field_points_at_the_key(app_problems: AppProblems) -> None:
    text = HEAD + OK_SPEC + "  syncPolicy: {automated: true, selfHeel: true}\n"
    assert _where(app_problems(text)) == [
        (11, 33, "spec.syncPolicy.selfHeel", "unknown field (did you mean 'selfHeal'?)")]


def test_missing_top_level_field_points_at_the_document_start(write: Write, problems: Problems) -> None:
    text = "# comment\n\napiVersion: gitops.dev/v1alpha1\nkind: Cluster\nspec: {kubeconfig: k}\n"
    assert _where(problems(write("a.yaml", text))) == [(3, 1, "metadata", "required field is missing")]


def test_missing_nested_field_points_at_the_parent_key(app_problems: AppProblems) -> None:
    text = HEAD + "  source: {path: apps/web}\n  destination:\n    namespace: web\n"
    assert _where(app_problems(text)) == [
        (6, 3, "spec.source.repository", "required field is missing"),
        (7, 3, "spec.destination.cluster", "required field is missing"),
    ]


def test_missing_field_in_a_list_item_points_at_the_item(app_problems: AppProblems) -> None:
    text = HEAD + OK_SPEC + "  ignoreDifferences:\n  - group: apps\n    jsonPointers: [/spec]\n"
    assert _where(app_problems(text)) == [
        (12, 5, "spec.ignoreDifferences[0].kind", "required field is missing")]


def test_rule_about_a_whole_block_points_at_its_key(app_problems: AppProblems) -> None:
    text = HEAD + OK_SPEC + "  syncPolicy:\n    retry:\n      backoff: 1m\n      maxBackoff: 10s\n"
    assert _where(app_problems(text)) == [
        (12, 5, "spec.syncPolicy.retry", "maxBackoff must not be shorter than backoff")]


def test_wrong_block_type_points_at_its_key(app_problems: AppProblems) -> None:
    text = HEAD + OK_SPEC + "  syncPolicy: [automated]\n  ignoreDifferences: {kind: X}\n"
    assert _where(app_problems(text)) == [
        (11, 3, "spec.syncPolicy", "expected a mapping"),
        (12, 3, "spec.ignoreDifferences", "expected a list")]


def test_bad_mapping_key_points_at_the_key(write: Write, problems: Problems) -> None:
    text = ("apiVersion: gitops.dev/v1alpha1\nkind: Cluster\nmetadata:\n  name: c\n  labels:\n"
            "    ok: yes-fine\n    'bad key!': x\nspec: {kubeconfig: k}\n")
    (problem,) = problems(write("a.yaml", text))
    assert (problem.line, problem.column, problem.field) == (7, 5, "metadata.labels.bad key!")
    assert problem.message.startswith("must be a label key")


def test_flow_sequence_item_points_at_the_item(app_problems: AppProblems) -> None:
    text = HEAD + OK_SPEC + "  ignoreDifferences:\n    - {kind: Deployment, jsonPointers: [/ok, bad~2]}\n"
    assert _where(app_problems(text)) == [
        (12, 46, "spec.ignoreDifferences[0].jsonPointers[1]",
         "a JSON pointer starts with '/' (RFC 6901), e.g. /spec/replicas")]


def test_bad_escape_in_a_json_pointer(app_problems: AppProblems) -> None:
    text = HEAD + OK_SPEC + "  ignoreDifferences: [{kind: X, jsonPointers: [/a~2b]}]\n"
    (problem,) = app_problems(text)
    assert problem.message.startswith("'~' in a JSON pointer must be followed by 0 or 1")


def test_merged_values_point_at_the_anchor(app_problems: AppProblems) -> None:
    text = HEAD + OK_SPEC + ("  ignoreDifferences:\n    - &r {kind: Deployment, jsonPointers: [bad]}\n"
                             "    - {<<: *r, kind: StatefulSet}\n")
    assert [g[:3] for g in _where(app_problems(text))] == [
        (12, 44, "spec.ignoreDifferences[0].jsonPointers[0]"),
        (12, 44, "spec.ignoreDifferences[1].jsonPointers[0]")]


def test_duplicate_key_points_at_the_second_key(app_problems: AppProblems) -> None:
    text = HEAD + OK_SPEC + "  destination:\n    cluster: prod\n"
    assert _where(app_problems(text)) == [(11, 3, None, "duplicate key 'destination' in the same mapping")]


def test_yaml_syntax_error_has_the_parser_position(write: Write, problems: Problems) -> None:
    text = HEAD + "  source: {repository: demo\n  destination: x\n"
    (problem,) = problems(write("a.yaml", text))
    assert (problem.line, problem.column) == (7, 14)
    assert problem.message.startswith("invalid YAML: ")


def test_dangling_reference_points_at_the_name(write: Write, problems: Problems) -> None:
    got = _where(problems(write("a.yaml", HEAD + OK_SPEC)))
    assert got == [(7, 17, "spec.source.repository", 'repository "demo" is not defined'),
                   (10, 14, "spec.destination.cluster", 'cluster "prod" is not defined')]


def test_positions_survive_crlf_line_endings_and_a_bom(tmp_path: Path, base_text: str,
                                                       problems: Problems) -> None:
    text = HEAD + "  source: {repository: demo, path: /abs}\n  destination: {cluster: prod}\n"
    (tmp_path / "base.yaml").write_text(base_text)
    (tmp_path / "crlf.yaml").write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    assert _where(problems(tmp_path)) == [
        (6, 36, "spec.source.path", "must be relative to the repository root, not absolute")]


def test_problem_string_is_file_line_column_field_message(tmp_path: Path, app_problems: AppProblems) -> None:
    got = [str(p) for p in app_problems(HEAD + OK_SPEC + "  syncPolicy: {fieldManager: ''}\n")]
    assert got == [f"{tmp_path}/app.yaml:11:30: spec.syncPolicy.fieldManager: must not be empty"]


def test_errors_in_several_files_are_sorted_by_file_then_line(write: Write, tmp_path: Path,
                                                             problems: Problems) -> None:
    write("b.yaml", "kind: A\n---\nkind: B\n")
    write("a.yaml", "- x\n---\n- y\n")
    got = [(Path(p.file or "").name, p.line, p.field) for p in problems(tmp_path)]
    assert got == [("a.yaml", 1, None), ("a.yaml", 3, None),
                   ("b.yaml", 1, "apiVersion"), ("b.yaml", 1, "kind"),
                   ("b.yaml", 3, "apiVersion"), ("b.yaml", 3, "kind")]
