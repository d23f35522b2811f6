"""``gitops verify IMAGE``: resolve an image to its digest and verify it against verification policies.

Registered by gitops/cli/__init__.py discovery. With ``--policy FILE`` (YAML holding one or more
``VerificationPolicy`` documents, validated with the configuration's own model and reported as
``file:line:column: field: message``), the image is evaluated by :class:`gitops.verify.evaluate.
ImageVerifier` exactly as the engine will; without it, the command shows the digest and the cosign
signatures and Sigstore bundles it finds, verified by nothing. Key design choice: the policy file is
read on its own, not with the rest of the configuration, so a policy can be tried on an image before
it is deployed (where the engine enforces it).

Exit codes: 0 verified; 1 refused, warned only, allowed unchecked, or no policy given; 2 the command
failed (a malformed policy, an invalid reference, a registry failure to retry).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gitops.config.models import Envelope
from gitops.config.problems import field_path, from_errors
from gitops.config.verification import VerificationPolicy, VerificationPolicySpec
from gitops.config.yamldoc import MAX_FILE_BYTES, Document, locate, parse
from gitops.errors import ConfigError, InputError, Problem, RegistryError
from gitops.sources.urls import is_loopback
from gitops.verify import cosign, notation
from gitops.verify.evaluate import MAX_BUNDLES, MAX_SIGNATURE_LAYERS, ImageVerdict, ImageVerifier
from gitops.verify.ocitypes import (
    SIGSTORE_BUNDLE,
    Descriptor,
    ImageManifest,
    cosign_signature_tag,
    referrers_tag,
)
from gitops.verify.reference import ImageRef
from gitops.verify.reference import parse as parse_reference
from gitops.verify.registry import RegistryClient, RegistryOptions, check_registry

API_VERSION = "gitops.dev/v1alpha1"
KIND = "VerificationPolicy"


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("verify", help="verify an image's signatures against verification policies")
    p.add_argument("image", help="image reference (nginx:1.25, ghcr.io/org/app@sha256:...)")
    p.add_argument("--policy", metavar="FILE",
                   help="YAML file of VerificationPolicy documents; absent: show what is signed (exit 1)")
    p.add_argument("-o", "--output", choices=["text", "json"], default="text")
    p.add_argument("--registry-config", metavar="FILE",
                   help="Docker config.json with the registry's credentials")
    p.add_argument("--insecure-http-loopback", action="store_true",
                   help="reach the image's registry over plain http (loopback registries only)")
    p.add_argument("--application-label", action="append", default=[], metavar="KEY=VALUE",
                   help="a label of the application (for the policies' applications selectors)")
    p.add_argument("--cluster-label", action="append", default=[], metavar="KEY=VALUE",
                   help="a label of the cluster (for the policies' clusters selectors)")
    p.set_defaults(func=run)


def load_policies(path: str) -> list[VerificationPolicy]:
    """The VerificationPolicy documents of ``path``; ConfigError listing every located problem."""
    display = path
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError([Problem(f"cannot read: {exc.strerror or type(exc).__name__}", display)]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError([Problem(f"larger than {MAX_FILE_BYTES} bytes", display)])
    docs, problems = parse(raw, display)
    base_dir = Path(os.path.abspath(path)).parent
    policies: list[VerificationPolicy] = []
    for doc in docs:
        policy, found = _policy(doc, base_dir)
        problems += found
        if policy is not None:
            if any(p.name == policy.name for p in policies):
                problems.append(_at(doc, ("metadata", "name"), f"a second policy named {policy.name!r}"))
            policies.append(policy)
    if not docs and not problems:
        problems.append(Problem("holds no VerificationPolicy document", display))
    if problems:
        raise ConfigError(problems)
    return policies


def _at(doc: Document, loc: tuple[str | int, ...], message: str) -> Problem:
    line, column = locate(doc.node, loc)
    return Problem(message, doc.file, line, column, field_path(loc) or None)


def _policy(doc: Document, base_dir: Path) -> tuple[VerificationPolicy | None, list[Problem]]:
    data = doc.data
    if not isinstance(data, dict):
        return None, [_at(doc, (), "a document must be a mapping with apiVersion, kind, metadata and spec")]
    problems = []
    if data.get("apiVersion") != API_VERSION:
        problems.append(_at(doc, ("apiVersion",), f"expected {API_VERSION}"))
    if data.get("kind") != KIND:
        problems.append(_at(doc, ("kind",), f"expected {KIND} (this file holds verification policies only)"))
    if problems:
        return None, problems
    try:
        envelope = Envelope[VerificationPolicySpec].model_validate(
            data, by_alias=True, by_name=False, context={"base_dir": base_dir})
    except ValidationError as exc:
        return None, from_errors(exc.errors(include_url=False, include_input=False), doc)
    spec = envelope.spec
    fields = {name: getattr(spec, name) for name in type(spec).model_fields}
    return VerificationPolicy.model_construct(_fields_set=spec.model_fields_set | {"name"},
                                              name=envelope.metadata.name, **fields), []


def _labels(values: list[str], option: str) -> dict[str, str]:
    labels = {}
    for value in values:
        key, equals, label = value.partition("=")
        if not equals or not key:
            raise InputError(f"{option} {value!r}: expected KEY=VALUE")
        labels[key] = label
    return labels


def run(args: argparse.Namespace) -> int:
    try:
        policies = load_policies(args.policy) if args.policy else None
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"invalid: {len(exc.problems)} problem(s)", file=sys.stderr)
        return 2
    ref = parse_reference(args.image)
    application = _labels(args.application_label, "--application-label")
    cluster = _labels(args.cluster_label, "--cluster-label")
    if args.insecure_http_loopback and not is_loopback(check_registry(ref.registry)[0]):
        raise InputError(f"--insecure-http-loopback: {ref.registry} is not a loopback address: plain http is "
                         "only for a registry on this machine")
    options = {ref.registry: RegistryOptions(plain_http=True)} if args.insecure_http_loopback else {}
    with RegistryClient(options, docker_config=args.registry_config) as client:
        if policies is None:
            return _inspect(client, ref, args.output)
        verdict = ImageVerifier(policies, client).verify_image(ref, application_labels=application,
                                                                cluster_labels=cluster)
    if args.output == "json":
        print(json.dumps(verdict.to_dict(), indent=2, sort_keys=True))
    else:
        print(text(verdict))
    if verdict.status == "temporary":
        print(f"error: {verdict.reasons[0]}", file=sys.stderr)
        return 2
    return 0 if verdict.status == "verified" else 1


def text(verdict: ImageVerdict) -> str:
    """The verdict for people: the image, its digest, the status, then one line per requirement."""
    lines = [f"image:   {verdict.image}", f"digest:  {verdict.digest or '-'}",
             f"status:  {verdict.status} (mode {verdict.mode})"]
    if verdict.signers:
        lines.append(f"signers: {', '.join(verdict.signers)}")
    for rule in verdict.rules:
        if rule.reason:
            lines.append(f"  {'ok  ' if rule.ok else 'FAIL'} {rule.label} [{rule.mode}]: {rule.reason}")
        for requirement in rule.requirements:
            lines.append(f"  {'ok  ' if requirement.ok else 'FAIL'} {rule.label} [{rule.mode}] "
                         f"{requirement.name}: {requirement.reason}")
    lines += [f"refused: {reason}" for reason in verdict.reasons if verdict.status != "temporary"]
    lines += [f"warning: {warning}" for warning in verdict.warnings]
    return "\n".join(lines)


def _inspect(client: RegistryClient, ref: ImageRef, output: str) -> int:
    """No policy: the digest and what is attached to it, verified by nothing (exit 1)."""
    try:
        digest = ref.digest or client.resolve(ref.registry, ref.repository, ref.pull_tag or "latest").digest
        signatures = _signatures(client, ref, digest)
        attestations = _attestations(client, ref, digest)
        bundles = [d.digest for d in client.referrers(ref.registry, ref.repository, digest,
                                                      SIGSTORE_BUNDLE)[:MAX_BUNDLES]]
        notary = [d.digest for d in client.referrers(ref.registry, ref.repository, digest,
                                                     notation.SIGNATURE_ARTIFACT_TYPE)[:MAX_BUNDLES]]
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if output == "json":
        print(json.dumps({"image": ref.canonical, "digest": digest, "verified": False,
                          "reason": "no policy", "signatures": signatures, "attestations": attestations,
                          "bundles": bundles, "notation": notary}, indent=2, sort_keys=True))
    else:
        print(f"image:   {ref.canonical}\ndigest:  {digest}")
        print(f"cosign signatures ({cosign_signature_tag(digest)}): {len(signatures)}")
        for n, signature in enumerate(signatures):
            print(f"  {n}: " + ", ".join(f"{k} {v}" for k, v in signature.items()))
        print(f"cosign attestations ({referrers_tag(digest)}.att): {len(attestations)}")
        for n, attestation in enumerate(attestations):
            print(f"  {n}: " + ", ".join(f"{k} {v}" for k, v in attestation.items()))
        print(f"sigstore bundles (referrers): {len(bundles)}")
        for bundle in bundles:
            print(f"  {bundle}")
        print(f"notation signatures (referrers): {len(notary)}")
        for found in notary:
            print(f"  {found}")
        print("not verified: no policy (give --policy FILE)")
    return 1


def _tag_layers(client: RegistryClient, ref: ImageRef, tag: str) -> list[Descriptor]:
    """The layers of cosign's classic manifest ``tag`` (none when there is no such tag)."""
    try:
        parsed = client.get_manifest(ref.registry, ref.repository, tag).parse()
    except RegistryError as exc:
        if exc.status == 404:
            return []
        raise
    return list(parsed.layers[:MAX_SIGNATURE_LAYERS]) if isinstance(parsed, ImageManifest) else []


def _attestations(client: RegistryClient, ref: ImageRef, digest: str) -> list[dict[str, str]]:
    """The layers of the classic attestation tag, with the predicate type cosign annotates them with."""
    return [{"layer": layer.digest, "mediaType": layer.media_type,
             "predicateType": layer.annotations.get("predicateType", "unknown")[:200],
             "transparencyLog": "yes" if layer.annotations.get(cosign.BUNDLE_ANNOTATION) else "no"}
            for layer in _tag_layers(client, ref, referrers_tag(digest) + ".att")]


def _signatures(client: RegistryClient, ref: ImageRef, digest: str) -> list[dict[str, str]]:
    found = []
    for layer in _tag_layers(client, ref, cosign_signature_tag(digest)):
        entry = {"layer": layer.digest, "mediaType": layer.media_type}
        if layer.media_type == cosign.SIMPLE_SIGNING_MEDIA_TYPE and layer.size <= cosign.MAX_PAYLOAD_BYTES:
            payload = client.get_blob(ref.registry, ref.repository, layer.digest,
                                      max_bytes=cosign.MAX_PAYLOAD_BYTES)
            mismatch = cosign.check_payload(payload, digest)
            entry["claims"] = "this digest" if mismatch is None else mismatch.reason
        entry["kind"] = "keyless" if layer.annotations.get(cosign.CERTIFICATE_ANNOTATION) else "key"
        entry["transparencyLog"] = "yes" if layer.annotations.get(cosign.BUNDLE_ANNOTATION) else "no"
        found.append(entry)
    return found
