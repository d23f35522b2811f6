"""The shared state of an Argo CD conversion: findings, the repositories and clusters met so far, and
the emission of validated documents.

Used by the per-kind parts of the converter (:mod:`.secrets`, :mod:`.projects`, :mod:`.applications`,
:mod:`.appsets`), which :class:`gitops.importers.argocd.Converter` combines. Key design choice: a
repository (by normalised URL) and a cluster (by server, or by name) are registered once, on first
sight, whichever document names them first, so every document that names them gets the same
Repository or Cluster; every document is validated with the configuration's own models as it is
emitted, so the output passes ``gitops validate`` or the document is left out and reported.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from gitops.config.loader import API_VERSION, KINDS
from gitops.config.models import Envelope
from gitops.importers.report import Finding, Output

ARGO_API = "argoproj.io/v1alpha1"
SECRET_TYPE = "argocd.argoproj.io/secret-type"
IN_CLUSTER = "https://kubernetes.default.svc"
SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
PROJECT_LABEL = "argocd.argoproj.io/project"  # set on converted applications: windows select by it
_IGNORED_METADATA = {"namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
                     "managedFields", "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds",
                     "ownerReferences"}
_IGNORED_TOP = {"apiVersion", "kind", "metadata", "spec", "status", "operation"}


def dns_label(value: str) -> str:
    """``value`` as a DNS label: lowercase, other characters as '-', at most 63, alphanumeric ends."""
    text = re.sub(r"[^a-z0-9-]+", "-", value.lower())
    text = re.sub(r"-{2,}", "-", text)[:63].strip("-")
    return text or "unnamed"


def env_name(*parts: str) -> str:
    """An environment variable name from ``parts``: ``("repo", "my-app")`` -> ``REPO_MY_APP``."""
    return "_".join(re.sub(r"[^A-Za-z0-9]+", "_", p).strip("_").upper() for p in parts if p)


def as_map(value: Any) -> dict[str, Any]:
    """``value`` if it is a mapping (keys as strings), else empty: input shapes are never trusted."""
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """``value`` if it is a list, else empty."""
    return value if isinstance(value, list) else []


def normal_url(url: str) -> str:
    """A repository URL as Argo CD compares them (case, trailing slash and ``.git`` ignored)."""
    return url.strip().lower().rstrip("/").removesuffix(".git")


@dataclass
class RepoEntry:
    """A Repository to write: its name, URL and credential references (with comments saying which)."""

    name: str
    url: str
    credentials: dict[str, Any] | None = None
    comments: list[str] = field(default_factory=list)


@dataclass
class ClusterEntry:
    """A Cluster to write: its name, spec, labels and annotations, and comments."""

    name: str
    spec: dict[str, Any]
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    comments: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CredsTemplate:
    """A credential template (``repo-creds``): references for every repository under ``prefix``."""

    prefix: str
    credentials: dict[str, Any]
    comments: tuple[str, ...]


def _without_userinfo(url: str) -> tuple[str, str | None, bool]:
    """An http(s) URL without its ``user[:password]@`` part, the user, and whether a password was there
    (the values themselves are dropped). Other URLs (ssh's ``git@host:path``) are returned as they are."""
    match = re.fullmatch(r"(https?://)([^/@]+)@(.+)", url)
    if match is None:
        return url, None, False
    user, sep, _ = match.group(2).partition(":")
    return match.group(1) + match.group(3), (user if sep else "token"), bool(sep)


class Registry:
    """Findings, repositories, clusters and the documents emitted so far."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.findings: list[Finding] = []
        self.repos: dict[str, RepoEntry] = {}  # normalised URL -> repository
        self.creds: list[CredsTemplate] = []
        self.clusters: dict[str, ClusterEntry] = {}  # server (or "name:<name>") -> cluster
        self.renamed: dict[str, str] = {}  # Argo CD cluster names that are not DNS labels -> ours
        self.outputs: list[Output] = []
        self.emitted: set[tuple[str, str]] = set()
        self.list_values: dict[str, set[Any]] = {}  # list generator keys -> values, of the current set
        self.in_template = False  # converting an ApplicationSet's template (its strings are templates)
        # notification subscriptions: (service, recipient, events) -> subscribed applications
        self.subscriptions: dict[tuple[str, str, frozenset[str]], list[str]] = {}

    def loss(self, doc: str, path: str, message: str) -> None:
        if self.in_template and path.startswith("spec.") and not path.startswith("spec.template"):
            path = "spec.template." + path  # an ApplicationSet's template: the Application spec's paths
        self.findings.append(Finding("loss", doc, path, message))

    def note(self, doc: str, path: str, message: str) -> None:
        self.findings.append(Finding("note", doc, path, message))

    def unhandled(self, doc: str, path: str, mapping: dict[str, Any], handled: set[str],
                  why: str = "has no equivalent here; not converted") -> None:
        for key in sorted(set(mapping) - handled):
            if mapping[key] not in (None, "", [], {}, False):
                self.loss(doc, f"{path}.{key}" if path else key, why)

    def _top(self, doc: dict[str, Any], ident: str) -> None:
        self.unhandled(ident, "", doc, _IGNORED_TOP)
        self.unhandled(ident, "metadata", as_map(doc.get("metadata")),
                       {"name", "labels", "annotations", "finalizers"} | _IGNORED_METADATA)

    def _named(self, doc: dict[str, Any], kind: str) -> tuple[str, str]:
        """A top-level object's name as ours (a DNS label; a renaming is reported) and its identity in
        the report (``Kind/name``); its top-level and metadata fields nobody converts are reported."""
        raw = str(as_map(doc["metadata"])["name"])
        name = dns_label(raw)
        ident = f"{kind}/{raw[:100]}"
        if name != raw:
            self.loss(ident, "metadata.name", f"is not a DNS label; named {name!r}")
        self._top(doc, ident)
        return name, ident

    def _repository(self, url: str, ident: str, path: str) -> RepoEntry | None:
        if not isinstance(url, str) or not url:
            self.loss(ident, path, "missing or not a string; not converted")
            return None
        if "{{" in url or "{%" in url:
            self.loss(ident, path, "a repository from a parameter has no equivalent: an application names "
                                   "one configured Repository; not converted")
            return None
        url, user, secret = _without_userinfo(url.strip())
        key = normal_url(url)
        if key in self.repos:
            return self.repos[key]
        base = dns_label(key.rsplit("/", 1)[-1].rsplit(":", 1)[-1] or "repository")
        name, n = base, 2
        taken = {r.name for r in self.repos.values()}
        while name in taken:
            name = f"{base[:60]}-{n}"
            n += 1
        repo = RepoEntry(name, url)
        for creds in self.creds:
            if key.startswith(creds.prefix):
                repo.credentials, repo.comments = dict(creds.credentials), list(creds.comments)
        if user is not None:  # https://user:password@host/... or https://TOKEN@host/...: never copied
            variable = env_name("REPO", name, "PASSWORD" if secret else "TOKEN")
            repo.credentials = ({"username": user, "passwordEnv": variable} if secret
                                else {"tokenEnv": variable})
            repo.comments = [f"set {variable} to the {'password' if secret else 'token'} that was written in "
                             "the repository URL; it was not copied"]
            self.note(ident, path, "credentials written in the URL were removed from it: a reference "
                                   "replaces them")
        self.repos[key] = repo
        return repo

    def _cluster(self, *, server: str | None, name: str | None, ident: str,
                 path: str = "name") -> ClusterEntry:
        """The cluster for a destination (``server`` or ``name``), registered on first sight."""
        if server is not None:
            server = server.strip().rstrip("/")
            if server in self.clusters:
                return self.clusters[server]
        if name is not None:
            for known in self.clusters.values():
                if known.name == dns_label(name):
                    return known
        if server == IN_CLUSTER or (server is None and name == "in-cluster"):
            cluster = ClusterEntry("in-cluster", {"server": IN_CLUSTER, "caFile": f"{SERVICE_ACCOUNT}/ca.crt",
                                              "tokenFile": f"{SERVICE_ACCOUNT}/token"})
            cluster.comments.append("the cluster the engine runs in, through its service account")
            self.clusters[IN_CLUSTER] = cluster
            return cluster
        wanted = name or re.sub(r"^[a-z]+://", "", server or "").split("/")[0].split(":")[0]
        label = dns_label(wanted)
        if name is not None and label != name:
            self.loss(ident, path, f"cluster name {name[:80]!r} is not a DNS label; named {label!r}")
        taken = {c.name for c in self.clusters.values()}
        final, n = label, 2
        while final in taken:
            final = f"{label[:60]}-{n}"
            n += 1
        if name is not None and final != name:
            self.renamed[name] = final
        if server is not None:
            token = env_name("CLUSTER", final, "TOKEN")
            cluster = ClusterEntry(final, {"server": server, "tokenEnv": token})
            cluster.comments.append(f"set {token} to a bearer token for this cluster "
                                    "(Argo CD's was not copied)")
            self.clusters[server] = cluster
        else:
            path = f"kubeconfigs/{final}.yaml"
            cluster = ClusterEntry(final, {"kubeconfig": path})
            cluster.comments.append(f"Argo CD names this cluster only: put its kubeconfig at {path}")
            self.clusters[f"name:{final}"] = cluster
        return cluster

    def _emit(self, kind: str, name: str, spec: dict[str, Any], metadata: dict[str, Any], ident: str,
              path: str, comments: Sequence[str] = ()) -> None:
        body = {"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": name, **metadata}, "spec": spec}
        spec_model = KINDS[kind][0]
        try:
            Envelope[spec_model].model_validate(  # type: ignore[valid-type]
                body, by_alias=True, by_name=False, context={"base_dir": "."})
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False)[0]
            where = ".".join(str(p) for p in first["loc"])
            self.loss(ident, path or where, f"would not be a valid {kind} here ({first['msg'][:160]}); "
                                           "not converted")
            return
        if (kind, name) in self.emitted:
            self.loss(ident, "metadata.name", f"{kind} {name!r} is already converted; this one is not")
            return
        self.emitted.add((kind, name))
        self.outputs.append(Output(kind, name, body, tuple(comments)))
