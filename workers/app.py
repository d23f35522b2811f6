"""The Celery application: Redis broker and result backend, JSON only, late acks, three queues (and a
copy of the per-target ones per shard).

Imported by ``celery -A workers.app worker`` (what ``gitops worker`` and ``gitops up`` run), by the
tasks module and by the dispatcher. Key design choice: at-least-once delivery made safe. Tasks are
acknowledged after they finish (``acks_late``) and requeued when their worker dies
(``reject_on_worker_lost`` plus the Redis visibility timeout), prefetch is 1 so a dying worker holds at
most one message, and every task is idempotent and fenced (see workers/service.py), so a redelivered
task converges instead of conflicting.

The broker and the result backend come from ``GITOPS_REDIS_URL``, parsed once by
:func:`gitops.state.parse_redis_url`: a ``redis+sentinel://`` URL becomes kombu's ``sentinel://``
URLs with the master's name in the transport options (:func:`celery_redis`). Where a task goes is one
decision, :func:`router`: the queue of :data:`ROUTES`, or for a per-target task of a cluster in a shard
(:class:`workers.settings.Shards`) that queue's copy ``<queue>.<shard>``; every publisher installs the
shards of the configuration it loaded with :func:`route_by` (the worker at start, the beat, the
dispatcher of the web and the CLI).
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from celery import Celery
from celery.signals import worker_init, worker_process_init, worker_ready
from kombu.entity import Exchange, Queue

from gitops.state import parse_redis_url
from renderers.api import warm
from workers.runtime import get_runtime
from workers.settings import QUEUES, Settings, Shards

ROUTES = {
    "gitops.poll": {"queue": "poll"},
    "gitops.appset": {"queue": "poll"},
    "gitops.beat_tick": {"queue": "poll"},
    "gitops.notify": {"queue": "poll"},  # short HTTP calls, bounded by a timeout: never behind a sync
    "gitops.reconcile": {"queue": "reconcile"},
    "gitops.refresh": {"queue": "reconcile"},
    "gitops.hard_refresh": {"queue": "reconcile"},
    "gitops.sync": {"queue": "sync"},
    "gitops.prune": {"queue": "sync"},
}


def _queue(name: str) -> Queue:
    """A queue on the default (nameless) exchange, routed by its own name.

    kombu delivers such a message straight to the list named by the routing key, without looking up
    exchange bindings in Redis, so routing does not depend on binding keys being present.
    """
    return Queue(name, Exchange(""), routing_key=name)  # type: ignore[no-untyped-call]


Router = Callable[..., dict[str, Any] | None]


def router(shards: Shards) -> Router:
    """Celery's router (``task_routes``): a task of :data:`ROUTES` goes to its queue, or, when it is a
    per-target task (``application, cluster, ...``) of a cluster in a shard, to ``<queue>.<shard>``. A
    cluster that is not configured (a forged message) keeps the plain queue, whose worker rejects it."""
    def route(name: str, args: Any = None, kwargs: Any = None, options: Any = None, task: Any = None,
              **_: Any) -> dict[str, Any] | None:
        base = ROUTES.get(name, {}).get("queue")
        if base is None:
            return None
        cluster: object = None  # anything but a configured cluster's name keeps the plain queue
        if isinstance(args, list | tuple) and len(args) > 1:
            cluster = args[1]
        elif isinstance(kwargs, dict):
            cluster = kwargs.get("cluster")
        return {"queue": _queue(shards.queue(base, cluster))}

    return route


def route_by(app: Celery, shards: Shards) -> None:
    """Route ``app``'s tasks with :func:`router` over ``shards`` from now on (each publisher calls it once,
    with the shards of the configuration it loaded; Celery caches its router, so it is rebuilt here)."""
    app.conf.task_routes = (router(shards),)
    app.amqp.flush_routes()
    app.amqp.router = app.amqp.Router()


def celery_redis(url: str, timeouts: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Celery's URL for ``GITOPS_REDIS_URL`` and the transport options it needs: a plain Redis URL as it is;
    a ``redis+sentinel://`` one as kombu's ``sentinel://:pw@h1:26379/db;sentinel://...`` with
    ``master_name`` (and the sentinels' own connection options) in the options."""
    parsed = parse_redis_url(url)
    if parsed is None:
        return url, {}
    auth = ""
    if parsed.username or parsed.password:
        auth = f"{quote(parsed.username or '', safe='')}:{quote(parsed.password or '', safe='')}@"
    hosts = ";".join(f"sentinel://{auth}{f'[{h}]' if ':' in h else h}:{p}/{parsed.db}"
                     for h, p in parsed.sentinels)
    on_sentinels = dict(timeouts)
    if parsed.sentinel_auth:
        on_sentinels.update(parsed.credentials)
    return hosts, {"master_name": parsed.master, "sentinel_kwargs": on_sentinels}


def configure(app: Celery, settings: Settings, shards: Shards | None = None) -> None:
    timeouts = {"socket_timeout": 10, "socket_connect_timeout": 5}
    broker, sentinel = celery_redis(settings.redis_url, timeouts)
    transport = {"visibility_timeout": int(settings.visibility_timeout), **timeouts,
                 "health_check_interval": 10,
                 "unacked_restore_interval": max(1, int(settings.restore_interval)),
                 "unacked_restore_throttle": 1, **sentinel}
    app.conf.update(
        broker_url=broker,
        result_backend=broker,
        broker_transport_options=transport,
        result_backend_transport_options={"retry_policy": {"timeout": 5.0}, **sentinel},
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=settings.soft_time_limit,
        task_time_limit=settings.hard_time_limit,
        task_queues=[_queue(name) for name in QUEUES],
        task_default_queue="reconcile",
        result_expires=3600,
        task_ignore_result=False,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        broker_channel_error_retry=True,
    )
    forget_connections(app)
    route_by(app, shards or Shards())


def forget_connections(app: Celery) -> None:
    """Drop what the app built for its previous broker and result backend (the connection and
    producer pools, the backend instance), so a reconfigured app talks to the new Redis only.

    Celery builds these lazily and keeps them: without this, ``configure`` on an app that already
    published would go on sending to the old broker. Celery offers no public way to drop them;
    these attributes are where 5.x keeps them."""
    app._pool = None
    app.amqp._producer_pool = None
    app._backend_cache = None                    # a thread-safe backend is kept here...
    vars(app._local).pop("backend", None)        # ...any other per thread, here


def create_app(settings: Settings | None = None) -> Celery:
    app = Celery("gitops", include=["workers.tasks"])
    configure(app, settings or Settings.from_env())
    return app


app = create_app()


def preload_runtime(**_: Any) -> None:
    """Load the configuration once in the worker's main process, before the pool forks.

    Prefork children then share the loaded models copy-on-write (``gc.freeze`` keeps the collector
    from touching, and so copying, those pages), and a broken configuration stops the worker at
    start instead of failing every task.
    """
    route_by(app, get_runtime().shards)  # the follow-ups this worker sends go to their shard's queues
    gc.freeze()


worker_init.connect(preload_runtime)


def warm_renderers(**_: Any) -> None:
    """Start a render worker in the process that runs tasks, before its first render (which would
    otherwise pay about 0.25 s to start one). Render workers are per process and forgotten across a
    fork, so this runs in each prefork pool process, or once in the worker itself for the other pools."""
    warm()


def _warm_unforked(sender: Any = None, **_: Any) -> None:
    # lazy: the prefork pool (billiard) is wanted only in a worker, not where the app merely enqueues
    from celery.concurrency.prefork import TaskPool

    if not isinstance(getattr(sender, "pool", None), TaskPool):  # solo, threads: tasks run right here
        warm_renderers()


worker_process_init.connect(warm_renderers)  # each prefork pool process, right after its fork
worker_ready.connect(_warm_unforked)
