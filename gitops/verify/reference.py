"""Image references, parsed and normalised exactly as Docker and containerd do, and policy globs over them.

Called by :mod:`gitops.verify.images` (every image a manifest names), by the verifier (which registry
and repository to ask, which digest was verified) and by the policy's rules (:meth:`ImageRef.matches`).
The grammar is distribution/reference's (``ParseNormalizedNamed``): an optional registry (the first of
several components, when it has a ``.`` or ``:``, is ``localhost`` or has a capital), lowercase
repository components joined by ``/`` with ``.``, ``_``, ``__`` or ``-`` runs inside them, then
``:TAG`` and/or ``@ALGORITHM:HEX``. ``docker.io`` is the default registry (``index.docker.io`` is
the same), and a one-component Docker Hub name is an official image under ``library/``.

Key design choice: an :class:`ImageRef` can only hold a normalised reference (its constructor checks
it), so ``parse(ref.canonical) == ref`` for every value and two spellings of one image compare equal.
A reference with neither tag nor digest means ``latest`` when pulled (:meth:`ImageRef.pull_tag`) but is
kept as written. Glob matching (:meth:`ImageRef.matches`) runs in time linear in glob times name, with
no regular expression, so a policy cannot make it backtrack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from gitops.config.verification import check_image_glob
from gitops.errors import InputError

DEFAULT_REGISTRY = "docker.io"
LEGACY_REGISTRY = "index.docker.io"
OFFICIAL_PREFIX = "library/"
MAX_NAME = 255  # distribution/reference NameTotalLengthMax: registry/repository
MAX_REFERENCE = 1024  # checked before anything else: the longest valid reference is under 500
SHOWN = 100

_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_REGISTRY = re.compile(rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?")
_TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
_ALGORITHM = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*")
_DIGEST_HEX = {"sha256": 64, "sha384": 96, "sha512": 128}
_HEX = re.compile(r"[a-f0-9]+")
_IDENTIFIER = re.compile(r"[a-f0-9]{64}")


def _shown(text: str) -> str:
    """``text`` as an error quotes it: at most 100 characters, control characters escaped."""
    cut = text if len(text) <= SHOWN else text[:SHOWN] + "..."
    return repr(cut)


def _invalid(reference: str, why: str) -> InputError:
    return InputError(f"invalid image reference {_shown(reference)}: {why}")


def check_digest(digest: str, reference: str | None = None) -> str:
    """``digest`` when it is ``sha256:<64 hex>``, ``sha384:<96 hex>`` or ``sha512:<128 hex>`` (lowercase,
    go-digest's rule); InputError naming ``reference`` (or the digest) otherwise."""
    algorithm, colon, encoded = digest.partition(":")
    shown = digest if reference is None else reference
    if not colon or not _ALGORITHM.fullmatch(algorithm) or not encoded:
        raise _invalid(shown, "a digest is ALGORITHM:HEX, e.g. sha256:<64 hexadecimal digits>")
    if algorithm not in _DIGEST_HEX:
        raise _invalid(shown, f"unsupported digest algorithm (use {', '.join(_DIGEST_HEX)})")
    if len(encoded) != _DIGEST_HEX[algorithm] or not _HEX.fullmatch(encoded):
        raise _invalid(shown, f"a {algorithm} digest is {_DIGEST_HEX[algorithm]} lowercase hexadecimal "
                              "digits")
    return digest


@dataclass(frozen=True)
class ImageRef:
    """A normalised image reference: ``registry`` (``docker.io``, ``ghcr.io``, ``localhost:5000``),
    ``repository`` (``library/nginx``), and an optional ``tag`` and ``digest``."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    def __post_init__(self) -> None:
        shown = self.canonical
        if self.registry == LEGACY_REGISTRY or not _REGISTRY.fullmatch(self.registry) \
                or not _is_registry(self.registry):
            raise _invalid(shown, "not a normalised registry (a host with a '.' or ':', or localhost)")
        if not self.repository or not all(_PATH_COMPONENT.fullmatch(p) for p in self.repository.split("/")):
            raise _invalid(shown, "repository path components are lowercase letters and digits, "
                                  "separated by '.', '_', '__' or '-'")
        if self.registry == DEFAULT_REGISTRY and "/" not in self.repository:
            raise _invalid(shown, f"not normalised: an official Docker Hub image is {OFFICIAL_PREFIX}NAME")
        if len(self.name) > MAX_NAME:
            raise _invalid(shown, f"repository name must not be more than {MAX_NAME} characters")
        if self.tag is not None and not _TAG.fullmatch(self.tag):
            raise _invalid(shown, "a tag is up to 128 letters, digits, '_', '.' or '-', not starting with "
                                  "'.' or '-'")
        if self.digest is not None:
            check_digest(self.digest, shown)

    @property
    def name(self) -> str:
        """``registry/repository``: what a glob and a registry's API speak of."""
        return f"{self.registry}/{self.repository}"

    @property
    def canonical(self) -> str:
        """The fully qualified form: ``docker.io/library/nginx:1.25``; ``parse`` gives it back."""
        return self.name + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")

    @property
    def familiar(self) -> str:
        """The shortest form Docker prints (``FamiliarString``): ``nginx:1.25``, ``org/app``,
        ``ghcr.io/org/app:v1``. Unlike Docker, ``docker.io/`` stays when the first repository component
        would read as a registry (``docker.io/a.b/c``: ``a.b/c`` names registry ``a.b``), so the
        familiar form always parses back to this reference."""
        name = self.name
        if self.registry == DEFAULT_REGISTRY and not _is_registry(self.repository.partition("/")[0]):
            name = self.repository
            rest = name.removeprefix(OFFICIAL_PREFIX)
            if rest != name and "/" not in rest:
                name = rest
        return name + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")

    @property
    def pull_tag(self) -> str | None:
        """The tag a pull resolves: the tag, ``latest`` without tag or digest, None when pinned only
        by digest."""
        if self.tag is not None:
            return self.tag
        return None if self.digest is not None else "latest"

    def with_digest(self, digest: str) -> ImageRef:
        """This reference pinned to ``digest`` (the tag is kept for the reader; the digest decides)."""
        return ImageRef(self.registry, self.repository, self.tag, check_digest(digest, self.canonical))

    def matches(self, glob: str) -> bool:
        """Whether a policy glob matches this image (docs/verification.md, "Image globs").

        The glob is normalised like a reference (``nginx`` is ``docker.io/library/nginx``,
        ``org/*`` is ``docker.io/org/*``) unless it starts with a wildcard component, and matched
        against ``registry/repository`` (registries compared without case): ``*`` matches within one
        path component, ``**`` any run of characters across components (``**`` alone: every image).
        A glob with ``:TAG`` also matches the tag (``pull_tag``; an image pinned only by digest has none,
        so it matches no tag glob).
        """
        name_glob, tag_glob = _compiled(glob)
        if not _glob_match(name_glob, f"{self.registry.lower()}/{self.repository}"):
            return False
        if tag_glob is None:
            return True
        tag = self.pull_tag
        return tag is not None and _glob_match(tag_glob, tag)


def _is_registry(component: str) -> bool:
    return (any(c in component for c in ".:") or component == "localhost"
            or component.lower() != component)


def _split_registry(name: str) -> tuple[str, str]:
    """distribution/reference ``splitDockerDomain`` (on the name without tag and digest)."""
    first, slash, rest = name.partition("/")
    if not slash or not _is_registry(first):
        registry, repository = DEFAULT_REGISTRY, name
    else:
        registry, repository = first, rest
    if registry == LEGACY_REGISTRY:
        registry = DEFAULT_REGISTRY
    if registry == DEFAULT_REGISTRY and "/" not in repository:
        repository = OFFICIAL_PREFIX + repository
    return registry, repository


def parse(reference: object) -> ImageRef:
    """The normalised :class:`ImageRef` of ``reference``, or an InputError naming it and saying why."""
    if not isinstance(reference, str):
        raise InputError(f"an image reference must be a string, not {type(reference).__name__}")
    if not reference:
        raise _invalid(reference, "empty")
    if len(reference) > MAX_REFERENCE:
        raise _invalid(reference, f"longer than {MAX_REFERENCE} characters")
    if not reference.isascii() or any(ch.isspace() or not ch.isprintable() for ch in reference):
        raise _invalid(reference, "contains whitespace, control or non-ASCII characters")
    if _IDENTIFIER.fullmatch(reference):
        raise _invalid(reference, "a 64-character hexadecimal string is an image ID, not a repository name")
    rest, at, digest = reference.partition("@")
    if at and "@" in digest:
        raise _invalid(reference, "more than one '@'")
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    name, tag = (rest[:colon], rest[colon + 1:]) if colon > slash else (rest, None)
    if not name:
        raise _invalid(reference, "no repository name")
    if tag == "" or (tag is not None and not _TAG.fullmatch(tag)):
        raise _invalid(reference, "a tag is up to 128 letters, digits, '_', '.' or '-', not starting with "
                                  "'.' or '-'")
    registry, repository = _split_registry(name)
    if not _REGISTRY.fullmatch(registry):
        raise _invalid(reference, "invalid registry host (letters, digits, '-' and '.', then an optional "
                                  ":PORT)")
    if repository.lower() != repository:
        raise _invalid(reference, "repository name must be lowercase")
    parts = repository.split("/")
    if not all(parts):
        raise _invalid(reference, "empty path component (a leading, trailing or doubled '/')")
    for part in parts:
        if not _PATH_COMPONENT.fullmatch(part):
            raise _invalid(reference, f"invalid path component {_shown(part)}: lowercase letters and digits, "
                                      "separated by one '.', one or two '_' or any '-'")
    if len(registry) + 1 + len(repository) > MAX_NAME:
        raise _invalid(reference, f"repository name must not be more than {MAX_NAME} characters")
    if at:
        check_digest(digest, reference)
    return ImageRef(registry, repository, tag, digest if at else None)


# --- globs -------------------------------------------------------------------------------------------

_STAR, _DOUBLE = "\x00*", "\x00**"  # tokens that no literal character can equal (NUL is never in a glob)


@lru_cache(maxsize=4096)
def _compiled(glob: str) -> tuple[tuple[str, ...], tuple[str, ...] | None]:
    """The name and tag token lists of a normalised glob; InputError for a glob the configuration would
    refuse (the configuration's own check, :func:`gitops.config.verification.check_image_glob`)."""
    try:
        check_image_glob(glob)
    except ValueError as exc:
        raise InputError(f"invalid image glob {_shown(glob)}: {exc}") from None
    parts = glob.split("/")
    tag: str | None = None
    if len(parts) > 1 or ":" in parts[-1]:
        last, colon, tag_text = parts[-1].partition(":")
        if colon:
            parts[-1], tag = last, tag_text
    if not (len(parts) == 1 and parts[0].startswith("**")):  # '**' alone: every registry and repository
        if len(parts) == 1 or not (_is_registry(parts[0]) or "*" in parts[0]):
            parts.insert(0, DEFAULT_REGISTRY)
        parts[0] = DEFAULT_REGISTRY if parts[0].lower() == LEGACY_REGISTRY else parts[0].lower()
        if parts[0] == DEFAULT_REGISTRY and len(parts) == 2:
            parts.insert(1, OFFICIAL_PREFIX.rstrip("/"))
    return _tokens("/".join(parts)), (None if tag is None else _tokens(tag.replace("**", "*")))


def _tokens(glob: str) -> tuple[str, ...]:
    out: list[str] = []
    i = 0
    while i < len(glob):
        if glob.startswith("**", i):
            out.append(_DOUBLE)
            i += 2
        elif glob[i] == "*":
            out.append(_STAR)
            i += 1
        else:
            out.append(glob[i])
            i += 1
    return tuple(out)


def _glob_match(tokens: tuple[str, ...], text: str) -> bool:
    """Whether ``tokens`` match all of ``text``: a set-of-states simulation, O(len(tokens) * len(text))."""
    def closure(states: set[int]) -> set[int]:
        stack, seen = list(states), set(states)
        while stack:
            state = stack.pop()
            if state < len(tokens) and tokens[state] in (_STAR, _DOUBLE) and state + 1 not in seen:
                seen.add(state + 1)
                stack.append(state + 1)
        return seen

    states = closure({0})
    for ch in text:
        following: set[int] = set()
        for state in states:
            if state == len(tokens):
                continue
            token = tokens[state]
            if token == _DOUBLE or (token == _STAR and ch != "/"):
                following.add(state)
            elif token == ch:
                following.add(state + 1)
        if not following:
            return False
        states = closure(following)
    return len(tokens) in states
