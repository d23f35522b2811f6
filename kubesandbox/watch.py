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

from kubesandbox.apierrors import gone
from kubesandbox.call import Call
from kubesandbox.rest import TRUE, Api, parse_int
from kubesandbox.selectors import field_selector, label_selector
from kubesandbox.store import Entry, Event, dumps

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


class _Stream:
    """One watch: its filters, position (last resourceVersion sent) and deadline."""

    def __init__(self, api: Api, call: Call, send: Send) -> None:
        q = call.query
        self.api, self.call, self.send = api, call, send
        self.labels = label_selector(q.get("labelSelector"))
        self.fields = field_selector(q.get("fieldSelector"))
        timeout = min(parse_int(q.get("timeoutSeconds"), "timeoutSeconds") or 1800, 1800)
        self.deadline = time.monotonic() + timeout
        self.bookmarks = q.get("allowWatchBookmarks") in TRUE
        self.last = 0

    def wanted(self, entry: Entry) -> bool:
        meta = entry.obj["metadata"]
        if self.call.namespace and meta.get("namespace") != self.call.namespace:
            return False
        if self.labels is not None and not self.labels(meta.get("labels") or {}):
            return False
        return self.fields is None or self.fields(meta)

    def start(self) -> bool:
        """Send the initial events (or the 410 ERROR); False when the stream must end."""
        store, rt, rv = self.api.store, self.call.rt, self.call.query.get("resourceVersion", "")
        with store.lock:
            if rv in ("", "0"):
                self.last = store.rv
                initial = [e for e in store.list(rt.key, self.call.namespace or None) if self.wanted(e)]
            else:
                self.last, initial = parse_int(rv, "resourceVersion"), []
                if self.last < store.oldest_rv():
                    error = gone(f"too old resource version: {self.last} ({store.oldest_rv() + 1})")
                    self.send(_event("ERROR", dumps(error.to_status())))
                    return False
        if initial:
            self.send(b"".join(_event("ADDED", self.api.view(rt, e)) for e in initial))
        return True

    def next_events(self) -> list[Event] | None:
        """Events after the last one sent, waiting up to half a second; None once the store closed."""
        store = self.api.store
        with store.lock:
            events = store.events_after(self.last, self.call.rt.key)
            if not events and not store.closed:
                store.lock.wait(timeout=min(0.5, max(0.0, self.deadline - time.monotonic())))
                events = store.events_after(self.last, self.call.rt.key)
            return None if store.closed else events

    def forward(self, events: list[Event]) -> bool:
        """Send what this watcher may see of ``events``; True when something was sent."""
        chunk = []
        for event in events:
            self.last = event.rv
            kind = _transition(event, self.wanted)
            if kind is not None:
                chunk.append(_event(kind, self.api.view(self.call.rt, event.entry)))
        if chunk:
            self.send(b"".join(chunk))
        return bool(chunk)


def run(api: Api, call: Call, send: Send, stopped: Callable[[], bool]) -> None:
    """Stream events for ``call`` until its timeout, a stop of the server, or ``stopped()``."""
    stream = _Stream(api, call, send)
    if not stream.start():
        return
    idle_since = time.monotonic()
    while not stopped() and time.monotonic() < stream.deadline:
        events = stream.next_events()
        if events is None:
            return
        if stream.forward(events):
            idle_since = time.monotonic()
        elif stream.bookmarks and time.monotonic() - idle_since >= 1.0:
            send(_event("BOOKMARK", dumps(_bookmark(call, stream.last))))
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
