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

import base64
import binascii
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from gitops.config.durations import format_duration, parse_duration
from gitops.config.loader import API_VERSION, KINDS
from gitops.config.models import Envelope
from gitops.errors import InputError
from gitops.importers import templates
from gitops.importers.report import Conversion, Finding, Output
from renderers import yamlio
from renderers.errors import RenderError

ARGO_API = "argoproj.io/v1alpha1"
SECRET_TYPE = "argocd.argoproj.io/secret-type"
IN_CLUSTER = "https://kubernetes.default.svc"
SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
PROJECT_LABEL = "argocd.argoproj.io/project"  # set on converted applications: windows select by it
ARGO_CONFIGMAPS = {
    "argocd-cm": "resource customizations (Lua health checks -> healthCheckExprs, docs/health.md), "
                 "repositories and accounts",
    "argocd-rbac-cm": "RBAC policies (-> roles, docs/access-control.md)",
    "argocd-notifications-cm": "notification services and triggers (-> Notification, docs/notifications.md)",
    "argocd-cmd-params-cm": "component flags (-> environment variables, docs/operations.md)",
}
_DESCRIPTORS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
                "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
                "@hourly": "0 * * * *"}
_INT = re.compile(r"-?(0|[1-9][0-9]{0,17})")
_PARAM = re.compile(r"([A-Za-z0-9_/-]|\\\.)+(\.([A-Za-z0-9_/-]|\\\.)+)*")
_GO_DURATION = re.compile(r"([0-9]+(\.[0-9]+)?(h|m|s|ms))+")
_IGNORED_METADATA = {"namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
                     "managedFields", "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds",
                     "ownerReferences"}
_IGNORED_TOP = {"apiVersion", "kind", "metadata", "spec", "status", "operation"}


def convert(docs: Sequence[Any], source: str = "<input>") -> Conversion:
    """Our documents for Argo CD's ``docs``; InputError when a document is not an Argo CD object."""
    return _Converter(source).run(docs)


def dns_label(value: str) -> str:
    """``value`` as a DNS label: lowercase, other characters as '-', at most 63, alphanumeric ends."""
    text = re.sub(r"[^a-z0-9-]+", "-", value.lower())
    text = re.sub(r"-{2,}", "-", text)[:63].strip("-")
    return text or "unnamed"


def _env(*parts: str) -> str:
    return "_".join(re.sub(r"[^A-Za-z0-9]+", "_", p).strip("_").upper() for p in parts if p)


def _map(value: Any) -> dict[str, Any]:
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _normal_url(url: str) -> str:
    return url.strip().lower().rstrip("/").removesuffix(".git")


@dataclass
class _Repo:
    name: str
    url: str
    credentials: dict[str, Any] | None = None
    comments: list[str] = field(default_factory=list)


@dataclass
class _Cluster:
    name: str
    spec: dict[str, Any]
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    comments: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Creds:
    prefix: str
    credentials: dict[str, Any]
    comments: tuple[str, ...]


class _Converter:
    def __init__(self, source: str) -> None:
        self.source = source
        self.findings: list[Finding] = []
        self.repos: dict[str, _Repo] = {}  # normalised URL -> repository
        self.creds: list[_Creds] = []
        self.clusters: dict[str, _Cluster] = {}  # server (or "name:<name>") -> cluster
        self.renamed: dict[str, str] = {}  # Argo CD cluster names that are not DNS labels -> ours
        self.outputs: list[Output] = []
        self.emitted: set[tuple[str, str]] = set()
        self.list_values: dict[str, set[Any]] = {}  # list generator keys -> values, of the current set
        self.in_template = False  # converting an ApplicationSet's template (its strings are templates)

    # --- findings ----------------------------------------------------------------------------------

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

    # --- the pass ----------------------------------------------------------------------------------

    def run(self, docs: Sequence[Any]) -> Conversion:
        errors: list[str] = []
        order = {"Secret": 0, "AppProject": 1, "Application": 2, "ApplicationSet": 3, "ConfigMap": 4}
        work: list[tuple[int, int, dict[str, Any]]] = []
        for index, doc in enumerate(docs):
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
        name = _map(doc.get("metadata")).get("name")
        if not isinstance(name, str) or not name:
            errors.append(f"{where}: metadata.name is missing")
            return None
        if api == ARGO_API and kind in ("Application", "ApplicationSet", "AppProject"):
            if not isinstance(doc.get("spec"), dict):
                errors.append(f"{where}: {kind}/{name}: spec is missing or not a mapping")
                return None
            return str(kind)
        secret_type = _map(_map(doc["metadata"]).get("labels")).get(SECRET_TYPE)
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

    # --- secrets -----------------------------------------------------------------------------------

    def _secret_values(self, doc: dict[str, Any], ident: str) -> dict[str, str]:
        values: dict[str, str] = {}
        for key, raw in _map(doc.get("data")).items():
            try:
                values[key] = base64.b64decode(str(raw), validate=True).decode("utf-8")
            except (binascii.Error, ValueError):
                self.loss(ident, f"data.{key}", "is not valid base64 UTF-8 text; ignored")
        for key, raw in _map(doc.get("stringData")).items():
            values[key] = str(raw)
        return values

    def _secret(self, doc: dict[str, Any]) -> None:
        meta = _map(doc["metadata"])
        kind = _map(meta.get("labels"))[SECRET_TYPE]
        ident = f"Secret/{meta['name']}"
        values = self._secret_values(doc, ident)
        if kind == "cluster":
            self._cluster_secret(ident, meta, values)
        else:
            self._repo_secret(ident, str(meta["name"]), values, template=kind == "repo-creds")

    def _repo_secret(self, ident: str, secret: str, values: dict[str, str], *, template: bool) -> None:
        url = values.get("url", "")
        if not url:
            self.loss(ident, "stringData.url", "missing: the secret names no repository; not converted")
            return
        if values.get("type", "git") != "git":
            self.loss(ident, "stringData.type", "only Git repositories are sources here (Helm charts are "
                                                 "rendered from a Git repository); not converted")
            return
        handled = {"url", "type", "name", "username", "password", "sshPrivateKey", "insecure"}
        self.unhandled(ident, "stringData", values, handled, "has no equivalent here (credentials are not "
                                                            "copied); not converted")
        ssh = not url.startswith(("http://", "https://"))
        repo = None if template else self._repository(url, ident, "stringData.url")
        if not template and repo is None:
            return
        prefix = _env("REPO_CREDS", dns_label(secret)) if repo is None else _env("REPO", repo.name)
        creds: dict[str, Any] = {}
        comments: list[str] = []
        if "sshPrivateKey" in values:
            creds["sshKeyEnv"] = f"{prefix}_SSH_KEY"
            comments.append(f"set {prefix}_SSH_KEY to the private key of Argo CD secret {secret} "
                            "(key sshPrivateKey); it was not copied")
        if values.get("insecure") == "true":
            if ssh:
                creds["insecureIgnoreHostKey"] = True
            else:
                self.loss(ident, "stringData.insecure", "skipping TLS verification of a Git server is not "
                                                       "supported; not converted")
        if "password" in values:
            if ssh:
                self.loss(ident, "stringData.password", "a password with an ssh URL has no equivalent")
            elif "username" in values:
                creds["username"] = values["username"]
                creds["passwordEnv"] = f"{prefix}_PASSWORD"
                comments.append(f"set {prefix}_PASSWORD to the password of Argo CD secret {secret} "
                                "(key password); it was not copied")
            else:
                creds["tokenEnv"] = f"{prefix}_TOKEN"
                comments.append(f"set {prefix}_TOKEN to the password (a token) of Argo CD secret {secret}; "
                                "it was not copied")
                self.loss(ident, "stringData.password", "a password without username is sent as a token "
                                                       "here; check that the Git server accepts it")
        if ssh and "sshPrivateKey" in values and values.get("insecure") != "true":
            self.note(ident, "", "Argo CD checks ssh host keys against argocd-ssh-known-hosts-cm: give "
                                 "credentials.knownHostsFile (else ~/.ssh/known_hosts of the engine is used)")
        if repo is None:
            self.creds.append(_Creds(_normal_url(url), creds, tuple(comments)))
            return
        repo.credentials = creds or None
        repo.comments = comments

    def _repository(self, url: str, ident: str, path: str) -> _Repo | None:
        if not isinstance(url, str) or not url:
            self.loss(ident, path, "missing or not a string; not converted")
            return None
        if "{{" in url or "{%" in url:
            self.loss(ident, path, "a repository from a parameter has no equivalent: an application names "
                                   "one configured Repository; not converted")
            return None
        key = _normal_url(url)
        if key in self.repos:
            return self.repos[key]
        base = dns_label(key.rsplit("/", 1)[-1].rsplit(":", 1)[-1] or "repository")
        name, n = base, 2
        taken = {r.name for r in self.repos.values()}
        while name in taken:
            name = f"{base[:60]}-{n}"
            n += 1
        repo = _Repo(name, url.strip())
        for creds in self.creds:
            if key.startswith(creds.prefix):
                repo.credentials, repo.comments = dict(creds.credentials), list(creds.comments)
        self.repos[key] = repo
        return repo

    def _cluster_secret(self, ident: str, meta: dict[str, Any], values: dict[str, str]) -> None:
        server = values.get("server", "")
        if not server:
            self.loss(ident, "stringData.server", "missing; not converted")
            return
        handled = {"name", "server", "config"}
        self.unhandled(ident, "stringData", values, handled, "restricts or configures the cluster in a way "
                                                            "that has no equivalent here; not converted")
        raw_name = values.get("name") or server
        cluster = self._cluster(server=server, name=raw_name, ident=ident, path="stringData.name")
        labels = {k: str(v) for k, v in _map(meta.get("labels")).items() if k != SECRET_TYPE}
        cluster.labels.update(labels)
        cluster.annotations.update({k: str(v) for k, v in _map(meta.get("annotations")).items()})
        if server.rstrip("/") == IN_CLUSTER:
            return
        try:
            config = json.loads(values.get("config", "{}") or "{}")
        except (ValueError, RecursionError):
            self.loss(ident, "stringData.config", "is not JSON; ignored")
            config = {}
        config = _map(config)
        tls = _map(config.get("tlsClientConfig"))
        self.unhandled(ident, "stringData.config", config, {"bearerToken", "tlsClientConfig"},
                       "has no equivalent here (only a bearer token and a CA); not converted")
        self.unhandled(ident, "stringData.config.tlsClientConfig", tls, {"caData", "insecure", "serverName"},
                       "client certificates have no equivalent here; not converted")
        if tls.get("serverName"):
            self.loss(ident, "stringData.config.tlsClientConfig.serverName",
                      "has no equivalent; not converted")
        if tls.get("insecure") is True:
            cluster.spec["insecureSkipTlsVerify"] = True
        elif tls.get("caData"):
            path = f"certs/{cluster.name}-ca.crt"
            cluster.spec["caFile"] = path
            cluster.comments.append(f"write the CA of Argo CD secret {meta['name']} (config.tlsClientConfig."
                                    f"caData, base64-decoded) to {path}; it was not copied")

    def _cluster(self, *, server: str | None, name: str | None, ident: str, path: str = "name") -> _Cluster:
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
            cluster = _Cluster("in-cluster", {"server": IN_CLUSTER, "caFile": f"{SERVICE_ACCOUNT}/ca.crt",
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
            token = _env("CLUSTER", final, "TOKEN")
            cluster = _Cluster(final, {"server": server, "tokenEnv": token})
            cluster.comments.append(f"set {token} to a bearer token for this cluster "
                                    "(Argo CD's was not copied)")
            self.clusters[server] = cluster
        else:
            path = f"kubeconfigs/{final}.yaml"
            cluster = _Cluster(final, {"kubeconfig": path})
            cluster.comments.append(f"Argo CD names this cluster only: put its kubeconfig at {path}")
            self.clusters[f"name:{final}"] = cluster
        return cluster

    # --- projects and sync windows -------------------------------------------------------------------

    def _project(self, doc: dict[str, Any]) -> None:
        project = str(doc["metadata"]["name"])
        ident = f"AppProject/{project}"
        spec = _map(doc["spec"])
        self._top(doc, ident)
        if any(r != "*" for r in _list(spec.get("sourceRepos"))):
            self.loss(ident, "spec.sourceRepos", "restricting source repositories has no equivalent: "
                                                  "the configuration is trusted (docs/security.md); "
                                                  "not converted")
        for i, dest in enumerate(_list(spec.get("destinations"))):
            fields = ("server", "name", "namespace")
            if any(v not in ("*", None) for k, v in _map(dest).items() if k in fields):
                self.loss(ident, f"spec.destinations[{i}]", "restricting destinations has no equivalent; "
                                                            "not converted")
        for i, entry in enumerate(_list(spec.get("clusterResourceWhitelist"))):
            if _map(entry).get("group") != "*" or _map(entry).get("kind") != "*":
                self.loss(ident, f"spec.clusterResourceWhitelist[{i}]", "restricting resource kinds has no "
                                                                       "equivalent; not converted")
        self.unhandled(ident, "spec", spec, {"sourceRepos", "destinations", "clusterResourceWhitelist",
                                             "description", "syncWindows", "roles"})
        if spec.get("roles"):
            self.loss(ident, "spec.roles", "project roles have no equivalent per project: map them to the "
                                           "roles of docs/access-control.md (viewer, operator, admin)")
        for i, window in enumerate(_list(spec.get("syncWindows"))):
            self._window(ident, project, i, _map(window))

    def _window(self, ident: str, project: str, index: int, window: dict[str, Any]) -> None:
        path = f"spec.syncWindows[{index}]"
        self.unhandled(ident, path, window, {"kind", "schedule", "duration", "applications", "namespaces",
                                             "clusters", "manualSync", "timeZone", "andOperator",
                                             "description"})
        schedule = str(window.get("schedule", "")).strip()
        schedule = _DESCRIPTORS.get(schedule, schedule)
        spec: dict[str, Any] = {"kind": window.get("kind"), "schedule": schedule,
                                "duration": window.get("duration")}
        if window.get("timeZone"):
            spec["timeZone"] = window["timeZone"]
        if window.get("manualSync") is True:
            spec["manualSync"] = True
        apps = [str(a) for a in _list(window.get("applications"))]
        clusters = [self._cluster_glob(str(c)) for c in _list(window.get("clusters"))]
        namespaces = [str(n) for n in _list(window.get("namespaces"))]
        project_only = {"matchLabels": {PROJECT_LABEL: dns_label(project)}}
        base = f"{dns_label(project)[:40]}-window-{index + 1}"
        selections: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        if namespaces and namespaces != ["*"]:
            self.loss(ident, f"{path}.namespaces", "selecting by destination namespace has no "
                                                   "equivalent (windows select applications and "
                                                   "clusters); not converted")
        if window.get("andOperator") is True:
            selections.append((base, {**project_only, **({"names": apps} if apps and apps != ["*"] else {})},
                               {"names": clusters} if clusters and clusters != ["*"] else {}))
        elif "*" in apps or "*" in clusters or namespaces == ["*"]:
            selections.append((base, project_only, {}))
        else:
            if apps:
                selections.append((f"{base}-apps" if clusters else base, {**project_only, "names": apps}, {}))
            if clusters:
                selections.append((f"{base}-clusters" if apps else base, project_only, {"names": clusters}))
            if len(selections) == 2:
                self.note(ident, path, "Argo CD selects a target when any list matches: converted into two "
                                       "windows, one per list (the same verdicts)")
        if not selections and not namespaces:
            self.note(ident, path, "selects no application (no applications, clusters or namespaces): "
                                   "not converted, as it never applies")
        for name, applications, cluster_sel in selections:
            body = dict(spec)
            body["applications"] = applications
            if cluster_sel:
                body["clusters"] = cluster_sel
            self._emit("SyncWindow", name, body, {}, ident, path)

    def _cluster_glob(self, value: str) -> str:
        """A window's cluster entry: a server URL or a name becomes the Cluster's name here."""
        if value.startswith(("https://", "http://")):
            return self._cluster(server=value, name=None, ident="").name
        return self.renamed.get(value, value)

    # --- applications ------------------------------------------------------------------------------

    def _top(self, doc: dict[str, Any], ident: str) -> None:
        self.unhandled(ident, "", doc, _IGNORED_TOP)
        self.unhandled(ident, "metadata", _map(doc.get("metadata")),
                       {"name", "labels", "annotations", "finalizers"} | _IGNORED_METADATA)

    def _metadata(self, meta: dict[str, Any], ident: str, *, template: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        labels = {str(k): str(v) for k, v in _map(meta.get("labels")).items()}
        if labels:
            out["labels"] = labels
        annotations = {str(k): str(v) for k, v in _map(meta.get("annotations")).items()}
        for key in sorted(annotations):
            if key.startswith("notifications.argoproj.io/"):
                self.loss(ident, f"metadata.annotations.{key}",
                          "notification subscriptions become Notification objects (docs/notifications.md)")
                del annotations[key]
            elif key == "kubectl.kubernetes.io/last-applied-configuration":
                del annotations[key]
        if annotations and not template:
            out["annotations"] = annotations
        elif annotations:
            self.loss(ident, "metadata.annotations", "a template's annotations have no equivalent; "
                                                     "not converted")
        for finalizer in _list(meta.get("finalizers")):
            self.loss(ident, "metadata.finalizers", f"{str(finalizer)[:80]!r}: removing an application here "
                                                    "never deletes its objects (use gitops delete APP "
                                                    "--cluster C); not converted")
        return out

    def _application(self, doc: dict[str, Any]) -> None:
        meta = _map(doc["metadata"])
        raw = str(meta["name"])
        name = dns_label(raw)
        ident = f"Application/{raw[:100]}"
        if name != raw:
            self.loss(ident, "metadata.name", f"is not a DNS label; named {name!r}")
        self._top(doc, ident)
        spec = self._app_spec(_map(doc["spec"]), ident, templated=None)
        if spec is None:
            return
        metadata = self._metadata(meta, ident, template=False)
        project = dns_label(str(_map(doc["spec"]).get("project") or "default"))
        metadata.setdefault("labels", {})[PROJECT_LABEL] = project
        self._emit("Application", name, spec, metadata, ident, "")

    def _app_spec(self, spec: dict[str, Any], ident: str,
                  templated: Callable[[str], str | None] | None) -> dict[str, Any] | None:
        """Our Application spec; ``templated`` maps a destination server template (ApplicationSets)."""
        self.unhandled(ident, "spec", spec, {"source", "sources", "destination", "project", "syncPolicy",
                                             "ignoreDifferences"})
        source, path = _map(spec.get("source")), "spec.source"
        sources = _list(spec.get("sources"))
        if sources:
            chosen = next((i for i, s in enumerate(sources) if not _map(s).get("ref")), 0)
            source, path = _map(sources[chosen]), f"spec.sources[{chosen}]"
            if len(sources) > 1:
                self.loss(ident, "spec.sources", f"{len(sources)} sources: an application has one "
                                                 f"source here; only sources[{chosen}] converted")
        if not source:
            self.loss(ident, "spec.source", "missing; not converted")
            return None
        ours = self._source(source, ident, path)
        if ours is None:
            return None
        destination = self._destination(_map(spec.get("destination")), ident, templated)
        if destination is None:
            return None
        out: dict[str, Any] = {"source": ours, "destination": destination}
        sync = _map(spec.get("syncPolicy"))
        options = self._sync_options(sync, ident)
        policy = self._sync_policy(sync, ident)
        if policy:
            out["syncPolicy"] = policy
        rules = [r for i, rule in enumerate(_list(spec.get("ignoreDifferences")))
                 if (r := self._ignore(_map(rule), ident, f"spec.ignoreDifferences[{i}]",
                                       "RespectIgnoreDifferences=true" in options)) is not None]
        if rules:
            out["ignoreDifferences"] = rules
        return out

    def _source(self, source: dict[str, Any], ident: str, path: str) -> dict[str, Any] | None:
        if source.get("chart"):
            self.loss(ident, f"{path}.chart", "charts from a Helm repository have no equivalent (sources are "
                                              "Git repositories: vendor the chart into Git); not converted")
            return None
        if source.get("plugin") is not None:
            self.loss(ident, f"{path}.plugin", "config management plugins have no equivalent; not converted")
            return None
        self.unhandled(ident, path, source, {"repoURL", "path", "targetRevision", "helm", "kustomize",
                                             "directory", "name"})
        repo = self._repository(source.get("repoURL", ""), ident, f"{path}.repoURL")
        if repo is None:
            return None
        out: dict[str, Any] = {"repository": repo.name, "path": str(source.get("path") or ".")}
        revision = source.get("targetRevision")
        if revision not in (None, "", "HEAD"):
            out["revision"] = str(revision)
        blocks = [k for k in ("helm", "kustomize", "directory") if source.get(k) is not None]
        if len(blocks) > 1:
            self.loss(ident, path, f"sets {' and '.join(blocks)}: only {blocks[0]} converted")
        if not blocks:
            out["renderer"] = "plain"
            self.loss(ident, path, "names no tool (helm, kustomize or directory): Argo CD detects it from "
                                   "the directory (Chart.yaml, kustomization.yaml); converted as renderer "
                                   "plain: "
                                   "set renderer helm or kustomize if the directory holds a chart or a "
                                   "kustomization")
        elif blocks[0] == "helm":
            out["renderer"] = "helm"
            options = self._helm(_map(source["helm"]), ident, f"{path}.helm")
            if options:
                out["options"] = options
        elif blocks[0] == "kustomize":
            out["renderer"] = "kustomize"
            self.unhandled(ident, f"{path}.kustomize", _map(source["kustomize"]), set(),
                           "has no equivalent (write it in the kustomization.yaml); not converted")
        else:
            out["renderer"] = "plain"
            options = self._directory(_map(source["directory"]), ident, f"{path}.directory")
            if options:
                out["options"] = options
        return out

    def _helm(self, helm: dict[str, Any], ident: str, path: str) -> dict[str, Any]:
        self.unhandled(ident, path, helm, {"valueFiles", "values", "valuesObject", "parameters",
                                           "releaseName", "skipCrds", "skipTests", "namespace", "version"})
        if helm.get("version") not in (None, "v3"):
            self.loss(ident, f"{path}.version", "only Helm 3 renders here")
        options: dict[str, Any] = {}
        files = [str(f) for f in _list(helm.get("valueFiles"))]
        for i, name in enumerate(files):
            if name.startswith(("$", "http://", "https://")):
                self.loss(ident, f"{path}.valueFiles[{i}]", "values files from another source or a URL "
                                                            "have no equivalent; not converted")
        files = [f for f in files if not f.startswith(("$", "http://", "https://"))]
        if files:
            options["values_files"] = files
        values: dict[str, Any] = {}
        if helm.get("valuesObject") is not None:
            values = _map(helm["valuesObject"])
            if helm.get("values"):
                self.loss(ident, f"{path}.values", "valuesObject takes precedence (as in Argo CD); "
                                                   "values ignored")
        elif isinstance(helm.get("values"), str) and helm["values"].strip():
            if self.in_template and ("{{" in helm["values"] or "{%" in helm["values"]):
                self.loss(ident, f"{path}.values", "values with template parameters cannot be read before "
                                                   "rendering; not converted")
            else:
                try:
                    parsed = yamlio.load(helm["values"], f"{ident} {path}.values")
                except RenderError as exc:
                    self.loss(ident, f"{path}.values", f"is not YAML ({exc.message[:120]}); not converted")
                    parsed = {}
                if parsed is not None and not isinstance(parsed, dict):
                    self.loss(ident, f"{path}.values", "is not a mapping; not converted")
                values = _map(parsed)
        elif isinstance(helm.get("values"), dict):
            values = _map(helm["values"])
        for i, param in enumerate(_list(helm.get("parameters"))):
            self._helm_parameter(_map(param), values, ident, f"{path}.parameters[{i}]")
        if values:
            options["values"] = values
        if helm.get("releaseName"):
            options["release_name"] = str(helm["releaseName"])
        if helm.get("skipCrds") is True:
            options["include_crds"] = False
        if helm.get("skipTests") is True:
            options["skip_tests"] = True
        if helm.get("namespace"):
            options["namespace"] = str(helm["namespace"])
        return options

    def _helm_parameter(self, param: dict[str, Any], values: dict[str, Any], ident: str, path: str) -> None:
        name, value = str(param.get("name", "")), param.get("value")
        if not _PARAM.fullmatch(name):
            self.loss(ident, f"{path}.name", "list indexes of --set names are not converted")
            return
        text = "" if value is None else str(value)
        typed: Any = text
        if param.get("forceString") is not True and self.in_template and "{{" in text:
            self.loss(ident, f"{path}.value", "a templated value renders to a string here; Argo CD's --set "
                                              "types the rendered text (numbers, true, false, null): set "
                                              "forceString or write it in values")
        elif param.get("forceString") is not True:
            if text.startswith("{") and text.endswith("}"):
                self.loss(ident, f"{path}.value", "--set list syntax ({a,b}) is not converted")
                return
            typed = {"true": True, "false": False, "null": None}.get(text, text)
            if isinstance(typed, str) and _INT.fullmatch(text):
                typed = int(text)
        node = values
        keys = [key.replace("\\.", ".") for key in re.split(r"(?<!\\)\.", name)]
        for key in keys[:-1]:
            child = node.get(key)
            if not isinstance(child, dict):
                child = {}
                node[key] = child
            node = child
        node[keys[-1]] = typed

    def _directory(self, directory: dict[str, Any], ident: str, path: str) -> dict[str, Any]:
        self.unhandled(ident, path, directory, {"recurse", "include", "exclude", "jsonnet"})
        if _map(directory.get("jsonnet")):
            self.loss(ident, f"{path}.jsonnet", "Jsonnet has no equivalent; not converted")
        options: dict[str, Any] = {}
        if directory.get("recurse") is True:
            options["recursive"] = True
        for key in ("include", "exclude"):
            text = directory.get(key)
            if isinstance(text, str) and text:
                globs = text[1:-1].split(",") if text.startswith("{") and text.endswith("}") else [text]
                if any(c in g for g in globs for c in "{}"):
                    self.loss(ident, f"{path}.{key}", "nested brace patterns are not converted")
                else:
                    options[key] = globs
        return options

    def _destination(self, dest: dict[str, Any], ident: str,
                     templated: Callable[[str], str | None] | None) -> dict[str, Any] | None:
        self.unhandled(ident, "spec.destination", dest, {"server", "name", "namespace"})
        server, name = dest.get("server"), dest.get("name")
        cluster: str | None
        by_name = isinstance(name, str) and bool(name)
        value = name if by_name else server
        if not isinstance(value, str) or not value:
            self.loss(ident, "spec.destination", "names no cluster (server or name); not converted")
            return None
        if templated is not None and ("{{" in value):
            cluster = value if by_name else templated(value)
            if cluster is None:
                self.loss(ident, "spec.destination.server",
                          "a server from a parameter that is not the clusters generator's has no "
                          "equivalent here (destination.cluster names a Cluster); not converted")
                return None
        elif by_name:
            cluster = self._cluster(server=None, name=value, ident=ident, path="spec.destination.name").name
        else:
            cluster = self._cluster(server=value, name=None, ident=ident).name
        out: dict[str, Any] = {"cluster": cluster}
        if dest.get("namespace"):
            out["namespace"] = str(dest["namespace"])
        return out

    def _sync_options(self, sync: dict[str, Any], ident: str) -> set[str]:
        if sync.get("syncOptions") is not None and not isinstance(sync.get("syncOptions"), list):
            self.loss(ident, "spec.syncPolicy.syncOptions", "is not a list; not converted")
        options = {str(o) for o in _list(sync.get("syncOptions"))}
        for option in sorted(options):
            if option == "ServerSideApply=true":
                continue  # always here
            if option in ("RespectIgnoreDifferences=true", "Validate=true", "CreateNamespace=false"):
                continue  # read with the ignore rules / the default here
            why = {"CreateNamespace=true": "namespaces are not created: render a Namespace manifest",
                   "ServerSideApply=false": "every apply is server-side here",
                   "PruneLast=true": "prune runs after every wave here, not per object last"}.get(
                       option, "has no equivalent here")
            self.loss(ident, "spec.syncPolicy.syncOptions", f"{option[:80]!r}: {why}; not converted")
        return options

    def _sync_policy(self, sync: dict[str, Any], ident: str) -> dict[str, Any]:
        path = "spec.syncPolicy"
        self.unhandled(ident, path, sync, {"automated", "syncOptions", "retry"})
        out: dict[str, Any] = {}
        automated = sync.get("automated")
        if automated is not None and not isinstance(automated, dict):
            self.loss(ident, f"{path}.automated", "is not a mapping; not converted")
        if isinstance(automated, dict) and automated.get("enabled", True) is not False:
            self.unhandled(ident, f"{path}.automated", automated,
                           {"prune", "selfHeal", "allowEmpty", "enabled"})
            out["automated"] = True
            for key in ("prune", "selfHeal", "allowEmpty", "enabled"):
                if automated.get(key) not in (None, True, False):
                    self.loss(ident, f"{path}.automated.{key}", "is not true or false; read as false")
                elif automated.get(key) is True and key != "enabled":
                    out[key] = True
        retry = sync.get("retry")
        # without a retry block Argo CD retries 5 times from 5s, doubling: our defaults
        if isinstance(retry, dict):
            out["retry"] = self._retry(_map(retry), ident, f"{path}.retry")
        return out

    def _retry(self, retry: dict[str, Any], ident: str, path: str) -> dict[str, Any]:
        self.unhandled(ident, path, retry, {"limit", "backoff", "refresh"})
        if retry.get("refresh") is True:
            self.loss(ident, f"{path}.refresh", "has no equivalent; not converted")
        limit = retry.get("limit", 0)
        if not isinstance(limit, int) or limit < 0 or limit > 1000:
            self.loss(ident, f"{path}.limit", "unlimited or over 1000 retries: 1000 here")
            limit = 1000
        backoff = _map(retry.get("backoff"))
        self.unhandled(ident, f"{path}.backoff", backoff, {"duration", "factor", "maxDuration"})
        first = self._duration(backoff.get("duration", "5s"), 5.0, ident, f"{path}.backoff.duration")
        cap = self._duration(backoff.get("maxDuration", "3m"), 180.0, ident, f"{path}.backoff.maxDuration")
        factor = backoff.get("factor", 2)
        if not isinstance(factor, int) or not 1 <= factor <= 100:
            self.loss(ident, f"{path}.backoff.factor", "must be from 1 to 100 here; 2 used")
            factor = 2
        if cap < first:
            self.loss(ident, f"{path}.backoff.maxDuration", "shorter than the first delay; "
                                                            "the first delay used")
            cap = first
        return {"limit": limit, "backoff": format_duration(first), "factor": factor,
                "maxBackoff": format_duration(cap)}

    def _duration(self, value: Any, default: float, ident: str, path: str) -> float:
        text = str(value).strip()
        if _INT.fullmatch(text):
            text += "s"  # Argo CD reads a bare number as seconds
        try:
            if not _GO_DURATION.fullmatch(text):
                raise ValueError(text)
            seconds = parse_duration(text)
            if seconds <= 0:
                raise ValueError(text)
            return seconds
        except ValueError:
            self.loss(ident, path, f"not a positive duration of at most 366 days in h, m, s, ms; "
                                   f"{format_duration(default)} used")
            return default

    def _ignore(self, rule: dict[str, Any], ident: str, path: str, respect: bool) -> dict[str, Any] | None:
        self.unhandled(ident, path, rule, {"group", "kind", "name", "namespace", "jsonPointers",
                                           "jqPathExpressions", "managedFieldsManagers"})
        if rule.get("jqPathExpressions"):
            self.loss(ident, f"{path}.jqPathExpressions", "jq expressions have no equivalent (use "
                                                          "jsonPointers); not converted")
        if rule.get("group") == "*" or rule.get("kind") in (None, "*"):
            self.loss(ident, path, "a rule for every group or kind has no equivalent; not converted")
            return None
        out: dict[str, Any] = {"group": str(rule.get("group") or ""), "kind": str(rule["kind"])}
        for key in ("name", "namespace"):
            if rule.get(key):
                out[key] = str(rule[key])
        pointers = [str(p) for p in _list(rule.get("jsonPointers"))]
        managers = [str(m) for m in _list(rule.get("managedFieldsManagers"))]
        if pointers:
            out["jsonPointers"] = pointers
            if respect:
                self.loss(ident, f"{path}.jsonPointers", "RespectIgnoreDifferences=true: here an object "
                                                         "written for another reason still gets Git's value")
        if managers:
            out["managedFieldsManagers"] = managers
            if not respect:
                self.loss(ident, f"{path}.managedFieldsManagers", "here fields owned by these managers are "
                                                                  "also left out of the apply (as Argo CD's "
                                                                  "RespectIgnoreDifferences=true)")
        return out if pointers or managers else None

    # --- application sets ----------------------------------------------------------------------------

    def _appset(self, doc: dict[str, Any]) -> None:
        meta = _map(doc["metadata"])
        raw = str(meta["name"])
        name = dns_label(raw)
        ident = f"ApplicationSet/{raw[:100]}"
        if name != raw:
            self.loss(ident, "metadata.name", f"is not a DNS label; named {name!r}")
        self._top(doc, ident)
        spec = _map(doc["spec"])
        self.unhandled(ident, "spec", spec, {"generators", "template", "syncPolicy", "strategy", "goTemplate",
                                             "goTemplateOptions", "applyNestedSelectors"})
        go = spec.get("goTemplate") is True
        if go and "missingkey=error" not in _list(spec.get("goTemplateOptions")):
            self.note(ident, "spec.goTemplateOptions", "a missing parameter is an error here (Go prints "
                                                       "'<no value>')")
        generators: list[dict[str, Any]] = []
        params = templates.Params()
        self.list_values = {}
        for i, gen in enumerate(_list(spec.get("generators"))):
            converted = self._generator(_map(gen), ident, f"spec.generators[{i}]")
            if converted is not None:
                generators.append(converted[0])
                params = params | converted[1]
        if not generators:
            self.loss(ident, "spec.generators", "no generator could be converted; the set is not converted")
            return
        strings = _Strings(go, params, self, ident)
        template = _map(spec.get("template"))
        tmeta = _map(template.get("metadata"))
        self.unhandled(ident, "spec.template", template, {"metadata", "spec"})
        self.unhandled(ident, "spec.template.metadata", tmeta, {"name", "labels", "annotations", "finalizers",
                                                                 "namespace"})
        self.in_template = True
        app = self._app_spec(strings.walk(_map(template.get("spec")), "spec.template.spec"), ident,
                             templated=lambda value: strings.server(value))
        self.in_template = False
        if app is None:
            self.loss(ident, "spec.template", "the template could not be converted; the set is not converted")
            return
        tmeta_out = self._metadata(strings.walk(tmeta, "spec.template.metadata"), ident, template=True)
        project = _map(template.get("spec")).get("project") or "default"
        labels = dict(tmeta_out.get("labels", {}))
        labels[PROJECT_LABEL] = strings.one(str(project), "spec.template.spec.project")
        if PROJECT_LABEL not in labels or "{{" not in labels[PROJECT_LABEL]:
            labels[PROJECT_LABEL] = dns_label(str(project))
        ours: dict[str, Any] = {"generators": generators,
                                "template": {"metadata": {"name": strings.one(str(tmeta.get("name", "")),
                                                                              "spec.template.metadata.name"),
                                                          "labels": labels},
                                             "spec": app}}
        policy = _map(spec.get("syncPolicy"))
        self.unhandled(ident, "spec.syncPolicy", policy, {"applicationsSync", "preserveResourcesOnDeletion"})
        if policy.get("applicationsSync"):
            ours["syncPolicy"] = {"applicationsSync": str(policy["applicationsSync"])}
        self.note(ident, "spec.syncPolicy", "the deletion breaker holds changes deleting over 10% or 10 "
                                            "applications for an approval (docs/applicationsets.md)")
        strategy = self._strategy(_map(spec.get("strategy")), labels, ident)
        if strategy is not None:
            ours["strategy"] = strategy
        self._emit("ApplicationSet", name, ours, {}, ident, "")

    def _generator(self, gen: dict[str, Any], ident: str,
                   path: str) -> tuple[dict[str, Any], templates.Params] | None:
        kinds = [k for k in gen if k not in ("selector", "template")]
        if gen.get("template"):
            self.loss(ident, f"{path}.template", "a generator's own template has no equivalent; "
                                                 "not converted")
        if len(kinds) != 1:
            self.loss(ident, path, "not one generator; not converted")
            return None
        kind = kinds[0]
        body = _map(gen[kind])
        out: dict[str, Any]
        params: templates.Params
        if kind == "list":
            self.unhandled(ident, f"{path}.list", body, {"elements"})
            elements = []
            names: set[str] = set()
            for i, element in enumerate(_list(body.get("elements"))):
                flat = _flatten(_map(element))
                if flat is None:
                    self.loss(ident, f"{path}.list.elements[{i}]", "lists inside an element have no "
                                                                  "equivalent; not converted")
                    continue
                elements.append(flat)
                names |= set(flat)
                for key, value in flat.items():
                    self.list_values.setdefault(key, set()).add(value)
            everywhere = frozenset(names)
            for flat in elements:
                everywhere &= frozenset(flat)
            params = templates.Params(frozenset(names), sure=everywhere)
            out = {"list": {"elements": elements}}
        elif kind == "clusters":
            self.unhandled(ident, f"{path}.clusters", body, {"selector"})
            out = {"clusters": {"selector": self._selector(_map(body.get("selector")))}}
            params = templates.Params(frozenset({"name", "nameNormalized", "server"}),
                                      frozenset({"metadata.labels.", "metadata.annotations."}),
                                      sure=frozenset({"name", "nameNormalized", "server"}))
        elif kind == "git":
            self.unhandled(ident, f"{path}.git", body, {"repoURL", "revision", "directories", "files"})
            repo = self._repository(body.get("repoURL", ""), ident, f"{path}.git.repoURL")
            if repo is None:
                return None
            out = {"repository": repo.name}
            if body.get("revision") not in (None, "", "HEAD"):
                out["revision"] = str(body["revision"])
            if body.get("files"):
                out["files"] = [{"path": str(_map(f).get("path", ""))} for f in _list(body["files"])]
                params = templates.Params(anything=True, sure=frozenset(
                    {"path", "path.basename", "path.filename", "path.basenameNormalized",
                     "path.filenameNormalized"}))
            else:
                out["directories"] = [_git_directory(_map(d)) for d in _list(body.get("directories"))]
                dirs = frozenset({"path", "path.basename", "path.basenameNormalized"})
                params = templates.Params(dirs, frozenset({"path["}), sure=dirs)
            out = {"git": out}
        elif kind in ("matrix", "merge"):
            self.unhandled(ident, f"{path}.{kind}", body, {"generators", "mergeKeys"})
            children = []
            params = templates.Params()
            for i, child in enumerate(_list(body.get("generators"))):
                converted = self._generator(_map(child), ident, f"{path}.{kind}.generators[{i}]")
                if converted is None:
                    self.loss(ident, f"{path}.{kind}", "a child could not be converted; not converted")
                    return None
                children.append(converted[0])
                params = params | (converted[1] if kind == "matrix" or i == 0 else converted[1].unsure())
            inner: dict[str, Any] = {"generators": children}
            if kind == "merge":
                inner["mergeKeys"] = [_rename(str(k)) for k in _list(body.get("mergeKeys"))]
            out = {kind: inner}
        else:
            self.loss(ident, f"{path}.{kind}", "this generator has no equivalent here (list, clusters, git, "
                                               "matrix, merge); not converted")
            return None
        if gen.get("selector"):
            out["selector"] = self._selector(_map(gen["selector"]), rename=True)
        return out, params

    def _selector(self, selector: dict[str, Any], *, rename: bool = False) -> dict[str, Any]:
        key: Callable[[str], str] = _rename if rename else str
        out: dict[str, Any] = {}
        labels = {key(str(k)): str(v) for k, v in _map(selector.get("matchLabels")).items()}
        if labels:
            out["matchLabels"] = labels
        expressions = [{"key": key(str(_map(e).get("key", ""))), "operator": _map(e).get("operator"),
                        **({"values": [str(v) for v in _list(_map(e).get("values"))]}
                           if _map(e).get("values") else {})}
                       for e in _list(selector.get("matchExpressions"))]
        if expressions:
            out["matchExpressions"] = expressions
        return out

    def _strategy(self, strategy: dict[str, Any], labels: dict[str, str],
                  ident: str) -> dict[str, Any] | None:
        if strategy.get("type") in (None, "AllAtOnce"):
            return None
        path = "spec.strategy"
        if strategy.get("type") != "RollingSync":
            self.loss(ident, f"{path}.type", "has no equivalent; AllAtOnce used")
            return None
        steps = []
        for i, step in enumerate(_list(_map(strategy.get("rollingSync")).get("steps"))):
            step = _map(step)
            where = f"{path}.rollingSync.steps[{i}]"
            expressions = [_map(e) for e in _list(step.get("matchExpressions"))]
            for e in expressions:
                key = str(e.get("key", ""))
                same = ("{{ labels['" + key + "'] }}", "{{ labels." + key + " }}")
                if labels.get(key) not in same:
                    self.loss(ident, f"{where}.matchExpressions",
                              f"steps select clusters here: the application label {key[:60]!r} is not the "
                              "cluster's label of that name in the template; read as the cluster's label")
            ours: dict[str, Any] = {"clusters": self._selector({"matchExpressions": expressions})}
            update = step.get("maxUpdate")
            if isinstance(update, int) and update >= 1:
                ours["maxConcurrent"] = update
            elif update is not None and update != "100%":
                self.loss(ident, f"{where}.maxUpdate", "only a number of applications (at least 1) converts; "
                                                       "no limit used")
            steps.append(ours)
        if not steps:
            self.loss(ident, path, "RollingSync without steps; AllAtOnce used")
            return None
        self.note(ident, path, "applications no step selects sync in a final step here (Argo CD leaves them "
                               "to manual syncs); every step waits for Synced and Healthy, no bake time")
        return {"type": "RollingSync", "rollingSync": {"steps": steps, "maxConcurrent": 10_000, "bake": 0}}

    # --- output ------------------------------------------------------------------------------------

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
        rank = {"Repository": 0, "Cluster": 1, "Application": 2, "ApplicationSet": 3, "SyncWindow": 4}
        documents = sorted(self.outputs, key=lambda o: rank[o.kind])
        self.note("", "", "sync hooks need no conversion: Argo CD's annotations (argocd.argoproj.io/hook, "
                          "hook-delete-policy, sync-wave) are read unchanged (docs/hooks.md)")
        return Conversion(tuple(documents), tuple(self.findings))


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


def _rename(name: str) -> str:
    """A post-selector's or merge key's Argo CD parameter name -> ours."""
    for prefix, ours in (("metadata.labels.", "labels."), ("metadata.annotations.", "annotations.")):
        if name.startswith(prefix):
            return ours + name[len(prefix):]
    return name


def _git_directory(entry: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"path": str(entry.get("path", ""))}
    if entry.get("exclude") is True:
        out["exclude"] = True
    return out


def _flatten(element: dict[str, Any], prefix: str = "") -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    for key, value in element.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            inner = _flatten(_map(value), f"{name}.")
            if inner is None:
                return None
            out.update(inner)
        elif isinstance(value, list):
            return None
        else:
            out[name] = value
    return out


class _Strings:
    """Converts every string of an ApplicationSet template (keys stay literal, as both tools do)."""

    def __init__(self, go: bool, params: templates.Params, converter: _Converter, ident: str) -> None:
        self.go, self.params, self.converter, self.ident = go, params, converter, ident

    def one(self, text: str, path: str) -> str:
        converted, problems, notes = templates.convert(text, go=self.go, params=self.params)
        for problem in problems:
            self.converter.loss(self.ident, path, problem)
        for note in notes:
            self.converter.note(self.ident, path, note)
        return converted

    def walk(self, value: Any, path: str) -> Any:
        if isinstance(value, str):
            return self.one(value, path)
        if isinstance(value, dict):
            return {str(k): self.walk(v, f"{path}.{k}") for k, v in value.items()}
        if isinstance(value, list):
            return [self.walk(v, f"{path}[{i}]") for i, v in enumerate(value)]
        return value

    def server(self, value: str) -> str | None:
        """A converted destination server template -> a cluster name template: the clusters generator's
        ``server`` is its ``name``; a list elements' key holding server URLs is looked up in a table of
        those URLs to the Clusters they became."""
        match = re.fullmatch(r"\{\{ ([A-Za-z_][A-Za-z0-9_]*) \}\}", value.strip())
        if match is None:
            return None
        key = match.group(1)
        if key == "server" and "server" in self.params.names:
            return "{{ name }}"
        urls = self.converter.list_values.get(key)
        if not urls or not all(isinstance(u, str) and u.startswith("https://") for u in urls):
            return None
        table = {u: self.converter._cluster(server=u, name=None, ident=self.ident).name for u in sorted(urls)}
        return "{{ " + json.dumps(table) + "[" + key + "] }}"
