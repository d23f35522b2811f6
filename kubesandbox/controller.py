"""The sandbox's built-in controllers: workload status, ReplicaSets, Jobs, PVCs, load balancers, GC.

A background thread started by :class:`kubesandbox.Sandbox`. It plays kube-controller-manager in
miniature so health checks see what they would on a cluster (status fields and conditions as the
Deployment, StatefulSet, DaemonSet, ReplicaSet and Job controllers write them, per the workload docs):
a new generation is first reported as progressing (``observedGeneration`` caught up, replicas not yet
available), and ``delay`` seconds later as available, or as failed when the object carries the
``sandbox.gitops.dev/fail-rollout: "true"`` annotation (:data:`FAIL_ROLLOUT`) or a container image
containing ``fail`` (Progressing=False with reason ProgressDeadlineExceeded; Job Failed with
BackoffLimitExceeded); paused Deployments report Progressing=Unknown with reason DeploymentPaused.
A Deployment gets a ReplicaSet per pod template (owned by it, so garbage collection is visible);
no Pods are created. Writes go through the normal write path as ``/status`` updates by manager
``kube-controller-manager`` and are not counted in the request stats.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Final

from kubesandbox import workloads
from kubesandbox.apierrors import ApiError
from kubesandbox.call import Call
from kubesandbox.catalog import ResourceType
from kubesandbox.server import App
from kubesandbox.store import Entry

# "true" on a workload makes its simulated rollout fail (the engine then sees it Degraded).
FAIL_ROLLOUT: Final = "sandbox.gitops.dev/fail-rollout"
MANAGER = "kube-controller-manager"
ObjKey = tuple[tuple[str, str], str, str]  # (resource key, namespace, name)
WATCHED = (("apps", "v1", "deployments"), ("apps", "v1", "statefulsets"), ("apps", "v1", "daemonsets"),
           ("apps", "v1", "replicasets"), ("batch", "v1", "jobs"), ("", "v1", "persistentvolumeclaims"),
           ("", "v1", "services"), ("", "v1", "pods"), ("networking.k8s.io", "v1", "ingresses"))


def failing(obj: dict[str, Any]) -> bool:
    annotations = obj.get("metadata", {}).get("annotations") or {}
    if annotations.get(FAIL_ROLLOUT) == "true":
        return True
    spec = obj.get("spec", {})
    pod_spec = spec.get("template", {}).get("spec", {}) if "template" in spec else spec  # Pods: own spec
    containers = pod_spec.get("containers") or []
    return any(isinstance(c, dict) and "fail" in str(c.get("image", "")) for c in containers)


class Controller:
    """Reconciles status every ``delay / 4`` seconds (at least every 50 ms, at most every 0.5 s)."""

    def __init__(self, app: App, delay: float = 0.2) -> None:
        self.app = app
        self.delay = max(0.0, delay)
        self._stop = threading.Event()
        self._seen: dict[ObjKey, tuple[int, float]] = {}  # object -> (generation, first seen)
        self._due: dict[ObjKey, float] = {}  # objects to look at again when their rollout settles
        self._last_rv = 0
        self._thread = threading.Thread(target=self._run, name="sandbox-controller", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def wait_settled(self, timeout: float) -> bool:
        """True once the last tick covered the newest write and no rollout timer is pending."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.app.store.lock:
                if not self._due and self._last_rv == self.app.store.rv:
                    return True
            time.sleep(0.01)
        return False

    def _run(self) -> None:
        interval = min(0.5, max(0.02, self.delay / 4))
        while not self._stop.wait(interval):
            try:
                if self.app.store.rv != self._last_rv or self._due:
                    self.tick()
            except Exception:  # keep the controller alive; the error shows in the log
                logging.getLogger(__name__).exception("sandbox controller tick failed")

    def tick(self) -> None:
        """Reconcile the objects changed since the last tick and those whose rollout is now due.

        Incremental, like an informer-driven controller: it reads the store's event log instead of
        rescanning everything, so a benchmark with many objects is not slowed down by the controller.
        """
        store, catalog = self.app.store, self.app.catalog
        with store.lock:
            watched = {rt.key: rt for path in WATCHED if (rt := catalog.lookup(*path)) is not None}
            dirty: set[ObjKey] = set()
            if store.oldest_rv() > self._last_rv:  # the log no longer reaches back: full scan
                dirty = {(k, e.obj["metadata"].get("namespace", ""), e.obj["metadata"]["name"])
                         for k in watched for e in store.list(k, None)}
            else:
                for resource in watched:
                    for event in store.events_after(self._last_rv, resource):
                        meta = event.entry.obj["metadata"]
                        dirty.add((resource, meta.get("namespace", ""), meta["name"]))
            now = time.monotonic()
            dirty.update(k for k, when in self._due.items() if when <= now)
            self._last_rv = store.rv
            for key in dirty:
                self._due.pop(key, None)
                entry = store.get(key[0], key[1], key[2])
                if entry is None:
                    self._seen.pop(key, None)
                    continue
                self._reconcile(watched[key[0]], key, entry)

    def _reconcile(self, rt: ResourceType, key: ObjKey, entry: Entry) -> None:
        obj = entry.obj
        meta = obj["metadata"]
        if meta.get("deletionTimestamp"):
            return
        generation = int(meta.get("generation", 0))
        seen = self._seen.get(key)
        if seen is None or seen[0] != generation:
            seen = self._seen[key] = (generation, time.monotonic())
        settled = time.monotonic() - seen[1] >= self.delay
        if not settled:
            self._due[key] = seen[1] + self.delay
        if rt.kind == "Deployment":
            self._ensure_replicaset(rt, obj)
        status = workloads.status_for(rt.kind, obj, settled=settled, failed=failing(obj))
        if status is not None and status != obj.get("status"):
            self._write_status(rt, entry, status)

    def _write_status(self, rt: ResourceType, entry: Entry, status: dict[str, Any]) -> None:
        meta = entry.obj["metadata"]
        new = entry.copy()
        new["status"] = status
        call = Call(rt, meta.get("namespace", ""), meta["name"], "status", {}, user_agent=MANAGER)
        try:
            self.app.api.writer.commit(call, entry, new, manager=MANAGER)
        except ApiError as exc:  # e.g. the object is being deleted; the next tick sees the new state
            logging.getLogger(__name__).warning("sandbox controller: status of %s/%s: %s", rt.plural,
                                                meta["name"], exc)

    def _ensure_replicaset(self, rt: ResourceType, deployment: dict[str, Any]) -> None:
        rs_rt = self.app.catalog.lookup("apps", "v1", "replicasets")
        if rs_rt is None:
            return
        meta = deployment["metadata"]
        name = f"{meta['name']}-{workloads.template_hash(deployment)}"[:253]
        ns = meta.get("namespace", "")
        existing = self.app.store.get(rs_rt.key, ns, name)
        if existing is not None:
            return
        rs = workloads.replicaset_for(deployment, name)
        call = Call(rs_rt, ns, "", "", {}, user_agent=MANAGER)
        try:
            self.app.api.writer.commit(call, None, rs, manager=MANAGER)
        except ApiError:
            return
        for other in self.app.store.list(rs_rt.key, ns):  # older ReplicaSets scale down
            refs = other.obj["metadata"].get("ownerReferences") or []
            if other.obj["metadata"]["name"] != name and any(r.get("uid") == meta["uid"] for r in refs):
                scaled = other.copy()
                scaled["spec"]["replicas"] = 0
                old_call = Call(rs_rt, ns, other.obj["metadata"]["name"], "", {}, user_agent=MANAGER)
                self.app.api.writer.commit(old_call, other, scaled, manager=MANAGER)
