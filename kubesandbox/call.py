"""One parsed resource request, as the REST verbs (:mod:`.rest`) and the write path (:mod:`.writes`)
see it: the resource type, namespace, name, subresource, query, body and who sent it.

Built by the HTTP handler (:mod:`.server`), the controller and the seeding of a new sandbox. A module
of its own so that the write path, which :mod:`.rest` calls, can take it without importing :mod:`.rest`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from kubesandbox.apierrors import bad_request
from kubesandbox.catalog import ResourceType


@dataclass(frozen=True)
class Call:
    """One parsed resource request."""

    rt: ResourceType
    namespace: str  # "" for cluster-scoped resources and all-namespace lists
    name: str  # "" for the collection
    subresource: str
    query: Mapping[str, str]
    body: bytes = b""
    content_type: str = ""
    user_agent: str = ""
    warnings: list[str] = field(default_factory=list)  # sent back as ``Warning: 299`` headers

    @property
    def dry_run(self) -> bool:
        value = self.query.get("dryRun", "")
        if value and value != "All":
            raise bad_request(f'dryRun: Unsupported value: "{value}": supported values: "All"')
        return value == "All"

    def default_manager(self) -> str:
        """kube-apiserver names an unnamed writer after its User-Agent up to the first '/'."""
        manager = self.query.get("fieldManager") or self.user_agent.split("/", 1)[0] or "unknown"
        return manager[:128]
