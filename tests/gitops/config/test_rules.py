"""Cross-field rules: credentials against the URL transport, cluster connection modes, names, paths."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gitops.config import load_config
from gitops.errors import ConfigError, Problem

Write = Callable[[str, str], Path]
Problems = Callable[[Path], list[Problem]]


def _repo(spec: str) -> str:
    return f"apiVersion: gitops.dev/v1alpha1\nkind: Repository\nmetadata: {{name: r}}\nspec: {spec}\n"


def _cluster(spec: str) -> str:
    return f"apiVersion: gitops.dev/v1alpha1\nkind: Cluster\nmetadata: {{name: c}}\nspec: {spec}\n"


@pytest.mark.parametrize(("spec", "field", "message"), [
    ("{url: 'https://h/r', credentials: {sshKeyFile: k}}", "spec.credentials", "only apply to ssh URLs"),
    ("{url: 'git@h:r', credentials: {tokenEnv: T}}", "spec.credentials", "only apply to http(s) URLs"),
    ("{url: ./r, allowLocal: true, credentials: {tokenEnv: T}}", "spec.credentials",
     "local repositories take no credentials"),
    ("{url: 'git@h:r', credentials: {sshKeyFile: k, sshKeyEnv: K}}", "spec.credentials",
     "set sshKeyFile or sshKeyEnv, not both"),
    ("{url: 'https://h/r', credentials: {passwordEnv: P}}", "spec.credentials",
     "passwordEnv/passwordFile need a username"),
    ("{url: 'https://h/r', credentials: {username: u, passwordEnv: P, tokenEnv: T}}", "spec.credentials",
     "either a password (basic auth) or a token"),
    ("{url: 'git@h:r', credentials: {knownHostsFile: k, insecureIgnoreHostKey: true}}",
     "spec.credentials", "contradict each other"),
    ("{url: 'https://h/r', credentials: {tokenEnv: 1BAD}}", "spec.credentials.tokenEnv",
     "must be an environment variable name"),
    ("{url: 'https://h/r', credentials: {tokenEnv: 'A;rm -rf'}}", "spec.credentials.tokenEnv",
     "must be an environment variable name"),
    ("{url: 'https://h/r', ref: '--upload-pack=x'}", "spec.ref", "must be a branch, tag or commit"),
    ("{url: 'https://h/r', ref: 'a..b'}", "spec.ref", "must be a branch, tag or commit"),
    ("{url: 'https://h/r', interval: 0}", "spec.interval", "must be greater than zero"),
    ("{url: 'https://h/r', privateKey: x}", "spec.privateKey", "inline secrets are not allowed"),
    ("{url: 'https://h/r', intervall: 5m}", "spec.intervall", "unknown field (did you mean 'interval'?)"),
    ("{ref: main}", "spec.url", "required field is missing"),
])
def test_repository_rules(write: Write, problems: Problems, spec: str, field: str, message: str) -> None:
    (problem,) = problems(write("r.yaml", _repo(spec)))
    assert problem.field == field and message in problem.message, problem


def test_ssh_credentials_on_ssh_urls_and_tokens_on_https_are_fine(write: Write) -> None:
    text = _repo("{url: 'ssh://git@h/r', credentials: {sshKeyEnv: KEY, insecureIgnoreHostKey: true}}")
    creds = load_config(write("r.yaml", text)).repositories["r"].credentials
    assert creds is not None and creds.ssh_key_env == "KEY" and creds.insecure_ignore_host_key


@pytest.mark.parametrize(("spec", "field", "message"), [
    ("{}", "spec", "set either kubeconfig (with an optional context) or server, not both"),
    ("{kubeconfig: k, server: 'https://h'}", "spec", "set either kubeconfig"),
    ("{kubeconfig: k, tokenEnv: T}", "spec", "go with server, not with kubeconfig"),
    ("{server: 'https://h', context: x}", "spec", "context only applies with kubeconfig"),
    ("{server: 'https://h', tokenEnv: T, tokenFile: t}", "spec", "set tokenEnv or tokenFile, not both"),
    ("{server: 'https://h', caFile: ca, insecureSkipTlsVerify: true}", "spec", "contradict each other"),
    ("{server: 'ftp://h'}", "spec.server", "must be an http(s) URL"),
    ("{server: 'https://user:pw@h'}", "spec.server", "without credentials"),
    ("{kubeconfig: k, qps: 100000}", "spec.qps", "less than or equal to 10000"),
    ("{kubeconfig: ''}", "spec.kubeconfig", "must not be empty"),
    ("{kubeconfig: k, labels: {a: b}}", "spec.labels", "unknown field"),
])
def test_cluster_rules(write: Write, problems: Problems, spec: str, field: str, message: str) -> None:
    (problem,) = problems(write("c.yaml", _cluster(spec)))
    assert problem.field == field and message in problem.message, problem


@pytest.mark.parametrize(("name", "ok"), [("a", True), ("prod-eu-1", True), ("a" * 63, True),
                                          ("a" * 64, False), ("Prod", False), ("-a", False), ("a-", False),
                                          ("a.b", False), ("a_b", False), ("", False)])
def test_names_are_dns_labels(write: Write, name: str, ok: bool) -> None:
    path = write("c.yaml", _cluster("{kubeconfig: k}").replace("name: c", f"name: '{name}'"))
    if ok:
        assert list(load_config(path).clusters) == [name]
    else:
        with pytest.raises(ConfigError, match=r"metadata\.name: must be a DNS label"):
            load_config(path)


@pytest.mark.parametrize(("path", "normal"), [(".", "."), ("", "."), ("./a/b/", "a/b"), ("a/../b", "b"),
                                              ("a/./b", "a/b")])
def test_application_paths_are_normalised(write: Write, base_text: str, path: str, normal: str) -> None:
    app = ("apiVersion: gitops.dev/v1alpha1\nkind: Application\nmetadata: {name: a}\n"
           f"spec: {{source: {{repository: demo, path: '{path}'}}, destination: {{cluster: prod}}}}\n")
    config = load_config(write("c.yaml", base_text + "---\n" + app))
    assert config.applications["a"].source.path == normal


@pytest.mark.parametrize(("path", "message"), [("/etc", "not absolute"), ("a/../../b", "'..' leads out"),
                                               ("..", "'..' leads out"), ("a\\\\b", "no NUL or backslash")])
def test_application_paths_stay_inside_the_repository(write: Write, base_text: str, problems: Problems,
                                                      path: str, message: str) -> None:
    app = ("apiVersion: gitops.dev/v1alpha1\nkind: Application\nmetadata: {name: a}\n"
           f"spec: {{source: {{repository: demo, path: \"{path}\"}}, destination: {{cluster: prod}}}}\n")
    (problem,) = problems(write("c.yaml", base_text + "---\n" + app))
    assert problem.field == "spec.source.path" and message in problem.message


@pytest.mark.parametrize(("spec", "field", "message"), [
    ("{generators: [], template: {}}", "spec.generators", "must not be empty"),
    ("{generators: [{list: {elements: []}}]}", "spec.template", "required field is missing"),
    ("{generators: [x], template: {}}", "spec.generators[0]", "expected a mapping"),
])
def test_application_set_structure(write: Write, problems: Problems, spec: str, field: str,
                                   message: str) -> None:
    text = f"apiVersion: gitops.dev/v1alpha1\nkind: ApplicationSet\nmetadata: {{name: s}}\nspec: {spec}\n"
    (problem,) = problems(write("s.yaml", text))
    assert (problem.field, problem.message) == (field, message)


@pytest.mark.parametrize(("spec", "field", "message"), [
    ("{rules: [{images: ['*'], keys: [{env: K}]}], mode: audit}", "spec.mode",
     "must be 'enforce', 'warn' or 'off'"),
    ("{rules: [{images: [], keys: [{env: K}]}]}", "spec.rules[0].images", "must not be empty"),
    ("{rules: [{images: ['*']}]}", "spec.rules[0]",
     "a rule requires at least one of keys, keyless or notation"),
    ("{mode: enforce}", "spec.rules", "required field is missing"),
])
def test_verification_policy_structure(write: Write, problems: Problems, spec: str, field: str,
                                       message: str) -> None:
    text = f"apiVersion: gitops.dev/v1alpha1\nkind: VerificationPolicy\nmetadata: {{name: v}}\nspec: {spec}\n"
    (problem,) = problems(write("v.yaml", text))
    assert (problem.field, problem.message) == (field, message)


@pytest.mark.parametrize(("key", "message"), [
    ("tokenenv", "unknown field (did you mean 'tokenEnv'?)"),
    ("passwordfile", "unknown field (did you mean 'passwordFile'?)"),
    ("password", "inline secrets are not allowed"),
    ("sshPrivateKey", "inline secrets are not allowed"),
    ("apiKey", "inline secrets are not allowed"),
])
def test_reference_typos_are_not_mistaken_for_inline_secrets(write: Write, problems: Problems, key: str,
                                                              message: str) -> None:
    (problem,) = problems(write("r.yaml", _repo(f"{{url: 'https://h/r', credentials: {{{key}: X}}}}")))
    assert problem.field == f"spec.credentials.{key}" and problem.message.startswith(message)
