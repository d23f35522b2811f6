"""What a delivery says, per provider: its id, its event, and for a push the refs, URLs and paths.

Called by :mod:`web.webhooks.receive` once the delivery is authenticated (only :func:`delivery_id` and
:func:`event_name`, which read headers, run before). Each provider's published payload is reduced to
the same small values (:class:`Event` holding :class:`web.webhooks.match.Push` es), so matching never
sees a provider's format. Key design choices: the body is untrusted even when signed (a compromised
or misconfigured sender), so the JSON nesting is bounded *before* it is parsed (:func:`decode_json`
scans brackets outside strings), every field read is type-checked with an error naming it
(:class:`PayloadError`: ``repository.clone_url: expected a string``), lists are capped, and changed
paths are reported as unknown (None, so every application on the ref is refreshed) whenever the
payload cannot list them completely: force pushes, new branches, truncated commit lists, Bitbucket.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs

from gitops.domain import WebhookProvider
from web.webhooks.match import BRANCH_PREFIX, MAX_PATHS, TAG_PREFIX, ZERO_SHA, Push, clean_path

MAX_DEPTH = 32
MAX_PUSHES = 100
MAX_COMMITS = 5000
MAX_URLS = 16
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
FORM_PROVIDERS = frozenset({"github", "gitea"})
# a JSON string (possessive: a missing closing quote cannot make the scan backtrack) or a bracket
_TOKENS = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"|[\[\]{}]')
_OPEN = frozenset(b"[{")

ID_HEADERS: dict[str, tuple[str, ...]] = {
    "github": ("x-github-delivery",),
    "gitea": ("x-gitea-delivery", "x-github-delivery"),
    "gitlab": ("x-gitlab-event-uuid", "idempotency-key"),
    "bitbucket-server": ("x-request-id", "x-request-uuid"),
    "bitbucket-cloud": ("x-request-uuid", "x-request-id"),
    "generic": ("x-delivery-id",),
}
EVENT_HEADERS: dict[str, tuple[str, ...]] = {
    "github": ("x-github-event",),
    "gitea": ("x-gitea-event", "x-gogs-event", "x-github-event"),
    "gitlab": ("x-gitlab-event",),
    "bitbucket-server": ("x-event-key",),
    "bitbucket-cloud": ("x-event-key",),
    "generic": ("x-event",),
}


class PayloadError(Exception):
    """A body that cannot be read, naming the problem (and the field, when one is at fault)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


@dataclass(frozen=True)
class Event:
    """A delivery's meaning: a ping (answered, nothing else), pushes, or another event (ignored)."""

    kind: Literal["ping", "push", "other"]
    name: str
    pushes: tuple[Push, ...] = ()
    note: str = ""


# ---- headers --------------------------------------------------------------------------------------


def _printable(value: str, limit: int = 200) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in value[:limit])


def _header(headers: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = headers.get(name)
        if value:
            return _printable(value.strip())
    return None


def delivery_id(provider: str, headers: Mapping[str, str], body: bytes) -> str:
    """The provider's delivery id header, else ``sha256:<hex>`` of the body."""
    found = _header(headers, ID_HEADERS.get(provider, ()))
    return found or "sha256:" + hashlib.sha256(body).hexdigest()


def event_name(provider: str, headers: Mapping[str, str]) -> str:
    return _header(headers, EVENT_HEADERS.get(provider, ())) or ""


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def accepts(provider: str, media: str) -> bool:
    """JSON for every provider; GitHub and Gitea may also post a form with a ``payload`` field."""
    return media == JSON or (media == FORM and provider in FORM_PROVIDERS)


# ---- the body -------------------------------------------------------------------------------------


def check_depth(raw: bytes, limit: int = MAX_DEPTH) -> None:
    """PayloadError when arrays and objects nest deeper than ``limit`` (brackets inside strings
    do not count); runs before any parser sees the body."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return
    depth = 0
    for token in _TOKENS.finditer(raw):
        first = token.group()[0]
        if first in _OPEN:
            depth += 1
            if depth > limit:
                raise PayloadError(f"JSON nested deeper than {limit} levels")
        elif first != 0x22:  # a closing bracket
            depth -= 1


def decode_json(raw: bytes) -> dict[str, object]:
    """The JSON object in ``raw``: nesting bounded first, then parsed; PayloadError saying what is
    wrong (where, for malformed JSON)."""
    check_depth(raw)
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise PayloadError(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except UnicodeDecodeError:
        raise PayloadError("malformed JSON: the body is not UTF-8") from None
    except RecursionError:
        raise PayloadError(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # e.g. an integer longer than Python's digit limit
        raise PayloadError(f"malformed JSON: {str(exc)[:200]}") from None
    if not isinstance(data, dict):
        raise PayloadError("the JSON body must be an object")
    return data


def decode_body(media: str, raw: bytes) -> dict[str, object]:
    """The payload of a JSON body, or of the ``payload`` field of a form (GitHub, Gitea)."""
    if media != FORM:
        return decode_json(raw)
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise PayloadError("a form body must be ASCII (URL-encoded)") from None
    try:
        form = parse_qs(text, max_num_fields=16, errors="strict")
    except ValueError as exc:
        raise PayloadError(f"malformed form: {str(exc)[:200]}") from None
    payload = form.get("payload")
    if not payload:
        raise PayloadError("required field is missing", "payload")
    return decode_json(payload[0].encode())


# ---- typed reads ----------------------------------------------------------------------------------

Path = tuple[str | int, ...]


def _name(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _dig(data: object, path: Path) -> object:
    for part in path:
        if isinstance(part, int):
            if not isinstance(data, list) or not 0 <= part < len(data):
                return None
            data = data[part]
        elif isinstance(data, dict):
            data = data.get(part)
        else:
            return None
    return data


def _text(data: object, *path: str | int) -> str | None:
    value = _dig(data, path)
    if value is None:
        return None
    if not isinstance(value, str):
        raise PayloadError("expected a string", _name(path))
    return value


def _need(data: object, *path: str | int) -> str:
    value = _text(data, *path)
    if value is None or not value:
        raise PayloadError("required field is missing", _name(path))
    return value


def _list(data: object, *path: str | int) -> list[object] | None:
    value = _dig(data, path)
    if value is None:
        return None
    if not isinstance(value, list):
        raise PayloadError("expected a list", _name(path))
    return value


def _int(data: object, *path: str | int) -> int | None:
    value = _dig(data, path)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise PayloadError("expected an integer", _name(path))
    return value


def _flag(data: object, *path: str | int) -> bool:
    value = _dig(data, path)
    if value is not None and not isinstance(value, bool):
        raise PayloadError("expected true or false", _name(path))
    return bool(value)


def _urls(data: object, *paths: Path) -> tuple[str, ...]:
    found = [u for u in (_text(data, *p) for p in paths) if u]
    return tuple(dict.fromkeys(found))[:MAX_URLS]


def _zero(sha: str | None) -> bool:
    return bool(sha) and ZERO_SHA.match(sha or "") is not None


def _paths(commits: list[object] | None, where: str, complete: bool) -> frozenset[str] | None:
    """Changed paths of ``commits`` (added, modified, removed); None when the list is incomplete."""
    if not complete or not commits or len(commits) > MAX_COMMITS:
        return None
    found: set[str] = set()
    for i, commit in enumerate(commits):
        if not isinstance(commit, dict):
            raise PayloadError("expected an object", f"{where}[{i}]")
        for key in ("added", "modified", "removed"):
            items = _list(commit, key)
            for j, item in enumerate(items or ()):
                if not isinstance(item, str):
                    raise PayloadError("expected a string", f"{where}[{i}].{key}[{j}]")
                path = clean_path(item)
                if path is not None:
                    found.add(path)
            if len(found) > MAX_PATHS:
                return None
    return frozenset(found) or None


def _ref(ref: str) -> str | None:
    return ref if ref.startswith((BRANCH_PREFIX, TAG_PREFIX)) and len(ref) > len(TAG_PREFIX) else None


def _other_ref(event: str, ref: str) -> Event:
    return Event("other", event, note=f"ref {_printable(ref, 100)} is neither a branch nor a tag")


# ---- providers ------------------------------------------------------------------------------------


def parse(provider: WebhookProvider, headers: Mapping[str, str], data: Mapping[str, object]) -> Event:
    """The meaning of an authenticated delivery of ``provider``; PayloadError when the payload is not
    what the provider documents."""
    if provider in ("github", "gitea"):
        return _github_like(provider, headers, data)
    if provider == "gitlab":
        return _gitlab(headers, data)
    if provider == "bitbucket-server":
        return _bitbucket_server(headers, data)
    if provider == "bitbucket-cloud":
        return _bitbucket_cloud(headers, data)
    return _generic(data)


_SHOWN = {"x-github-event": "X-GitHub-Event", "x-gitea-event": "X-Gitea-Event",
          "x-gitlab-event": "X-Gitlab-Event", "x-event-key": "X-Event-Key"}


def _require_event(provider: str, headers: Mapping[str, str]) -> str:
    name = event_name(provider, headers)
    if not name:
        header = EVENT_HEADERS[provider][0]
        raise PayloadError(f"missing {_SHOWN.get(header, header)} header: which event is this?")
    return name


def _github_like(provider: WebhookProvider, headers: Mapping[str, str], data: Mapping[str, object]) -> Event:
    event = _require_event(provider, headers)
    if event == "ping":
        hook = _int(data, "hook_id")
        return Event("ping", event, note=f"ping from hook {hook}" if hook is not None else "ping")
    if event != "push":
        return Event("other", event)
    ref = _need(data, "ref")
    if _ref(ref) is None:
        return _other_ref(event, ref)
    before, after = _text(data, "before") or "", _text(data, "after") or ""
    if before and before == after and not _zero(after):
        return Event("ping", event, note="test delivery (before == after): nothing moved")
    commits = _list(data, "commits")
    created = _flag(data, "created") or _zero(before)
    total = _int(data, "total_commits")  # Gitea: the push's commits, of which the payload lists some
    complete = (not created and not _flag(data, "forced") and len(commits or ()) < 2048
                and (total is None or total <= len(commits or ())))
    default = _text(data, "repository", "default_branch") or _text(data, "repository", "master_branch")
    push = Push(urls=_urls(data, ("repository", "clone_url"), ("repository", "ssh_url"),
                           ("repository", "git_url"), ("repository", "html_url"), ("repository", "url")),
                ref=ref, after=after, paths=_paths(commits, "commits", complete),
                deleted=_flag(data, "deleted") or _zero(after), default_branch=default)
    return Event("push", event, (push,))


def _gitlab(headers: Mapping[str, str], data: Mapping[str, object]) -> Event:
    event = _require_event("gitlab", headers)
    kind = _text(data, "object_kind") or ""
    if event not in ("Push Hook", "Tag Push Hook", "System Hook") or kind not in ("push", "tag_push"):
        return Event("other", event if event != "System Hook" else f"{event} ({_printable(kind, 50)})")
    ref = _need(data, "ref")
    if _ref(ref) is None:
        return _other_ref(event, ref)
    before, after = _text(data, "before") or "", _text(data, "after") or ""
    commits = _list(data, "commits")
    total = _int(data, "total_commits_count")
    complete = not _zero(before) and (total is None or total <= len(commits or ()))
    push = Push(urls=_urls(data, ("project", "git_http_url"), ("project", "git_ssh_url"),
                           ("project", "web_url"), ("project", "http_url"), ("project", "ssh_url"),
                           ("repository", "git_http_url"), ("repository", "git_ssh_url"),
                           ("repository", "url"), ("repository", "homepage")),
                ref=ref, after=after, paths=_paths(commits, "commits", complete), deleted=_zero(after),
                default_branch=_text(data, "project", "default_branch"))
    return Event("push", event, (push,))


_BITBUCKET_SELF = re.compile(r"^(?P<base>https?://[^?#]+?)/projects/(?P<project>[^/?#]+)/repos/"
                             r"(?P<slug>[^/?#]+)(?:/.*)?$")


def _bitbucket_server_urls(data: Mapping[str, object]) -> tuple[str, ...]:
    found: list[str] = []
    for key, derive in (("clone", False), ("self", True)):
        for i, link in enumerate((_list(data, "repository", "links", key) or ())[:MAX_URLS]):
            href = _text(link, "href")
            if href is None:
                raise PayloadError("required field is missing", f"repository.links.{key}[{i}].href")
            match = _BITBUCKET_SELF.match(href) if derive else None
            if match is not None:  # the web page: its http clone URL is <base>/scm/<project>/<slug>.git
                found.append(f"{match['base']}/scm/{match['project']}/{match['slug']}.git")
            elif not derive:
                found.append(href)
    return tuple(dict.fromkeys(found))[:MAX_URLS]


def _bitbucket_server(headers: Mapping[str, str], data: Mapping[str, object]) -> Event:
    event = _require_event("bitbucket-server", headers)
    if event == "diagnostics:ping":
        return Event("ping", event, note="Bitbucket Server test connection")
    if event != "repo:refs_changed":
        return Event("other", event)
    urls = _bitbucket_server_urls(data)
    changes = _list(data, "changes") or []
    if not changes:
        raise PayloadError("required field is missing", "changes")
    pushes = []
    for i in range(min(len(changes), MAX_PUSHES)):
        ref = _text(data, "changes", i, "ref", "id") or _need(data, "changes", i, "refId")
        if _ref(ref) is None:
            continue
        after = _text(data, "changes", i, "toHash") or ""
        deleted = (_text(data, "changes", i, "type") or "").upper() == "DELETE" or _zero(after)
        pushes.append(Push(urls=urls, ref=ref, after=after, paths=None, deleted=deleted))
    if not pushes:
        return Event("other", event, note="no branch or tag changed")
    return Event("push", event, tuple(pushes))


def _bitbucket_cloud(headers: Mapping[str, str], data: Mapping[str, object]) -> Event:
    event = _require_event("bitbucket-cloud", headers)
    if event != "repo:push":
        return Event("other", event)
    urls = list(_urls(data, ("repository", "links", "html", "href")))
    full_name = _text(data, "repository", "full_name")
    if full_name and not urls:
        urls.append(f"https://bitbucket.org/{full_name}")
    changes = _list(data, "push", "changes")
    if not changes:
        raise PayloadError("required field is missing", "push.changes")
    pushes = []
    for i in range(min(len(changes), MAX_PUSHES)):
        side = "new" if _dig(data, ("push", "changes", i, "new")) is not None else "old"
        if _dig(data, ("push", "changes", i, side)) is None:
            continue
        kind = _need(data, "push", "changes", i, side, "type")
        if kind not in ("branch", "tag"):
            continue
        name = _need(data, "push", "changes", i, side, "name")
        ref = (BRANCH_PREFIX if kind == "branch" else TAG_PREFIX) + name
        after = _text(data, "push", "changes", i, "new", "target", "hash") or ""
        pushes.append(Push(urls=tuple(urls), ref=ref, after=after, paths=None,
                           deleted=side == "old" or _flag(data, "push", "changes", i, "closed")))
    if not pushes:
        return Event("other", event, note="no branch or tag changed")
    return Event("push", event, tuple(pushes))


def _generic(data: Mapping[str, object]) -> Event:
    """``{"event": "push" | "ping", "repository": URL, "ref": "refs/heads/main" | "main",
    "commit": SHA, "paths": [...] | null, "deleted": false}`` (docs/webhooks.md)."""
    event = _text(data, "event") or "push"
    if event == "ping":
        return Event("ping", event, note="ping")
    if event != "push":
        return Event("other", _printable(event, 100))
    url = _need(data, "repository")
    ref = _need(data, "ref")
    ref = ref if ref.startswith("refs/") else BRANCH_PREFIX + ref
    if _ref(ref) is None:
        return _other_ref(event, ref)
    listed = _list(data, "paths")
    paths: frozenset[str] | None = None
    if listed is not None:
        if len(listed) > MAX_PATHS:
            paths = None
        else:
            for j, item in enumerate(listed):
                if not isinstance(item, str):
                    raise PayloadError("expected a string", f"paths[{j}]")
            paths = frozenset(p for p in (clean_path(item) for item in listed) if p is not None) or None
    push = Push(urls=(url,), ref=ref, after=_text(data, "commit") or "", paths=paths,
                deleted=_flag(data, "deleted"))
    return Event("push", event, (push,))
