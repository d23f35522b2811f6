"""Argo CD's YAML (Application, ApplicationSet, AppProject, repository and cluster Secrets) converted
into this engine's configuration documents.

Called by ``gitops import argocd FILE`` (:mod:`gitops.cli.import_argocd`) with the parsed documents;
pure (no I/O). Key design choice: exact or reported. Every field of every input document is either
converted into a field with the same meaning, or named in a *loss* finding (document and field path)
with the reason, and the CLI exits 1 when there is any; nothing is guessed silently. Credentials are
never copied: a Secret's values become references (an environment variable or a file to provide) with
a comment saying which. Every converted document is validated with the configuration's own models
before it is returned, so the output passes ``gitops validate``; a document that would not is left
out and reported. Documents that are not Argo CD objects are errors (:class:`InputError`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from gitops.errors import InputError
from gitops.importers.argocd.appsets import AppSets
from gitops.importers.argocd.base import ARGO_API, SECRET_TYPE, as_list, as_map, dns_label
from gitops.importers.argocd.projects import Projects
from gitops.importers.argocd.secrets import Secrets
from gitops.importers.report import Conversion, Output

ARGO_CONFIGMAPS = {
    "argocd-cm": "resource customizations (Lua health checks -> healthCheckExprs, docs/health.md), "
                 "repositories and accounts",
    "argocd-rbac-cm": "RBAC policies (-> roles, docs/access-control.md)",
    "argocd-notifications-cm": "notification services and triggers (-> Notification, docs/notifications.md)",
    "argocd-cmd-params-cm": "component flags (-> environment variables, docs/operations.md)",
}

__all__ = ["Converter", "convert", "dns_label"]


def convert(docs: Sequence[Any], source: str = "<input>") -> Conversion:
    """Our documents for Argo CD's ``docs``; InputError when a document is not an Argo CD object."""
    return Converter(source).run(docs)


class Converter(Secrets, Projects, AppSets):
    """One conversion: Secrets first (repositories and clusters by name), then AppProjects, Applications
    and ApplicationSets, then the Repositories and Clusters they named."""

    def run(self, docs: Sequence[Any]) -> Conversion:
        errors: list[str] = []
        order = {"Secret": 0, "AppProject": 1, "Application": 2, "ApplicationSet": 3, "ConfigMap": 4}
        work: list[tuple[int, int, dict[str, Any]]] = []
        for index, doc in enumerate(_expand(docs)):
            kind = self._classify(doc, index, errors)
            if kind is not None:
                work.append((order[kind], index, doc))
        if errors:
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise InputError(errors[0] + more, file=self.source)
        if not work:
            raise InputError("no Argo CD objects found", file=self.source)
        for _, _, doc in sorted(work, key=lambda item: (item[0], item[1])):
            handler: Callable[[dict[str, Any]], None] = {
                "Secret": self._secret, "AppProject": self._project, "Application": self._application,
                "ApplicationSet": self._appset, "ConfigMap": self._configmap}[doc["kind"]]
            handler(doc)
        return self._finish()

    def _classify(self, doc: Any, index: int, errors: list[str]) -> str | None:
        where = f"document {index + 1}"
        if not isinstance(doc, dict):
            errors.append(f"{where}: not a mapping (an Argo CD object has apiVersion, kind, metadata)")
            return None
        api, kind = doc.get("apiVersion"), doc.get("kind")
        name = as_map(doc.get("metadata")).get("name")
        if not isinstance(name, str) or not name:
            errors.append(f"{where}: metadata.name is missing")
            return None
        if api == ARGO_API and kind in ("Application", "ApplicationSet", "AppProject"):
            if not isinstance(doc.get("spec"), dict):
                errors.append(f"{where}: {kind}/{name}: spec is missing or not a mapping")
                return None
            return str(kind)
        secret_type = as_map(as_map(doc["metadata"]).get("labels")).get(SECRET_TYPE)
        if api == "v1" and kind == "Secret" and secret_type in ("repository", "repo-creds", "cluster"):
            return "Secret"
        if api == "v1" and kind == "ConfigMap" and name in ARGO_CONFIGMAPS:
            return "ConfigMap"
        shown = f"{str(api)[:60]} {str(kind)[:60]}"
        errors.append(f"{where}: {shown} is not an Argo CD object (Application, ApplicationSet, AppProject, "
                      f"or a Secret labelled {SECRET_TYPE}: repository, repo-creds or cluster)")
        return None

    def _configmap(self, doc: dict[str, Any]) -> None:
        name = str(doc["metadata"]["name"])
        self.loss(f"ConfigMap/{name}", "data", f"not converted: it holds {ARGO_CONFIGMAPS[name]}")

    def _finish(self) -> Conversion:
        apps = list(self.outputs)
        self.outputs = []
        for repo in sorted(self.repos.values(), key=lambda r: r.name):
            spec: dict[str, Any] = {"url": repo.url, "ref": "HEAD"}
            if repo.credentials:
                spec["credentials"] = repo.credentials
            self._emit("Repository", repo.name, spec, {}, f"Repository/{repo.name}", "", repo.comments)
        for cluster in sorted(self.clusters.values(), key=lambda c: c.name):
            meta: dict[str, Any] = {}
            if cluster.labels:
                meta["labels"] = cluster.labels
            if cluster.annotations:
                meta["annotations"] = cluster.annotations
            self._emit("Cluster", cluster.name, cluster.spec, meta, f"Cluster/{cluster.name}", "",
                       cluster.comments)
        repos = {o.name for o in self.outputs if o.kind == "Repository"}
        clusters = {o.name for o in self.outputs if o.kind == "Cluster"}
        for app in apps:
            wanted_repos, wanted_clusters = _references(app)
            if not (wanted_repos <= repos and wanted_clusters <= clusters):
                self.loss(f"{app.kind}/{app.name}", "spec", "its repository or cluster was not converted; "
                                                            "not converted")
                continue
            self.outputs.append(app)
        self._emit_notifications()
        rank = {"Repository": 0, "Cluster": 1, "Application": 2, "ApplicationSet": 3, "SyncWindow": 4,
                "Notification": 5}
        documents = sorted(self.outputs, key=lambda o: rank[o.kind])
        self.note("", "", "sync hooks need no conversion: Argo CD's annotations (argocd.argoproj.io/hook, "
                          "hook-delete-policy, sync-wave) are read unchanged (docs/hooks.md)")
        return Conversion(tuple(documents), tuple(self.findings))


def _expand(docs: Sequence[Any]) -> list[Any]:
    """The documents with the items of a ``v1 List`` (what ``kubectl get applications -o yaml``
    prints) in its place."""
    out: list[Any] = []
    for doc in docs:
        if isinstance(doc, dict) and doc.get("apiVersion") == "v1" and doc.get("kind") == "List":
            out += as_list(doc.get("items"))
        else:
            out.append(doc)
    return out


def _references(doc: Output) -> tuple[set[str], set[str]]:
    """The Repository and Cluster names an Application or ApplicationSet names literally."""
    if doc.kind not in ("Application", "ApplicationSet"):
        return set(), set()
    spec = doc.body["spec"]
    app = spec if doc.kind == "Application" else spec["template"]["spec"]
    repos = {app["source"]["repository"]}
    clusters = {app["destination"]["cluster"]}
    stack = list(spec.get("generators", []))
    while stack:
        generator = stack.pop()
        for kind in ("matrix", "merge"):
            stack += generator.get(kind, {}).get("generators", [])
        if "git" in generator:
            repos.add(generator["git"]["repository"])
    return ({r for r in repos if "{" not in r}, {c for c in clusters if "{" not in c})
