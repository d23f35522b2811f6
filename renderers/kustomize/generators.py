"""``configMapGenerator`` and ``secretGenerator``: ConfigMaps and Secrets from literals, files, env files.

Callers: the target builder (and builtin generator plugin configs). Key order inside one generator is
Kustomize's: env files, then literals, then files; a repeated key is an error. Generator files are
read through the loader (load restrictor applies) with a size limit of their own. Design choice:
generated objects are ordinary :class:`Resource` values flagged ``needs_hash``; the hash is added
after all transformers, over the final content.
"""

from __future__ import annotations

import base64
import os
import re
from typing import Any

from renderers.kustomize.errors import as_list, as_map, fail
from renderers.kustomize.loader import MAX_GENERATOR_FILE_BYTES, Loader
from renderers.kustomize.resource import Resource

_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
BEHAVIORS = ("", "create", "merge", "replace")
KNOWN = frozenset({"name", "namespace", "behavior", "literals", "files", "envs", "env", "options", "type",
                   "kind"})


def _text(value: Any) -> str:
    if value is None:
        return ""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _literal(text: str, where: str) -> tuple[str, str]:
    key, sep, value = str(text).partition("=")
    if not sep:
        raise fail(f"invalid literal source {text}, expected key=value", where, "literals")
    return key, _unquote(value)


def _env_lines(data: bytes, ref: str) -> list[tuple[str, str]]:
    pairs = []
    for number, raw in enumerate(data.split(b"\n")):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise fail(f"line {number + 1} has invalid utf8 bytes", ref, "envs") from exc
        if number == 0:
            line = line.removeprefix("\ufeff")
        line = line.rstrip("\r").lstrip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not _ENV_NAME.match(key):
            raise fail(f"{key!r} is not a valid key name: a valid environment variable name must consist "
                       "of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit",
                       ref, "envs")
        pairs.append((key, value if sep else os.environ.get(key, "")))
    return pairs


def _file_pairs(loader: Loader, source: str) -> tuple[str, bytes]:
    key, sep, path = str(source).partition("=")
    if not sep:
        key, path = os.path.basename(source), source
    elif not key:
        raise fail(f"key name for file path {path} missing", source, "files")
    return key, loader.read(path, max_bytes=MAX_GENERATOR_FILE_BYTES)


def collect(loader: Loader, spec: dict[str, Any], where: str) -> list[tuple[str, str | bytes]]:
    pairs: list[tuple[str, str | bytes]] = []
    envs = list(as_list(spec.get("envs"), where, "envs"))
    if spec.get("env"):
        envs.append(spec["env"])
    for ref in envs:
        pairs.extend(_env_lines(loader.read(str(ref), max_bytes=MAX_GENERATOR_FILE_BYTES), str(ref)))
    pairs.extend(_literal(lit, where) for lit in as_list(spec.get("literals"), where, "literals"))
    pairs.extend(_file_pairs(loader, str(f)) for f in as_list(spec.get("files"), where, "files"))
    seen: set[str] = set()
    for key, _ in pairs:
        if not _KEY.match(key) or key in (".", ".."):
            raise fail(f"'{key}' is not a valid key name for a ConfigMap or Secret", where, "data")
        if key in seen:
            raise fail(f"cannot add key {key}, another key by that name already exists", where, "data")
        seen.add(key)
    return pairs


def _options(global_opts: dict[str, Any], spec: dict[str, Any], where: str) -> dict[str, Any]:
    local = as_map(spec.get("options"), where, "options")
    global_opts = as_map(global_opts, where, "generatorOptions")
    merged: dict[str, Any] = {key: {**as_map(global_opts.get(key), where, f"generatorOptions.{key}"),
                                    **as_map(local.get(key), where, f"options.{key}")}
                              for key in ("labels", "annotations")}
    for key in ("disableNameSuffixHash", "immutable"):
        merged[key] = bool(local.get(key, global_opts.get(key, False)))
    return merged


def b64_lines(raw: bytes) -> str:
    """Base64 as Kustomize writes Secret data: lines of 70 characters, newline-terminated when long."""
    text = base64.b64encode(raw).decode()
    if len(text) <= 70:
        return text
    return "".join(text[i:i + 70] + "\n" for i in range(0, len(text), 70))


def make(loader: Loader, spec: Any, kind: str, global_opts: dict[str, Any], where: str) -> Resource:
    if not isinstance(spec, dict):
        raise fail(f"a {kind} generator entry must be a map", where)
    unknown = set(spec) - KNOWN
    if unknown:
        raise fail(f"unknown field '{sorted(unknown)[0]}' in a {kind} generator", where)
    name = str(spec.get("name") or "")
    if not name:
        raise fail(f"a {kind} generator needs a name", where, "name")
    behavior = str(spec.get("behavior") or "")
    if behavior not in BEHAVIORS:
        raise fail(f"unknown generator behavior '{behavior}'", where, "behavior")
    pairs = collect(loader, spec, where)
    opts = _options(global_opts, spec, where)
    obj = _object(kind, name, spec, pairs, opts)
    return Resource(obj, behavior=behavior or "create", needs_hash=not opts["disableNameSuffixHash"],
                    source=where)


def _object(kind: str, name: str, spec: dict[str, Any], pairs: list[tuple[str, str | bytes]],
            opts: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if spec.get("namespace"):
        meta["namespace"] = str(spec["namespace"])
    if opts["labels"]:
        meta["labels"] = {str(k): _text(v) for k, v in opts["labels"].items()}
    if opts["annotations"]:
        meta["annotations"] = {str(k): _text(v) for k, v in opts["annotations"].items()}
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": kind, "metadata": meta}
    if kind == "Secret":
        obj["type"] = str(spec.get("type") or "Opaque")
        data = {k: b64_lines(v if isinstance(v, bytes) else v.encode()) for k, v in pairs}
        if data:
            obj["data"] = data
    else:
        text, binary = {}, {}
        for key, value in pairs:
            if isinstance(value, bytes):
                try:
                    text[key] = value.decode("utf-8")
                except UnicodeDecodeError:
                    binary[key] = b64_lines(value)
            else:
                text[key] = value
        if text:
            obj["data"] = text
        if binary:
            obj["binaryData"] = binary
    if opts["immutable"]:
        obj["immutable"] = True
    return obj
