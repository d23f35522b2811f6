"""A Rekor v1 transparency log of our own, for tests: a P-256 log key, entries canonicalized as
sigstore/rekor v1.5 canonicalizes them (pkg/types: ``hashedrekord`` 0.0.1, ``dsse`` 0.0.1,
``intoto`` 0.0.2 and 0.0.1), Signed Entry Timestamps as Rekor signs them (ECDSA P-256 over the
RFC 8785 JSON of ``{body, integratedTime, logID, logIndex}``), and the three forms the evidence
takes: Rekor's ``LogEntryAnon`` (the API answer), a Sigstore bundle's ``tlogEntries[]`` item
(protobuf JSON, as cosign 3 writes it) and cosign's ``dev.sigstore.cosign/bundle`` annotation.

:meth:`FakeRekor.serve` answers ``POST /api/v1/log/entries`` on 127.0.0.1 (a ``201`` with the entry,
``ETag`` its UUID, as Rekor does), so the real cosign uploads to it with ``--rekor-url``. It does
not verify what it logs (Rekor does): it records what it was given, the tests judge that. Its
``integrated_time`` is fixed (no wall clock); the inclusion proof it returns is of a tree of one
leaf (cosign 3 requires an inclusion proof in the answer and does not check it when signing).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

INTEGRATED_TIME = 1_767_225_600  # 2026-01-01T00:00:00Z


def canonical(value: Any) -> bytes:
    """RFC 8785 JSON for the ASCII strings and integers of these documents: sorted keys, no spaces."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def pem_of(key: Any) -> bytes:
    """A public key's PEM (SubjectPublicKeyInfo), as Rekor's canonical verifier value."""
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    return bytes(key.public_bytes(serialization.Encoding.PEM, spki))


def canonical_pem(pem: bytes) -> bytes:
    return pem_of(serialization.load_pem_public_key(pem))


def sha256(data: bytes) -> dict[str, str]:
    return {"algorithm": "sha256", "value": hashlib.sha256(data).hexdigest()}


# ---- entry bodies, as rekor's types canonicalize them -------------------------------------------------


def dsse_body(envelope: bytes, verifiers: list[bytes]) -> dict[str, Any]:
    """``dsse`` 0.0.1 for the envelope JSON ``envelope`` (the bytes uploaded) signed by the keys
    ``verifiers`` (PEM): signatures sorted, each with its key (here: every signature is given the
    first key; the tests sign with one key)."""
    doc = json.loads(envelope)
    signatures = sorted(s["sig"] for s in doc["signatures"])
    return {"apiVersion": "0.0.1", "kind": "dsse",
            "spec": {"envelopeHash": sha256(envelope),
                     "payloadHash": sha256(base64.b64decode(doc["payload"])),
                     "signatures": [{"signature": sig, "verifier": b64(canonical_pem(verifiers[0]))}
                                    for sig in signatures]}}


def intoto_v002_body(envelope: bytes, verifier: bytes) -> dict[str, Any]:
    """``intoto`` 0.0.2: the envelope without its payload; ``sig`` is the base64 of the envelope's
    base64 signature (rekor stores the string's bytes as ``strfmt.Base64``)."""
    doc = json.loads(envelope)
    return {"apiVersion": "0.0.2", "kind": "intoto",
            "spec": {"content": {"envelope": {"payloadType": doc["payloadType"],
                                              "signatures": [{"keyid": s.get("keyid", ""),
                                                              "sig": b64(s["sig"].encode()),
                                                              "publicKey": b64(canonical_pem(verifier))}
                                                             for s in doc["signatures"]]},
                                 "hash": sha256(envelope),
                                 "payloadHash": sha256(base64.b64decode(doc["payload"]))}}}


def intoto_v001_body(envelope: bytes, verifier: bytes) -> dict[str, Any]:
    doc = json.loads(envelope)
    return {"apiVersion": "0.0.1", "kind": "intoto",
            "spec": {"content": {"hash": sha256(envelope),
                                 "payloadHash": sha256(base64.b64decode(doc["payload"]))},
                     "publicKey": b64(canonical_pem(verifier))}}


def canonicalize(proposed: dict[str, Any]) -> dict[str, Any]:
    """The body Rekor stores for a proposed entry (what cosign POSTs)."""
    kind, version, spec = proposed["kind"], proposed["apiVersion"], proposed["spec"]
    if (kind, version) == ("hashedrekord", "0.0.1"):
        return {"apiVersion": version, "kind": kind,
                "spec": {"data": {"hash": spec["data"]["hash"]},
                         "signature": {"content": spec["signature"]["content"],
                                       "publicKey": {"content": b64(canonical_pem(base64.b64decode(
                                           spec["signature"]["publicKey"]["content"])))}}}}
    if (kind, version) == ("dsse", "0.0.1"):
        content = spec["proposedContent"]
        return dsse_body(content["envelope"].encode(), [base64.b64decode(v) for v in content["verifiers"]])
    raise ValueError(f"the fake log does not take {kind} {version}")


# ---- the log ----------------------------------------------------------------------------------------


@dataclass
class FakeRekor:
    private: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    integrated_time: int = INTEGRATED_TIME
    next_index: int = 1000
    proposed: list[dict[str, Any]] = field(default_factory=list)  # what was POSTed, in order

    @property
    def der(self) -> bytes:
        return self.private.public_key().public_bytes(serialization.Encoding.DER,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)

    @property
    def log_id(self) -> str:
        return hashlib.sha256(self.der).hexdigest()

    @property
    def public_pem(self) -> bytes:
        return pem_of(self.private.public_key())

    def trusted_root(self, *, start: str = "2025-01-01T00:00:00Z", end: str | None = None,
                     url: str = "http://127.0.0.1") -> dict[str, Any]:
        """A Sigstore trusted root (``trusted_root.json``) whose only log is this one."""
        valid: dict[str, str] = {"start": start, **({"end": end} if end else {})}
        return {"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
                "tlogs": [{"baseUrl": url, "hashAlgorithm": "SHA2_256",
                           "publicKey": {"rawBytes": b64(self.der), "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                                         "validFor": valid},
                           "logId": {"keyId": b64(bytes.fromhex(self.log_id))}}],
                "certificateAuthorities": [], "ctlogs": [], "timestampAuthorities": []}

    def write_trusted_root(self, path: Path, **kwargs: Any) -> Path:
        path.write_text(json.dumps(self.trusted_root(**kwargs)))
        return path

    def log(self, body: dict[str, Any] | bytes, *, integrated_time: int | None = None) -> dict[str, Any]:
        """Log ``body`` (a document, canonicalized here, or exact bytes): Rekor's ``LogEntryAnon``."""
        raw = body if isinstance(body, bytes) else canonical(body)
        index, self.next_index = self.next_index, self.next_index + 1
        entry = {"body": b64(raw), "integratedTime": self.integrated_time if integrated_time is None
                 else integrated_time, "logID": self.log_id, "logIndex": index}
        signed = self.private.sign(canonical(entry), ec.ECDSA(hashes.SHA256()))
        leaf = hashlib.sha256(b"\x00" + raw).hexdigest()
        return {**entry, "verification": {
            "signedEntryTimestamp": b64(signed),
            "inclusionProof": {"checkpoint": f"fake-rekor - 0\n1\n{b64(bytes.fromhex(leaf))}\n\n",
                               "hashes": [], "logIndex": 0, "rootHash": leaf, "treeSize": 1}}}

    @staticmethod
    def tlog_entry(anon: dict[str, Any]) -> dict[str, Any]:
        """A bundle's ``verificationMaterial.tlogEntries[]`` item for ``anon`` (protobuf JSON: int64 as
        strings, bytes as base64), as cosign 3 writes it."""
        body = json.loads(base64.b64decode(anon["body"]))
        proof = anon["verification"]["inclusionProof"]
        return {"logIndex": str(anon["logIndex"]), "logId": {"keyId": b64(bytes.fromhex(anon["logID"]))},
                "kindVersion": {"kind": body["kind"], "version": body["apiVersion"]},
                "integratedTime": str(anon["integratedTime"]),
                "inclusionPromise": {"signedEntryTimestamp": anon["verification"]["signedEntryTimestamp"]},
                "inclusionProof": {"logIndex": str(proof["logIndex"]),
                                   "rootHash": b64(bytes.fromhex(proof["rootHash"])),
                                   "treeSize": str(proof["treeSize"]), "hashes": [],
                                   "checkpoint": {"envelope": proof["checkpoint"]}},
                "canonicalizedBody": anon["body"]}

    @staticmethod
    def annotation(anon: dict[str, Any]) -> str:
        """cosign's ``dev.sigstore.cosign/bundle`` annotation for ``anon``."""
        return json.dumps({"SignedEntryTimestamp": anon["verification"]["signedEntryTimestamp"],
                           "Payload": {"body": anon["body"], "integratedTime": anon["integratedTime"],
                                       "logIndex": anon["logIndex"], "logID": anon["logID"]}})

    @contextmanager
    def serve(self) -> Iterator[str]:
        """Answer Rekor's entry upload on 127.0.0.1 while the block runs; yields the base URL."""
        rekor = self
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if self.path != "/api/v1/log/entries":
                    self.send_error(404)
                    return
                proposed = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                with lock:
                    rekor.proposed.append(proposed)
                    anon = rekor.log(canonicalize(proposed))
                uuid = hashlib.sha256(b"\x00" + base64.b64decode(anon["body"])).hexdigest()
                answer = json.dumps({uuid: anon}).encode()
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("ETag", uuid)
                self.send_header("Location", f"/api/v1/log/entries/{uuid}")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()
            thread.join()
