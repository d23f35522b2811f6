"""The docs check: every configuration example in docs/ and README.md loads with the real loader, and
every CLI example names a command that exists.

(a) Each ```yaml block whose documents include ``apiVersion: gitops.dev/v1alpha1`` objects is loaded
with ``gitops.config.load_config`` (what ``gitops validate`` runs), only those documents (a block may
show Kubernetes manifests next to them). Pages show fragments that name a Repository, Cluster or
Application they do not declare, so each block is loaded next to a small base configuration generated
from its references: whatever it names and does not declare. A block marked
``<!-- invalid-example -->`` on the line before its fence is a deliberately broken example and must
fail. (b) Each CLI line (```sh, ```console, ```bash, ```shell or bare fenced blocks, indented blocks,
and inline code spans, starting with ``gitops`` or ``scripts/gitops`` after an optional ``$`` prompt and
environment assignments) is parsed by the real parser (``gitops.cli.build_parser``) without running
it; a line with placeholders (``APP``, ``CONFIG``, ``...``, ``<x>``, ``[--flag]``, ``a|b``) is checked
for its command and subcommand names only. A block marked ``<!-- not-a-command -->`` is skipped, and
so is an inline span followed by that marker. Other ``scripts/NAME`` lines must name a script that
exists.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops.cli import build_parser
from gitops.config import load_config
from gitops.config.loader import API_VERSION
from gitops.errors import ConfigError
from tests.docs.markdown import INVALID, NOT_A_COMMAND, ROOT, Block, Span, pages, parse

SHELL_BLOCKS = {"", "sh", "console", "bash", "shell", "text"}
_DNS = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_]*$|\.\.\.|…|<|>|\[|\]|\||\$|\{|\}")


def _all() -> tuple[list[Block], list[Span]]:
    blocks: list[Block] = []
    spans: list[Span] = []
    for page in pages():
        b, s = parse(page)
        blocks += b
        spans += s
    return blocks, spans


BLOCKS, SPANS = _all()


# --- (a) configuration examples -------------------------------------------------------------------


def config_documents(block: Block) -> list[tuple[str, dict[str, Any]]]:
    """The raw text and data of each ``gitops.dev/v1alpha1`` document of a YAML block, including those
    embedded as strings in it (the Helm chart's ``config.files`` values hold configuration files)."""
    return _documents(block.text, depth=0)


def _documents(text: str, depth: int) -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    for chunk in re.split(r"(?m)^---[ \t]*(?:#.*)?$", text):
        try:
            data = yaml.safe_load(chunk)
        except yaml.YAMLError:
            if f"apiVersion: {API_VERSION}" in chunk:
                found.append((chunk, {}))  # an example of ours that is not even YAML: it must fail
            continue
        if isinstance(data, dict) and data.get("apiVersion") == API_VERSION:
            found.append((chunk, data))
        elif depth < 4:
            for embedded in _strings(data):
                if f"apiVersion: {API_VERSION}" in embedded:
                    found += _documents(embedded, depth + 1)
    return found


def _strings(data: Any) -> Iterator[str]:
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for value in data.values():
            yield from _strings(value)
    elif isinstance(data, list):
        for value in data:
            yield from _strings(value)


CONFIG_BLOCKS = [b for b in BLOCKS if b.info in ("yaml", "yml") and config_documents(b)]


def _get(data: Any, *path: str) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def _git_repositories(generators: Any, depth: int = 0) -> Iterator[str]:
    if not isinstance(generators, list) or depth > 8:
        return
    for generator in generators:
        yield from _git_repositories(_get(generator, "matrix", "generators"), depth + 1)
        yield from _git_repositories(_get(generator, "merge", "generators"), depth + 1)
        name = _get(generator, "git", "repository")
        if isinstance(name, str):
            yield name


def base_config(documents: list[dict[str, Any]]) -> str:
    """Repositories, Clusters and Applications the documents name but do not declare."""
    declared = {(d.get("kind"), _get(d, "metadata", "name")) for d in documents}
    repositories: set[str] = set()
    clusters: set[str] = set()
    applications: dict[str, str] = {}
    for doc in documents:
        spec = doc.get("spec")
        if doc.get("kind") == "Application":
            repositories.add(_get(spec, "source", "repository"))
            cluster = _get(spec, "destination", "cluster")
            clusters.add(cluster)
            for dep in _get(spec, "dependsOn") or []:
                if isinstance(dep, dict) and isinstance(dep.get("name"), str):
                    applications.setdefault(dep["name"], dep.get("cluster") or cluster)
        elif doc.get("kind") == "WebhookReceiver":
            repositories.update(_get(spec, "repositories") or [])
        elif doc.get("kind") == "ApplicationSet":
            repositories.update(_git_repositories(_get(spec, "generators")))
    out = []
    for name, cluster in sorted(applications.items()):
        if ("Application", name) in declared or not isinstance(cluster, str):
            continue
        repositories.add("docs-base")
        clusters.add(cluster)
        out.append(f"kind: Application\nmetadata: {{name: {name}}}\n"
                   f"spec: {{source: {{repository: docs-base, path: {name}}}, "
                   f"destination: {{cluster: {cluster}}}}}")
    for name in sorted(n for n in repositories if isinstance(n, str)):
        if ("Repository", name) not in declared and _DNS.fullmatch(name):
            out.append(f"kind: Repository\nmetadata: {{name: {name}}}\n"
                       f"spec: {{url: 'https://git.example.com/{name}.git'}}")
    for name in sorted(n for n in clusters if isinstance(n, str)):
        if ("Cluster", name) not in declared and _DNS.fullmatch(name):
            out.append(f"kind: Cluster\nmetadata: {{name: {name}}}\n"
                       f"spec: {{server: 'https://{name}.example.com:6443'}}")
    return "".join(f"---\napiVersion: {API_VERSION}\n{doc}\n" for doc in out)


def load_block(block: Block, tmp_path: Path) -> None:
    """Load the block's configuration documents with the base it needs; ConfigError when invalid."""
    documents = config_documents(block)
    config = tmp_path / "config"
    config.mkdir()
    (config / "example.yaml").write_text("---\n".join(text for text, _ in documents))
    base = base_config([data for _, data in documents])
    if base:
        (config / "zz-base.yaml").write_text(base)
    load_config(config)


@pytest.mark.parametrize("block", CONFIG_BLOCKS, ids=[b.where for b in CONFIG_BLOCKS])
def test_configuration_examples_load(block: Block, tmp_path: Path) -> None:
    if block.marker == INVALID:
        with pytest.raises(ConfigError):
            load_block(block, tmp_path)
        return
    try:
        load_block(block, tmp_path)
    except ConfigError as exc:
        pytest.fail(f"{block.where}: the example does not load (fix it, or mark a deliberately broken "
                    f"one with {INVALID} on the line before the fence):\n"
                    + "\n".join(map(str, exc.problems)), pytrace=False)


def test_there_are_configuration_examples_of_every_kind() -> None:
    kinds = {data.get("kind") for b in CONFIG_BLOCKS for _, data in config_documents(b)}
    assert {"Repository", "Cluster", "Application", "ApplicationSet", "VerificationPolicy",
            "WebhookReceiver", "SyncWindow", "Notification"} <= kinds


def test_configuration_embedded_in_helm_values_is_found() -> None:
    values = Block("x.md", 1, "yaml", f"""\
image: {{repository: registry.example.com/gitops}}
config:
  files:
    cluster.yaml: |
      apiVersion: {API_VERSION}
      kind: Cluster
      metadata: {{name: in-cluster}}
      spec: {{server: https://kubernetes.default.svc}}
""", "")
    assert [data["kind"] for _, data in config_documents(values)] == ["Cluster"]
    assert any("helm-chart" in b.page for b in CONFIG_BLOCKS)


def test_the_base_supplies_only_what_is_missing(tmp_path: Path) -> None:
    block = Block("x.md", 1, "yaml", f"""\
apiVersion: {API_VERSION}
kind: Application
metadata: {{name: shop}}
spec:
  source: {{repository: shop-repo, path: apps/shop}}
  destination: {{cluster: prod}}
  dependsOn: [{{name: db}}]
---
apiVersion: {API_VERSION}
kind: Cluster
metadata: {{name: prod}}
spec: {{server: https://prod.example.com:6443}}
""", "")
    load_block(block, tmp_path)
    base = base_config([d for _, d in config_documents(block)])
    assert "name: db" in base and "name: shop-repo" in base and "name: prod" not in base


def test_an_invalid_example_still_fails_with_its_base(tmp_path: Path) -> None:
    block = Block("x.md", 1, "yaml", f"""\
apiVersion: {API_VERSION}
kind: Application
metadata: {{name: shop}}
spec:
  source: {{repository: shop-repo, path: ../outside}}
  destination: {{cluster: prod}}
""", INVALID)
    with pytest.raises(ConfigError, match="must stay inside the repository"):
        load_block(block, tmp_path)


# --- (b) CLI examples ----------------------------------------------------------------------------


_OPERATORS = re.compile(r"\s(?:\||&&|\|\||;|>|>>|2>|2>&1|<|&)(?:\s|$)|\s&$")


def command_line(line: str) -> list[str] | None:
    """The argv after ``gitops``/``scripts/gitops`` of a shell line, or None when it runs no gitops."""
    line = line.strip()
    line = re.sub(r"^\$\s+", "", line)
    line = re.sub(r"\s+#(\s.*)?$", "", line)  # a trailing comment
    line = _OPERATORS.split(line + " ", maxsplit=1)[0].strip()
    line = line.rstrip("\\").strip()
    try:
        words = shlex.split(line)
    except ValueError:
        words = line.split()
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):
        words.pop(0)
    if not words or words[0] not in ("gitops", "scripts/gitops", "./scripts/gitops"):
        return None
    return words[1:]


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


PARSER = build_parser()


def check_argv(argv: list[str], *, names_only: bool = False) -> str | None:
    """None when ``argv`` names a command that exists (and parses, unless it has placeholders or
    ``names_only``: an inline mention such as `gitops sync`); else why."""
    placeholders = names_only or any(_PLACEHOLDER.search(word) for word in argv)
    words = [w for w in argv if not w.startswith("-")] if placeholders else argv
    commands = _subparsers(PARSER)
    rest = [w for w in words if w not in ("-v", "--verbose")]
    if not rest or rest[0] in ("-h", "--help", "--version"):
        return None
    if rest[0].startswith("-"):
        return None
    command = rest[0]
    if _PLACEHOLDER.search(command) or (names_only and not re.fullmatch(r"[a-z][a-z0-9-]*", command)):
        return None  # `scripts/gitops ...` (any command), or output quoted in prose (`gitops up: ready`)
    if command not in commands:
        return f"no command {command!r} (commands: {', '.join(sorted(commands))})"
    parsers = [commands[command]]
    sub = _subparsers(commands[command])
    if sub:
        following = [w for w in rest[1:] if not w.startswith("-")]
        if not following:
            helped = "-h" in rest or "--help" in rest
            return None if placeholders or helped else f"{command} needs a subcommand"
        for name in following[0].split("|"):
            if name not in sub and not _PLACEHOLDER.fullmatch(name):
                return f"no subcommand {command} {name!r} (subcommands: {', '.join(sorted(sub))})"
            if name in sub:
                parsers.append(sub[name])
    if placeholders:
        return unknown_flags(argv, parsers[-1] if len(parsers) < 3 else commands[command])
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            PARSER.parse_args(argv)
    except SystemExit as exc:
        if exc.code not in (0, None):
            return err.getvalue().strip().splitlines()[-1]
    return None


def unknown_flags(argv: list[str], parser: argparse.ArgumentParser) -> str | None:
    """For a line checked by names only: each ``--flag`` it shows must be an option of its command."""
    known = {"--help", "--verbose", "--version"}
    if len(_subparsers(parser)) == 0:
        known |= {option for action in parser._actions for option in action.option_strings}
    else:
        return None  # several subcommands at once (`status|approve NAME`): their options differ
    for word in argv:
        for flag in re.findall(r"(?:^|[\[|])(--[a-z][a-z0-9-]*)", word):
            if flag not in known:
                return f"{parser.prog} has no option {flag}"
    return None


def cli_examples() -> list[tuple[str, str, bool]]:
    """(where, line, inline) of every CLI example that is not marked."""
    found = []
    for block in BLOCKS:
        if block.info not in SHELL_BLOCKS or block.marker == NOT_A_COMMAND:
            continue
        for offset, line in enumerate(block.text.splitlines()):
            if command_line(line) is not None or re.match(r"^\s*(\$\s+)?\.?/?scripts/", line):
                found.append((f"{block.page}:{block.line + offset}", line.strip(), False))
    for span in SPANS:
        if not span.marked and re.match(r"^(\$\s+)?(\./)?(scripts/)?gitops\s", span.text):
            found.append((f"{span.page}:{span.line}", span.text.strip(), True))
    return found


CLI_EXAMPLES = cli_examples()


@pytest.mark.parametrize(("where", "line", "inline"), CLI_EXAMPLES, ids=[w for w, _, _ in CLI_EXAMPLES])
def test_cli_examples_name_real_commands(where: str, line: str, inline: bool) -> None:
    argv = command_line(line)
    if argv is None:  # another script of scripts/: it must exist
        script = re.sub(r"^\s*(\$\s+)?\.?/?", "", line).split()[0]
        assert (ROOT / script).is_file(), f"{where}: {script} does not exist"
        return
    problem = check_argv(argv, names_only=inline)
    assert problem is None, (f"{where}: `{line}`: {problem} (fix it, or mark the block with "
                             f"{NOT_A_COMMAND} on the line before the fence)")


def test_the_cli_check_refuses_what_does_not_exist() -> None:
    assert check_argv(["sync", "-c", "examples/config", "guestbook"]) is None
    assert check_argv(["appset", "status|approve|pause", "NAME"]) is None
    assert check_argv(["status", "-o", "json"]) is None
    assert check_argv(["sink", "APP"]) is not None
    assert check_argv(["appset", "approve|explode", "NAME"]) is not None
    assert check_argv(["status", "--no-such-flag"]) is not None
    assert check_argv(["status", "--imagse"], names_only=True) is not None
    assert check_argv(["sync", "-c", "CONFIG", "APP", "[--prunee]"]) is not None
    assert check_argv(["sync", "-c", "CONFIG", "APP", "[--dry-run]", "[--prune]"]) is None
    assert check_argv(["diff", "-c", "CONFIG", "APP", "--cluster", "C"]) is None
    assert command_line("$ GITOPS_REDIS_URL=redis://r:6379/0 scripts/gitops worker --queues sync &") == [
        "worker", "--queues", "sync"]
    assert command_line("scripts/gitops status -o json | jq .  # as JSON") == ["status", "-o", "json"]
    assert command_line("kubectl get pods") is None


def test_every_page_is_read() -> None:
    read = {b.page for b in BLOCKS} | {s.page for s in SPANS}
    assert "README.md" in read and "docs/configuration.md" in read
    assert len(CLI_EXAMPLES) > 50 and len(CONFIG_BLOCKS) > 20


# --- (c) links between pages ---------------------------------------------------------------------


def relative_links() -> list[tuple[str, str]]:
    """(page, target) of every relative Markdown link outside code."""
    found = []
    for page in pages():
        text = re.sub(r"(?s)```.*?```", "", page.read_text())
        text = re.sub(r"`[^`\n]*`", "", text)
        for match in re.finditer(r"\]\(([^)\s]+)\)", text):
            target = match[1]
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target) and not target.startswith("#"):
                found.append((str(page.relative_to(ROOT)), target))
    return found


LINKS = relative_links()


@pytest.mark.parametrize(("page", "target"), LINKS, ids=[f"{p}->{t}" for p, t in LINKS])
def test_relative_links_point_at_files_that_exist(page: str, target: str) -> None:
    path = (ROOT / page).parent / target.split("#", 1)[0]
    assert path.exists(), f"{page}: the link {target} points at nothing"
