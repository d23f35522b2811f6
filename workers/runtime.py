"""The per-process runtime the tasks use: store, catalog, poller, reconciler, settings and clock.

Built once per worker process on first use (``get_runtime``), from ``$GITOPS_RUNTIME`` ("module:factory",
used by tests and benchmarks to plug in fakes) or from the configuration (workers/engine_port.py).
The :class:`~workers.ports.Runtime` value itself is defined with the ports it bundles.
Key design choice: tasks receive only IDs and look everything else up here, so a task message is small,
JSON-safe and still valid after a config reload. A runtime that names no observers gets the default
ones (:func:`default_observers`): the metrics in Redis always, the OpenTelemetry export when its
endpoint is set.
"""

from __future__ import annotations

import importlib
import os
import threading

from gitops.env import ENV_OTEL_ENDPOINT, ENV_RUNTIME
from gitops.errors import ConfigError, Problem
from workers.engine_port import runtime_from_config
from workers.ports import Observer, Runtime
from workers.settings import Settings

_lock = threading.Lock()
_current: Runtime | None = None


def _load_factory(spec: str) -> Runtime:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ConfigError([Problem(f"{ENV_RUNTIME} must be 'module:factory', got {spec!r}")])
    factory = getattr(importlib.import_module(module_name), attr)
    runtime = factory()
    if not isinstance(runtime, Runtime):
        raise ConfigError([Problem(f"{spec} returned {type(runtime).__name__}, not a Runtime")])
    return runtime


def default_observers(settings: Settings) -> tuple[Observer, ...]:
    """What every worker tells of a finished operation: the metrics (workers.metrics, in the Redis of
    ``settings``) and, when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, the trace export
    (workers.telemetry; imported only then)."""
    from workers.metrics import MetricsRecorder

    observers: list[Observer] = [MetricsRecorder.from_url(settings.redis_url)]
    if os.environ.get(ENV_OTEL_ENDPOINT):
        from workers import telemetry

        exporter = telemetry.from_env()
        if exporter is not None:
            observers.append(exporter)
    return tuple(observers)


def get_runtime() -> Runtime:
    global _current
    with _lock:
        if _current is None:
            spec = os.environ.get(ENV_RUNTIME)
            runtime = _load_factory(spec) if spec else runtime_from_config(Settings.from_env())
            if runtime.observers is None:
                runtime.observers = default_observers(runtime.settings)
            _current = runtime
        return _current


def set_runtime(runtime: Runtime | None) -> None:
    """Install (tests) or forget the runtime of this process."""
    global _current
    with _lock:
        _current = runtime
