"""In-memory object storage of the sandbox: one lock, one global resourceVersion counter, an event log.

Every write goes through :meth:`Store.put` or :meth:`Store.remove` under :attr:`Store.lock`, which bumps
the counter (resourceVersion is a string holding an increasing integer; clients must treat it as opaque,
as the API concepts say) and appends a watch event. Objects are kept together with their serialized JSON
so reads never copy: a GET writes the cached bytes, and writers get a private copy by decoding them.
The event log keeps the last ``window`` events; a watch from an older resourceVersion gets 410 Gone
("Efficient detection of changes" in the API concepts).
"""

from __future__ import annotations

import builtins
import json
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

ResourceKey = tuple[str, str]  # (group, plural)
ObjectKey = tuple[str, str]  # (namespace or "", name)


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class Entry:
    """A stored object; ``obj`` must not be mutated (copy with :meth:`copy`)."""

    obj: dict[str, Any]
    raw: bytes

    def copy(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.raw)
        return result


@dataclass(frozen=True)
class Event:
    rv: int
    type: str  # ADDED | MODIFIED | DELETED
    resource: ResourceKey
    entry: Entry
    previous: Entry | None = None  # the object before a MODIFIED event (selector transitions)


class Store:
    """Objects by resource and (namespace, name); watch events in a bounded log."""

    def __init__(self, window: int = 20000) -> None:
        self.lock = threading.Condition(threading.RLock())
        self.rv = 1
        self.closed = False
        self._objects: dict[ResourceKey, dict[ObjectKey, Entry]] = {}
        self._events: deque[Event] = deque(maxlen=window)

    def get(self, resource: ResourceKey, namespace: str, name: str) -> Entry | None:
        return self._objects.get(resource, {}).get((namespace, name))

    def list(self, resource: ResourceKey, namespace: str | None) -> list[Entry]:
        items = self._objects.get(resource, {})
        if namespace is None:
            return list(items.values())
        return [e for (ns, _), e in items.items() if ns == namespace]

    def count(self, resource: ResourceKey) -> int:
        return len(self._objects.get(resource, {}))

    def next_rv(self) -> int:
        """Allocate a resourceVersion (call with the lock held)."""
        self.rv += 1
        return self.rv

    def put(self, resource: ResourceKey, obj: dict[str, Any], created: bool) -> Entry:
        """Store ``obj`` (its metadata.resourceVersion already set by the caller) and log an event."""
        meta = obj["metadata"]
        entry = Entry(obj, dumps(obj))
        items = self._objects.setdefault(resource, {})
        key = (meta.get("namespace", ""), meta["name"])
        previous = items.get(key)
        items[key] = entry
        self._log(resource, "ADDED" if created else "MODIFIED", entry, previous)
        return entry

    def remove(self, resource: ResourceKey, obj: dict[str, Any]) -> Entry:
        """Delete the object; the DELETED event carries the object at a new resourceVersion."""
        meta = obj["metadata"]
        self._objects.get(resource, {}).pop((meta.get("namespace", ""), meta["name"]), None)
        meta["resourceVersion"] = str(self.next_rv())
        entry = Entry(obj, dumps(obj))
        self._log(resource, "DELETED", entry)
        return entry

    def drop_resource(self, resource: ResourceKey) -> builtins.list[Entry]:
        return list(self._objects.pop(resource, {}).values())

    def _log(self, resource: ResourceKey, kind: str, entry: Entry, previous: Entry | None = None) -> None:
        rv = int(entry.obj["metadata"]["resourceVersion"])
        self._events.append(Event(rv, kind, resource, entry, previous))
        self.lock.notify_all()

    def oldest_rv(self) -> int:
        """The oldest resourceVersion a watch may start from (older ones get 410 Gone)."""
        if len(self._events) < (self._events.maxlen or 0):
            return 0
        return self._events[0].rv - 1

    def events_after(self, rv: int, resource: ResourceKey) -> builtins.list[Event]:
        """Events with a resourceVersion greater than ``rv`` for one resource (lock held)."""
        out = []
        for event in reversed(self._events):
            if event.rv <= rv:
                break
            if event.resource == resource:
                out.append(event)
        out.reverse()
        return out

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self.lock.notify_all()
