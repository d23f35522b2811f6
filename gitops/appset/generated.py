"""A generated application as the controller keeps it: name, cluster, revision and its rendered document.

Used by :mod:`gitops.appset.record` (the stored set), :mod:`gitops.appset.rollout` (which applications
changed, on which clusters, at which revision) and :mod:`gitops.appset.lifecycle`. Key design choice: the
value is the validated *Application document* plus a fingerprint of its canonical JSON, so "changed"
means "a different document", and the engine's value is derived on demand (:meth:`GeneratedApp.application`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gitops.config.application import Application
from gitops.config.fleet import to_application
from gitops.domain import Application as DomainApplication


def fingerprint(document: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of an application document."""
    return hashlib.sha256(json.dumps(document, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class GeneratedApp:
    """One generated application: its name, destination cluster, the revision its source names (a
    pinned commit under RollingSync, else the template's, None for the repository's ref) and the
    rendered document ``{"name", "labels", "source", "destination", ...}`` an Application validates."""

    name: str
    cluster: str
    revision: str | None
    document: Mapping[str, Any] = field(hash=False)
    fingerprint: str = ""

    @staticmethod
    def of(document: Mapping[str, Any]) -> GeneratedApp:
        """From a validated Application document (``Application.model_dump(by_alias=True)`` form)."""
        source = document.get("source", {})
        return GeneratedApp(str(document["name"]), str(document["destination"]["cluster"]),
                            source.get("revision"), document, fingerprint(document))

    def application(self) -> DomainApplication:
        """The engine's value (the document validated again, as a configuration file would be)."""
        return to_application(Application.model_validate(dict(self.document), by_name=True))

    def to_dict(self) -> dict[str, Any]:
        return dict(self.document)
