"""Normalisation of objects before comparison and display (pure).

Called by the plan (gitops.plan) on both the live object and the predicted one (the server-side dry-run
result), so the server's own bookkeeping (resourceVersion, managedFields, status, timestamps) never counts
as drift. Defaulted fields need no special case: both sides went through the same API server defaulting.
Secret values are replaced by a keyed-hash mask here, before anything is compared, stored or printed, so
equal values still compare equal but no value (nor a brute-forceable plain hash) leaves this module.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import secrets
from typing import Any

from gitops import keys
from renderers.manifest import Manifest

_NOISE = ("managedFields", "resourceVersion", "uid", "creationTimestamp", "generation", "selfLink",
          "deletionTimestamp", "deletionGracePeriodSeconds")
_NOISY_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration", keys.APPLIED_HASH,
                      "deployment.kubernetes.io/revision")
_MASK_KEY = secrets.token_bytes(32)


def normalize(obj: Manifest) -> Manifest:
    """A copy of ``obj`` without status and metadata noise, Secret values masked."""
    out = copy.deepcopy(obj)
    out.pop("status", None)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        for key in _NOISE:
            meta.pop(key, None)
        for bag in ("annotations", "labels"):
            values = meta.get(bag)
            if isinstance(values, dict):
                for noisy in _NOISY_ANNOTATIONS:
                    values.pop(noisy, None)
            if not values:
                meta.pop(bag, None)
    return mask_secret(out)


def mask(value: Any) -> str:
    """A stable mask for one secret value: equal values give equal masks within this process."""
    digest = hmac.new(_MASK_KEY, json.dumps(value).encode(), hashlib.sha256).hexdigest()[:12]
    return f"<secret {digest}>"


def mask_secret(obj: Manifest) -> Manifest:
    """Mask ``data`` and ``stringData`` values in place when ``obj`` is a core Secret."""
    if obj.get("kind") != "Secret" or obj.get("apiVersion") != "v1":
        return obj
    for bag in ("data", "stringData"):
        values = obj.get(bag)
        if isinstance(values, dict):
            obj[bag] = {k: mask(v) for k, v in values.items()}
        elif values is not None:
            obj[bag] = mask(values)
    return obj


def stored_form(obj: Manifest) -> Manifest:
    """``obj`` as the API server stores it where that is known client-side: a Secret's ``stringData``
    folded into ``data`` (base64). Used only by the no-op check, so a desired Secret written with
    stringData still matches its live object without a dry-run."""
    if obj.get("kind") != "Secret" or obj.get("apiVersion") != "v1":
        return obj
    if not isinstance(obj.get("stringData"), dict):
        return obj
    out = dict(obj)
    plain = out.pop("stringData")
    data = dict(out.get("data") or {})
    data.update({k: base64.b64encode(str(v).encode()).decode() for k, v in plain.items()})
    out["data"] = data
    return out


def manifest_hash(obj: Manifest) -> str:
    """sha256 of the canonical JSON of a desired manifest (what APPLIED_HASH records)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def contains(live: Any, desired: Any) -> bool:
    """Whether every field ``desired`` sets has the same value in ``live`` (lists element-wise).

    The cheap client-side check of a no-op sync: fields the server added (defaults, other managers'
    fields) are ignored; anything the server may have rewritten (quantities) just fails the check and
    sends the object through the exact server-side dry-run instead.
    """
    if isinstance(desired, dict):
        return isinstance(live, dict) and all(k in live and contains(live[k], v) for k, v in desired.items())
    if isinstance(desired, list):
        return isinstance(live, list) and len(live) == len(desired) and all(
            contains(a, b) for a, b in zip(live, desired, strict=True))
    return bool(live == desired and type(live) is type(desired)) or (
        isinstance(live, (int, float)) and isinstance(desired, (int, float))
        and not isinstance(live, bool) and not isinstance(desired, bool) and live == desired)
