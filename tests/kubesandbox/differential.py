"""The differential harness: the same write sequence against the sandbox and a real kube-apiserver.

Used by ``test_differential.py`` (issue 14, "the sandbox, held to the real server"). A sequence is a
list of :class:`Op` (create, server-side apply, update, JSON/merge/strategic patch, delete; any of them
as a dry run) on a few objects of a few kinds (ConfigMap, Secret, Deployment, Service and the custom
resource ``Widget``) in a fresh namespace of each server. After every step both servers' answers are
compared, and so is the object each one then stores (a GET):

- the HTTP status code;
- for a failure, the Status ``reason`` and, for 409 and 422, the causes' ``(reason, field)`` pairs
  (messages are not compared: the sandbox follows Go's wording only approximately, see
  docs/sandbox.md);
- for a success, the returned object and the stored object after :func:`normalize` removes what each
  server sets on its own (see :data:`SERVER_SET`): ``uid``, ``resourceVersion``,
  ``creationTimestamp``, each managedFields entry's ``time`` (entries are compared as a set: the
  apiserver orders them by operation, then by time in seconds, then manager), the writes of the
  controllers (``kube-controller-manager``'s entries, a Deployment's ``status`` and
  ``deployment.kubernetes.io/revision`` annotation: both servers run a controller at its own pace),
  and a Service's allocated ``clusterIP``/``clusterIPs`` (different ranges). A Deployment's
  ``generation`` is not compared either: its strategy also bumps it when annotations change, so an
  update that drops the revision annotation bumps it or not depending on whether the controller had
  set it yet (test_real_server_rules.py checks the rule on the sandbox). ``generation``, labels,
  data, defaults and managedFields' manager, operation, apiVersion, subresource and FieldsV1 are
  compared exactly.

A difference either is a sandbox bug (fixed in kubesandbox/ with a regression test) or is listed in
docs/sandbox.md's "Known differences from kube-apiserver" table and in the test module's ``KNOWN``,
whose matchers recognize exactly that difference; the sequence then stops being compared (both
servers' states may have diverged).

Timing: a PUT with the ``current`` version is re-read and retried on a 409 without causes (a
controller wrote in between), and each namespace's Services are deleted before the namespace (their
cluster IPs come from a /24 on the test control plane, freed only when the namespace controller gets
there).
"""

from __future__ import annotations

import base64
import copy
import json
import ssl
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

USER_AGENT = "difftest/1.0"  # the default field manager of non-apply writes is "difftest"
PATCH_TYPES = {"json": "application/json-patch+json", "merge": "application/merge-patch+json",
               "strategic": "application/strategic-merge-patch+json", "apply": "application/apply-patch+yaml"}
CONTROLLERS = frozenset({"kube-controller-manager", "kube-scheduler"})
SERVER_SET = ("uid", "resourceVersion", "creationTimestamp", "selfLink")

# --- endpoints ------------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    body: Any

    @property
    def reason(self) -> str:
        return str(self.body.get("reason", "")) if isinstance(self.body, dict) else ""


class Endpoint:
    """One server over HTTP(S), as the admin."""

    def __init__(self, name: str, client: httpx.Client) -> None:
        self.name = name
        self.client = client

    def request(self, method: str, path: str, body: Any = None, *, content_type: str = "application/json",
                params: dict[str, str] | None = None) -> Reply:
        data = None if body is None else json.dumps(body).encode()
        answer = self.client.request(method, path, content=data, params=params,
                                     headers={"Content-Type": content_type})
        try:
            parsed = answer.json() if answer.content else None
        except ValueError:
            parsed = answer.text
        return Reply(answer.status_code, parsed)

    def close(self) -> None:
        self.client.close()


def sandbox_endpoint(url: str) -> Endpoint:
    return Endpoint("sandbox", httpx.Client(base_url=url, timeout=30.0, headers={"User-Agent": USER_AGENT}))


def kubeconfig_endpoint(path: Path, directory: Path) -> Endpoint:
    """An endpoint for the current context of a kubeconfig (client certificate or token)."""
    config = yaml.safe_load(path.read_text())
    context_name = config.get("current-context")
    context = next(c["context"] for c in config["contexts"] if c["name"] == context_name)
    cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
    user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
    tls = ssl.create_default_context()
    if cluster.get("certificate-authority-data"):
        tls.load_verify_locations(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
    elif cluster.get("certificate-authority"):
        tls.load_verify_locations(cafile=cluster["certificate-authority"])
    if cluster.get("insecure-skip-tls-verify"):
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE
    headers = {"User-Agent": USER_AGENT}
    if user.get("client-certificate-data"):
        cert, key = directory / "client.crt", directory / "client.key"
        cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
        key.write_bytes(base64.b64decode(user["client-key-data"]))
        key.chmod(0o600)
        tls.load_cert_chain(str(cert), str(key))
    elif user.get("client-certificate"):
        tls.load_cert_chain(user["client-certificate"], user["client-key"])
    if user.get("token"):
        headers["Authorization"] = f"Bearer {user['token']}"
    client = httpx.Client(base_url=cluster["server"], verify=tls, timeout=30.0, headers=headers)
    return Endpoint("real", client)


def real_endpoint(path: Path) -> Endpoint:
    with tempfile.TemporaryDirectory() as tmp:  # the key is loaded into the SSL context, then removed
        return kubeconfig_endpoint(path, Path(tmp))


# --- kinds ----------------------------------------------------------------------------------------

CRD_GROUP = "diff.gitops.dev"
CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": f"widgets.{CRD_GROUP}"},
    "spec": {
        "group": CRD_GROUP, "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
        "versions": [{
            "name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
            "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                "spec": {"type": "object", "properties": {
                    "color": {"type": "string"},
                    "replicas": {"type": "integer"},
                    "items": {"type": "array", "x-kubernetes-list-type": "map",
                              "x-kubernetes-list-map-keys": ["name"],
                              "items": {"type": "object", "required": ["name"], "properties": {
                                  "name": {"type": "string"}, "value": {"type": "string"}}}},
                    "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                    "config": {"type": "object", "additionalProperties": {"type": "string"}}}},
                "status": {"type": "object", "properties": {"phase": {"type": "string"}}}}}},
        }],
    },
}


@dataclass(frozen=True)
class Kind:
    kind: str
    api_version: str
    plural: str

    def collection(self, namespace: str) -> str:
        prefix = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        return f"{prefix}/namespaces/{namespace}/{self.plural}"

    def path(self, namespace: str, name: str) -> str:
        return f"{self.collection(namespace)}/{name}"


NAMES = ("a", "b")  # the object names sequences use
KINDS = {k.kind: k for k in (Kind("ConfigMap", "v1", "configmaps"), Kind("Secret", "v1", "secrets"),
                             Kind("Deployment", "apps/v1", "deployments"), Kind("Service", "v1", "services"),
                             Kind("Widget", f"{CRD_GROUP}/v1", "widgets"))}


def install_crd(endpoint: Endpoint, timeout: float = 60.0) -> None:
    """Create the Widget CRD (if absent) and wait until its resource answers."""
    path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    reply = endpoint.request("POST", path, CRD)
    if reply.status not in (201, 409):
        raise RuntimeError(f"{endpoint.name}: creating the CRD: {reply.status} {reply.body}")
    deadline = time.monotonic() + timeout
    while True:
        crd = endpoint.request("GET", f"{path}/{CRD['metadata']['name']}").body
        established = any(c.get("type") == "Established" and c.get("status") == "True"
                          for c in (crd.get("status") or {}).get("conditions") or [])
        if established and endpoint.request("GET", f"/apis/{CRD_GROUP}/v1/widgets").status == 200:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{endpoint.name}: the CRD was not established within {timeout} s")
        time.sleep(0.1)  # polling the real server's CRD controller, not synchronising a test


# --- operations -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    """One step. ``body`` is the content (without apiVersion/kind/name, added per server), the patch
    document, or DeleteOptions; ``rv`` for update and delete: ``none``, ``current`` (read just before)
    or ``stale`` (the one before the last change)."""

    verb: str                  # create, apply, update, patch, delete
    kind: str
    name: str
    body: Any = None
    patch_type: str = ""       # json, merge, strategic (verb patch)
    manager: str | None = None  # fieldManager query parameter (None: the User-Agent's "difftest")
    force: bool = False
    dry_run: bool = False
    rv: str = "none"
    subresource: str = ""      # "status" (update and patch)
    validation: str = ""       # the fieldValidation parameter (Strict, Warn, Ignore)

    def describe(self) -> str:
        extra = [f"type={self.patch_type}"] if self.patch_type else []
        extra += [f"manager={self.manager}"] if self.manager else []
        extra += ["force"] if self.force else []
        extra += ["dryRun=All"] if self.dry_run else []
        extra += [f"rv={self.rv}"] if self.rv != "none" else []
        extra += [f"/{self.subresource}"] if self.subresource else []
        extra += [f"fieldValidation={self.validation}"] if self.validation else []
        body = json.dumps(self.body, sort_keys=True)
        return f"{self.verb} {self.kind}/{self.name} {' '.join(extra)} {body}"


def full_object(op: Op, namespace: str) -> dict[str, Any]:
    kind = KINDS[op.kind]
    body = copy.deepcopy(op.body) if isinstance(op.body, dict) else {}
    meta = body.pop("metadata", {}) or {}
    return {"apiVersion": kind.api_version, "kind": kind.kind,
            "metadata": {**meta, "name": op.name, "namespace": namespace}, **body}


@dataclass
class Track:
    """What one server's run has seen of each object's resourceVersions (for ``rv`` choices)."""

    versions: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def saw(self, kind: str, name: str, obj: Any) -> None:
        rv = (obj.get("metadata") or {}).get("resourceVersion") if isinstance(obj, dict) else None
        if rv and obj.get("kind") == kind:
            seen = self.versions.setdefault((kind, name), [])
            if not seen or seen[-1] != rv:
                seen.append(rv)

    def stale(self, kind: str, name: str) -> str | None:
        seen = self.versions.get((kind, name), [])
        return seen[-2] if len(seen) >= 2 else None


def send(endpoint: Endpoint, op: Op, namespace: str, track: Track, stale_ok: bool) -> Reply:
    """Send one operation; ``current`` versions are read just before (and re-read when a controller
    changed the object in between: a 409 Conflict without causes is retried a few times)."""
    kind = KINDS[op.kind]
    params = {"dryRun": "All"} if op.dry_run else {}
    if op.manager:
        params["fieldManager"] = op.manager
    if op.validation:
        params["fieldValidation"] = op.validation
    for _ in range(5):
        rv: str | None = None
        if op.rv == "current":
            live = endpoint.request("GET", kind.path(namespace, op.name))
            rv = (live.body.get("metadata") or {}).get("resourceVersion") if live.status == 200 else None
        elif op.rv == "stale":
            rv = track.stale(op.kind, op.name) if stale_ok else None
        reply = _send_once(endpoint, op, kind, namespace, params, rv)
        if not (op.rv == "current" and reply.status == 409 and reply.reason == "Conflict"):
            break
    if reply.status < 300 and not op.dry_run:
        track.saw(op.kind, op.name, reply.body)
    return reply


def _send_once(endpoint: Endpoint, op: Op, kind: Kind, namespace: str, params: dict[str, str],
               rv: str | None) -> Reply:
    if op.verb == "create":
        return endpoint.request("POST", kind.collection(namespace), full_object(op, namespace), params=params)
    path = kind.path(namespace, op.name) + (f"/{op.subresource}" if op.subresource else "")
    if op.verb == "apply":
        if op.force:
            params = {**params, "force": "true"}
        obj = full_object(op, namespace)
        if rv:  # a precondition of the apply
            obj["metadata"]["resourceVersion"] = rv
        return endpoint.request("PATCH", path, obj, content_type=PATCH_TYPES["apply"], params=params)
    if op.verb == "update":
        obj = full_object(op, namespace)
        if rv:
            obj["metadata"]["resourceVersion"] = rv
        return endpoint.request("PUT", path, obj, params=params)
    if op.verb == "patch":
        return endpoint.request("PATCH", path, op.body, content_type=PATCH_TYPES[op.patch_type],
                                params=params)
    if op.verb == "delete":
        options: dict[str, Any] = dict(op.body or {})
        if rv:
            options["preconditions"] = {"resourceVersion": rv}
        return endpoint.request("DELETE", path, options or None, params=params)
    raise ValueError(op.verb)


# --- comparison -----------------------------------------------------------------------------------


def normalize(obj: Any) -> Any:
    """An object (or Status) without what each server sets on its own (module docstring)."""
    if not isinstance(obj, dict):
        return obj
    obj = copy.deepcopy(obj)
    if obj.get("kind") == "Status":
        details = obj.get("details")
        if isinstance(details, dict):
            details.pop("uid", None)
        return obj
    meta = obj.get("metadata") or {}
    for key in SERVER_SET:
        meta.pop(key, None)
    entries = [{k: v for k, v in entry.items() if k != "time"} for entry in meta.get("managedFields") or []
               if entry.get("manager") not in CONTROLLERS]
    if "managedFields" in meta:
        meta["managedFields"] = sorted(entries, key=lambda e: json.dumps(e, sort_keys=True))
    if obj.get("kind") == "Deployment":
        obj.pop("status", None)
        meta.pop("generation", None)  # bumped by annotation changes, so by removing the controller's
        annotations = meta.get("annotations") or {}
        annotations.pop("deployment.kubernetes.io/revision", None)
        if "annotations" in meta and not annotations:
            meta.pop("annotations")
    if obj.get("kind") == "Service":
        spec = obj.get("spec") or {}
        spec.pop("clusterIP", None)
        spec.pop("clusterIPs", None)
    return obj


def outcome(reply: Reply) -> Any:
    """What is compared of one answer."""
    if reply.status >= 400:
        body = reply.body if isinstance(reply.body, dict) else {}
        causes = sorted((c.get("reason", ""), c.get("field", ""))
                        for c in (body.get("details") or {}).get("causes") or [])
        return {"status": reply.status, "reason": body.get("reason", ""),
                **({"causes": causes} if reply.status in (409, 422) else {})}
    return {"status": reply.status, "body": normalize(reply.body)}


@dataclass(frozen=True)
class Difference:
    step: int
    op: Op
    what: str              # "answer" or "stored"
    sandbox: Any
    real: Any

    def __str__(self) -> str:
        return (f"step {self.step} ({self.what}): {self.op.describe()}\n"
                f"  sandbox: {json.dumps(self.sandbox)}\n  real:    {json.dumps(self.real)}")


@dataclass(frozen=True)
class Known:
    """A documented difference (docs/sandbox.md, "Known differences from kube-apiserver", row
    ``docs``): ``matches(difference)`` recognizes exactly it."""

    docs: str
    matches: Callable[[Difference], bool]


@dataclass
class Result:
    differences: list[Difference]
    known: list[tuple[str, Difference]]
    steps: int


def run(sandbox: Endpoint, real: Endpoint, ops: list[Op], known: dict[str, Known]) -> Result:
    """Run ``ops`` on both servers in a fresh namespace each; stop at the first difference."""
    namespace = f"diff-{uuid.uuid4().hex[:10]}"
    with _namespace(sandbox, namespace), _namespace(real, namespace):
        tracks = (Track(), Track())
        for step, op in enumerate(ops):
            stale_ok = all(t.stale(op.kind, op.name) for t in tracks)
            answers = [send(ep, op, namespace, t, stale_ok)
                       for ep, t in zip((sandbox, real), tracks, strict=True)]
            path = KINDS[op.kind].path(namespace, op.name)
            stored = [ep.request("GET", path) for ep in (sandbox, real)]
            for what, (a, b) in (("answer", answers), ("stored", stored)):
                left, right = outcome(a), outcome(b)
                if left != right:
                    difference = Difference(step, op, what, left, right)
                    for name, entry in known.items():
                        if entry.matches(difference):
                            return Result([], [(name, difference)], step + 1)
                    return Result([difference], [], step + 1)
            for t, reply in zip(tracks, stored, strict=True):
                if reply.status == 200:
                    t.saw(op.kind, op.name, reply.body)
        return Result([], [], len(ops))


class _namespace:
    def __init__(self, endpoint: Endpoint, name: str) -> None:
        self.endpoint, self.name = endpoint, name

    def __enter__(self) -> None:
        reply = self.endpoint.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                                      "metadata": {"name": self.name}})
        if reply.status != 201:
            raise RuntimeError(f"{self.endpoint.name}: creating namespace {self.name}: {reply.status} "
                               f"{reply.body}")

    def __exit__(self, *exc: object) -> None:
        # Services first: their cluster IPs (a /24 on the test control plane) come back at once, not
        # when the namespace controller gets to them; it (the sandbox's own deletion) removes the rest
        for name in NAMES:
            self.endpoint.request("DELETE", KINDS["Service"].path(self.name, name))
        self.endpoint.request("DELETE", f"/api/v1/namespaces/{self.name}")

