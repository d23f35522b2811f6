"""The ``VerificationPolicy`` kind: which images must be signed, by whom, and what happens otherwise.

Called by the loader (:mod:`gitops.config.loader`), which validates ``spec`` against
:class:`VerificationPolicySpec` and then still refuses the document, because nothing enforces a policy
yet (issue 13: the verifier is being built in :mod:`gitops.verify`). :mod:`gitops.verify.reference`
imports :func:`check_image_glob` so that a glob the configuration accepted is exactly a glob the
matcher understands; :mod:`gitops.verify.images` walks :class:`ImagePath` pointers. docs/verification.md
is the user's view.

Key design choices: everything that can be checked without the network is checked here, with the
field named (globs, JSON pointers with ``*``, regular expressions compiled and held to a linear-time
subset, key and trust-store references as ``{file: PATH}`` / ``{env: NAME}`` like every other
reference in the configuration); nothing is read at load time (keys, trust roots and Notation trust
policies are read when an image is verified); and every default fails closed: ``mode: enforce``,
``defaultAction: enforce`` (an image no rule matches is refused) and ``transparencyLog: true``.
"""

from __future__ import annotations

import re
import re._constants as re_constants  # the stdlib's regular-expression parser: the tree re compiles
import re._parser as re_parser
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, Field, model_validator

from gitops.config.fields import LocalPath, Model, Name, Text
from gitops.config.generators import LabelSelector, Selector
from gitops.config.receivers import SecretRef
from renderers.k8s import jsonpointer

Mode = Literal["enforce", "warn", "off"]
DefaultAction = Literal["enforce", "warn", "allow"]

MAX_GLOB = 512
MAX_RULES = 1000
MAX_REGEXP = 1024
MAX_REPEAT = 1000
MAX_UNBOUNDED = 3  # each one multiplies the worst-case matching time by the subject's length
LONG_RANGE = 16  # a {n,m} with m - n over this backtracks like '*'
MAX_POINTER = 1024

_GLOB_CHARS = re.compile(r"[A-Za-z0-9._/:*-]+")
_TAG_GLOB = re.compile(r"[\w*][\w.*-]{0,127}")
_PREDICATE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s]+")


def _looks_like_registry(component: str) -> bool:
    """Docker's rule for the first of several components: a registry when it has '.', ':', is
    ``localhost`` or has an uppercase letter (distribution/reference ``splitDockerDomain``); in a glob,
    a component with '*' may be a registry too."""
    return (any(c in component for c in ".:*") or component == "localhost"
            or component.lower() != component)


def check_image_glob(value: str) -> str:
    """``value`` when it is an image glob (docs/verification.md, "Image globs"); ValueError otherwise.

    Components are separated by ``/``; ``*`` matches within one component, ``**`` across components.
    The first of several components may be a registry (with a port); the last may carry ``:TAG-GLOB``.
    Repository components are lowercase, as in image references; a digest (``@``) is never part of a
    glob, since the digest is what verification proves.
    """
    if len(value) > MAX_GLOB or not _GLOB_CHARS.fullmatch(value):
        raise ValueError(f"must be an image glob of at most {MAX_GLOB} characters: letters, digits, '.', "
                         "'_', '-', '/', ':' and '*' (a digest '@' is not part of a glob)")
    if "***" in value:
        raise ValueError("'***' means nothing: use '*' within a path component or '**' across components")
    parts = value.split("/")
    if any(not part for part in parts):
        raise ValueError("must not have an empty path component (no leading, trailing or doubled '/')")
    name_parts = list(parts)
    last = name_parts[-1]
    if len(parts) > 1 or ":" in last:
        name, colon, tag = last.partition(":")
        if colon:
            if not name or not _TAG_GLOB.fullmatch(tag) or ":" in tag:
                raise ValueError("the tag after ':' must be a tag glob: letters, digits, '_', '.', '-' and "
                                 "'*', at most 128 characters, not starting with '.' or '-'")
            name_parts[-1] = name
    registry = len(name_parts) > 1 and _looks_like_registry(name_parts[0])
    if any(":" in part for part in name_parts[1 if registry else 0:]):
        raise ValueError("':' may only separate a registry's port or the tag")
    if any(part.lower() != part for part in name_parts[1 if registry else 0:]):
        raise ValueError("repository path components are lowercase (only a registry may have capitals)")
    return value


def _check_pointer(value: str) -> str:
    if len(value) > MAX_POINTER or "\x00" in value:
        raise ValueError(f"must be a JSON pointer of at most {MAX_POINTER} characters")
    jsonpointer.validate(value)  # PointerError is a ValueError
    if not value:
        raise ValueError("must name a field, e.g. /spec/containers/*/image (not the whole object)")
    return value


# the regular-expression constructs outside the linear-time subset (Go's RE2 has none of them either)
_FORBIDDEN_OPS = {"GROUPREF": "a backreference", "GROUPREF_EXISTS": "a conditional group",
                  "ASSERT": "a lookahead or lookbehind", "ASSERT_NOT": "a lookahead or lookbehind",
                  "ATOMIC_GROUP": "an atomic group", "POSSESSIVE_REPEAT": "a possessive quantifier"}


def _check_regexp(value: str) -> str:
    """A regular expression in a subset that cannot backtrack exponentially: compiled here, matched
    with ``re.fullmatch`` by the verifier. Refused: backreferences, lookarounds, conditionals, a
    quantified group that holds another quantifier or an alternation (``(a+)+``, ``(a|ab)*``), counts
    over 1000 and more than 3 open-ended quantifiers (``*``, ``+``, ``{n,}``, a range ``{n,m}`` wider than
16): backtracking over k of them costs up to length**k. Every other pattern of RE2's syntax works."""
    if len(value) > MAX_REGEXP:
        raise ValueError(f"a regular expression has at most {MAX_REGEXP} characters")
    if "\x00" in value:
        raise ValueError("must not contain NUL")
    try:
        compiled = re.compile(value)
    except re.error as exc:
        raise ValueError(f"is not a valid regular expression: {exc.msg} at position {exc.pos}") from None
    tree = re_parser.parse(value, compiled.flags)
    unbounded = _walk_regexp(tree, inside_repeat=False)
    if unbounded > MAX_UNBOUNDED:
        raise ValueError(f"at most {MAX_UNBOUNDED} open-ended quantifiers ('*', '+', '{{n,}}' or a range "
                         f"wider than {LONG_RANGE}) in one expression: each multiplies the matching time")
    return value


def _walk_regexp(items: Any, *, inside_repeat: bool) -> int:
    """The number of open-ended repeats under ``items``; ValueError for a construct outside the subset."""
    unbounded = 0
    for op, arg in items:
        name = str(op)
        if name in _FORBIDDEN_OPS:
            raise ValueError(f"{_FORBIDDEN_OPS[name]} is not supported (expressions must match in linear "
                             "time, as in Go's RE2)")
        if name in ("MAX_REPEAT", "MIN_REPEAT"):
            low, high, body = arg
            if (high != _MAXREPEAT and high > MAX_REPEAT) or low > MAX_REPEAT:
                raise ValueError(f"a repetition count is at most {MAX_REPEAT}")
            if inside_repeat:
                raise ValueError("a quantifier inside a quantified group can take exponential time "
                                 "(e.g. '(a+)+'); write it without nesting")
            unbounded += high == _MAXREPEAT or high - low > LONG_RANGE
            unbounded += _walk_regexp(body, inside_repeat=True)
        elif name == "BRANCH":
            if inside_repeat:
                raise ValueError("an alternation inside a quantified group can take exponential time "
                                 "(e.g. '(a|ab)*'); use a character class or write it without repeating")
            for branch in arg[1]:
                unbounded += _walk_regexp(branch, inside_repeat=inside_repeat)
        elif name == "SUBPATTERN":
            unbounded += _walk_regexp(arg[-1], inside_repeat=inside_repeat)
    return unbounded


_MAXREPEAT = int(re_constants.MAXREPEAT)


def _predicate_type(value: str) -> str:
    if len(value) > 512 or not _PREDICATE.fullmatch(value):
        raise ValueError("must be an in-toto predicate type: a URI such as https://slsa.dev/provenance/v1 "
                         "(at most 512 characters, no whitespace)")
    return value


def _unique(value: list[Any]) -> list[Any]:
    if len(set(map(repr, value))) != len(value):
        raise ValueError("lists an entry more than once")
    return value


ImageGlob = Annotated[str, AfterValidator(check_image_glob)]
ImagePointer = Annotated[str, AfterValidator(_check_pointer)]
RegExp = Annotated[str, AfterValidator(_check_regexp)]
PredicateType = Annotated[str, AfterValidator(_predicate_type)]


class KeyRef(SecretRef):
    """A PEM public key: ``{file: PATH}`` (relative to this file) or ``{env: NAME}`` (its text), read
    when an image is verified, never at load time (the same reference as a webhook's ``secretRef``)."""


class KeylessIdentity(Model):
    """Who may sign without a key (a Fulcio certificate): the OIDC ``issuer`` and the certificate's
    ``subject`` (its e-mail or URI SAN), each exactly or by a regular expression matching the whole
    value (``issuerRegExp``, ``subjectRegExp``)."""

    issuer: Text | None = None
    subject: Text | None = None
    issuer_reg_exp: RegExp | None = None
    subject_reg_exp: RegExp | None = None

    @model_validator(mode="after")
    def _pairs(self) -> Self:
        if (self.issuer is None) == (self.issuer_reg_exp is None):
            raise ValueError("set exactly one of issuer or issuerRegExp")
        if (self.subject is None) == (self.subject_reg_exp is None):
            raise ValueError("set exactly one of subject or subjectRegExp")
        return self


class NotationRef(Model):
    """A Notation verification: ``trustPolicy`` (a trustpolicy.json file) and ``trustStore`` (the
    directory of its named stores, ``x509/ca/NAME/*.pem`` and the like). Only the references are
    checked at load time; the files are read when an image is verified."""

    trust_policy: LocalPath
    trust_store: LocalPath


class NotationTrustPolicy(Model):
    """One entry of a Notation trustpolicy.json (``trustPolicies[]``), for the verifier to check the file's
    shape with the configuration's located messages."""

    name: Text
    registry_scopes: list[Text] = Field(min_length=1)
    signature_verification: dict[str, Any]
    trust_stores: list[Text] = []
    trusted_identities: list[Text] = []


class NotationTrustPolicyDocument(Model):
    """The shape of Notation's trustpolicy.json (version 1.0)."""

    version: Literal["1.0"]
    trust_policies: list[NotationTrustPolicy] = Field(min_length=1)


class Rule(Model):
    """Images matching ``images`` must satisfy every requirement the rule names: a signature by one of
    ``keys``, a keyless signature by one of the ``keyless`` identities, the ``attestations`` (each
    predicate type signed like the signature), a ``notation`` verification. ``mode`` overrides the
    policy's for this rule."""

    name: Name | None = None
    images: Annotated[list[ImageGlob], AfterValidator(_unique)] = Field(min_length=1, max_length=1000)
    keys: list[KeyRef] = Field(default=[], max_length=100)
    keyless: list[KeylessIdentity] = Field(default=[], max_length=100)
    trusted_root: LocalPath | None = None
    transparency_log: bool = True
    attestations: Annotated[list[PredicateType], AfterValidator(_unique)] = Field(default=[], max_length=100)
    notation: NotationRef | None = None
    mode: Mode | None = None

    @model_validator(mode="after")
    def _requirements(self) -> Self:
        if not self.keys and not self.keyless and self.notation is None:
            raise ValueError("a rule requires at least one of keys, keyless or notation")
        if self.attestations and not self.keys and not self.keyless:
            raise ValueError("attestations are Cosign attestations: they need keys or keyless signers")
        if self.trusted_root is not None and not self.keys and not self.keyless:
            raise ValueError("trustedRoot is the Sigstore root for keys or keyless: the rule has neither")
        if self.keyless and not self.transparency_log:
            raise ValueError("keyless signatures need the transparency log (transparencyLog: true): "
                             "a short-lived certificate is only proof with a log entry from its lifetime")
        return self


class ImagePath(Model):
    """Where a custom resource holds images: JSON pointers (RFC 6901) in which a ``*`` token is every
    element of a list or every value of a mapping, e.g. ``/spec/steps/*/image``."""

    group: str | None = None
    """API group (``argoproj.io``; ``""`` for the core group); absent: any group."""
    kind: Text
    paths: Annotated[list[ImagePointer], AfterValidator(_unique)] = Field(min_length=1, max_length=100)


class VerificationPolicySpec(Model):
    """``spec`` of a ``VerificationPolicy`` (docs/verification.md, "Policies (configuration)")."""

    mode: Mode = "enforce"
    default_action: DefaultAction = "enforce"
    """What happens to an image no rule matches: ``enforce`` (refused), ``warn`` (reported), ``allow``."""
    rules: list[Rule] = Field(min_length=1, max_length=MAX_RULES)
    image_paths: list[ImagePath] = Field(default=[], max_length=1000)
    applications: LabelSelector | None = None
    """Applications (by their labels) the policy applies to; absent: every application."""
    clusters: LabelSelector | None = None
    """Clusters (by their labels) the policy applies to; absent: every cluster."""
    pin_digests: bool = False
    """Apply the manifests with every image pinned to the digest that was verified (``name:tag@sha256:...``),
    so what runs is exactly what was verified, even if the tag moves later."""

    @model_validator(mode="after")
    def _rule_names(self) -> Self:
        names = [rule.name for rule in self.rules if rule.name is not None]
        if len(set(names)) != len(names):
            raise ValueError("two rules have the same name")
        return self

    def applies_to(self, application_labels: Mapping[str, str], cluster_labels: Mapping[str, str]) -> bool:
        """Whether this policy covers an application (its labels) on a cluster (its labels)."""
        return all(selector is None or selects(selector, labels) for selector, labels in
                   ((self.applications, application_labels), (self.clusters, cluster_labels)))


class VerificationPolicy(VerificationPolicySpec):
    """A verification policy: ``name`` from metadata plus the validated spec."""

    name: Name


def selects(selector: Selector, labels: Mapping[str, str]) -> bool:
    """Kubernetes label-selector semantics: every matchLabels pair and every expression holds
    (``NotIn`` and ``DoesNotExist`` hold for a map without the key); an empty selector selects all."""
    if any(labels.get(key) != value for key, value in selector.match_labels.items()):
        return False
    for expression in selector.match_expressions:
        present, value = expression.key in labels, labels.get(expression.key)
        holds = {"In": present and value in expression.values,
                 "NotIn": not present or value not in expression.values,
                 "Exists": present, "DoesNotExist": not present}[expression.operator]
        if not holds:
            return False
    return True
