"""GET /api/v1/events: the state's event stream as server-sent events, for live pages and clients.

Called by the dashboard's JavaScript (``EventSource``) and any client; each event is ``event: <kind>``,
``id: <stream id>``, ``data: <json of {id, kind, application, cluster, message, time, data}>``,
filtered to the applications the caller may see, with a ``: ping`` comment every
:data:`PING_SECONDS` to keep proxies from closing an idle stream. A client that reconnects sends
``Last-Event-ID`` (``EventSource`` does by itself) and first receives what it missed (at most
:data:`CATCH_UP` events; beyond that one ``reset`` event tells it to reload), then live events.

Key design choice: one reader per process (:class:`EventHub`): a single task reads the stream with
a bounded blocking read (:data:`BLOCK_MS`) in a worker thread and fans each event out to every
connected client's bounded queue, so a hundred open dashboards cost one blocked thread and one
Redis read, not a hundred (the thread pool serves the API's other routes). A client too slow to
drain its queue is disconnected (its browser reconnects and catches up by id). The reader starts
from the newest event id (``last_event_id``), never from ``$``, so each read continues exactly
where the previous one ended and nothing written between two reads is missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator
from functools import partial
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Header
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request

from gitops.domain import Fleet
from gitops.errors import GitOpsError, InputError
from gitops.state import Event, RecordReader
from web.api import models
from web.api.access import may_see_name
from web.auth import Principal, Role, require
from web.context import WebContext, context

log = logging.getLogger(__name__)
router = APIRouter(tags=["events"])

BLOCK_MS = 5000          # one blocking read of the stream at most this long (then loop)
BATCH = 100              # events per read
QUEUE = 1000             # events buffered per client before it counts as too slow
CATCH_UP = 1000          # events replayed to a reconnecting client at most
PING_SECONDS = 15.0      # a ": ping" comment this often on an idle stream
RETRY_SECONDS = 2.0      # the reader's pause after the state store failed
_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
_KIND = re.compile(r"[^A-Za-z0-9_.-]")
EVENT_SCHEMA = models.EventItem.model_json_schema(by_alias=True)


def _seq(event_id: str) -> tuple[int, int]:
    ms, _, n = event_id.partition("-")
    return int(ms or 0), int(n or 0)


class EventHub:
    """One reader of the event stream fanned out to every subscriber's queue (one per event loop).

    A ``None`` in a subscriber's queue means it fell behind and must reconnect."""

    def __init__(self, state: RecordReader) -> None:
        self.state = state
        self._subscribers: set[asyncio.Queue[Event | None]] = set()
        self._task: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[Event | None]]:
        queue: asyncio.Queue[Event | None] = asyncio.Queue(QUEUE)
        self._subscribers.add(queue)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._read())
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)
            if not self._subscribers and self._task is not None:
                self._task.cancel()  # its thread returns within BLOCK_MS and is dropped
                self._task = None

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    async def _read(self) -> None:
        after: str | None = None  # from the newest event when the reader starts, never "$" (see below)
        while self._subscribers:
            if after is None:
                # "$" on every read would miss what is written between two reads; the newest id, read
                # once, makes each read continue exactly where the previous one ended
                try:
                    after = await anyio.to_thread.run_sync(self.state.last_event_id)
                except GitOpsError as exc:
                    log.warning("event stream: %s; retrying in %ss", exc, RETRY_SECONDS)
                    await anyio.sleep(RETRY_SECONDS)
                    continue
            try:
                events = await anyio.to_thread.run_sync(
                    partial(self.state.events, after, BATCH, BLOCK_MS), abandon_on_cancel=True)
            except GitOpsError as exc:
                log.warning("event stream: %s; retrying in %ss", exc, RETRY_SECONDS)
                await anyio.sleep(RETRY_SECONDS)
                continue
            for event in events:
                after = event.id or after
                for queue in list(self._subscribers):
                    try:
                        queue.put_nowait(event)
                    except asyncio.QueueFull:  # too slow: empty it and tell it to reconnect
                        while not queue.empty():
                            queue.get_nowait()
                        queue.put_nowait(None)


def hub_of(request: Request, ctx: WebContext) -> EventHub:
    """The app's hub for the running event loop (tests may run an app on several loops)."""
    loop = asyncio.get_running_loop()
    found: tuple[asyncio.AbstractEventLoop, EventHub] | None = getattr(request.app.state, "event_hub", None)
    if found is None or found[0] is not loop:
        found = (loop, EventHub(ctx.state))
        request.app.state.event_hub = found
    return found[1]


def item(event: Event) -> models.EventItem:
    return models.EventItem(id=event.id, kind=event.kind, application=event.application,
                            cluster=event.cluster, message=event.message, time=event.time,
                            data=dict(event.data))


def encode(event: Event) -> ServerSentEvent:
    kind = _KIND.sub("", event.kind)[:64] or "message"
    return ServerSentEvent(json.dumps(item(event).model_dump(by_alias=True), separators=(",", ":")),
                           event=kind, id=event.id)


async def stream(hub: EventHub, state: RecordReader, fleet: Fleet, principal: Principal,
                 last_id: str | None) -> AsyncIterator[ServerSentEvent]:
    """The events ``principal`` may see: what it missed since ``last_id``, then live ones."""
    def visible(event: Event) -> bool:
        return may_see_name(fleet, principal, event.application)

    async with hub.subscribe() as queue:
        delivered = last_id
        if last_id is not None:
            replayed = 0
            while True:
                missed = await anyio.to_thread.run_sync(partial(state.events, delivered or "0", BATCH, None))
                for event in missed:
                    delivered = event.id
                    if visible(event):
                        yield encode(event)
                replayed += len(missed)
                if len(missed) < BATCH:
                    break
                if replayed >= CATCH_UP:
                    yield ServerSentEvent("{}", event="reset")
                    delivered = None  # live events from here; whatever was between is lost
                    break
        while True:
            live = await queue.get()
            if live is None:
                return  # fell behind: the client reconnects with its Last-Event-ID
            event = live
            if delivered is not None and event.id and _seq(event.id) <= _seq(delivered):
                continue
            if event.id:
                delivered = event.id
            if visible(event):
                yield encode(event)


@router.get("/events", summary="Live events (server-sent events)", response_class=EventSourceResponse,
            responses={200: {"content": {"text/event-stream": {"schema": EVENT_SCHEMA}},
                             "description": "event: <kind>, id: <stream id>, data: an EventItem as JSON"}})
async def events(request: Request, principal: Annotated[Principal, Depends(require(Role.VIEWER))],
                 ctx: Annotated[WebContext, Depends(context)],
                 last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=64)] = None,
                 ) -> EventSourceResponse:
    """Server-sent events from the state's event stream, resumable with ``Last-Event-ID``."""
    if last_event_id is not None and not _ID.match(last_event_id):
        raise InputError(f"Last-Event-ID {last_event_id[:64]!r}: expected a stream id such as "
                         "1700000000000-0", field="Last-Event-ID")
    return EventSourceResponse(stream(hub_of(request, ctx), ctx.state, ctx.fleet(), principal, last_event_id),
                               ping=PING_SECONDS)
