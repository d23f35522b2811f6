"""``KubeCluster``: the real Cluster port over the ``kubernetes`` client's ApiClient.

The only module of the engine that imports ``kubernetes`` (an import-linter contract says so); only
gitops.adapters imports it, so the engine and its verbs load it never.

Built by ``connect(settings)`` from a configured cluster (kubeconfig + context, or server + CA + token
read from an env var or file; never the user's default kubeconfig implicitly). Every request passes
the cluster's token bucket, carries a timeout, and is retried (bounded, backoff with jitter) only on
temporary errors; failures are translated once by :mod:`.translate`. Discovery is cached: built-in kinds
come from the static catalog (no request at all), other kinds from one ``APIResourceList`` GET per
group version, forgotten by ``invalidate_discovery`` after CRDs change.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.rest import ApiException
from kubernetes.config.config_exception import ConfigException

from gitops import domain
from gitops.cluster import ResourceInfo, builtin, check_name, collection_path, object_path
from gitops.cluster.throttle import RetryPolicy, TokenBucket, retry
from gitops.cluster.translate import translate
from gitops.errors import ClusterError, ClusterUnavailable, InputError, NotFound
from gitops.vocabulary import ObjectRef
from renderers import yamlio
from renderers.errors import RenderError
from renderers.manifest import Manifest


@dataclass(frozen=True)
class ClusterSettings:
    """How to reach one cluster (a ``domain.Cluster`` without its labels; references only, no secrets)."""

    name: str
    kubeconfig: str | None = None
    context: str | None = None
    server: str | None = None
    ca_file: str | None = None
    token_env: str | None = None
    token_file: str | None = None
    insecure_skip_tls_verify: bool = False
    qps: float = 20.0
    timeout_seconds: float = 30.0

    @staticmethod
    def of(cluster: domain.Cluster) -> ClusterSettings:
        return ClusterSettings(cluster.name, cluster.kubeconfig, cluster.context, cluster.server,
                               cluster.ca_file, cluster.token_env, cluster.token_file,
                               cluster.insecure_skip_tls_verify, cluster.qps, cluster.timeout_seconds)


def _token(settings: ClusterSettings) -> str | None:
    if settings.token_env:
        value = os.environ.get(settings.token_env)
        if not value:
            raise ClusterError(f"cluster {settings.name}: environment variable {settings.token_env} is empty")
        return value.strip()
    if settings.token_file:
        try:
            return Path(settings.token_file).read_text().strip()
        except OSError as exc:
            raise ClusterError(f"cluster {settings.name}: cannot read token file: {exc}") from exc
    return None


def _check_kubeconfig(path: Path) -> None:
    """Parse the kubeconfig with the bounded loader first (size limit, no alias bombs)."""
    doc = yamlio.load(path.read_bytes(), str(path), max_bytes=1024 * 1024)
    if not isinstance(doc, dict):
        raise ValueError("not a mapping")


def _api_client(settings: ClusterSettings) -> k8s.ApiClient:
    if settings.kubeconfig:
        cfg = k8s.Configuration()
        try:
            _check_kubeconfig(Path(settings.kubeconfig))
            k8s_config.load_kube_config(config_file=settings.kubeconfig, context=settings.context,
                                        client_configuration=cfg, persist_config=False)
        except (ConfigException, OSError, ValueError, TypeError, yaml.YAMLError, RenderError) as exc:
            raise ClusterError(f"cluster {settings.name}: bad kubeconfig {settings.kubeconfig}: "
                               f"{exc}") from exc
        cfg.retries = 0
        return k8s.ApiClient(cfg)
    if not settings.server:
        raise ClusterError(f"cluster {settings.name}: neither kubeconfig nor server configured")
    cfg = k8s.Configuration()
    cfg.host = settings.server.rstrip("/")
    cfg.ssl_ca_cert = settings.ca_file
    cfg.verify_ssl = not settings.insecure_skip_tls_verify
    cfg.retries = 0
    token = _token(settings)
    if token:
        cfg.api_key = {"authorization": token}
        cfg.api_key_prefix = {"authorization": "Bearer"}
    return k8s.ApiClient(cfg)


class KubeCluster:
    """The Cluster port over HTTP. Thread-safe; one instance per cluster per process is enough."""

    def __init__(self, settings: ClusterSettings, *, retry_policy: RetryPolicy | None = None,
                 api: k8s.ApiClient | None = None) -> None:
        self.name = settings.name
        self.settings = settings
        self._api = api or _api_client(settings)
        self._bucket = TokenBucket(settings.qps)
        self._retry = retry_policy or RetryPolicy()
        self._discovered: dict[tuple[str, str], ResourceInfo] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self._api.close()

    # -- transport -------------------------------------------------------------------------------
    def _once(self, method: str, path: str, query: list[tuple[str, str]], body: Any,
              content_type: str, obj: str | None) -> Any:
        self._bucket.acquire()
        timeout = self.settings.timeout_seconds
        resp = None
        try:
            resp = self._api.call_api(
                path, method, query_params=query, body=body, auth_settings=["BearerToken"],
                header_params={"Content-Type": content_type, "Accept": "application/json"},
                _preload_content=False, _return_http_data_only=True, _request_timeout=(timeout, timeout))
            data = resp.data  # the body is read here, inside the guard: a cut connection is temporary
        except ApiException as exc:
            raise translate(exc.status or 0, exc.body, exc.headers, obj=obj,
                            target=self.name) from exc
        except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as exc:
            cut = " (connection cut mid-response)" if resp is not None else ""
            raise ClusterUnavailable(f"{method} {path}: {type(exc).__name__}{cut}: {exc}", obj=obj,
                                     target=self.name) from exc
        finally:
            if resp is not None:
                resp.release_conn()
        try:
            return json.loads(data) if data else {}
        except ValueError as exc:
            raise ClusterUnavailable(f"{method} {path}: response is not JSON", obj=obj,
                                     target=self.name) from exc

    def _request(self, method: str, path: str, *, query: list[tuple[str, str]] | None = None,
                 body: Any = None, content_type: str = "application/json", obj: str | None = None) -> Any:
        return retry(lambda: self._once(method, path, query or [], body, content_type, obj), self._retry)

    # -- discovery -------------------------------------------------------------------------------
    def resource_for(self, api_version: str, kind: str) -> ResourceInfo:
        info = builtin(api_version, kind)
        if info is not None:
            return info
        with self._lock:
            info = self._discovered.get((api_version, kind))
        if info is not None:
            return info
        self._discover(api_version)
        with self._lock:
            info = self._discovered.get((api_version, kind))
        if info is None:
            raise NotFound(f"kind {kind} is not served by {api_version} on cluster {self.name}",
                           status=404, target=self.name)
        return info

    def _discover(self, api_version: str) -> None:
        group, _, version = api_version.rpartition("/")
        info = ResourceInfo(group, version, "", "x", False)
        path = collection_path(info, None).rsplit("/", 1)[0]
        try:
            doc = self._request("GET", path)
        except NotFound:
            return
        found = {}
        for res in doc.get("resources") or []:
            if isinstance(res, dict) and "/" not in str(res.get("name", "")) and res.get("kind"):
                found[(api_version, str(res["kind"]))] = ResourceInfo(
                    group, version, str(res["kind"]), str(res["name"]), bool(res.get("namespaced")))
        with self._lock:
            self._discovered.update(found)

    def invalidate_discovery(self) -> None:
        with self._lock:
            self._discovered.clear()

    # -- verbs -----------------------------------------------------------------------------------
    def get(self, ref: ObjectRef) -> Manifest | None:
        info = self.resource_for(ref.api_version, ref.kind)
        try:
            obj: Manifest = self._request("GET", object_path(info, ref.namespace, ref.name), obj=str(ref))
        except NotFound:
            return None
        return obj

    def list(self, api_version: str, kind: str, *, namespace: str | None = None,
             label_selector: str | None = None) -> list[Manifest]:
        info = self.resource_for(api_version, kind)
        query = [("labelSelector", label_selector)] if label_selector else []
        doc = self._request("GET", collection_path(info, namespace), query=query)
        items = [i for i in doc.get("items") or [] if isinstance(i, dict)]
        for item in items:  # LIST items carry no kind/apiVersion
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
        return items

    def apply(self, obj: Manifest, *, field_manager: str, force: bool = False,
              dry_run: bool = False) -> Manifest:
        ref = ObjectRef.of(obj)
        info = self.resource_for(ref.api_version, ref.kind)
        query = [("fieldManager", check_name(field_manager, "field manager"))]
        if force:
            query.append(("force", "true"))
        if dry_run:
            query.append(("dryRun", "All"))
        path = object_path(info, ref.namespace or None, ref.name)
        result: Manifest = self._request("PATCH", path, query=query, body=obj,
                                         content_type="application/apply-patch+yaml", obj=str(ref))
        return result

    def create(self, obj: Manifest, *, field_manager: str) -> Manifest:
        ref = ObjectRef.of(obj)
        info = self.resource_for(ref.api_version, ref.kind)
        if ref.name:
            check_name(ref.name, "name")
        else:  # the server appends five characters to the prefix
            check_name(str((obj.get("metadata") or {}).get("generateName", "")) + "x", "generateName")
        query = [("fieldManager", check_name(field_manager, "field manager"))]
        if info.namespaced and not ref.namespace:
            raise InputError(f"{info.kind} {ref.name!r} is namespaced but has no namespace",
                             field="metadata.namespace")
        result: Manifest = self._request("POST", collection_path(info, ref.namespace or None), query=query,
                                         body=obj, obj=str(ref))
        result.setdefault("apiVersion", info.api_version)
        result.setdefault("kind", info.kind)
        return result

    def delete(self, ref: ObjectRef, *, propagation: str = "Background") -> bool:
        info = self.resource_for(ref.api_version, ref.kind)
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        try:
            self._request("DELETE", object_path(info, ref.namespace or None, ref.name), body=body,
                          obj=str(ref))
        except NotFound:
            return False
        return True


def connect(settings: ClusterSettings) -> KubeCluster:
    return KubeCluster(settings)


class KubeClusters:
    """The ClusterFactory port: one cached KubeCluster per configured cluster (discovery reused)."""

    def __init__(self, *, retry_policy: RetryPolicy | None = None) -> None:
        self._clusters: dict[ClusterSettings, KubeCluster] = {}
        self._retry = retry_policy
        self._lock = threading.Lock()

    def connect(self, cluster: domain.Cluster) -> KubeCluster:
        settings = ClusterSettings.of(cluster)
        with self._lock:
            found = self._clusters.get(settings)
            if found is None:
                found = self._clusters[settings] = KubeCluster(settings, retry_policy=self._retry)
            return found

    def close(self) -> None:
        with self._lock:
            for cluster in self._clusters.values():
                cluster.close()
            self._clusters.clear()
