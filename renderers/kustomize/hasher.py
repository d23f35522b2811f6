"""The name-suffix hash Kustomize appends to generated ConfigMaps and Secrets.

Callers: the target builder, after all transformers (the hash covers the final content). Algorithm, to
match Kustomize byte for byte: encode a small map (kind, name — always empty, a Kustomize quirk —, data,
binaryData; type and stringData for Secrets) as
Go's ``json.Marshal`` does (sorted keys, no spaces, HTML characters escaped), take the SHA-256 hex
digest, keep 10 characters and swap the ones that could spell words (0,1,3,a,e -> g,h,k,m,t).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

_SWAP = str.maketrans({"0": "g", "1": "h", "3": "k", "a": "m", "e": "t"})


def go_json(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def encode(hex_digest: str) -> str:
    return hex_digest[:10].translate(_SWAP)


def _node_json(value: Any) -> Any:
    """A field as kyaml's lookup hands it to the hasher: absent -> "", maps kept as they are."""
    return "" if value is None else value


def content(obj: dict[str, Any]) -> str:
    """The JSON Kustomize hashes. Its lookup of "metadata/name" is a single, never-present key, so
    the name always hashes as "" — reproduced here on purpose."""
    kind = obj.get("kind")
    if kind == "ConfigMap":
        data: dict[str, Any] = {"kind": "ConfigMap", "name": "", "data": _node_json(obj.get("data"))}
        if isinstance(obj.get("binaryData"), dict):
            data["binaryData"] = obj["binaryData"]
        return go_json(data)
    if kind == "Secret":
        data = {"kind": "Secret", "type": _node_json(obj.get("type")), "name": "",
                "data": _node_json(obj.get("data"))}
        if isinstance(obj.get("stringData"), dict):
            data["stringData"] = obj["stringData"]
        return go_json(data)
    return go_json(obj)


def suffix(obj: dict[str, Any]) -> str:
    return encode(hashlib.sha256(content(obj).encode("utf-8")).hexdigest())
