"""What a conversion produces: our documents, and the findings about what did not carry over.

Called by the converters (:mod:`gitops.importers.argocd`), which build it, and the CLI, which prints
it. Key design choice: a *loss* (a field dropped or approximated) makes the conversion inexact, and the
CLI exits 1 for it; a *note* says something the user should know (a credential to provide, a behaviour
kept on purpose) without making the conversion inexact. Each finding names the source document
(``Kind/name``) and the field path, so the report is a checklist; it never holds a secret's value.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Literal

import yaml

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]")


def printable(text: str) -> str:
    """``text`` with control characters escaped: input names end up in comments and on a terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


FILES = {"Repository": "repositories.yaml", "Cluster": "clusters.yaml", "Application": "applications.yaml",
         "ApplicationSet": "applicationsets.yaml", "SyncWindow": "syncwindows.yaml",
         "Notification": "notifications.yaml"}


@dataclass(frozen=True)
class Finding:
    """One field of an input document that did not convert exactly (``loss``), or a ``note``."""

    severity: Literal["loss", "note"]
    document: str  # "Application/guestbook"
    field: str  # "spec.source.kustomize.namePrefix"; "" for the whole document
    message: str

    def __str__(self) -> str:
        where = ": ".join(part for part in (self.document, self.field) if part)
        text = f"{self.severity}: {where}: {self.message}" if where else f"{self.severity}: {self.message}"
        return printable(text)


@dataclass(frozen=True)
class Output:
    """One converted document: its kind, name, body (apiVersion, kind, metadata, spec) and comments
    printed above it (which environment variable or file to provide)."""

    kind: str
    name: str
    body: dict[str, Any]
    comments: tuple[str, ...] = ()

    def text(self) -> str:
        head = "".join(f"# {printable(line)}\n" for line in self.comments)
        return head + yaml.safe_dump(self.body, sort_keys=False, allow_unicode=True, width=100_000,
                                     default_flow_style=False)


@dataclass(frozen=True)
class Conversion:
    """The converted documents (in kind order) and the findings, in input order."""

    documents: tuple[Output, ...]
    findings: tuple[Finding, ...]

    @property
    def losses(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "loss")

    @property
    def exact(self) -> bool:
        return not self.losses

    def yaml(self) -> str:
        """Every document, separated by ``---``."""
        return "---\n".join(doc.text() for doc in self.documents)

    def files(self) -> dict[str, str]:
        """File name -> content, one file per kind (``-o DIR``)."""
        out: dict[str, list[Output]] = {}
        for doc in self.documents:
            out.setdefault(FILES.get(doc.kind, f"{doc.kind.lower()}s.yaml"), []).append(doc)
        return {name: "---\n".join(d.text() for d in docs) for name, docs in out.items()}

    def report(self) -> str:
        """The text printed on stderr: a summary line, then one line per finding."""
        counts: dict[str, int] = {}
        for doc in self.documents:
            counts[doc.kind] = counts.get(doc.kind, 0) + 1
        made = ", ".join(f"{n} {kind}" for kind, n in counts.items()) or "nothing"
        verdict = "exact" if self.exact else f"NOT exact: {len(self.losses)} field(s) lost or approximated"
        lines = [f"converted: {made}; {verdict}"]
        lines += [str(f) for f in self.findings]
        return os.linesep.join(lines) + os.linesep
