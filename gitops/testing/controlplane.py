"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok's simulated nodes, built from their Go modules (tools/go/{etcd,kube,kwok},
scripts/build-go-tools).

Who uses it: the real-cluster test suite (tests/conftest.py ``real_cluster``: the variants that were
waiting for ``GITOPS_E2E_KUBECONFIG``), and a person trying the engine on a real API server without
Docker (``scripts/real-cluster up|down|kubeconfig``, which runs this module). What it does is what
controller-runtime's envtest does, plus controllers and nodes: certificates made here with
``cryptography`` (a CA, a serving certificate for the loopback names, an admin client certificate in
``system:masters``, a service-account key pair), etcd on two free ports, kube-apiserver with RBAC,
the controller-manager (garbage collection, namespaces, ReplicaSets, ServiceAccounts) and the
scheduler, then kwok with a Node it makes Ready and whose Pods it runs; an admin kubeconfig.

Key choices: everything binds to 127.0.0.1 and nothing may reach a pod or node IP; readiness is
waited on through each component's real signal (etcd's ``/health``, the API server's ``/readyz``, the
``default`` ServiceAccount that only the controller-manager creates, the scheduler's ``/healthz``,
the Node's Ready condition), never a fixed delay; every process started is stopped (SIGTERM, then
SIGKILL), in reverse order, and its log kept in the directory for a failed test to show.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "scripts" / "build-go-tools"
SERVICE_CIDR = "10.0.0.0/24"
POD_CIDR = "10.244.0.0/16"
NODE_NAME = "kwok-node-0"
KWOK_STAGES = ("node/fast/node-initialize.yaml", "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
               "pod/fast/pod-ready.yaml", "pod/fast/pod-complete.yaml", "pod/fast/pod-delete.yaml")


class ControlPlaneError(RuntimeError):
    """A component did not build, start or become ready; the message names it and ends with its log."""


@dataclass(frozen=True)
class Binaries:
    """Where the built executables are (``kwok_stages``: kwok's stage files from its module)."""

    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kwok: Path
    kwok_stages: Path

    @staticmethod
    def build(*, built_only: bool = False) -> Binaries:
        """Build (or find, warm) the tools with scripts/build-go-tools; ControlPlaneError on failure
        (``built_only``: never start a build, fail when one is needed)."""
        argv = ["bash", str(BUILD_SCRIPT), *(["--built-only"] if built_only else []), "kube", "etcd", "kwok"]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=3600, check=False)
        if proc.returncode != 0:
            raise ControlPlaneError(f"scripts/build-go-tools kube etcd kwok: {proc.stderr.strip()[-3000:]}")
        dirs = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if " " in line)
        kube, etcd, kwok = Path(dirs["kube"]), Path(dirs["etcd"]), Path(dirs["kwok"])
        return Binaries(etcd=etcd / "server", kube_apiserver=kube / "kube-apiserver",
                        kube_controller_manager=kube / "kube-controller-manager",
                        kube_scheduler=kube / "kube-scheduler", kwok=kwok / "kwok",
                        kwok_stages=_module_dir(ROOT / "tools" / "go" / "kwok", "sigs.k8s.io/kwok")
                        / "kustomize" / "stage")


def _module_dir(module_root: Path, path: str) -> Path:
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"}
    if Path("/usr/local/go/bin/go").exists():
        env["PATH"] = "/usr/local/go/bin:" + env.get("PATH", "")
    proc = subprocess.run(["go", "list", "-m", "-json", path], cwd=module_root, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    if proc.returncode != 0:
        raise ControlPlaneError(f"go list -m {path}: {proc.stderr[-1000:]}")
    return Path(json.loads(proc.stdout)["Dir"])


@dataclass(frozen=True)
class Options:
    """What to start beyond etcd and the API server, and how long readiness may take on a slow machine."""

    controllers: bool = True   # kube-controller-manager: GC, namespace deletion, ReplicaSets, SAs
    scheduler: bool = True     # kube-scheduler: Pods get a node
    nodes: bool = True         # kwok and one simulated Node: Pods become Running and Ready
    ready_timeout: float = 180.0


@dataclass
class _Process:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path


@dataclass
class ControlPlane:
    """One control plane in ``directory`` (certificates, etcd data, logs, ``kubeconfig.yaml``)."""

    directory: Path
    binaries: Binaries
    options: Options = field(default_factory=Options)
    ports: dict[str, int] = field(default_factory=dict)
    _processes: list[_Process] = field(default_factory=list)

    @property
    def kubeconfig(self) -> Path:
        return self.directory / "kubeconfig.yaml"

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.ports['apiserver']}"

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> ControlPlane:
        """Start every component and wait until each is ready; on any failure stop what was started."""
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            self._certificates()
            self.ports.update({name: _free_port() for name in ("etcd", "etcd_peer", "apiserver",
                                                              "controllers", "scheduler", "kwok")})
            self._start_etcd()
            self._start_apiserver()
            self._write_kubeconfig()
            if self.options.controllers:
                self._start_controllers()
            if self.options.scheduler:
                self._start_scheduler()
            if self.options.nodes:
                self._start_kwok()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every process this started, newest first: SIGTERM, then SIGKILL after 15 s."""
        while self._processes:
            item = self._processes.pop()
            if item.proc.poll() is None:
                try:
                    os.killpg(item.proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    item.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(item.proc.pid, signal.SIGKILL)
                    item.proc.wait(timeout=15)

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client(self) -> httpx.Client:
        """An HTTP client authenticated as the admin (``system:masters``), for readiness and set-up."""
        d = self.directory
        context = ssl.create_default_context(cafile=str(d / "ca.crt"))
        context.load_cert_chain(str(d / "admin.crt"), str(d / "admin.key"))
        return httpx.Client(base_url=self.url, verify=context, timeout=30.0)

    def logs(self) -> str:
        """The last lines of every component's log."""
        parts = []
        for log in sorted(self.directory.glob("*.log")):
            lines = log.read_text(errors="replace").splitlines()[-40:]
            parts.append(f"--- {log.name}\n" + "\n".join(lines))
        return "\n".join(parts)

    # -- components ------------------------------------------------------------------------------------
    def _spawn(self, name: str, argv: Sequence[str]) -> _Process:
        log = self.directory / f"{name}.log"
        with open(log, "wb") as out:  # the child keeps its own descriptor
            proc = subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT, cwd=self.directory,
                                    start_new_session=True, env={"PATH": os.environ.get("PATH", ""),
                                                                 "HOME": str(self.directory)})
        item = _Process(name, proc, log)
        self._processes.append(item)
        return item

    def _wait(self, item: _Process, what: str, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self.options.ready_timeout
        pause = 0.05
        while True:
            if item.proc.poll() is not None:
                raise ControlPlaneError(f"{item.name} exited with {item.proc.returncode} before {what}:\n"
                                        + item.log.read_text(errors="replace")[-3000:])
            try:
                if ready():
                    return
            except (httpx.HTTPError, OSError):
                pass
            if time.monotonic() > deadline:
                raise ControlPlaneError(f"{item.name}: no {what} within {self.options.ready_timeout:.0f} s:\n"
                                        + item.log.read_text(errors="replace")[-3000:])
            time.sleep(pause)  # polling a child's readiness endpoint, not synchronising a test
            pause = min(pause * 2, 0.5)

    def _start_etcd(self) -> None:
        client, peer = f"http://127.0.0.1:{self.ports['etcd']}", f"http://127.0.0.1:{self.ports['etcd_peer']}"
        item = self._spawn("etcd", [
            str(self.binaries.etcd), "--name=default", f"--data-dir={self.directory / 'etcd'}",
            f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=default={peer}", "--unsafe-no-fsync=true", "--log-level=warn",
            f"--listen-metrics-urls=http://127.0.0.1:{_free_port()}"])

        def healthy() -> bool:
            answer = httpx.get(f"{client}/health", timeout=5.0)
            return answer.status_code == 200 and answer.json().get("health") == "true"

        self._wait(item, "/health", healthy)

    def _start_apiserver(self) -> None:
        d, port = self.directory, self.ports["apiserver"]
        argv = [
            str(self.binaries.kube_apiserver), f"--etcd-servers=http://127.0.0.1:{self.ports['etcd']}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={port}",
            f"--tls-cert-file={d / 'apiserver.crt'}", f"--tls-private-key-file={d / 'apiserver.key'}",
            f"--client-ca-file={d / 'ca.crt'}", f"--service-account-issuer=https://127.0.0.1:{port}/",
            f"--service-account-key-file={d / 'sa.pub'}",
            f"--service-account-signing-key-file={d / 'sa.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}", "--authorization-mode=RBAC",
            "--allow-privileged=true", "--endpoint-reconciler-type=none", "--profiling=false",
            f"--cert-dir={d / 'apiserver-certs'}"]
        if not self.options.controllers:  # nobody would create the ServiceAccounts it requires
            argv.append("--disable-admission-plugins=ServiceAccount")
        item = self._spawn("kube-apiserver", argv)

        def ready() -> bool:
            with self.client() as c:
                return (c.get("/readyz").status_code == 200
                        and c.get("/api/v1/namespaces/default").status_code == 200)

        self._wait(item, "/readyz", ready)

    def _start_controllers(self) -> None:
        d = self.directory
        item = self._spawn("kube-controller-manager", [
            str(self.binaries.kube_controller_manager), f"--kubeconfig={self.kubeconfig}",
            "--leader-elect=false", "--bind-address=127.0.0.1", f"--secure-port={self.ports['controllers']}",
            "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics",
            f"--service-account-private-key-file={d / 'sa.key'}", f"--root-ca-file={d / 'ca.crt'}",
            "--use-service-account-credentials=false", f"--cluster-cidr={POD_CIDR}",
            "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-route"])

        def accounts() -> bool:  # only the controller-manager creates default/default
            with self.client() as c:
                return c.get("/api/v1/namespaces/default/serviceaccounts/default").status_code == 200

        self._wait(item, "the default ServiceAccount", accounts)

    def _start_scheduler(self) -> None:
        port = self.ports["scheduler"]
        item = self._spawn("kube-scheduler", [
            str(self.binaries.kube_scheduler), f"--kubeconfig={self.kubeconfig}", "--leader-elect=false",
            "--bind-address=127.0.0.1", f"--secure-port={port}",
            f"--authentication-kubeconfig={self.kubeconfig}",
            f"--authorization-kubeconfig={self.kubeconfig}"])

        def healthy() -> bool:
            # the scheduler serves a certificate it made itself: this probe of our own child on
            # loopback has nothing to check it against
            answer = httpx.get(f"https://127.0.0.1:{port}/healthz", verify=False, timeout=5.0)
            return answer.status_code == 200

        self._wait(item, "/healthz", healthy)

    def _start_kwok(self) -> None:
        stages = self.directory / "kwok-stages.yaml"
        stages.write_text("\n---\n".join((self.binaries.kwok_stages / s).read_text() for s in KWOK_STAGES))
        item = self._spawn("kwok", [
            str(self.binaries.kwok), f"--kubeconfig={self.kubeconfig}", f"--config={stages}",
            "--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            f"--cidr={POD_CIDR}", "--node-ip=127.0.0.1",
            f"--server-address=127.0.0.1:{self.ports['kwok']}"])
        with self.client() as c:
            c.post("/api/v1/nodes", json=_node()).raise_for_status()

        def node_ready() -> bool:
            with self.client() as c:
                node = c.get(f"/api/v1/nodes/{NODE_NAME}").json()
            conditions = node.get("status", {}).get("conditions", [])
            return any(x.get("type") == "Ready" and x.get("status") == "True" for x in conditions)

        self._wait(item, f"node {NODE_NAME} Ready", node_ready)

    # -- files -----------------------------------------------------------------------------------------
    def _certificates(self) -> None:
        d = self.directory
        now = dt.datetime.now(dt.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gitops-test-ca")])
        ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
              .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=30))
              .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
              .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                           content_commitment=False, key_encipherment=False,
                                           data_encipherment=False, key_agreement=False,
                                           encipher_only=False, decipher_only=False), critical=True)
              .sign(ca_key, hashes.SHA256()))
        _write_pem(d / "ca.crt", ca.public_bytes(serialization.Encoding.PEM))
        names: list[x509.GeneralName] = [x509.DNSName(n) for n in (
            "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local")]
        names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ("127.0.0.1", "10.0.0.1")]
        server = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")])
        self._leaf("apiserver", ca, ca_key, server, ExtendedKeyUsageOID.SERVER_AUTH, names, now)
        self._leaf("admin", ca, ca_key, x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "admin"),
                                                   x509.NameAttribute(NameOID.ORGANIZATION_NAME,
                                                                      "system:masters")]),
                   ExtendedKeyUsageOID.CLIENT_AUTH, [], now)
        sa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        _write_pem(d / "sa.key", sa.private_bytes(serialization.Encoding.PEM,
                                                  serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()), private=True)
        _write_pem(d / "sa.pub", sa.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))

    def _leaf(self, name: str, ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, subject: x509.Name,
              usage: x509.ObjectIdentifier, names: list[x509.GeneralName], now: dt.datetime) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=30))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        _write_pem(self.directory / f"{name}.crt", cert.public_bytes(serialization.Encoding.PEM))
        _write_pem(self.directory / f"{name}.key", key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
            private=True)

    def _write_kubeconfig(self) -> None:
        d = self.directory

        def b64(path: Path) -> str:
            return base64.b64encode(path.read_bytes()).decode()

        config: dict[str, Any] = {
            "apiVersion": "v1", "kind": "Config", "current-context": "real",
            "clusters": [{"name": "real", "cluster": {"server": self.url,
                                                      "certificate-authority-data": b64(d / "ca.crt")}}],
            "users": [{"name": "admin", "user": {"client-certificate-data": b64(d / "admin.crt"),
                                                 "client-key-data": b64(d / "admin.key")}}],
            "contexts": [{"name": "real", "context": {"cluster": "real", "user": "admin"}}]}
        _write_pem(self.kubeconfig, json.dumps(config, indent=2).encode(), private=True)


def _node() -> dict[str, Any]:
    capacity = {"cpu": "32", "memory": "256Gi", "pods": "110"}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": NODE_NAME, "annotations": {"kwok.x-k8s.io/node": "fake"},
                         "labels": {"kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux",
                                    "kubernetes.io/arch": "amd64", "type": "kwok"}},
            "spec": {}, "status": {"allocatable": capacity, "capacity": capacity}}


def _write_pem(path: Path, data: bytes, *, private: bool = False) -> None:
    path.write_bytes(data)
    if private:
        path.chmod(0o600)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# -- scripts/real-cluster ------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """``up`` (start one in the foreground until Ctrl-C; prints the kubeconfig), ``kubeconfig`` (print
    its path while one runs), ``down`` (stop the one running from this directory)."""
    args = list(sys.argv[1:] if argv is None else argv)
    state = Path(os.environ.get("GITOPS_REAL_CLUSTER_DIR", ".gitops/real-cluster")).resolve()
    command = args[0] if args else "up"
    if command == "kubeconfig":
        if not (state / "pid").exists():
            print("no real cluster is running from here (scripts/real-cluster up)", file=sys.stderr)
            return 1
        print(state / "kubeconfig.yaml")
        return 0
    if command == "down":
        try:
            os.kill(int((state / "pid").read_text()), signal.SIGTERM)
        except (OSError, ValueError):
            print("no real cluster is running from here", file=sys.stderr)
            return 1
        return 0
    if command != "up":
        print("usage: scripts/real-cluster up|down|kubeconfig", file=sys.stderr)
        return 2
    print("building (or reusing) etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok...",
          flush=True)
    plane = ControlPlane(state, Binaries.build())
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))
    try:
        plane.start()
        (state / "pid").write_text(str(os.getpid()))
        print(f"real cluster ready: {plane.url}\nKUBECONFIG={plane.kubeconfig}\n"
              "(Ctrl-C or scripts/real-cluster down stops it)", flush=True)
        while not stopping:
            signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        plane.stop()
        (state / "pid").unlink(missing_ok=True)
    print("real cluster stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
