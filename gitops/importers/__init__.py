"""Importers: configuration of other GitOps tools converted into this engine's documents.

Called by ``gitops import argocd FILE`` (:mod:`gitops.cli.import_argocd`). Key design choice: a
converter is a pure function from parsed documents to a :class:`~gitops.importers.report.Conversion`
(our documents plus every field it could not carry over exactly); reading the file, with the bounds of
the configuration loader, is :mod:`gitops.importers.inputs`, so the conversion is tested without I/O.
"""

from __future__ import annotations

from gitops.importers.argocd import convert
from gitops.importers.inputs import read_documents
from gitops.importers.report import Conversion, Finding, Output

__all__ = ["Conversion", "Finding", "Output", "convert", "read_documents"]
