"""``load_config``: files -> documents -> validated objects -> cross-checked :class:`Config`.

Called by ``gitops validate`` and every command or worker that needs the configuration. Each stage
collects problems instead of stopping at the first: unreadable or hostile files, documents that are not
``gitops.dev/v1alpha1`` objects of a known kind, fields pydantic rejects, duplicate names within a kind
and references to undefined clusters or repositories (an ApplicationSet's git generators included). A
kind listed in ``UNENFORCED`` (none today) would be validated and then refused, since accepting what
nothing enforces would leave a user who asked for it with nothing. If anything is wrong
the whole load fails with one :class:`~gitops.errors.ConfigError` listing every problem in file order,
so nothing half-valid is ever returned. Pydantic runs with YAML aliases only (``by_name=False``) so
snake_case keys in YAML are unknown fields, while Python callers may build models with snake_case
keywords.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gitops.config import files as config_files
from gitops.config.application import (
    Application,
    ApplicationSet,
    ApplicationSetSpec,
    ApplicationSpec,
)
from gitops.config.config import Config
from gitops.config.dependencies import MAX_DEPENDENCIES, find_cycle
from gitops.config.fields import Model
from gitops.config.models import Cluster, ClusterSpec, Envelope, Repository, RepositorySpec
from gitops.config.notifications import Notification, NotificationSpec
from gitops.config.problems import field_path, from_errors
from gitops.config.receivers import WebhookReceiver, WebhookReceiverSpec
from gitops.config.verification import VerificationPolicy, VerificationPolicySpec
from gitops.config.windows import SyncWindow, SyncWindowSpec
from gitops.config.yamldoc import MAX_FILE_BYTES, Document, Loc, locate, parse
from gitops.errors import ConfigError, InputError, Problem

API_VERSION = "gitops.dev/v1alpha1"
MAX_PROBLEMS = 1000
# kinds that validate but nothing would enforce: refused (a false sense of safety is worse than an error)
UNENFORCED: dict[str, str] = {}
KINDS: dict[str, tuple[type[Model], type[Model], str]] = {
    "Repository": (RepositorySpec, Repository, "repositories"),
    "Cluster": (ClusterSpec, Cluster, "clusters"),
    "Application": (ApplicationSpec, Application, "applications"),
    "ApplicationSet": (ApplicationSetSpec, ApplicationSet, "application_sets"),
    "VerificationPolicy": (VerificationPolicySpec, VerificationPolicy, "verification_policies"),
    "WebhookReceiver": (WebhookReceiverSpec, WebhookReceiver, "webhook_receivers"),
    "SyncWindow": (SyncWindowSpec, SyncWindow, "sync_windows"),
    "Notification": (NotificationSpec, Notification, "notifications"),
}


@dataclass(frozen=True)
class _Entry:
    kind: str
    name: str
    obj: Model | None  # None when the document declared a name but failed validation
    doc: Document


def load_config(path: str | os.PathLike[str], *, max_file_bytes: int = MAX_FILE_BYTES) -> Config:
    """The configuration under ``path`` (a file or a directory); ConfigError listing every problem."""
    display = os.fspath(path)
    found, problems = config_files.discover(Path(display).expanduser(), display)
    entries: list[_Entry] = []
    for file in found:
        file_entries, file_problems = _load_file(file, max_file_bytes)
        entries += file_entries
        problems += file_problems
    problems += _duplicates(entries) + _references(entries) + _dependencies(entries)
    if problems:
        order = {f.display: i for i, f in enumerate(found)}
        problems.sort(key=lambda p: (order.get(p.file or "", -1), p.line or 0, p.column or 0,
                                     p.field or "", p.message))
        if len(problems) > MAX_PROBLEMS:
            more = len(problems) - MAX_PROBLEMS
            problems = [*problems[:MAX_PROBLEMS], Problem(f"{more} more problems not shown", display)]
        raise ConfigError(problems)
    return _build(entries, tuple(f.display for f in found))


def _load_file(file: config_files.ConfigFile, max_bytes: int) -> tuple[list[_Entry], list[Problem]]:
    try:
        raw = config_files.read(file, max_bytes)
        docs, problems = parse(raw, file.display, max_bytes=max_bytes)
    except InputError as exc:
        return [], [exc.problem]
    except ValueError as exc:  # not a regular file, or too big
        return [], [Problem(str(exc), file.display)]
    except OSError as exc:
        return [], [Problem(f"cannot read: {exc.strerror or type(exc).__name__}", file.display)]
    base_dir = Path(os.path.abspath(file.path)).parent
    entries: list[_Entry] = []
    for doc in docs:
        entry, doc_problems = _load_document(doc, base_dir)
        problems += doc_problems
        if entry is not None:
            entries.append(entry)
    return entries, problems


def _at(doc: Document, loc: Loc, message: str, *, at_key: bool = False) -> Problem:
    line, column = locate(doc.node, loc, at_key=at_key)
    return Problem(message, doc.file, line, column, field_path(loc) or None)


def _load_document(doc: Document, base_dir: Path) -> tuple[_Entry | None, list[Problem]]:
    data = doc.data
    if not isinstance(data, dict):
        return None, [_at(doc, (), f"a document must be a mapping with apiVersion, kind, metadata and "
                                   f"spec, not {_type_name(data)}")]
    kind, envelope_problems = _check_envelope(doc, data)
    if kind is None:
        return None, envelope_problems
    spec_model, public_model, _ = KINDS[kind]
    metadata = data.get("metadata")
    declared = metadata.get("name") if isinstance(metadata, dict) else None
    try:
        envelope = Envelope[spec_model].model_validate(  # type: ignore[valid-type]
            data, by_alias=True, by_name=False, context={"base_dir": base_dir})
    except ValidationError as exc:
        entry = _Entry(kind, declared, None, doc) if isinstance(declared, str) and declared else None
        return entry, from_errors(exc.errors(include_url=False, include_input=False), doc)
    if kind in UNENFORCED:  # valid, but nothing would enforce it: refusing beats a false sense of safety
        return _Entry(kind, envelope.metadata.name, None, doc), [_at(doc, ("kind",), UNENFORCED[kind])]
    spec: Model = envelope.spec
    fields: dict[str, Any] = {name: getattr(spec, name) for name in type(spec).model_fields}
    fields["name"] = envelope.metadata.name
    if public_model is Cluster or public_model is Application:
        fields["labels"] = dict(envelope.metadata.labels)
    if public_model is Cluster:
        fields["annotations"] = dict(envelope.metadata.annotations)
    given = spec.model_fields_set | ({"name", "labels", "annotations"} & fields.keys())
    obj = public_model.model_construct(_fields_set=given, **fields)
    return _Entry(kind, envelope.metadata.name, obj, doc), []


def _check_envelope(doc: Document, data: dict[Any, Any]) -> tuple[str | None, list[Problem]]:
    problems = []
    api, kind = data.get("apiVersion"), data.get("kind")
    if api is None:
        problems.append(_at(doc, ("apiVersion",), f"required field is missing (use {API_VERSION})"))
    elif api != API_VERSION:
        problems.append(_at(doc, ("apiVersion",), f"unknown apiVersion; expected {API_VERSION}"))
    known = ", ".join(KINDS)
    if kind is None:
        problems.append(_at(doc, ("kind",), f"required field is missing (one of {known})"))
    elif not isinstance(kind, str) or kind not in KINDS:
        shown = f" '{kind}'" if isinstance(kind, str) and kind.isidentifier() and len(kind) < 64 else ""
        problems.append(_at(doc, ("kind",), f"unknown kind{shown}; expected one of {known}"))
    return (kind if not problems else None), problems


def _type_name(value: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number",
            bool: "a boolean"}.get(type(value), "a scalar")


def _duplicates(entries: list[_Entry]) -> list[Problem]:
    first: dict[tuple[str, str], _Entry] = {}
    problems = []
    for entry in entries:
        key = (entry.kind, entry.name)
        if key in first:
            line, _ = locate(first[key].doc.node, ("metadata", "name"))
            problems.append(_at(entry.doc, ("metadata", "name"), f'duplicate {entry.kind} "{entry.name}"; '
                                f"first defined at {first[key].doc.file}:{line}"))
        else:
            first[key] = entry
    return problems


def _references(entries: list[_Entry]) -> list[Problem]:
    declared = {(e.kind, e.name) for e in entries}
    problems = []
    refs = ((("spec", "source", "repository"), "Repository"), (("spec", "destination", "cluster"), "Cluster"))
    for entry in entries:
        found: list[tuple[Loc, str]] = []
        if entry.kind == "Application":
            found = list(refs)
        elif entry.kind == "WebhookReceiver":
            listed = _raw(entry.doc.data, ("spec", "repositories"))
            if isinstance(listed, list):
                found = [(("spec", "repositories", i), "Repository") for i in range(len(listed))]
        elif entry.kind == "ApplicationSet":
            at: Loc = ("spec", "generators")
            found = _generator_references(_raw(entry.doc.data, at), at)
        for loc, kind in found:
            name = _raw(entry.doc.data, loc)
            # Names that are blank or unprintable already failed validation; never echo them.
            if isinstance(name, str) and name.strip() and name.isprintable() and (kind, name) not in declared:
                problems.append(_at(entry.doc, loc, f'{kind.lower()} "{name[:64]}" is not defined'))
    return problems


def _dependencies(entries: list[_Entry]) -> list[Problem]:
    """Every ``dependsOn`` entry names a configured Application deployed to the cluster it means (its
    own by default), never the application itself, and the graph has no cycle (the error names the
    whole path and sits at the ``dependsOn`` entry of its first member)."""
    apps = {e.name: e for e in entries if e.kind == "Application" and isinstance(e.obj, Application)}
    problems: list[Problem] = []
    graph: dict[str, list[str]] = {}
    edges: dict[tuple[str, str], int] = {}
    for name, entry in apps.items():
        assert isinstance(entry.obj, Application)
        own = entry.obj.destination.cluster
        graph[name] = []
        if len(entry.obj.depends_on) > MAX_DEPENDENCIES:
            count = len(entry.obj.depends_on)
            problems.append(_at(entry.doc, ("spec", "dependsOn"),
                                f"at most {MAX_DEPENDENCIES} dependencies (found {count})"))
            continue
        for i, dep in enumerate(entry.obj.depends_on):
            at: Loc = ("spec", "dependsOn", i, "name")
            cluster = dep.cluster or own
            target = apps.get(dep.name)
            if dep.name == name:
                problems.append(_at(entry.doc, at, "an application cannot depend on itself"))
            elif target is None or not isinstance(target.obj, Application):
                problems.append(_at(entry.doc, at, f'application "{dep.name}" is not defined'))
            elif target.obj.destination.cluster != cluster:
                deployed = target.obj.destination.cluster
                problems.append(_at(entry.doc, at, f'application "{dep.name}" is deployed to cluster '
                                    f'"{deployed}", not "{cluster}" (say cluster: {deployed})'))
            else:
                graph[name].append(dep.name)
                edges.setdefault((name, dep.name), i)
    cycle = find_cycle(graph)
    if cycle is not None:
        first = apps[cycle[0]]
        at = ("spec", "dependsOn", edges[(cycle[0], cycle[1])], "name")
        problems.append(_at(first.doc, at, "dependency cycle: " + " -> ".join(cycle)))
    return problems


def _generator_references(generators: Any, loc: Loc, depth: int = 0) -> list[tuple[Loc, str]]:
    """The repositories an ApplicationSet's git generators name, matrix and merge children included;
    a name that is a template (``{{ ... }}``) is only known per element, so it is not checked here."""
    found: list[tuple[Loc, str]] = []
    if not isinstance(generators, list) or depth > 8:
        return found
    for i, generator in enumerate(generators):
        if not isinstance(generator, dict):
            continue
        git = generator.get("git")
        if isinstance(git, dict) and isinstance(git.get("repository"), str) and "{" not in git["repository"]:
            found.append(((*loc, i, "git", "repository"), "Repository"))
        for kind in ("matrix", "merge"):
            child = generator.get(kind)
            if isinstance(child, dict):
                at: Loc = (*loc, i, kind, "generators")
                found += _generator_references(child.get("generators"), at, depth + 1)
    return found


def _raw(data: Any, loc: Loc) -> Any:
    """The raw value at ``loc``: references are checked even in documents that failed validation."""
    for part in loc:
        if isinstance(part, int):
            if not isinstance(data, list) or not 0 <= part < len(data):
                return None
            data = data[part]
        elif not isinstance(data, dict):
            return None
        else:
            data = data.get(part)
    return data


def _build(entries: list[_Entry], files: tuple[str, ...]) -> Config:
    buckets: dict[str, dict[str, Any]] = {attr: {} for _, _, attr in KINDS.values()}
    locations: dict[tuple[str, str], tuple[str, int]] = {}
    for entry in entries:
        buckets[KINDS[entry.kind][2]][entry.name] = entry.obj
        locations[(entry.kind, entry.name)] = (entry.doc.file, entry.doc.node.start_mark.line + 1)
    return Config(**buckets, files=files, locations=locations)
