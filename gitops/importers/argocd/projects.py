"""Argo CD's AppProjects: sync windows -> SyncWindow documents; what a project restricts is reported.

Part of :class:`gitops.importers.argocd.Converter`. Key design choice: Argo CD selects a target when
any of a window's lists matches and only within the project; ours when both selectors match. A window
becomes one SyncWindow per list it sets (the same verdicts, allow and deny alike), each limited to the
project's applications by the project label every converted application carries.
"""

from __future__ import annotations

from typing import Any

from gitops.importers.argocd.base import PROJECT_LABEL, Registry, as_list, as_map, dns_label

_DESCRIPTORS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
                "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
                "@hourly": "0 * * * *"}


class Projects(Registry):
    """AppProject -> SyncWindows; restrictions reported."""

    def _project(self, doc: dict[str, Any]) -> None:
        project = str(doc["metadata"]["name"])
        ident = f"AppProject/{project}"
        spec = as_map(doc["spec"])
        self._top(doc, ident)
        if any(r != "*" for r in as_list(spec.get("sourceRepos"))):
            self.loss(ident, "spec.sourceRepos", "restricting source repositories has no equivalent: "
                                                  "the configuration is trusted (docs/security.md); "
                                                  "not converted")
        for i, dest in enumerate(as_list(spec.get("destinations"))):
            fields = ("server", "name", "namespace")
            if any(v not in ("*", None) for k, v in as_map(dest).items() if k in fields):
                self.loss(ident, f"spec.destinations[{i}]", "restricting destinations has no equivalent; "
                                                            "not converted")
        for i, entry in enumerate(as_list(spec.get("clusterResourceWhitelist"))):
            if as_map(entry).get("group") != "*" or as_map(entry).get("kind") != "*":
                self.loss(ident, f"spec.clusterResourceWhitelist[{i}]", "restricting resource kinds has no "
                                                                       "equivalent; not converted")
        self.unhandled(ident, "spec", spec, {"sourceRepos", "destinations", "clusterResourceWhitelist",
                                             "description", "syncWindows", "roles"})
        if spec.get("roles"):
            self.loss(ident, "spec.roles", "project roles have no equivalent per project: map them to the "
                                           "roles of docs/access-control.md (viewer, operator, admin)")
        for i, window in enumerate(as_list(spec.get("syncWindows"))):
            self._window(ident, project, i, as_map(window))

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
        apps = [str(a) for a in as_list(window.get("applications"))]
        clusters = [self._cluster_glob(str(c)) for c in as_list(window.get("clusters"))]
        namespaces = [str(n) for n in as_list(window.get("namespaces"))]
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
