#!/usr/bin/env python3
"""Generate docs/reference/configuration.md from the configuration models, so it cannot drift.

Walks the pydantic model of every kind in ``gitops.config.loader.KINDS`` (the ``spec`` models and every
model nested in them), and writes one table per model: the YAML key as written (camelCase alias, or the
``validation_alias`` where a field reads another key, such as ``interval``), the type (Literals spelled
out, the validated field types of gitops/config/fields.py named by what they accept), the default,
whether it is required, the constraints pydantic enforces (ge/le/gt/lt, min/max length) and the model's
and field's docstrings (attribute docstrings, read with ``ast`` since the models do not set
``use_attribute_docstrings``). Cross-field rules live in model validators and the loader; the page says
where. Checked by tests/docs/test_config_reference.py, which regenerates the page in memory.

Run: scripts/gen-config-reference (writes the page) or scripts/gen-config-reference --check.
"""

from __future__ import annotations

import ast
import inspect
import json
import sys
import textwrap
import types
import typing
from pathlib import Path
from typing import Any

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from gitops.config.loader import API_VERSION, KINDS
from gitops.config.models import Metadata

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "reference" / "configuration.md"

# The validators of gitops/config/*.py, by function name: what a value must be, in the reader's words.
# A validator missing here is shown by its base type only (the page stays correct, just less precise).
CHECKED = {
    "_dns_label": "DNS label",
    "_env_var": "environment variable name",
    "_label_key": "label key",
    "_label_value": "label value",
    "_text": "non-empty string",
    "_duration": "duration",
    "_positive": "positive",
    "_byte_size": "size in bytes (`512Mi`, `2G`)",
    "_bytes": "size in bytes (`512Mi`, `2Gi`)",
    "_local_path": "file path",
    "_git_ref": "Git ref (branch, tag or commit)",
    "host_pattern": "host pattern",
    "check_server": "server URL",
    "_app_path": "relative path in the repository",
    "validate": "JSON pointer",
    "_field_manager": "field manager name (at most 128 characters)",
    "_scalar": "string, number, boolean or null",
    "_children": "2 to 8 generators",
    "_glob": "glob",
    "_shorthand": "",
    "_tuple": "",
    "_unique": "no duplicates",
    "_share": "share (`30%` or `0.3`)",
    "check_image_glob": "image glob",
    "_check_pointer": "JSON pointer (`*` matches every element)",
    "_check_regexp": "regular expression (linear-time subset)",
    "_predicate_type": "in-toto predicate type URI",
    "_schedule": "cron expression (five fields)",
    "_time_zone": "IANA time zone",
    "_endpoint": "https URL (http only to loopback)",
    "_header_name": "HTTP header name",
    "_header_value": "HTTP header value (at most 1024 characters)",
    "_api_version": "`group/version` or `v1`",
    "_kind": "Kubernetes kind",
    "check_expression": "CEL expression",
    "_one_per_kind": "one entry per kind",
}
BOUNDS = ((annotated_types.Gt, "gt", "> {}"), (annotated_types.Ge, "ge", ">= {}"),
          (annotated_types.Lt, "lt", "< {}"), (annotated_types.Le, "le", "<= {}"),
          (annotated_types.MinLen, "min_length", "length >= {}"),
          (annotated_types.MaxLen, "max_length", "length <= {}"))


def _clean(text: str | None) -> str:
    """A docstring as one Markdown line: reST double backticks and roles become Markdown code."""
    if not text:
        return ""
    text = " ".join(inspect.cleandoc(text).split())
    for role in (":mod:", ":class:", ":func:", ":attr:", ":meth:"):
        text = text.replace(role, "")
    text = text.replace("~gitops.", "gitops.")
    return text.replace("``", "`").replace("|", "\\|")


def attribute_docstrings(model: type[BaseModel]) -> dict[str, str]:
    """``field -> docstring`` of the string literal following each annotated attribute, through the MRO."""
    found: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if not issubclass(cls, BaseModel) or cls.__module__.startswith("pydantic"):
            continue
        try:
            source = textwrap.dedent(inspect.getsource(cls))
        except (OSError, TypeError):
            continue
        body = ast.parse(source).body[0]
        assert isinstance(body, ast.ClassDef)
        for stmt, after in zip(body.body, [*body.body[1:], None], strict=True):
            if (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
                    and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                    and isinstance(after.value.value, str)):
                found[stmt.target.id] = after.value.value
    return found


class Walker:
    """Collects the models reachable from each kind, in order of first appearance."""

    def __init__(self) -> None:
        self.seen: dict[str, type[BaseModel]] = {}
        self.queue: list[type[BaseModel]] = []

    def model(self, cls: type[BaseModel]) -> str:
        name = cls.__name__
        if name in self.seen and self.seen[name] is not cls:
            raise SystemExit(f"two configuration models are named {name}: the reference needs one name each")
        if name not in self.seen:
            self.seen[name] = cls
            self.queue.append(cls)
        return f"[{name}](#{name.lower()})"

    def type_of(self, annotation: Any, metadata: list[Any]) -> tuple[str, list[str]]:
        """The type as the reader writes it, and the constraints found in ``metadata`` and below."""
        notes: list[str] = []
        words: list[str] = []
        for item in metadata:
            notes.extend(_bounds(item))
            func = getattr(item, "func", None)
            if func is not None:
                word = CHECKED.get(getattr(func, "__name__", ""), "")
                if word == "no duplicates" or word == "one entry per kind" or word.startswith("2 to"):
                    notes.append(word)
                elif word:
                    words.append(word)
        base = self._plain(annotation, notes)
        if words:
            kept = [w for w in words if w != "positive"]
            if "positive" in words:
                notes.append("> 0")
            if kept:
                base = kept[-1] if base in ("string", "number", "integer") else f"{base} ({kept[-1]})"
        return base, notes

    def _plain(self, annotation: Any, notes: list[str]) -> str:
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
        if origin is typing.Annotated:
            inner, *meta = args
            flat: list[Any] = []
            for item in meta:
                flat.extend(item.metadata if isinstance(item, FieldInfo) else [item])
            text, more = self.type_of(inner, flat)
            notes.extend(more)
            return text
        if origin in (typing.Union, types.UnionType):
            parts = [self._plain(a, notes) for a in args if a is not type(None)]
            return " or ".join(parts)
        if origin is typing.Literal:
            return " \\| ".join(f"`{a}`" for a in args)
        if origin in (list, tuple):
            return f"list of {self._plain(args[0], notes)}" if args else "list"
        if origin is dict:
            return f"map of {self._plain(args[0], notes)} to {self._plain(args[1], notes)}"
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return self.model(annotation)
        return {str: "string", bool: "boolean", int: "integer", float: "number"}.get(annotation, "any")


def _bounds(item: Any) -> list[str]:
    for cls, attr, fmt in BOUNDS:
        if isinstance(item, cls):
            value = getattr(item, attr)
            return [fmt.format(_number(value))]
    return []


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:_}".replace("_", " ") if isinstance(value, int) and value >= 10_000 else str(value)


def yaml_key(name: str, field: FieldInfo) -> str:
    if isinstance(field.validation_alias, str):
        return field.validation_alias
    return field.alias or name


def default_of(field: FieldInfo, type_text: str) -> str:
    if field.is_required():
        return ""
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "unset"
    if isinstance(value, BaseModel):
        return "each field's default"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, int | float) and type_text.startswith("duration"):
        return f"`{_number(value)}s`"
    if isinstance(value, int | float):
        return f"`{_number(value)}`"
    if isinstance(value, str):
        return f"`{value}`" if value else '`""`'
    return f"`{json.dumps(value, separators=(', ', ': '))}`"


def table(cls: type[BaseModel], walker: Walker) -> list[str]:
    docs = attribute_docstrings(cls)
    lines = ["| field | type | default | constraints | description |", "| --- | --- | --- | --- | --- |"]
    for name, field in cls.model_fields.items():
        type_text, notes = walker.type_of(field.annotation, list(field.metadata))
        key = f"`{yaml_key(name, field)}`" + (" (required)" if field.is_required() else "")
        constraints = "; ".join(dict.fromkeys(notes))
        lines.append(f"| {key} | {type_text} | {default_of(field, type_text)} | {constraints} "
                     f"| {_clean(docs.get(name))} |")
    return lines


def section(cls: type[BaseModel], walker: Walker, heading: str) -> list[str]:
    out = [f"{heading} {cls.__name__}", ""]
    doc = _clean(cls.__doc__)
    if doc:
        out += [doc, ""]
    return [*out, *table(cls, walker), ""]


HEADER = f"""\
# Configuration reference

<!-- Generated by scripts/gen-config-reference from gitops/config/ (the pydantic models of every kind in
gitops/config/loader.py KINDS). Do not edit: change the models' docstrings and regenerate;
tests/docs/test_config_reference.py fails when this page and the models disagree. -->

Every document is `apiVersion: {API_VERSION}`, a `kind` below, a `metadata` block and a `spec`.
Keys are camelCase as written in YAML; a key the model does not know is an error. This page lists
every field the models accept, with its type, default and the bounds pydantic enforces. Rules that
relate several fields (set exactly one of two, `maxBackoff` not shorter than `backoff`, references
to Repositories, Clusters and Applications that must exist, dependency cycles) are checked too, by
the models' validators and the loader, with a located message; docs/configuration.md explains each
kind with examples. Check a configuration with `gitops validate -c CONFIG`.

Types: a *duration* is seconds (`90`) or a string with units `ms`, `s`, `m`, `h`, `d` (`"1h30m"`),
at most 366 days; a *file path* is relative to the file that declares it; an *environment variable
name* and `{{env: NAME}}` / `{{file: PATH}}` references are how every secret is given (never inline).
"""


def render() -> str:
    walker = Walker()
    out = [HEADER, "## Kinds", ""]
    out += [f"- [{kind}](#{kind.lower()})" for kind in KINDS]
    out += ["", "## metadata", "", _clean(Metadata.__doc__), "", *table(Metadata, walker), ""]
    walker.queue.clear()
    for kind, (spec, _public, _attr) in KINDS.items():
        walker.seen[spec.__name__] = spec
        out += [f"## {kind}", "", f"`kind: {kind}`; its `spec`:", ""]
        doc = _clean(spec.__doc__)
        if doc:
            out += [doc, ""]
        out += table(spec, walker)
        out.append("")
        while walker.queue:
            out += section(walker.queue.pop(0), walker, "###")
    return "\n".join(out).rstrip("\n") + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if argv[1:] == ["--check"]:
        if not OUT.is_file() or OUT.read_text() != text:
            print(f"{OUT.relative_to(ROOT)} is out of date: run scripts/gen-config-reference",
                  file=sys.stderr)
            return 1
        return 0
    if argv[1:]:
        print("usage: scripts/gen-config-reference [--check]", file=sys.stderr)
        return 2
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
