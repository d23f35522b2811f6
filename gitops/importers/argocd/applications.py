"""Argo CD's Application spec -> ours: source and renderer options, destination, sync policy, retry,
ignore rules.

Part of :class:`gitops.importers.argocd.Converter`; :mod:`.appsets` converts an ApplicationSet's
template with it. Key design choice: every key of every block is either read or reported (the
``unhandled`` sweep), so a field added to Argo CD later is reported, never dropped silently; Helm
parameters are merged into the values with Helm's ``--set`` typing, so the precedence (values files <
values < parameters) is kept exactly.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from gitops.config.durations import format_duration, parse_duration
from gitops.importers.argocd.base import PROJECT_LABEL, as_list, as_map, dns_label
from gitops.importers.argocd.notifications import PREFIX, Notifications
from renderers import yamlio
from renderers.errors import RenderError

_INT = re.compile(r"-?(0|[1-9][0-9]{0,17})")
_PARAM = re.compile(r"([A-Za-z0-9_/-]|\\\.)+(\.([A-Za-z0-9_/-]|\\\.)+)*")
_GO_DURATION = re.compile(r"([0-9]+(\.[0-9]+)?(h|m|s|ms))+")


class Applications(Notifications):
    """Application -> Repository, Cluster and Application (and the template of an ApplicationSet)."""

    def _metadata(self, meta: dict[str, Any], ident: str, *, template: bool,
                  app: str | None = None) -> dict[str, Any]:
        """Labels and annotations; ``app`` (a plain Application's name) takes notification
        subscriptions."""
        out: dict[str, Any] = {}
        labels = {str(k): str(v) for k, v in as_map(meta.get("labels")).items()}
        if labels:
            out["labels"] = labels
        annotations = {str(k): str(v) for k, v in as_map(meta.get("annotations")).items()}
        for key in sorted(annotations):
            if key.startswith(PREFIX) and app is not None:
                self._subscribe(ident, app, key, annotations.pop(key))
            elif key.startswith("notifications.argoproj.io/"):
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
        for finalizer in as_list(meta.get("finalizers")):
            self.loss(ident, "metadata.finalizers", f"{str(finalizer)[:80]!r}: removing an application here "
                                                    "never deletes its objects (use gitops delete APP "
                                                    "--cluster C); not converted")
        return out

    def _application(self, doc: dict[str, Any]) -> None:
        meta = as_map(doc["metadata"])
        name, ident = self._named(doc, "Application")
        spec = self._app_spec(as_map(doc["spec"]), ident, templated=None)
        if spec is None:
            return
        metadata = self._metadata(meta, ident, template=False, app=name)
        project = dns_label(str(as_map(doc["spec"]).get("project") or "default"))
        metadata.setdefault("labels", {})[PROJECT_LABEL] = project
        self._emit("Application", name, spec, metadata, ident, "")

    def _app_spec(self, spec: dict[str, Any], ident: str,
                  templated: Callable[[str], str | None] | None) -> dict[str, Any] | None:
        """Our Application spec; ``templated`` maps a destination server template (ApplicationSets)."""
        self.unhandled(ident, "spec", spec, {"source", "sources", "destination", "project", "syncPolicy",
                                             "ignoreDifferences"})
        source, path = as_map(spec.get("source")), "spec.source"
        sources = as_list(spec.get("sources"))
        if sources:
            chosen = next((i for i, s in enumerate(sources) if not as_map(s).get("ref")), 0)
            source, path = as_map(sources[chosen]), f"spec.sources[{chosen}]"
            if len(sources) > 1:
                self.loss(ident, "spec.sources", f"{len(sources)} sources: an application has one "
                                                 f"source here; only sources[{chosen}] converted")
        if not source:
            self.loss(ident, "spec.source", "missing; not converted")
            return None
        ours = self._source(source, ident, path)
        if ours is None:
            return None
        destination = self._destination(as_map(spec.get("destination")), ident, templated)
        if destination is None:
            return None
        out: dict[str, Any] = {"source": ours, "destination": destination}
        sync = as_map(spec.get("syncPolicy"))
        options = self._sync_options(sync, ident)
        policy = self._sync_policy(sync, ident)
        if policy:
            out["syncPolicy"] = policy
        rules = [r for i, rule in enumerate(as_list(spec.get("ignoreDifferences")))
                 if (r := self._ignore(as_map(rule), ident, f"spec.ignoreDifferences[{i}]",
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
            options = self._helm(as_map(source["helm"]), ident, f"{path}.helm")
            if options:
                out["options"] = options
        elif blocks[0] == "kustomize":
            out["renderer"] = "kustomize"
            self.unhandled(ident, f"{path}.kustomize", as_map(source["kustomize"]), set(),
                           "has no equivalent (write it in the kustomization.yaml); not converted")
        else:
            out["renderer"] = "plain"
            options = self._directory(as_map(source["directory"]), ident, f"{path}.directory")
            if options:
                out["options"] = options
        return out

    def _helm(self, helm: dict[str, Any], ident: str, path: str) -> dict[str, Any]:
        self.unhandled(ident, path, helm, {"valueFiles", "values", "valuesObject", "parameters",
                                           "releaseName", "skipCrds", "skipTests", "namespace", "version"})
        if helm.get("version") not in (None, "v3"):
            self.loss(ident, f"{path}.version", "only Helm 3 renders here")
        options: dict[str, Any] = {}
        files = [str(f) for f in as_list(helm.get("valueFiles"))]
        for i, name in enumerate(files):
            if name.startswith(("$", "http://", "https://")):
                self.loss(ident, f"{path}.valueFiles[{i}]", "values files from another source or a URL "
                                                            "have no equivalent; not converted")
        files = [f for f in files if not f.startswith(("$", "http://", "https://"))]
        if files:
            options["values_files"] = files
        values: dict[str, Any] = {}
        if helm.get("valuesObject") is not None:
            values = as_map(helm["valuesObject"])
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
                values = as_map(parsed)
        elif isinstance(helm.get("values"), dict):
            values = as_map(helm["values"])
        for i, param in enumerate(as_list(helm.get("parameters"))):
            self._helm_parameter(as_map(param), values, ident, f"{path}.parameters[{i}]")
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
        if as_map(directory.get("jsonnet")):
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
        options = {str(o) for o in as_list(sync.get("syncOptions"))}
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
            out["retry"] = self._retry(as_map(retry), ident, f"{path}.retry")
        return out

    def _retry(self, retry: dict[str, Any], ident: str, path: str) -> dict[str, Any]:
        self.unhandled(ident, path, retry, {"limit", "backoff", "refresh"})
        if retry.get("refresh") is True:
            self.loss(ident, f"{path}.refresh", "has no equivalent; not converted")
        limit = retry.get("limit", 0)
        if not isinstance(limit, int) or limit < 0 or limit > 1000:
            self.loss(ident, f"{path}.limit", "unlimited or over 1000 retries: 1000 here")
            limit = 1000
        backoff = as_map(retry.get("backoff"))
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
        pointers = [str(p) for p in as_list(rule.get("jsonPointers"))]
        managers = [str(m) for m in as_list(rule.get("managedFieldsManagers"))]
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
