"""Turns pydantic validation errors into located, human-readable :class:`~gitops.errors.Problem` s.

Called by :mod:`gitops.config.loader` for each document that failed validation. The location comes
from the document's YAML nodes (:func:`gitops.config.yamldoc.locate`); the field path is written the
way the YAML reads (``spec.ignoreDifferences[0].kind``); the message is rewritten from pydantic's
wording into the configuration's, with a "did you mean" for misspelt fields and a dedicated message
for inline secrets. Nothing here ever prints an input value: only field names and our own messages.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from gitops.config import application, models, receivers, verification
from gitops.config.yamldoc import Document, Loc, locate
from gitops.errors import Problem

_SECRETISH = re.compile(r"password|passwd|token|secret|private|apikey|api_key|bearer|sshkey|^key$", re.I)
_TYPE_MESSAGES = {
    "missing": "required field is missing",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
    "dict_type": "expected a mapping",
    "list_type": "expected a list",
    "string_type": "expected a string",
    "bool_type": "expected true or false",
    "int_type": "expected an integer",
    "int_from_float": "expected an integer",
    "float_type": "expected a number",
    "finite_number": "expected a finite number",
    "too_short": "must not be empty",
}
MAX_PART = 64


def field_path(loc: Loc) -> str:
    """``("spec", "items", 0, "kind")`` -> ``spec.items[0].kind``."""
    out = ""
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = part if part.isprintable() else part.encode("unicode_escape").decode("ascii")
            text = text if len(text) <= MAX_PART else text[:MAX_PART] + "..."
            out += f".{text}" if out else text
    return out


def from_errors(errors: Iterable[ErrorDetails], doc: Document, prefix: Loc = ()) -> list[Problem]:
    """One located problem per pydantic error of ``doc`` (locations relative to ``prefix``)."""
    problems = []
    kind = doc.data.get("kind") if isinstance(doc.data, dict) else None
    for err in errors:
        loc: Loc = prefix + tuple(err["loc"])
        at_key = err["type"] == "extra_forbidden"
        line, column = locate(doc.node, loc, at_key=at_key)
        problems.append(Problem(_message(err, loc, kind), doc.file, line, column, field_path(loc) or None))
    return problems


def _message(err: ErrorDetails, loc: Loc, document_kind: object = None) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        if document_kind == "WebhookReceiver" and loc and _SECRETISH.search(str(loc[-1])) \
                and not str(loc[-1]).lower().endswith(("env", "file", "ref")):
            return ("inline secrets are not allowed; reference the secret instead "
                    "(secretRef: {env: NAME} or secretRef: {file: PATH})")
        return _unknown_field(str(loc[-1]) if loc else "")
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    if kind in _TYPE_MESSAGES:
        return _TYPE_MESSAGES[kind]
    msg = str(err["msg"])
    return msg.replace("Input should be", "must be").replace("String should", "must")


def _unknown_field(name: str) -> str:
    if _SECRETISH.search(name) and not name.lower().endswith(("env", "file", "ref")):  # tokenenv: a typo
        return ("inline secrets are not allowed; reference them instead "
                "(passwordEnv/passwordFile, tokenEnv/tokenFile, sshKeyEnv/sshKeyFile)")
    close = difflib.get_close_matches(name, _vocabulary(), n=1, cutoff=0.75)
    return f"unknown field (did you mean '{close[0]}'?)" if close else "unknown field"


@cache
def _vocabulary() -> tuple[str, ...]:
    """Every field name the configuration knows (the models of every kind and their envelope)."""
    names: set[str] = set()
    modules: tuple[Any, ...] = (models, application, receivers, verification)
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, BaseModel):
                names.update(f.validation_alias if isinstance(f.validation_alias, str) else f.alias or n
                             for n, f in value.model_fields.items())
    return tuple(sorted(names))
