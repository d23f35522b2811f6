"""The VerificationPolicy configuration: the documented example, every field's checks, hostile input
(huge and NUL-laden values, regular-expression bombs, path traversal, unknown fields), the loader's
located errors through ``gitops validate``, and the refusal that comes only after a policy validates."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from gitops.cli import main
from gitops.config import VerificationPolicy, load_config
from gitops.config.generators import Selector
from gitops.config.verification import (
    NotationTrustPolicyDocument,
    VerificationPolicySpec,
    check_image_glob,
    selects,
)
from gitops.errors import ConfigError, InputError, Problem
from gitops.verify.reference import parse

DOCS = Path(__file__).resolve().parents[3] / "docs" / "verification.md"
HEADER = "apiVersion: gitops.dev/v1alpha1\nkind: VerificationPolicy\nmetadata: {name: p}\nspec:\n"
KEY = "{images: ['ghcr.io/org/*'], keys: [{env: COSIGN_KEY}]}"


def problems_of(tmp_path: Path, text: str, name: str = "policy.yaml") -> list[Problem]:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value.problems


def spec_problems(tmp_path: Path, spec: str) -> list[Problem]:
    return problems_of(tmp_path, HEADER + textwrap.indent(textwrap.dedent(spec), "  "))


def docs_example() -> str:
    blocks = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(), re.S)
    (block,) = [b for b in blocks if "VerificationPolicy" in b]
    return block


def test_the_documented_example_loads(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(docs_example())
    assert len(load_config(path).verification_policies) == 1


def test_the_documented_example_as_a_model(tmp_path: Path) -> None:
    import yaml

    data = yaml.safe_load(docs_example())["spec"]
    spec = VerificationPolicySpec.model_validate(data, by_alias=True, by_name=False,
                                                 context={"base_dir": tmp_path})
    assert (spec.mode, spec.default_action) == ("enforce", "enforce")
    ours, vendor, base = spec.rules
    assert ours.keyless[0].issuer == "https://token.actions.githubusercontent.com"
    assert ours.keyless[0].subject_reg_exp is not None and ours.transparency_log
    assert ours.attestations == ["https://slsa.dev/provenance/v1"] and ours.trusted_root is None
    assert vendor.keys[0].file == str(tmp_path / "keys" / "vendor-cosign.pub")
    assert vendor.keys[1].env == "VENDOR_COSIGN_KEY" and vendor.mode == "warn"
    assert base.notation is not None
    assert base.notation.trust_store == str(tmp_path / "notation" / "truststore")
    (path,) = spec.image_paths
    assert (path.group, path.kind, len(path.paths)) == ("argoproj.io", "Workflow", 2)
    assert spec.applies_to({"tier": "prod"}, {"env": "staging"})
    assert not spec.applies_to({"tier": "dev"}, {"env": "prod"})
    assert not spec.applies_to({"tier": "prod"}, {})


def test_defaults_fail_closed_and_absent_selectors_select_everything() -> None:
    spec = VerificationPolicySpec.model_validate({"rules": [{"images": ["**"], "keys": [{"env": "K"}]}]})
    assert (spec.mode, spec.default_action, spec.rules[0].transparency_log) == ("enforce", "enforce", True)
    assert spec.applies_to({}, {}) and spec.image_paths == []


def test_a_valid_policy_loads_and_config_exports_the_model(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(HEADER + f"  rules: [{KEY}]\n")
    assert load_config(path).verification_policies["p"].rules[0].keys[0].env == "COSIGN_KEY"
    assert VerificationPolicy.model_fields.keys() >= {"name", "rules", "mode", "default_action"}


@pytest.mark.parametrize(("spec", "field", "message"), [
    # the policy
    ("mode: audit\nrules: [" + KEY + "]", "spec.mode", "must be 'enforce', 'warn' or 'off'"),
    ("defaultAction: deny\nrules: [" + KEY + "]", "spec.defaultAction",
     "must be 'enforce', 'warn' or 'allow'"),
    ("rules: []", "spec.rules", "must not be empty"),
    ("rules: [" + KEY + "]\nimages: ['*']", "spec.images", "unknown field"),
    ("rules: [" + KEY + "]\ndefaultaction: allow", "spec.defaultaction",
     "unknown field (did you mean 'defaultAction'?)"),
    ("rules: [{name: a, images: ['*'], keys: [{env: K}]}, {name: a, images: ['*'], keys: [{env: K}]}]",
     "spec", "two rules have the same name"),
    ("rules: [" + KEY + "]\napplications: {matchExpressions: [{key: a, operator: Maybe}]}",
     "spec.applications.matchExpressions[0].operator", "must be 'In', 'NotIn', 'Exists' or 'DoesNotExist'"),
    ("rules: [" + KEY + "]\nclusters: {matchExpressions: [{key: a, operator: In}]}",
     "spec.clusters.matchExpressions[0]", "operator In needs a non-empty values list"),
    # globs
    ("rules: [{images: ['ghcr.io/Org/*'], keys: [{env: K}]}]", "spec.rules[0].images[0]",
     "repository path components are lowercase"),
    ("rules: [{images: ['ghcr.io/org/app@sha256:abc'], keys: [{env: K}]}]", "spec.rules[0].images[0]",
     "a digest '@' is not part of a glob"),
    ("rules: [{images: ['ghcr.io//x'], keys: [{env: K}]}]", "spec.rules[0].images[0]",
     "empty path component"),
    ("rules: [{images: ['a/***'], keys: [{env: K}]}]", "spec.rules[0].images[0]", "'***' means nothing"),
    ("rules: [{images: ['a/b:.x'], keys: [{env: K}]}]", "spec.rules[0].images[0]", "the tag after ':'"),
    ("rules: [{images: ['ghcr.io/a:1/b'], keys: [{env: K}]}]", "spec.rules[0].images[0]",
     "':' may only separate"),
    ("rules: [{images: ['a/b', 'a/b'], keys: [{env: K}]}]", "spec.rules[0].images", "more than once"),
    (f"rules: [{{images: ['{'a' * 600}'], keys: [{{env: K}}]}}]", "spec.rules[0].images[0]",
     "at most 512 characters"),
    ('rules: [{images: ["a\\0b"], keys: [{env: K}]}]', "spec.rules[0].images[0]", "must be an image glob"),
    # requirements
    ("rules: [{images: ['*']}]", "spec.rules[0]", "at least one of keys, keyless or notation"),
    ("rules: [{images: ['*'], keys: [{env: K}], attestation: []}]", "spec.rules[0].attestation",
     "unknown field (did you mean 'attestations'?)"),
    ("rules: [{images: ['*'], keys: [{env: K, file: k.pub}]}]", "spec.rules[0].keys[0]",
     "set exactly one of env"),
    ("rules: [{images: ['*'], keys: [{}]}]", "spec.rules[0].keys[0]", "set exactly one of env"),
    ("rules: [{images: ['*'], keys: [{env: 1BAD}]}]", "spec.rules[0].keys[0].env",
     "must be an environment variable name"),
    ('rules: [{images: ["*"], keys: [{file: "k\\0.pub"}]}]', "spec.rules[0].keys[0].file",
     "must not contain control characters"),
    ("rules: [{images: ['*'], keys: [{file: ''}]}]", "spec.rules[0].keys[0].file", "must not be empty"),
    ("rules: [{images: ['*'], keys: [cosign.pub]}]", "spec.rules[0].keys[0]", "expected a mapping"),
    ("rules: [{images: ['*'], keys: [{pem: x}]}]", "spec.rules[0].keys[0].pem", "unknown field"),
    ("rules: [{images: ['*'], keyless: [{issuer: i}]}]", "spec.rules[0].keyless[0]",
     "set exactly one of subject or subjectRegExp"),
    ("rules: [{images: ['*'], keyless: [{issuer: i, issuerRegExp: i, subject: s}]}]",
     "spec.rules[0].keyless[0]", "set exactly one of issuer or issuerRegExp"),
    ("rules: [{images: ['*'], keyless: [{issuer: i, subject: s}], transparencyLog: false}]", "spec.rules[0]",
     "keyless signatures need the transparency log"),
    ("rules: [{images: ['*'], keyless: [{issuer: i, subject: s}], transparencyLog: 'no'}]",
     "spec.rules[0].transparencyLog", "expected true or false"),
    ("rules: [{images: ['*'], notation: {trustPolicy: p.json, trustStore: s}, attestations: [x:y]}]",
     "spec.rules[0]", "attestations are Cosign attestations"),
    ("rules: [{images: ['*'], notation: {trustPolicy: p.json, trustStore: s}, trustedRoot: r.json}]",
     "spec.rules[0]", "trustedRoot is the Sigstore root for keys or keyless"),
    ("rules: [{images: ['*'], notation: {trustPolicy: p.json}}]", "spec.rules[0].notation.trustStore",
     "required field is missing"),
    ("rules: [{images: ['*'], keys: [{env: K}], attestations: ['not a uri']}]",
     "spec.rules[0].attestations[0]", "must be an in-toto predicate type"),
    ("rules: [{images: ['*'], keys: [{env: K}], mode: strict}]", "spec.rules[0].mode",
     "must be 'enforce', 'warn' or 'off'"),
    # imagePaths
    ("rules: [" + KEY + "]\nimagePaths: [{kind: W, paths: [spec/image]}]", "spec.imagePaths[0].paths[0]",
     "a JSON pointer starts with '/'"),
    ("rules: [" + KEY + "]\nimagePaths: [{kind: W, paths: ['']}]", "spec.imagePaths[0].paths[0]",
     "must name a field"),
    ("rules: [" + KEY + "]\nimagePaths: [{kind: W, paths: [/a~2b]}]", "spec.imagePaths[0].paths[0]",
     "'~' in a JSON pointer must be followed by 0 or 1"),
    ("rules: [" + KEY + "]\nimagePaths: [{kind: W, paths: []}]", "spec.imagePaths[0].paths",
     "must not be empty"),
    ("rules: [" + KEY + "]\nimagePaths: [{paths: [/spec/image]}]", "spec.imagePaths[0].kind",
     "required field is missing"),
])
def test_each_field_is_checked_and_located(tmp_path: Path, spec: str, field: str, message: str) -> None:
    (problem,) = spec_problems(tmp_path, spec)
    assert problem.field == field and message in problem.message, problem
    assert problem.line is not None and problem.line >= 4


@pytest.mark.parametrize(("pattern", "message"), [
    ("(a+)+$", "a quantifier inside a quantified group"),
    ("(a*)*b", "a quantifier inside a quantified group"),
    ("(x+x+)+y", "a quantifier inside a quantified group"),
    ("(a|ab)*c", "an alternation inside a quantified group"),
    ("(foo|bar)+", "an alternation inside a quantified group"),
    ("(a)\\1", "a backreference is not supported"),
    ("(?=a)a", "a lookahead or lookbehind is not supported"),
    ("(?<!a)b", "a lookahead or lookbehind is not supported"),
    ("(?>a+)b", "an atomic group is not supported"),
    ("a++", "a possessive quantifier is not supported"),
    ("(a)?(?(1)b|c)", "a conditional group is not supported"),
    ("a{1001}", "a repetition count is at most 1000"),
    ("a{2,5000}", "a repetition count is at most 1000"),
    (".*a" * 4, "at most 3 open-ended quantifiers"),
    ("a{0,100}b{0,100}c{0,100}d{0,100}", "at most 3 open-ended quantifiers"),
    ("(unclosed", "is not a valid regular expression: missing ), unterminated subpattern at position 0"),
    ("[z-a]", "is not a valid regular expression: bad character range"),
    ("*", "is not a valid regular expression: nothing to repeat"),
    ("a" * 2000, "at most 1024 characters"),
])
@pytest.mark.parametrize("field", ["subjectRegExp", "issuerRegExp"])
def test_regular_expressions_are_compiled_and_bombs_refused(tmp_path: Path, field: str, pattern: str,
                                                           message: str) -> None:
    other = "issuer: i" if field == "subjectRegExp" else "subject: s"
    spec = (f"rules: [{{images: ['*'], keyless: [{{{other}, {field}: {_yaml_string(pattern)}}}]}}]")
    (problem,) = spec_problems(tmp_path, spec)
    assert problem.field == f"spec.rules[0].keyless[0].{field}"
    assert message in problem.message, problem.message


@pytest.mark.parametrize("pattern", [
    r"https://github\.com/example/[^/]+/\.github/workflows/release\.yml@refs/tags/v.*",
    r"^https://accounts\.google\.com$",
    r".+@example\.com",
    r"https://token\.actions\.githubusercontent\.com",
    r"(spiffe|https)://[a-z.]+/.*",
    r"(?i)[a-z0-9._%+-]+@example\.(com|org)",
    r"x{0,1000}",
    r"https://github\.com/.+/.+/\.github/workflows/.+",
    r"a{2,5}b{0,16}c{3}d+e*f?",
])
def test_realistic_identity_expressions_are_accepted(pattern: str) -> None:
    spec = VerificationPolicySpec.model_validate(
        {"rules": [{"images": ["**"], "keyless": [{"issuer": "i", "subjectRegExp": pattern}]}]})
    assert spec.rules[0].keyless[0].subject_reg_exp == pattern


def test_a_nul_in_an_expression_is_refused_without_echoing_it(tmp_path: Path) -> None:
    spec = 'rules: [{images: ["*"], keyless: [{issuer: i, subjectRegExp: "a\\0"}]}]'
    (problem,) = spec_problems(tmp_path, spec)
    assert problem.field == "spec.rules[0].keyless[0].subjectRegExp" and "NUL" in problem.message


def _yaml_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def test_key_and_trust_files_resolve_like_every_local_path(tmp_path: Path) -> None:
    """Traversal is not an escape: a path is the file it names, made absolute against the declaring
    file's directory and normalised (``..`` resolved), as for kubeconfigs and credentials."""
    base = tmp_path / "config" / "policies"
    keys = [{"file": "../../keys/../keys/cosign.pub"}, {"file": "/etc/k.pub"}, {"file": "~/k.pub"}]
    data = {"rules": [{"images": ["**"], "keys": keys, "trustedRoot": "./roots//root.json"}]}
    spec = VerificationPolicySpec.model_validate(data, context={"base_dir": base})
    (rule,) = spec.rules
    assert [k.file for k in rule.keys] == [str(tmp_path / "keys" / "cosign.pub"), "/etc/k.pub",
                                           str(Path("~/k.pub").expanduser())]
    assert rule.trusted_root == str(base / "roots" / "root.json")
    for key in rule.keys:
        assert key.file is not None and ".." not in Path(key.file).parts


def test_nothing_is_read_at_load_time(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(HEADER + textwrap.indent(textwrap.dedent("""\
        rules:
          - images: ['**']
            keys: [{file: missing/cosign.pub}]
            trustedRoot: missing/root.json
          - images: [nginx]
            notation: {trustPolicy: missing/trustpolicy.json, trustStore: missing/store}
        """), "  "))
    assert len(load_config(path).verification_policies["p"].rules) == 2  # files are read when verifying


def test_huge_and_hostile_documents_report_located_problems(tmp_path: Path) -> None:
    globs = ", ".join(["'ghcr.io/org/*'"] * 1001)
    (problem,) = spec_problems(tmp_path, f"rules: [{{images: [{globs}], keys: [{{env: K}}]}}]")
    assert problem.field == "spec.rules[0].images"
    rules = ", ".join([KEY] * 1001)
    (problem,) = spec_problems(tmp_path, f"rules: [{rules}]")
    assert problem.field == "spec.rules" and "at most 1000" in problem.message


def test_gitops_validate_names_file_line_and_field(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "policy.yaml").write_text(textwrap.dedent("""\
        apiVersion: gitops.dev/v1alpha1
        kind: VerificationPolicy
        metadata: {name: prod}
        spec:
          rules:
            - images: ["ghcr.io/example/**"]
              keyless:
                - issuer: https://token.actions.githubusercontent.com
                  subjectRegExp: '(a+)+'
            - images: [nginx]
              keys: [{env: K, file: k.pub}]
        ---
        apiVersion: gitops.dev/v1alpha1
        kind: VerificationPolicy
        metadata: {name: fine}
        spec:
          rules: [{images: ["**"], keys: [{env: K}]}]
        """))
    assert main(["validate", "-c", str(tmp_path)]) == 2
    lines = capsys.readouterr().out.splitlines()
    path = tmp_path / "policy.yaml"
    assert lines == [
        f"{path}:9:26: spec.rules[0].keyless[0].subjectRegExp: a quantifier inside a quantified group can "
        "take exponential time (e.g. '(a+)+'); write it without nesting",
        f"{path}:11:14: spec.rules[1].keys[0]: set exactly one of env (an environment variable name) or "
        "file (a path)",
        "invalid: 2 problem(s)",
    ]


def test_selects_follows_kubernetes_semantics() -> None:
    selector = Selector.model_validate({"matchLabels": {"tier": "prod"}, "matchExpressions": [
        {"key": "env", "operator": "NotIn", "values": ["dev"]}, {"key": "team", "operator": "Exists"},
        {"key": "legacy", "operator": "DoesNotExist"}]})
    assert selects(selector, {"tier": "prod", "team": "a"})
    assert selects(selector, {"tier": "prod", "team": "a", "env": "prod"})
    assert not selects(selector, {"tier": "prod", "team": "a", "env": "dev"})
    assert not selects(selector, {"tier": "prod"})
    assert not selects(selector, {"tier": "prod", "team": "a", "legacy": ""})
    assert not selects(selector, {"team": "a"})
    assert selects(Selector(), {})


def test_notation_trust_policy_document_shape() -> None:
    document = {"version": "1.0", "trustPolicies": [{
        "name": "prod", "registryScopes": ["registry.example.com/app"],
        "signatureVerification": {"level": "strict"}, "trustStores": ["ca:prod"],
        "trustedIdentities": ["x509.subject: C=US, ST=WA, O=example"]}]}
    parsed = NotationTrustPolicyDocument.model_validate(document)
    assert parsed.trust_policies[0].trust_stores == ["ca:prod"]
    with pytest.raises(ValidationError):
        NotationTrustPolicyDocument.model_validate({**document, "version": "2.0"})
    with pytest.raises(ValidationError):
        NotationTrustPolicyDocument.model_validate({"version": "1.0", "trustPolicies": []})


_glob_text = st.from_regex(r"[a-zA-Z0-9._/:*-]{1,40}", fullmatch=True)


@given(_glob_text, st.sampled_from(["nginx", "ghcr.io/org/app:v1", "localhost:5000/a/b", "org/app"]))
def test_a_glob_the_configuration_accepts_is_one_the_matcher_understands(glob: str, image: str) -> None:
    try:
        check_image_glob(glob)
    except ValueError:
        with pytest.raises(InputError):
            parse(image).matches(glob)
    else:
        assert parse(image).matches(glob) in (True, False)
