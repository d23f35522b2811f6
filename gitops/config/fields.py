"""Validated field types shared by the configuration models, and the models' common base.

Called by :mod:`gitops.config.models` and :mod:`gitops.config.application`. Each type is an
``Annotated`` pydantic type whose validator raises ``ValueError`` with a message written for the person
editing the YAML; the loader turns those into located problems. Messages never repeat the rejected
value, because a value may be a secret pasted into the wrong field. Relative file paths resolve against
the directory of the file that declared them (passed as validation context ``base_dir``), falling back
to the working directory when models are built directly in Python.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationInfo
from pydantic.alias_generators import to_camel

from gitops.config.durations import parse_duration


class Model(BaseModel):
    """Base of every configuration model: strict, frozen, unknown fields forbidden, camelCase in YAML."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, alias_generator=to_camel,
                              validate_by_name=True, validate_by_alias=True, allow_inf_nan=False,
                              hide_input_in_errors=True)


_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_ENV_VAR = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LABEL_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def _dns_label(value: str) -> str:
    if len(value) > 63 or not _DNS_LABEL.fullmatch(value):
        raise ValueError("must be a DNS label: 1-63 lowercase letters, digits or '-', "
                         "starting and ending with a letter or digit")
    return value


def _env_var(value: str) -> str:
    if len(value) > 256 or not _ENV_VAR.fullmatch(value):
        raise ValueError("must be an environment variable name (letters, digits and '_', "
                         "not starting with a digit)")
    return value


def _label_key(value: str) -> str:
    prefix, _, name = value.rpartition("/")
    if (len(name) > 63 or not _LABEL_NAME.fullmatch(name)
            or (prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)))):
        raise ValueError("must be a label key: an optional DNS prefix and '/', then up to 63 letters, "
                         "digits, '-', '_' or '.'")
    return value


def _label_value(value: str) -> str:
    if value and (len(value) > 63 or not _LABEL_NAME.fullmatch(value)):
        raise ValueError("must be a label value: up to 63 letters, digits, '-', '_' or '.', "
                         "starting and ending with a letter or digit")
    return value


def _text(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("must not contain control characters")
    return value


def _duration(value: Any) -> Any:
    if isinstance(value, str | int | float):
        return parse_duration(value)
    return value  # the strict float check reports the wrong type


def _positive(value: float) -> float:
    if value <= 0:
        raise ValueError("must be greater than zero")
    return value


_SIZE = re.compile(r"([0-9]+)(k|M|G|T|Ki|Mi|Gi|Ti)?")
_UNITS = {None: 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
          "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
MAX_BYTES = 2**50


def _byte_size(value: Any) -> Any:
    if isinstance(value, bool):
        return value  # the strict int check reports the wrong type
    if isinstance(value, str):
        match = _SIZE.fullmatch(value.strip())
        if not match:
            raise ValueError("must be a size in bytes: a number, optionally with a unit k, M, G, T or "
                             "Ki, Mi, Gi, Ti (e.g. 512Mi)")
        value = int(match.group(1)) * _UNITS[match.group(2)]
    if isinstance(value, int) and not 0 < value <= MAX_BYTES:
        raise ValueError(f"must be greater than zero and at most {MAX_BYTES} bytes")
    return value


def _local_path(value: str, info: ValidationInfo) -> str:
    _text(value)
    if "\x00" in value:
        raise ValueError("must not contain NUL")
    context = info.context if isinstance(info.context, dict) else {}
    base = context.get("base_dir")
    base_dir = Path(base) if base is not None else Path.cwd()
    try:
        expanded = Path(value).expanduser()
    except RuntimeError:
        raise ValueError("'~user' names no known user's home directory") from None
    return os.path.normpath(base_dir / expanded)


Name = Annotated[str, AfterValidator(_dns_label)]
EnvVar = Annotated[str, AfterValidator(_env_var)]
LabelKey = Annotated[str, AfterValidator(_label_key)]
LabelValue = Annotated[str, AfterValidator(_label_value)]
Text = Annotated[str, AfterValidator(_text)]
Duration = Annotated[float, BeforeValidator(_duration)]
PositiveDuration = Annotated[float, BeforeValidator(_duration), AfterValidator(_positive)]
ByteSize = Annotated[int, BeforeValidator(_byte_size)]
"""A size in bytes: an integer, or a Kubernetes-style quantity string (``512Mi``, ``2G``)."""
LocalPath = Annotated[str, AfterValidator(_local_path)]
"""A file path, made absolute against the declaring file's directory (``~`` is expanded)."""
