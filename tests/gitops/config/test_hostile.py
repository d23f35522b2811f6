"""Hostile input: YAML bombs, deep nesting, huge and binary files, dangerous URLs, symlink escapes,
code-execution tags, control characters, special files. Each is rejected with a located problem, and
the expensive ones by a cheap guard that runs first: the tests forbid the step a guard exists to spare
(reading, composing, constructing, validating) instead of timing it."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitops.config import load_config, yamldoc
from gitops.config import loader as config_loader
from gitops.errors import ConfigError, Problem
from renderers import yamlio

Write = Callable[[str, str], Path]
Problems = Callable[[Path], list[Problem]]
Forbid = Callable[..., list[str]]  # the forbid fixture (tests/conftest.py)

REPO = """\
apiVersion: gitops.dev/v1alpha1
kind: Repository
metadata: {{name: r}}
spec: {{url: {url}{extra}}}
"""


# The expensive steps of loading a file, in order: the YAML text is composed into nodes and constructed
# into data (yaml.load_all, inside yamlio.load_all), composed again for positions (yaml.compose_all),
# an aliased tree walked as if expanded, and each document validated by pydantic (_load_document).
COMPOSE = [(yaml, "load_all"), (yaml, "compose_all"), (yaml, "compose"), (yaml, "load")]
VALIDATE = [(config_loader, "_load_document")]


def test_alias_bomb_is_refused_before_expansion(write: Write, problems: Problems, forbid: Forbid,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    path = write("bomb.yaml", "\n".join(lines) + "\n")
    loaded: list[object] = []
    real_load_all = yaml.load_all

    def load_all(*args: object, **kwargs: object) -> list[object]:
        loaded.extend(real_load_all(*args, **kwargs))  # type: ignore[arg-type]
        return loaded

    monkeypatch.setattr(yaml, "load_all", load_all)
    # the alias-free walk (which would expand) and everything after the guard never run
    called = forbid((yamlio, "tree_size"), (yaml, "compose_all"), *VALIDATE)
    (problem,) = problems(path)
    assert called == []
    [bomb] = loaded  # constructed with its aliases shared, never copied out: 10 lists, not 9**10
    assert all(child is bomb["a8"] for child in bomb["a9"]) and all(c is bomb["a0"] for c in bomb["a1"])
    assert problem.file == str(path) and "alias bomb" in problem.message
    assert f"more than {yamlio.MAX_NODES} nodes" in problem.message
    assert (problem.line, problem.column) == (2, 10)  # the first alias: where the expansion starts


@pytest.mark.parametrize(("text", "where"), [
    ("spec: &s [*s]\n", (1, 11)),
    ("a: 1\nmetadata: &m\n  name: c\n  <<: *m\n", (4, 7)),
    ("x: &x {y: [1, {z: *x}]}\n", (1, 19)),
])
def test_recursive_aliases_are_refused_before_construction(write: Write, problems: Problems, text: str,
                                                          where: tuple[int, int],
                                                          forbid: Forbid) -> None:
    # refused from the parser's event stream: no loader ever builds the cyclic value
    called = forbid((yamlio, "load_all"), *COMPOSE, *VALIDATE)
    (problem,) = problems(write("loop.yaml", text))
    assert called == []
    assert (problem.line, problem.column) == where and "recursive YAML alias" in problem.message


def test_non_recursive_aliases_are_fine(write: Write, base_text: str) -> None:
    text = base_text.replace("name: prod", "name: &n prod\n  labels: {env: *n}")
    assert load_config(write("ok.yaml", text)).clusters["prod"].labels == {"env": "prod"}


@pytest.mark.parametrize("shape", ["flow", "block"])
def test_ten_thousand_deep_nesting_is_refused_before_composition(write: Write, problems: Problems, shape: str,
                                                                 forbid: Forbid) -> None:
    if shape == "flow":
        text = "spec: " + "[" * 10_000 + "]" * 10_000 + "\n"
    else:
        text = "spec:\n" + "- " * 10_000 + "x\n"
    # our depth check counts parser events; libyaml's recursive composer never sees the document
    called = forbid(*COMPOSE, *VALIDATE)
    (problem,) = problems(write("deep.yaml", text))
    assert called == []
    assert problem.message == f"YAML nested deeper than {yamlio.MAX_DEPTH} levels"
    assert problem.file.endswith("deep.yaml") and problem.line is not None


def test_file_over_the_size_limit_is_refused_without_parsing(tmp_path: Path, problems: Problems,
                                                             forbid: Forbid) -> None:
    path = tmp_path / "huge.yaml"
    with open(path, "wb") as handle:
        handle.write(b"# " + b"x" * (4 * 1024 * 1024) + b"\nkind: [")
    size = path.stat().st_size
    # refused from the file's size (fstat) before its bytes are decoded or parsed
    called = forbid((config_loader, "parse"), (yamlio, "decode"), (yaml, "parse"),
                     *COMPOSE, *VALIDATE)
    (problem,) = problems(path)
    assert called == []
    assert problem.file == str(path)
    assert problem.message == f"file is {size} bytes, over the limit of {yamldoc.MAX_FILE_BYTES}"


def test_size_limit_is_configurable(write: Write) -> None:
    with pytest.raises(ConfigError, match="over the limit of 10"):
        load_config(write("small.yaml", "# more than ten bytes\n"), max_file_bytes=10)


@pytest.mark.parametrize(("data", "message"), [
    (b"\x7fELF\x02\x01\x01\x00\x00\x00", "binary content"),
    (b"kind: \xff\xfe\xfa", "not UTF-8 text"),
])
def test_binary_file_is_refused(tmp_path: Path, problems: Problems, data: bytes, message: str) -> None:
    path = tmp_path / "bin.yaml"
    path.write_bytes(data)
    (problem,) = problems(path)
    assert message in problem.message and problem.file == str(path)


@pytest.mark.parametrize(("kind", "shown", "column"), [("Secret", "'Secret'", 7), ("[1, 2]", "", 1),
                                                      ('"a\\tb"', "", 7)])
def test_unknown_kinds_are_errors(write: Write, problems: Problems, kind: str, shown: str,
                                  column: int) -> None:
    (problem,) = problems(write("k.yaml", f"apiVersion: gitops.dev/v1alpha1\nkind: {kind}\n"))
    assert (problem.line, problem.column, problem.field) == (2, column, "kind")
    assert problem.message.startswith(f"unknown kind{' ' + shown if shown else ''}; expected one of")


@pytest.mark.parametrize(("url", "rule"), [
    ('"ext::sh -c touch% /tmp/pwned"', "'ext::' remote-helper transport is not allowed"),
    ("fd::7", "'fd::' remote-helper transport is not allowed"),
    ("/srv/git/repo", "refused unless spec.allowLocal is true"),
    ("./repo", "refused unless spec.allowLocal is true"),
    ("file:///srv/git/repo", "refused unless spec.allowLocal is true"),
    ('"--upload-pack=touch /tmp/pwned"', "must not start with '-'"),
    ("ssh://-oProxyCommand=x/repo", "host in the URL must not start with '-'"),
])
def test_dangerous_repository_urls(write: Write, problems: Problems, url: str, rule: str) -> None:
    (problem,) = problems(write("r.yaml", REPO.format(url=url, extra="")))
    assert (problem.line, problem.field) == (4, "spec.url") and rule in problem.message


def test_local_path_is_accepted_with_allow_local(write: Write) -> None:
    path = write("r.yaml", REPO.format(url="./repo", extra=", allowLocal: true"))
    assert load_config(path).repositories["r"].url == "file://" + str(path.parent / "repo")


def test_symlink_out_of_the_directory_is_reported_not_followed(tmp_path: Path, base_text: str,
                                                               problems: Problems) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "evil.yaml").write_text("kind: [unterminated\n")
    config = tmp_path / "config"
    config.mkdir()
    (config / "base.yaml").write_text(base_text)
    (config / "link.yaml").symlink_to(outside / "evil.yaml")
    (config / "linkdir").symlink_to(outside, target_is_directory=True)
    got = problems(config)
    assert [(Path(p.file or "").name, p.line) for p in got] == [("link.yaml", None), ("linkdir", None)]
    assert all("symlink points outside the configuration directory" in p.message for p in got)


def test_symlinks_inside_the_directory_load_once_and_dirs_are_not_descended(tmp_path: Path,
                                                                           base_text: str) -> None:
    (tmp_path / "base.yaml").write_text(base_text)
    (tmp_path / "alias.yaml").symlink_to(tmp_path / "base.yaml")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "loop").symlink_to(tmp_path, target_is_directory=True)
    config = load_config(tmp_path)
    assert [Path(f).name for f in config.files] == ["alias.yaml"]
    assert list(config.repositories) == ["demo"]


def test_fifo_in_the_directory_does_not_hang(tmp_path: Path, base_text: str, problems: Problems) -> None:
    (tmp_path / "base.yaml").write_text(base_text)
    os.mkfifo(tmp_path / "pipe.yaml")
    (problem,) = problems(tmp_path)
    assert problem.file == str(tmp_path / "pipe.yaml") and "not a regular file" in problem.message


def test_missing_path_and_empty_directory(tmp_path: Path, problems: Problems) -> None:
    assert [p.message for p in problems(tmp_path / "nope")] == ["no such file or directory"]
    assert [p.message for p in problems(tmp_path)] == ["no *.yaml or *.yml files found"]


def test_code_execution_tags_are_refused(write: Write, problems: Problems) -> None:
    text = "apiVersion: gitops.dev/v1alpha1\nkind: !!python/object/apply:os.system ['touch /tmp/x']\n"
    (problem,) = problems(write("tag.yaml", text))
    assert (problem.line, problem.column) == (2, 7) and "constructor" in problem.message


@pytest.mark.parametrize(("field", "value", "message"), [
    ("qps", ".inf", "expected a finite number"),
    ("qps", ".nan", "expected a finite number"),
    ("qps", "-1", "must be greater than 0"),
    ("timeout", "-5", "finite, non-negative"),
    ("timeout", "0s", "must be greater than zero"),
    ("timeout", "true", "not a boolean"),
])
def test_absurd_numbers_are_refused(write: Write, problems: Problems, field: str, value: str,
                                    message: str) -> None:
    text = ("apiVersion: gitops.dev/v1alpha1\nkind: Cluster\nmetadata: {name: c}\n"
            f"spec:\n  kubeconfig: k\n  {field}: {value}\n")
    (problem,) = problems(write("c.yaml", text))
    assert (problem.line, problem.field) == (6, f"spec.{field}") and message in problem.message


def test_control_characters_are_never_echoed(write: Write, problems: Problems) -> None:
    text = ('apiVersion: gitops.dev/v1alpha1\nkind: Application\nmetadata: {name: a}\nspec:\n'
            '  source: {repository: "r\\e[2J", path: p}\n  destination: {cluster: c}\n'
            '  "evil\\e[31mkey": 1\n')
    got = problems(write("a.yaml", text))
    assert all("\x1b" not in str(p) for p in got)
    assert any(p.field == "spec.evil\\x1b[31mkey" for p in got)


def test_duplicate_names_across_files(write: Write, tmp_path: Path, base_text: str,
                                      problems: Problems) -> None:
    write("a.yaml", base_text)
    write("b/c.yaml", base_text)
    got = problems(tmp_path)
    first = tmp_path / "a.yaml"
    assert [(Path(p.file or "").name, p.line, p.column, p.message) for p in got] == [
        ("c.yaml", 4, 9, f'duplicate Repository "demo"; first defined at {first}:4'),
        ("c.yaml", 11, 9, f'duplicate Cluster "prod"; first defined at {first}:11')]


def test_same_name_in_different_kinds_is_fine(write: Write) -> None:
    text = ("apiVersion: gitops.dev/v1alpha1\nkind: Repository\nmetadata: {name: x}\n"
            "spec: {url: 'https://h/r'}\n---\n"
            "apiVersion: gitops.dev/v1alpha1\nkind: Cluster\nmetadata: {name: x}\nspec: {kubeconfig: k}\n")
    config = load_config(write("x.yaml", text))
    assert config.source_of("x", "Cluster")[1] == 6 and config.source_of("x")[1] == 1


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.sampled_from(list("ab:-[]{}&*!|>'\"#\n  \t,.?%@`~0123")), max_size=200))
def test_arbitrary_text_only_ever_raises_config_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(text)
    try:
        load_config(path)
    except ConfigError as exc:
        assert exc.problems and all(p.file == str(path) for p in exc.problems)


def test_directories_nested_too_deep_are_reported(tmp_path: Path, base_text: str,
                                                  problems: Problems) -> None:
    (tmp_path / "base.yaml").write_text(base_text)
    deep = tmp_path.joinpath(*["d"] * 40)
    deep.mkdir(parents=True)
    (deep / "x.yaml").write_text("kind: [broken\n")
    (problem,) = problems(tmp_path)
    assert problem.message == "directories nested deeper than 32; ignored"
    assert problem.file == str(tmp_path.joinpath(*["d"] * 32))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every directory")
def test_unreadable_directory_is_reported(tmp_path: Path, base_text: str, problems: Problems) -> None:
    (tmp_path / "base.yaml").write_text(base_text)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0)
    try:
        (problem,) = problems(tmp_path)
    finally:
        locked.chmod(0o700)
    assert problem.file == str(locked) and problem.message.startswith("cannot read directory")


def test_a_flood_of_tiny_documents_is_refused_before_parsing(tmp_path: Path, problems: Problems,
                                                             forbid: Forbid) -> None:
    path = tmp_path / "flood.yaml"
    path.write_text("- x\n---\n" * 500_000)
    # counted from the document markers in the text: the parser never starts on the stream
    called = forbid((yamlio, "load_all"), (yaml, "parse"), *COMPOSE, *VALIDATE)
    (problem,) = problems(path)
    assert called == []
    assert problem.file == str(path)
    assert problem.message == f"more than {yamldoc.MAX_DOCUMENTS} YAML documents in one file"


def test_reported_problems_are_capped(tmp_path: Path, problems: Problems) -> None:
    path = tmp_path / "many.yaml"
    path.write_text("- x\n---\n" * 3000)
    got = problems(path)
    assert len(got) == 1001 and got[-1].message == "2000 more problems not shown"
    assert [p.line for p in got[:3]] == [1, 3, 5]
