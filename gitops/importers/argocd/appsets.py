"""Argo CD's ApplicationSets -> ours: generators, the template (fasttemplate or Go templates -> Jinja),
the sync policy and a RollingSync strategy.

Part of :class:`gitops.importers.argocd.Converter`. Key design choice: the template's strings are
converted first (:mod:`gitops.importers.templates`: parameter references only, everything else
literal text), then the template's spec goes through the Application conversion like any
Application, so both kinds map the same fields the same way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from gitops.importers import templates
from gitops.importers.argocd.applications import Applications
from gitops.importers.argocd.base import IN_CLUSTER, PROJECT_LABEL, as_list, as_map, dns_label


class AppSets(Applications):
    """ApplicationSet -> ApplicationSet: generators, template, sync policy, strategy."""

    def _appset(self, doc: dict[str, Any]) -> None:
        name, ident = self._named(doc, "ApplicationSet")
        spec = as_map(doc["spec"])
        self.unhandled(ident, "spec", spec, {"generators", "template", "syncPolicy", "strategy", "goTemplate",
                                             "goTemplateOptions", "applyNestedSelectors"})
        go = spec.get("goTemplate") is True
        if go and "missingkey=error" not in as_list(spec.get("goTemplateOptions")):
            self.note(ident, "spec.goTemplateOptions", "a missing parameter is an error here (Go prints "
                                                       "'<no value>')")
        generators: list[dict[str, Any]] = []
        params = templates.Params()
        self.list_values = {}
        for i, gen in enumerate(as_list(spec.get("generators"))):
            converted = self._generator(as_map(gen), ident, f"spec.generators[{i}]")
            if converted is not None:
                generators.append(converted[0])
                params = params | converted[1]
        if not generators:
            self.loss(ident, "spec.generators", "no generator could be converted; the set is not converted")
            return
        strings = _Strings(go, params, self, ident)
        template = as_map(spec.get("template"))
        tmeta = as_map(template.get("metadata"))
        self.unhandled(ident, "spec.template", template, {"metadata", "spec"})
        self.unhandled(ident, "spec.template.metadata", tmeta, {"name", "labels", "annotations", "finalizers",
                                                                 "namespace"})
        self.in_template = True
        app = self._app_spec(strings.walk(as_map(template.get("spec")), "spec.template.spec"), ident,
                             templated=lambda value: strings.server(value))
        self.in_template = False
        if app is None:
            self.loss(ident, "spec.template", "the template could not be converted; the set is not converted")
            return
        tmeta_out = self._metadata(strings.walk(tmeta, "spec.template.metadata"), ident, template=True)
        project = as_map(template.get("spec")).get("project") or "default"
        labels = dict(tmeta_out.get("labels", {}))
        labels[PROJECT_LABEL] = strings.one(str(project), "spec.template.spec.project")
        if PROJECT_LABEL not in labels or "{{" not in labels[PROJECT_LABEL]:
            labels[PROJECT_LABEL] = dns_label(str(project))
        ours: dict[str, Any] = {"generators": generators,
                                "template": {"metadata": {"name": strings.one(str(tmeta.get("name", "")),
                                                                              "spec.template.metadata.name"),
                                                          "labels": labels},
                                             "spec": app}}
        policy = as_map(spec.get("syncPolicy"))
        self.unhandled(ident, "spec.syncPolicy", policy, {"applicationsSync", "preserveResourcesOnDeletion"})
        if policy.get("applicationsSync"):
            ours["syncPolicy"] = {"applicationsSync": str(policy["applicationsSync"])}
        self.note(ident, "spec.syncPolicy", "the deletion breaker holds changes deleting over 10% or 10 "
                                            "applications for an approval (docs/applicationsets.md)")
        strategy = self._strategy(as_map(spec.get("strategy")), labels, ident)
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
        body = as_map(gen[kind])
        out: dict[str, Any]
        params: templates.Params
        if kind == "list":
            self.unhandled(ident, f"{path}.list", body, {"elements"})
            elements = []
            names: set[str] = set()
            for i, element in enumerate(as_list(body.get("elements"))):
                flat = _flatten(as_map(element))
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
            out = {"clusters": {"selector": self._selector(as_map(body.get("selector")))}}
            if not out["clusters"]["selector"]:  # Argo CD's generator then includes the local cluster
                self._cluster(server=IN_CLUSTER, name=None, ident=ident)
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
                out["files"] = [{"path": str(as_map(f).get("path", ""))} for f in as_list(body["files"])]
                params = templates.Params(anything=True, sure=frozenset(
                    {"path", "path.basename", "path.filename", "path.basenameNormalized",
                     "path.filenameNormalized"}))
            else:
                out["directories"] = [_git_directory(as_map(d)) for d in as_list(body.get("directories"))]
                dirs = frozenset({"path", "path.basename", "path.basenameNormalized"})
                params = templates.Params(dirs, frozenset({"path["}), sure=dirs)
            out = {"git": out}
        elif kind in ("matrix", "merge"):
            self.unhandled(ident, f"{path}.{kind}", body, {"generators", "mergeKeys"})
            children = []
            params = templates.Params()
            for i, child in enumerate(as_list(body.get("generators"))):
                converted = self._generator(as_map(child), ident, f"{path}.{kind}.generators[{i}]")
                if converted is None:
                    self.loss(ident, f"{path}.{kind}", "a child could not be converted; not converted")
                    return None
                children.append(converted[0])
                params = params | (converted[1] if kind == "matrix" or i == 0 else converted[1].unsure())
            inner: dict[str, Any] = {"generators": children}
            if kind == "merge":
                inner["mergeKeys"] = [_rename(str(k)) for k in as_list(body.get("mergeKeys"))]
            out = {kind: inner}
        else:
            self.loss(ident, f"{path}.{kind}", "this generator has no equivalent here (list, clusters, git, "
                                               "matrix, merge); not converted")
            return None
        if gen.get("selector"):
            out["selector"] = self._selector(as_map(gen["selector"]), rename=True)
        return out, params

    def _selector(self, selector: dict[str, Any], *, rename: bool = False) -> dict[str, Any]:
        key: Callable[[str], str] = _rename if rename else str
        out: dict[str, Any] = {}
        labels = {key(str(k)): str(v) for k, v in as_map(selector.get("matchLabels")).items()}
        if labels:
            out["matchLabels"] = labels
        expressions = [{"key": key(str(as_map(e).get("key", ""))), "operator": as_map(e).get("operator"),
                        **({"values": [str(v) for v in as_list(as_map(e).get("values"))]}
                           if as_map(e).get("values") else {})}
                       for e in as_list(selector.get("matchExpressions"))]
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
        for i, step in enumerate(as_list(as_map(strategy.get("rollingSync")).get("steps"))):
            step = as_map(step)
            where = f"{path}.rollingSync.steps[{i}]"
            expressions = [as_map(e) for e in as_list(step.get("matchExpressions"))]
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
            inner = _flatten(as_map(value), f"{name}.")
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

    def __init__(self, go: bool, params: templates.Params, converter: AppSets, ident: str) -> None:
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
