"""Sync hooks: objects that run in a phase of a sync (PreSync, Sync, PostSync, SyncFail) or of an
application's deletion (PreDelete, PostDelete), usually Jobs (docs/hooks.md).

This module is the pure part, called by gitops/engine.py right after rendering: :func:`split` parses the
hook annotations of the rendered manifests into typed :class:`Hook` values and separates them from the
regular objects (which alone are planned, applied, recorded in the inventory and pruned: hooks never
are, as in Argo CD); :func:`prepare` fills in their namespace and stamps them with ``keys.HOOK_OF``
instead of the ownership marks prune reads. :mod:`gitops.hooks.runner` runs them on a cluster.

Key choice: Argo CD's annotations are read unchanged, and Helm's as Argo CD maps them, so an existing
repository works as is; where several name the same thing, ours wins over Argo CD's over Helm's. A bad
value (unknown phase or policy, a malformed or out-of-range timeout or wave) is an InputError naming the
object and the annotation: the target fails to render and nothing is applied.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from gitops import keys
from gitops.cluster import Cluster, check_name
from gitops.errors import InputError
from gitops.render.manifests import prepare as prepare_manifests
from gitops.render.manifests import source_of, validate
from gitops.vocabulary import ObjectRef, Target
from renderers.manifest import Manifest


class Phase(StrEnum):
    PRE_SYNC = "PreSync"
    SYNC = "Sync"
    POST_SYNC = "PostSync"
    SYNC_FAIL = "SyncFail"
    PRE_DELETE = "PreDelete"
    POST_DELETE = "PostDelete"


class DeletePolicy(StrEnum):
    BEFORE_HOOK_CREATION = "BeforeHookCreation"
    HOOK_SUCCEEDED = "HookSucceeded"
    HOOK_FAILED = "HookFailed"


SKIP: Final = "Skip"  # Argo CD: neither applied nor run
DEFAULT_TIMEOUT: Final = 600.0  # seconds a hook may run unless keys.HOOK_TIMEOUT says otherwise
MIN_TIMEOUT: Final = 1.0
MAX_TIMEOUT: Final = 6 * 3600.0
MAX_HOOKS: Final = 500  # hooks per target: each is created and waited on, one wave after another
MAX_WAVE: Final = 1_000_000_000
# Helm's hook names as Argo CD maps them; other Helm hooks (pre-rollback, test, ...) are not run
HELM_PHASES: Final[Mapping[str, Phase | None]] = {
    "pre-install": Phase.PRE_SYNC, "pre-upgrade": Phase.PRE_SYNC, "post-install": Phase.POST_SYNC,
    "post-upgrade": Phase.POST_SYNC, "pre-delete": Phase.PRE_DELETE, "post-delete": Phase.POST_DELETE,
    "pre-rollback": None, "post-rollback": None, "test": None, "test-success": None, "test-failure": None}
HELM_POLICIES: Final[Mapping[str, DeletePolicy]] = {
    "before-hook-creation": DeletePolicy.BEFORE_HOOK_CREATION,
    "hook-succeeded": DeletePolicy.HOOK_SUCCEEDED, "hook-failed": DeletePolicy.HOOK_FAILED}
_DURATION = re.compile(r"(?:([0-9]{1,5})h)?(?:([0-9]{1,7})m)?(?:([0-9]{1,9})s)?")
_MAX_VALUE = 256  # characters of an annotation value we parse


@dataclass(frozen=True)
class Hook:
    """One hook: its manifest (as rendered, then as prepared), the phases it runs in, its delete
    policies, how long it may run (seconds) and its wave (lower first)."""

    manifest: Manifest
    phases: frozenset[Phase]
    delete_policies: frozenset[DeletePolicy]
    timeout: float = DEFAULT_TIMEOUT
    wave: int = 0

    @property
    def ref(self) -> ObjectRef:
        """Its reference (``name`` is empty for a ``generateName`` hook until it is created)."""
        return ObjectRef.of(self.manifest)

    @property
    def generated(self) -> bool:
        return not self.ref.name

    @property
    def shown(self) -> ObjectRef:
        """Its reference as results and messages show it before it exists: a generateName hook is
        named ``prefix*``."""
        if not self.generated:
            return self.ref
        prefix = str((self.manifest.get("metadata") or {}).get("generateName") or "")
        return ObjectRef(self.ref.group, self.ref.kind, self.ref.namespace, prefix + "*", self.ref.version)

    @property
    def label(self) -> str:
        """``Job.batch/ns/name`` (``Job.batch/ns/prefix*`` for a generateName hook)."""
        return str(self.shown)

    def runs_in(self, phase: Phase) -> bool:
        return phase in self.phases


@dataclass(frozen=True)
class Split:
    """The rendered objects separated: ``regular`` (planned and applied; not validated yet), ``hooks``
    (validated) and how many Argo CD ``Skip`` or unsupported Helm hooks were left out."""

    regular: list[Any]
    hooks: list[Hook]
    skipped: int = 0

    def manifests(self) -> list[Manifest]:
        """The hooks' manifests, in render order (for the rendered digest)."""
        return [h.manifest for h in self.hooks]


def _annotations(obj: Any) -> Mapping[str, Any]:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    return annotations if isinstance(annotations, dict) else {}


def _error(obj: Any, index: int, key: str, message: str, source: str | None) -> InputError:
    meta = obj.get("metadata") if isinstance(obj, dict) else {}
    meta = meta if isinstance(meta, dict) else {}
    name = meta.get("name") or f"{meta.get('generateName') or ''}*"
    what = f"manifest #{index + 1} ({obj.get('kind')}/{name})"
    return InputError(f"{what}: annotation {key}: {message}", file=source_of(obj, source), field=key)


def _value(annotations: Mapping[str, Any], key: str) -> str | None:
    value = annotations.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"must be a string, not {type(value).__name__}")
    if len(value) > _MAX_VALUE:
        raise ValueError(f"longer than {_MAX_VALUE} characters")
    return value


def _items(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def parse_phases(annotations: Mapping[str, Any]) -> tuple[str, frozenset[Phase] | None]:
    """(the key read, the phases); phases None for a Skip or an object of no supported phase; an
    empty key: no hook annotation. ValueError for an unknown phase."""
    for key in (keys.HOOK, keys.ARGO_HOOK):
        value = _value(annotations, key)
        if value is None:
            continue
        items = _items(value)
        if not items:
            raise ValueError("empty list of phases")
        if SKIP in items:
            if len(items) > 1:
                raise ValueError(f"{SKIP} cannot be combined with phases")
            return key, None
        known = {p.value: p for p in Phase}
        unknown = [i for i in items if i not in known]
        if unknown:
            raise ValueError(f"unknown phase {unknown[0]!r} (one of {', '.join(known)}, {SKIP})")
        return key, frozenset(known[i] for i in items)
    value = _value(annotations, keys.HELM_HOOK)
    if value is None:
        return "", frozenset()
    items = [i.lower() for i in _items(value)]
    if items == ["crd-install"]:  # Helm 2's CRD hook: a regular object, as Argo CD does
        return "", frozenset()
    unknown = [i for i in items if i not in HELM_PHASES and i != "crd-install"]
    if unknown:
        raise ValueError(f"unknown Helm hook {unknown[0]!r}")
    phases = frozenset(p for i in items if (p := HELM_PHASES.get(i)) is not None)
    return keys.HELM_HOOK, phases or None


def parse_policies(annotations: Mapping[str, Any]) -> frozenset[DeletePolicy]:
    """The delete policies; BeforeHookCreation when none is given (Argo CD's default)."""
    for key in (keys.HOOK_DELETE_POLICY, keys.ARGO_HOOK_DELETE_POLICY, keys.HELM_HOOK_DELETE_POLICY):
        value = _value(annotations, key)
        if value is None:
            continue
        known = {p.value: p for p in DeletePolicy} | dict(HELM_POLICIES)
        items = _items(value)
        unknown = [i for i in items if i not in known]
        if unknown or not items:
            raise ValueError(f"unknown delete policy {unknown[0] if unknown else ''!r} "
                             f"(one of {', '.join(p.value for p in DeletePolicy)})")
        return frozenset(known[i] for i in items)
    return frozenset({DeletePolicy.BEFORE_HOOK_CREATION})


def parse_duration(value: str) -> float:
    """Seconds from ``90``, ``30s``, ``5m``, ``1h30m``; ValueError outside [1s, 6h] or malformed."""
    text = value.strip()
    if re.fullmatch(r"[0-9]{1,9}", text):
        seconds = float(int(text))
    else:
        found = _DURATION.fullmatch(text)
        if not text or found is None or not any(found.groups()):
            raise ValueError(f"{value[:40]!r} is not a duration such as 90s, 5m or 1h30m")
        h, m, s = (int(g or 0) for g in found.groups())
        seconds = float(h * 3600 + m * 60 + s)
    if not MIN_TIMEOUT <= seconds <= MAX_TIMEOUT:
        raise ValueError(f"{value[:40]!r} is out of range ({MIN_TIMEOUT:.0f}s to {MAX_TIMEOUT / 3600:.0f}h)")
    return seconds


def parse_wave(annotations: Mapping[str, Any]) -> tuple[str, int]:
    for key in (keys.SYNC_WAVE, keys.ARGO_SYNC_WAVE, keys.HELM_HOOK_WEIGHT):
        value = _value(annotations, key)
        if value is None:
            continue
        text = value.strip()
        if not re.fullmatch(r"[+-]?[0-9]{1,10}", text) or abs(int(text)) > MAX_WAVE:
            raise ValueError(f"{value[:40]!r} is not an integer within ±{MAX_WAVE}")
        return key, int(text)
    return "", 0


def _hook(obj: Any, index: int, phases: frozenset[Phase], source: str | None) -> Hook:
    annotations = _annotations(obj)
    key = keys.HOOK_DELETE_POLICY
    try:
        policies = parse_policies(annotations)
        key = keys.HOOK_TIMEOUT
        raw = _value(annotations, keys.HOOK_TIMEOUT)
        timeout = parse_duration(raw) if raw is not None else DEFAULT_TIMEOUT
        key = keys.SYNC_WAVE
        key, wave = parse_wave(annotations)
    except ValueError as exc:
        raise _error(obj, index, _failed_key(annotations, key), str(exc), source) from exc
    return Hook(obj, phases, policies, timeout, wave)


def _failed_key(annotations: Mapping[str, Any], key: str) -> str:
    """The annotation actually present among those naming the same thing as ``key``."""
    families = ((keys.HOOK_DELETE_POLICY, keys.ARGO_HOOK_DELETE_POLICY, keys.HELM_HOOK_DELETE_POLICY),
                (keys.SYNC_WAVE, keys.ARGO_SYNC_WAVE, keys.HELM_HOOK_WEIGHT))
    for family in families:
        if key in family:
            return next((k for k in family if k in annotations), key)
    return key


def _validated(hooks: list[Hook], source: str | None) -> list[Hook]:
    """The hooks' manifests checked as regular manifests are (a generateName stands in for a name)."""
    stand_ins = []
    for hook in hooks:
        meta = hook.manifest.get("metadata")
        if isinstance(meta, dict) and not meta.get("name") and isinstance(meta.get("generateName"), str):
            check_name(meta["generateName"] + "x", "generateName", obj=hook.label)
            meta = {**meta, "name": meta["generateName"] + "x"}
            stand_ins.append({**hook.manifest, "metadata": meta})
        else:
            stand_ins.append(hook.manifest)
    validate(stand_ins, source)
    return hooks


def split(objects: Sequence[Any], source: str | None = None) -> Split:
    """Separate the hooks from the regular objects (InputError naming the object and the annotation
    for a bad hook annotation, or more than :data:`MAX_HOOKS` hooks)."""
    regular: list[Any] = []
    hooks: list[Hook] = []
    skipped = 0
    for index, obj in enumerate(objects):
        annotations = _annotations(obj)
        try:
            key, phases = parse_phases(annotations)
        except ValueError as exc:
            present = (k for k in (keys.HOOK, keys.ARGO_HOOK, keys.HELM_HOOK) if k in annotations)
            key = next(present, keys.HOOK)
            raise _error(obj, index, key, str(exc), source) from exc
        if not key:
            regular.append(obj)
        elif phases is None:
            skipped += 1
        else:
            hooks.append(_hook(obj, index, phases, source))
            if len(hooks) > MAX_HOOKS:
                raise InputError(f"more than {MAX_HOOKS} hooks in one application (each is created and "
                                 "waited on): render fewer hook objects", file=source, field=key)
    _distinct(regular, hooks, source)
    return Split(regular, _validated(hooks, source), skipped)


def _distinct(regular: Sequence[Any], hooks: Sequence[Hook], source: str | None) -> None:
    """A hook may not be a regular object too: its BeforeHookCreation would delete that object."""
    def key(ref: ObjectRef) -> tuple[str, str, str, str]:
        return ref.group, ref.kind, ref.namespace, ref.name

    applied = {key(ObjectRef.of(o)) for o in regular if isinstance(o, dict)}
    for hook in hooks:
        if not hook.generated and key(hook.ref) in applied:
            raise InputError(f"{hook.label} is both a hook and a regular object of the application: "
                             "rename one of them", file=source_of(hook.manifest, source))


def prepare(hooks: Sequence[Hook], cluster: Cluster, target: Target, namespace: str | None) -> list[Hook]:
    """The hooks as they are created: the destination namespace filled in (as for regular objects),
    marked with ``keys.HOOK_OF`` and without the ownership marks (so prune and inventory recovery never
    see them)."""
    out = []
    for hook in hooks:
        manifest = copy.deepcopy(hook.manifest)
        named = bool((manifest.get("metadata") or {}).get("name"))
        if not named:  # prepare() reads the name only in messages
            manifest["metadata"]["name"] = ""
        (prepared,) = prepare_manifests([manifest], cluster, target, namespace)
        meta = prepared["metadata"]
        if not named:
            del meta["name"]
        meta["labels"].pop(keys.APP_LABEL, None)
        if not meta["labels"]:
            del meta["labels"]
        meta["annotations"].pop(keys.OWNED_BY, None)
        meta["annotations"][keys.HOOK_OF] = target.key
        out.append(Hook(prepared, hook.phases, hook.delete_policies, hook.timeout, hook.wave))
    return out


def of_phase(hooks: Sequence[Hook], phase: Phase) -> list[Hook]:
    """The hooks of ``phase`` in the order they run: by wave, then kind and name (stable)."""
    return sorted((h for h in hooks if h.runs_in(phase)), key=lambda h: (h.wave, h.ref.kind, h.label))
