"""OCI and Docker distribution types: media types, digests, descriptors, manifests and indexes.

Pure data (no I/O), used by :mod:`gitops.verify.registry` and the verifiers above it. A manifest is
kept as the exact bytes the registry served (:class:`Manifest`): its digest is the sha256 of those
bytes, recomputed by the client, never taken from a header. :meth:`Manifest.parse` reads the bytes
into a frozen :class:`ImageManifest` or :class:`ImageIndex` (``artifactType``, ``subject`` and
annotations included); malformed JSON or fields raise :class:`gitops.errors.RegistryError`
(permanent).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from gitops.errors import RegistryError

# ---- media types -----------------------------------------------------------------------------------

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_LAYER_TAR_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_TAR_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
COSIGN_SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGSTORE_BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"

IMAGE_MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
MANIFEST_TYPES = IMAGE_MANIFEST_TYPES | INDEX_TYPES
# What the client accepts for a manifest, most specific first (Docker schema 1 is never asked for).
MANIFEST_ACCEPT = ", ".join((OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST))

# ---- digests ---------------------------------------------------------------------------------------

_DIGEST = re.compile(r"^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$")
_ALGORITHMS = {"sha256": hashlib.sha256, "sha512": hashlib.sha512}


def is_digest(text: str) -> bool:
    """True for ``sha256:<64 hex>`` and ``sha512:<128 hex>`` (lower case, as the OCI spec registers)."""
    return _DIGEST.match(text) is not None


def check_digest(text: str) -> str:
    """``text`` when it is a digest :func:`is_digest` accepts; a permanent RegistryError otherwise."""
    if not is_digest(text):
        shown = text if len(text) <= 80 else text[:80] + "..."
        raise RegistryError(f"{shown!r} is not a sha256 or sha512 digest")
    return text


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    """The digest of ``data`` (``algorithm:hex``)."""
    return f"{algorithm}:{_ALGORITHMS[algorithm](data).hexdigest()}"


def hasher(digest: str) -> Any:
    """A fresh hashlib object for ``digest``'s algorithm (to hash a body while it streams)."""
    return _ALGORITHMS[check_digest(digest).split(":", 1)[0]]()


def referrers_tag(digest: str) -> str:
    """The OCI referrers tag schema's tag for ``digest``: ``sha256-<hex>`` (an image index)."""
    algorithm, _, hexpart = check_digest(digest).partition(":")
    return f"{algorithm}-{hexpart}"


def cosign_signature_tag(digest: str) -> str:
    """Where classic cosign stores the signatures of ``digest``: the tag ``sha256-<hex>.sig``."""
    return referrers_tag(digest) + ".sig"


# ---- descriptors and manifests ---------------------------------------------------------------------


def _frozen(mapping: Mapping[str, str] | None) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class Platform:
    architecture: str
    os: str
    variant: str | None = None


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor: what a manifest, an index or the referrers API points at."""

    media_type: str
    digest: str
    size: int
    artifact_type: str | None = None
    annotations: Mapping[str, str] = field(default_factory=lambda: _frozen(None), hash=False)
    platform: Platform | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "annotations", _frozen(self.annotations))


@dataclass(frozen=True)
class ImageManifest:
    """An OCI image manifest or a Docker v2 schema 2 manifest."""

    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    artifact_type: str | None = None
    subject: Descriptor | None = None
    annotations: Mapping[str, str] = field(default_factory=lambda: _frozen(None), hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "annotations", _frozen(self.annotations))


@dataclass(frozen=True)
class ImageIndex:
    """An OCI image index or a Docker manifest list (also what the referrers API returns)."""

    media_type: str
    manifests: tuple[Descriptor, ...]
    artifact_type: str | None = None
    subject: Descriptor | None = None
    annotations: Mapping[str, str] = field(default_factory=lambda: _frozen(None), hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "annotations", _frozen(self.annotations))


@dataclass(frozen=True)
class Manifest:
    """A manifest as the registry served it: the exact ``data``, its media type and its digest (the
    sha256 of ``data``, recomputed by the client)."""

    data: bytes = field(repr=False)
    media_type: str
    digest: str

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor(self.media_type, self.digest, len(self.data))

    def parse(self) -> ImageManifest | ImageIndex:
        """The manifest or index in ``data`` (by its media type, or the ``mediaType`` field)."""
        return parse_manifest(self.data, self.media_type)


def _string(value: object, where: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise RegistryError(f"malformed manifest: {where} must be a string")
    return value


def _annotations(value: object, where: str) -> Mapping[str, str]:
    if value is None:
        return _frozen(None)
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                              for k, v in value.items()):
        raise RegistryError(f"malformed manifest: {where}.annotations must map strings to strings")
    return _frozen(value)


def parse_descriptor(value: object, where: str = "descriptor") -> Descriptor:
    """A descriptor from its JSON object; a permanent RegistryError names the field that is wrong."""
    if not isinstance(value, dict):
        raise RegistryError(f"malformed manifest: {where} must be an object")
    media_type = _string(value.get("mediaType"), f"{where}.mediaType")
    digest = _string(value.get("digest"), f"{where}.digest")
    size = value.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise RegistryError(f"malformed manifest: {where}.size must be a non-negative integer")
    assert media_type is not None and digest is not None
    if not is_digest(digest):
        raise RegistryError(f"malformed manifest: {where}.digest is not a sha256 or sha512 digest")
    platform = None
    raw_platform = value.get("platform")
    if isinstance(raw_platform, dict):
        arch = _string(raw_platform.get("architecture"), f"{where}.platform.architecture")
        os_ = _string(raw_platform.get("os"), f"{where}.platform.os")
        variant = _string(raw_platform.get("variant"), f"{where}.platform.variant", optional=True)
        assert arch is not None and os_ is not None
        platform = Platform(arch, os_, variant)
    return Descriptor(media_type, digest, size,
                      artifact_type=_string(value.get("artifactType"), f"{where}.artifactType",
                                            optional=True),
                      annotations=_annotations(value.get("annotations"), where), platform=platform)


def parse_manifest(data: bytes, media_type: str | None = None) -> ImageManifest | ImageIndex:
    """Parse manifest or index bytes. ``media_type`` is the Content-Type the registry sent (its
    parameters ignored); when absent or generic the document's own ``mediaType`` decides, and an OCI
    document without one is told apart by its ``manifests`` or ``config`` field."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise RegistryError("malformed manifest: not JSON") from None
    if not isinstance(document, dict):
        raise RegistryError("malformed manifest: not a JSON object")
    declared = _string(document.get("mediaType"), "mediaType", optional=True)
    kind = (media_type or "").split(";", 1)[0].strip()
    if kind not in MANIFEST_TYPES:
        kind = declared or (OCI_INDEX if "manifests" in document else OCI_MANIFEST)
    if declared is not None and declared != kind:
        raise RegistryError(f"malformed manifest: mediaType {declared!r} differs from the content type "
                            f"{kind!r}")
    artifact_type = _string(document.get("artifactType"), "artifactType", optional=True)
    subject = (parse_descriptor(document["subject"], "subject")
               if document.get("subject") is not None else None)
    annotations = _annotations(document.get("annotations"), "manifest")
    if kind in INDEX_TYPES:
        entries = document.get("manifests")
        if not isinstance(entries, list):
            raise RegistryError("malformed manifest: manifests must be a list")
        return ImageIndex(kind, tuple(parse_descriptor(d, f"manifests[{i}]") for i, d in enumerate(entries)),
                          artifact_type=artifact_type, subject=subject, annotations=annotations)
    if kind in IMAGE_MANIFEST_TYPES:
        layers = document.get("layers")
        if not isinstance(layers, list):
            raise RegistryError("malformed manifest: layers must be a list")
        return ImageManifest(kind, parse_descriptor(document.get("config"), "config"),
                             tuple(parse_descriptor(d, f"layers[{i}]") for i, d in enumerate(layers)),
                             artifact_type=artifact_type, subject=subject, annotations=annotations)
    raise RegistryError(f"unsupported manifest media type {kind[:100]!r}")
