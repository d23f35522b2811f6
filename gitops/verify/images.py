"""Which images the rendered manifests would run, and the same manifests pinned to verified digests.

Called by the verifier on the manifests of one render (``collect_images``: every image a pod would
pull, each with where it was found) and, when a policy asks to pin digests, to rewrite the manifests
that are then planned and applied (``pin_digests``). Pure functions over plain dicts: no I/O.

Key design choices: images are read from the pod template of every workload kind Kubernetes runs pods
from (:data:`POD_SPECS`), in ``containers``, ``initContainers`` and ``ephemeralContainers``; from any
other kind with a pod template where those keep theirs (:data:`POD_TEMPLATE_SHAPES`: a Rollout, a
CloneSet: reading one image too many fails closed, missing one would not); plus the
custom resources' fields a policy names (``imagePaths``: JSON pointers whose ``*`` token is every list
element or mapping value, as :class:`gitops.config.verification.ImagePath` validates them). A field
that is not a valid reference is never skipped and never crashes the walk: it becomes an
:class:`ImageUse` with an ``error``, which the verifier refuses (fail closed). Each use is kept (an
image used by three containers is three uses, each reported where it is); :func:`distinct` gives
each image once for the registry round trips.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gitops.config.verification import ImagePath
from gitops.errors import InputError, VerificationFailed
from gitops.verify.reference import ImageRef, parse
from renderers.k8s import jsonpointer
from renderers.manifest import Manifest, group_of

Location = tuple[str | int, ...]

# kind (core and apps/batch groups) -> where its pod spec is
POD_SPECS: dict[tuple[str, str], Location] = {
    ("", "Pod"): ("spec",),
    ("", "PodTemplate"): ("template", "spec"),
    ("", "ReplicationController"): ("spec", "template", "spec"),
    ("apps", "Deployment"): ("spec", "template", "spec"),
    ("apps", "StatefulSet"): ("spec", "template", "spec"),
    ("apps", "DaemonSet"): ("spec", "template", "spec"),
    ("apps", "ReplicaSet"): ("spec", "template", "spec"),
    ("batch", "Job"): ("spec", "template", "spec"),
    ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template", "spec"),
}
# any other kind holding a pod template where the workloads do (Argo Rollouts' Rollout, OpenKruise's
# CloneSet, a Deployment of another group, ...): read like one when it has a containers list there
POD_TEMPLATE_SHAPES: tuple[Location, ...] = (("spec", "template", "spec"),
                                             ("spec", "jobTemplate", "spec", "template", "spec"))
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
MAX_USES = 100_000  # beyond this a render is hostile: the walk stops with an error use
WILDCARD = "*"


@dataclass(frozen=True)
class ImageUse:
    """One image field of one object: ``obj`` is ``Kind[.group]/namespace/name``, ``location`` the path
    to the field, ``reference`` the text as written; ``image`` when it parses, else ``error``."""

    obj: str
    location: Location
    reference: str
    image: ImageRef | None
    error: str | None = None

    @property
    def path(self) -> str:
        """The field as people read it: ``spec.template.spec.containers[0].image``."""
        out = ""
        for part in self.location:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
        return out

    @property
    def pointer(self) -> str:
        """The field as an RFC 6901 JSON pointer: ``/spec/template/spec/containers/0/image``."""
        return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in self.location)

    def __str__(self) -> str:
        return f"{self.obj} {self.path}: {self.reference[:200]!r}"


def collect_images(manifests: Iterable[Manifest], extra_paths: Sequence[ImagePath] = ()) -> list[ImageUse]:
    """Every image field of ``manifests`` in manifest order (pod specs, then the ``extra_paths`` that
    name the object's kind), valid or not."""
    uses: list[ImageUse] = []
    for manifest in manifests:
        if not isinstance(manifest, dict):
            continue
        obj = _object(manifest)
        group, kind = _group_kind(manifest)
        found: list[tuple[Location, Any]] = []
        known = POD_SPECS.get((group, kind))
        for at in (known,) if known is not None else POD_TEMPLATE_SHAPES:
            spec = _get(manifest, at)
            if not isinstance(spec, dict) or (known is None and not isinstance(spec.get("containers"), list)):
                continue
            for field in CONTAINER_LISTS:
                containers = spec.get(field)
                if isinstance(containers, list):
                    found += [((*at, field, i, "image"), c["image"]) for i, c in enumerate(containers)
                              if isinstance(c, dict) and "image" in c]
        for extra in extra_paths:
            if extra.kind == kind and (extra.group is None or extra.group == group):
                for pointer in extra.paths:
                    found += _walk(manifest, tuple(jsonpointer.tokens(pointer)), ())
        seen: set[Location] = set()
        for location, value in found:
            if location in seen:  # a policy path that repeats a pod-spec field
                continue
            seen.add(location)
            uses.append(_use(obj, location, value))
            if len(uses) >= MAX_USES:
                uses.append(ImageUse(obj, (), "", None, f"more than {MAX_USES} image fields: not all read"))
                return uses
    return uses


def distinct(uses: Iterable[ImageUse]) -> list[ImageRef]:
    """Each valid image once, in the order first used (two spellings of one image are one image)."""
    return list(dict.fromkeys(use.image for use in uses if use.image is not None))


def pin_digests(manifests: Sequence[Manifest], resolved: Mapping[str, str],
                extra_paths: Sequence[ImagePath] = ()) -> list[Manifest]:
    """Copies of ``manifests`` whose image fields name ``familiar-name[:tag]@digest`` (the tag is kept
    for the reader, as Renovate's pinned digests do; the runtime pulls by digest). ``resolved`` maps
    an image's :attr:`ImageRef.canonical` to its verified digest. An image already carrying a digest is
    kept as written. Fails closed: VerificationFailed when a field is not a valid reference or an image
    has no resolved digest. The input is never changed."""
    out = [copy.deepcopy(m) for m in manifests]
    for manifest in out:
        for use in collect_images([manifest], extra_paths):
            if use.image is None:
                raise VerificationFailed(f"cannot pin {use}: {use.error}", obj=use.obj)
            if use.image.digest is not None:
                continue
            digest = resolved.get(use.image.canonical)
            if digest is None:
                raise VerificationFailed(f"cannot pin {use}: no verified digest for {use.image.canonical}",
                                         obj=use.obj)
            try:
                pinned = use.image.with_digest(digest)
            except InputError as exc:
                raise VerificationFailed(f"cannot pin {use}: {exc.problem.message}", obj=use.obj) from None
            _get(manifest, use.location[:-1])[use.location[-1]] = pinned.familiar
    return out


def _use(obj: str, location: Location, value: Any) -> ImageUse:
    if not isinstance(value, str):
        return ImageUse(obj, location, repr(value)[:200], None,
                        f"an image must be a string, not {type(value).__name__}")
    try:
        return ImageUse(obj, location, value, parse(value))
    except InputError as exc:
        return ImageUse(obj, location, value, None, exc.problem.message)


def _walk(node: Any, tokens: tuple[str, ...], at: Location) -> Iterator[tuple[Location, Any]]:
    """The values ``tokens`` lead to from ``node`` (``*``: every list element or mapping value)."""
    if not tokens:
        yield at, node
        return
    token, rest = tokens[0], tokens[1:]
    if isinstance(node, dict):
        if token == WILDCARD:
            keys = [k for k in node if isinstance(k, str)]
        else:
            keys = [token] if token in node else []
        for key in keys:
            yield from _walk(node[key], rest, (*at, key))
    elif isinstance(node, list):
        if token == WILDCARD:
            indexes: Iterable[int] = range(len(node))
        elif token.isdigit() and not (len(token) > 1 and token.startswith("0")) and int(token) < len(node):
            indexes = (int(token),)
        else:
            indexes = ()
        for i in indexes:
            yield from _walk(node[i], rest, (*at, i))


def _get(node: Any, location: Location) -> Any:
    for part in location:
        if isinstance(part, int):
            if not isinstance(node, list) or not 0 <= part < len(node):
                return None
        elif not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _group_kind(manifest: Manifest) -> tuple[str, str]:
    api_version, kind = manifest.get("apiVersion"), manifest.get("kind")
    return (group_of(api_version) if isinstance(api_version, str) else "",
            kind if isinstance(kind, str) else "")


def _object(manifest: Manifest) -> str:
    """``Kind[.group]/namespace/name`` (``Kind/name`` when cluster-scoped), whatever the manifest holds."""
    group, kind = _group_kind(manifest)
    meta = manifest.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    name, namespace = meta.get("name"), meta.get("namespace")
    kind_text = (f"{kind}.{group}" if group else kind) or "?"
    name_text = name if isinstance(name, str) else "?"
    return f"{kind_text}/{namespace}/{name_text}" if isinstance(namespace, str) and namespace \
        else f"{kind_text}/{name_text}"
