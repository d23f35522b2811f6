"""Argo CD ApplicationSet template strings converted into this engine's Jinja templates.

Called by :mod:`gitops.importers.argocd.appsets` for every string of an ApplicationSet's template. Argo CD has
two syntaxes: fasttemplate (the default: ``{{path.basename}}`` substitutes a flat parameter name, and a
name no generator produces is left as it is) and Go templates (``goTemplate: true``:
``{{.path.basename}}``, ``{{index .path.segments 0}}``). Key design choice: only what has an exact
counterpart is converted (a parameter reference, renamed where our generators name it differently:
``metadata.labels.env`` -> ``labels.env``, ``path[0]`` -> ``path.segments[0]``); everything else in a
tag (pipelines, functions, conditionals) is reported and kept as literal text. Literal text is data:
anything in it that Jinja would read (``{%``, ``{#``, a brace pair) is emitted as a Jinja string
literal, so a hostile value can never become template code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TAG = re.compile(r"\{\{(.*?)\}\}", re.S)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FLAT = re.compile(r"[A-Za-z0-9_.\-/\[\]]{1,253}")
_GO_FIELD = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_\-]+)*)")
_GO_INDEX = re.compile(r'index\s+\.([A-Za-z_][A-Za-z0-9_.]*)\s+(?:(\d+)|"([^"\\]{1,253})")')


@dataclass(frozen=True)
class Params:
    """The parameter names the generators of one set produce: exact names, name prefixes (a cluster's
    ``metadata.labels.*``), or ``anything`` (a git files generator: the files' content decides)."""

    names: frozenset[str] = frozenset()
    prefixes: frozenset[str] = frozenset()
    anything: bool = False
    sure: frozenset[str] = frozenset()  # names every parameter set has

    def known(self, name: str) -> bool:
        return self.anything or name in self.names or any(name.startswith(p) for p in self.prefixes)

    def __or__(self, other: Params) -> Params:
        """Both generators' parameters in one set (a matrix)."""
        return Params(self.names | other.names, self.prefixes | other.prefixes,
                      self.anything or other.anything, self.sure | other.sure)

    def unsure(self) -> Params:
        """The same names, none of them in every set (a merge's later children)."""
        return Params(self.names, self.prefixes, self.anything)


def literal(text: str) -> str:
    """``text`` as Jinja source that renders to exactly ``text``."""
    if "{" not in text and "}" not in text:  # every Jinja delimiter has a brace
        return text
    quoted = text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
    return "{{ '" + quoted + "' }}"


def _dotted(parts: list[str]) -> str | None:
    """A Jinja expression reading the dotted parameter ``parts`` (attribute or item access)."""
    if not parts or not _IDENT.fullmatch(parts[0]):
        return None
    out = parts[0]
    for part in parts[1:]:
        quoted = part.replace("\\", "\\\\").replace("'", "\\'")
        out += f".{part}" if _IDENT.fullmatch(part) else f"['{quoted}']"
    return out


@dataclass(frozen=True)
class Expression:
    """A converted tag: the Jinja expression, and a note when it is close but not exact."""

    jinja: str
    approximation: str | None = None


def _flat_name(name: str) -> Expression | None:
    """Argo CD's flat parameter name -> ours."""
    for prefix, ours in (("metadata.labels.", "labels"), ("metadata.annotations.", "annotations")):
        if name.startswith(prefix) and len(name) > len(prefix):
            key = name[len(prefix):].replace("\\", "\\\\").replace("'", "\\'")
            return Expression(f"{ours}['{key}']")
    if name == "nameNormalized":
        return Expression("name")  # our cluster names are DNS labels already
    segment = re.fullmatch(r"path\[(\d{1,4})\]", name)
    if segment:
        return Expression(f"path.segments[{segment.group(1)}]")
    if name in ("path.basenameNormalized", "path.filenameNormalized"):
        base = name.removesuffix("Normalized")
        return Expression(f"{base} | dns_label", "Argo CD's normalisation is approximated by dns_label "
                                                 "(lowercase, other characters as '-', at most 63)")
    if "[" in name or "]" in name:
        return None
    expr = _dotted(name.split("."))
    return Expression(expr) if expr else None


def _go_tag(body: str) -> Expression | None:
    """A Go template action that is a plain field reference -> ours."""
    index = _GO_INDEX.fullmatch(body)
    if index:
        field, number, key = index.groups()
        if field == "path.segments" and number is not None:
            return Expression(f"path.segments[{number}]")
        if field in ("metadata.labels", "metadata.annotations") and key is not None:
            return _flat_name(f"{field}.{key}")
        return None
    match = _GO_FIELD.fullmatch(body)
    if not match:
        return None
    name = match.group(1)
    if name == "path.path":
        return Expression("path")
    if name == "path.segments":
        return None
    return _flat_name(name)


def convert(text: str, *, go: bool, params: Params) -> tuple[str, list[str], list[str]]:
    """``text`` as a Jinja template of ours, what could not be converted exactly (messages), and notes:
    parameters some sets may lack (an error for that element here, literal text in Argo CD)."""
    out: list[str] = []
    problems: list[str] = []
    notes: list[str] = []
    position = 0
    for match in _TAG.finditer(text):
        out.append(literal(text[position:match.start()]))
        position = match.end()
        raw, body = match.group(0), match.group(1).strip()
        if go:
            expr = _go_tag(body)
            if expr is None:
                problems.append(f"the Go template action {_show(raw)} has no exact equivalent; kept as text")
        elif not _FLAT.fullmatch(body) or not params.known(body):
            out.append(literal(raw))  # fasttemplate leaves a tag no generator fills as it is
            continue
        else:
            expr = _flat_name(body)
            if body not in params.sure:
                notes.append(f"{_show(raw)}: an element without this parameter is an error here (Argo CD "
                             "leaves the text as it is)")
            if expr is None:
                problems.append(f"the parameter {_show(raw)} cannot be named in a Jinja template; "
                                "kept as text")
        if expr is None:
            out.append(literal(raw))
            continue
        if expr.approximation:
            problems.append(f"{_show(raw)}: {expr.approximation}")
        out.append("{{ " + expr.jinja + " }}")
    out.append(literal(text[position:]))
    return "".join(out), problems, notes


def _show(raw: str) -> str:
    return repr(raw if len(raw) <= 80 else raw[:77] + "...")

