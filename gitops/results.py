"""Value objects the pipeline returns: one per drifted field, one per object, one per traced stage.

Produced by gitops.plan (:class:`FieldDrift`), gitops.apply and gitops.prune (:class:`ObjectResult`,
with health from gitops.health), read by gitops/engine.py, gitops.outcome, the CLI, state and the HTTP
API. Every value is a frozen dataclass using the shared vocabulary of gitops/vocabulary.py, so a result can
cross processes (``to_dict``) without carrying live API objects. Field values are already masked when they
belong to a Secret: nothing here can leak a secret value into logs or output. What the state store keeps
of them are their bounded, stored forms (``gitops.state.model.ObjectRecord``, ``DriftRecord``,
``SpanRecord``). :class:`Span` is one stage of a reconcile as the engine timed it (its trace);
:class:`ImageCheck` is the verification verdict for one image the target would run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gitops.vocabulary import Action, HealthStatus, ObjectRef


@dataclass(frozen=True)
class FieldDrift:
    """One field where the predicted object differs from the live one.

    ``path`` is readable (``.spec.template.spec.containers[name="web"].image``); ``manager`` is the field
    manager owning the live value now ("who changed it"), ``None`` when nobody owns it; ``changed_at`` is
    the ``time`` of that manager's managedFields entry (epoch seconds), when the cluster recorded one.
    """

    ref: ObjectRef
    path: str
    live: Any
    predicted: Any
    manager: str | None = None
    changed_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"object": str(self.ref), "path": self.path, "live": self.live,
                "predicted": self.predicted, "manager": self.manager, "changed_at": self.changed_at}


@dataclass(frozen=True)
class ObjectResult:
    """What happened (or would happen) to one object; ``error`` is set when ``action`` is failed."""

    ref: ObjectRef
    action: Action
    message: str = ""
    error: str | None = None
    health: HealthStatus | None = None
    drift: tuple[FieldDrift, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"group": self.ref.group, "kind": self.ref.kind, "namespace": self.ref.namespace,
                "name": self.ref.name, "action": str(self.action), "message": self.message,
                "error": self.error, "health": str(self.health) if self.health else None}


@dataclass(frozen=True)
class Span:
    """One timed stage of a reconcile (``resolve``, ``render``, ``verify``, ``plan``, ``apply``, ``health``).

    ``start`` is wall time in epoch seconds, ``duration`` seconds; ``error`` is the failure's message when
    the stage raised; ``attributes`` are short strings (the revision, object counts).
    """

    name: str
    start: float
    duration: float
    error: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)

    @property
    def end(self) -> float:
        return self.start + self.duration

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "start": self.start, "duration": self.duration, "error": self.error,
                "attributes": dict(self.attributes)}


@dataclass(frozen=True)
class ImageCheck:
    """The verification verdict for one image of a target (gitops.verify): ``status`` is ``verified``,
    ``warned`` (a ``mode: warn`` rule failed; applied anyway), ``allowed`` (no rule applies and the
    default allows it), ``skipped`` (``mode: off``), ``refused`` or ``temporary`` (the registry failed;
    retried). ``digest`` is what was verified (and pinned, when the policy pins), ``signers`` who signed
    it (a key's fingerprint, a keyless identity, a Notation signer), ``reasons`` why it was refused or
    warned, ``verified_at`` when the verdict was computed (epoch seconds; a cached verdict keeps its
    time)."""

    image: str
    digest: str | None
    status: str
    signers: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    verified_at: float = 0.0

    @property
    def allowed(self) -> bool:
        return self.status in ("verified", "warned", "allowed", "skipped")

    def to_dict(self) -> dict[str, Any]:
        return {"image": self.image, "digest": self.digest, "status": self.status,
                "signers": list(self.signers), "reasons": list(self.reasons), "verified_at": self.verified_at}
