"""WATCH streams: ADDED / MODIFIED / DELETED events from a resourceVersion, as newline-delimited JSON.

Called by the HTTP handler, which owns the chunked response. Semantics from API concepts "Efficient
detection of changes" and "Semantics for watch": without resourceVersion (or "0") the stream starts
with synthetic ADDED events for every existing object; from resourceVersion N it sends every change
after N; when N is older than the kept event window the stream carries one ERROR event with a 410
Expired Status ("too old resource version") and ends, so clients relist. ``allowWatchBookmarks``
adds a BOOKMARK event each idle second. Selectors filter events per object (a MODIFIED object that
stops matching is sent as DELETED, and one that starts matching as ADDED, as the watch cache does).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from gitops.sandbox.rest import TRUE, Api, Call, parse_int
from gitops.sandbox.selectors import field_selector, label_selector
from gitops.sandbox.status import gone
from gitops.sandbox.store import Entry, Event, dumps

Send = Callable[[bytes], None]


def _event(kind: str, raw: bytes) -> bytes:
    return b'{"type":"' + kind.encode() + b'","object":' + raw + b"}\n"


def validate(call: Call) -> None:
    """Reject bad watch parameters with a 400 before the stream (and its 200) starts."""
    q = call.query
    label_selector(q.get("labelSelector"))
    field_selector(q.get("fieldSelector"))
    parse_int(q.get("timeoutSeconds"), "timeoutSeconds")
    rv = q.get("resourceVersion", "")
    if rv not in ("", "0"):
        parse_int(rv, "resourceVersion")


def run(api: Api, call: Call, send: Send, stopped: Callable[[], bool]) -> None:
    """Stream events for ``call`` until its timeout, a stop of the server, or ``stopped()``."""
    store, rt, q = api.store, call.rt, call.query
    labels, fields = label_selector(q.get("labelSelector")), field_selector(q.get("fieldSelector"))
    timeout = min(parse_int(q.get("timeoutSeconds"), "timeoutSeconds") or 1800, 1800)
    bookmarks = q.get("allowWatchBookmarks") in TRUE
    deadline = time.monotonic() + timeout

    def wanted(entry: Entry) -> bool:
        meta = entry.obj["metadata"]
        if call.namespace and meta.get("namespace") != call.namespace:
            return False
        if labels is not None and not labels(meta.get("labels") or {}):
            return False
        return fields is None or fields(meta)

    rv = q.get("resourceVersion", "")
    with store.lock:
        if rv in ("", "0"):
            last = store.rv
            initial = [e for e in store.list(rt.key, call.namespace or None) if wanted(e)]
        else:
            last, initial = parse_int(rv, "resourceVersion"), []
            if last < store.oldest_rv():
                error = gone(f"too old resource version: {last} ({store.oldest_rv() + 1})")
                send(_event("ERROR", dumps(error.to_status())))
                return
    if initial:
        send(b"".join(_event("ADDED", api.view(rt, e)) for e in initial))
    idle_since = time.monotonic()
    while not stopped() and time.monotonic() < deadline:
        with store.lock:
            events = store.events_after(last, rt.key)
            if not events and not store.closed:
                store.lock.wait(timeout=min(0.5, max(0.0, deadline - time.monotonic())))
                events = store.events_after(last, rt.key)
            closed = store.closed
        if closed:
            return
        chunk = []
        for event in events:
            last = event.rv
            kind = _transition(event, wanted)
            if kind is not None:
                chunk.append(_event(kind, api.view(rt, event.entry)))
        if chunk:
            send(b"".join(chunk))
            idle_since = time.monotonic()
        elif bookmarks and time.monotonic() - idle_since >= 1.0:
            send(_event("BOOKMARK", dumps(_bookmark(call, last))))
            idle_since = time.monotonic()


def _transition(event: Event, wanted: Callable[[Entry], bool]) -> str | None:
    """The event a filtered watcher sees, as the watch cache computes it: an object that starts
    matching the selectors is ADDED, one that stops matching is DELETED (with its new state)."""
    now = wanted(event.entry)
    if event.type != "MODIFIED" or event.previous is None:
        return event.type if now else None
    before = wanted(event.previous)
    if now:
        return "MODIFIED" if before else "ADDED"
    return "DELETED" if before else None


def _bookmark(call: Call, rv: int) -> dict[str, Any]:
    return {"kind": call.rt.kind, "apiVersion": call.rt.api_version, "metadata": {"resourceVersion": str(rv)}}
