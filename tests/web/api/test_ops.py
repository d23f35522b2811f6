"""/healthz, /readyz and /metrics: probes without credentials, readiness from a real Redis (and one that
is not there), the Prometheus exposition with the index, the workers', the extra collectors and this
process's requests labelled by route template."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from api_kit import VIEWER, World, make_world
from prometheus_client import Counter
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from gitops.errors import ConfigError, Problem
from gitops.state import RedisStore
from gitops.vocabulary import HealthStatus, SyncStatus
from web.ops import attach_metrics
from workers.metrics import RedisMetrics
from workers.redis_server import free_port


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_healthz_needs_nothing(world: World) -> None:
    response = world.client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_checks_redis_and_the_configuration(world: World) -> None:
    response = world.client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"state": "ok", "configuration": "ok"}}


def test_readyz_is_503_when_redis_is_away(redis_server: Any, actions: Any) -> None:
    away = RedisStore.from_url(f"redis://127.0.0.1:{free_port()}/0")
    with make_world(redis_server, actions, ctx_changes={"state": away}) as world:
        world.closers.append(away.redis.close)
        response = world.client.get("/readyz")
        assert response.status_code == 503 and response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["checks"]["state"].startswith("failed") and body["checks"]["configuration"] == "ok"
        assert response.headers["retry-after"] == "5"
        assert world.client.get("/healthz").status_code == 200  # alive all the same
        metrics = samples(world.client.get("/metrics").text)
        assert metrics[("gitops_web_state_up", ())] == 0.0
        # the API says the same: temporary, retry later
        api = world.client.get("/api/v1/targets", headers=VIEWER)
        assert api.status_code == 503 and api.headers["retry-after"] == "5"
        assert api.headers["content-type"] == "application/problem+json" and api.json()["temporary"] is True


def test_readyz_is_503_without_a_configuration(redis_server: Any, actions: Any) -> None:
    def broken() -> Any:
        raise ConfigError([Problem("no configuration: set GITOPS_CONFIG", field="GITOPS_CONFIG")])

    with make_world(redis_server, actions, ctx_changes={"fleet": broken}) as world:
        response = world.client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"] == {"state": "ok", "configuration": "failed: ConfigError"}


def test_metrics_expose_the_index_the_extras_and_requests(redis_server: Any, actions: Any) -> None:
    deliveries = Counter("gitops_webhook_deliveries", "Webhook deliveries", ["provider", "outcome"],
                         registry=None)
    deliveries.labels("github", "accepted").inc(2)
    with make_world(redis_server, actions) as world:
        world.ctx.extras["collectors"] = [deliveries]
        world.put("web", "prod-eu", sync=SyncStatus.OUT_OF_SYNC, health=HealthStatus.DEGRADED,
                  drift_count=2)
        world.put("api", "prod-us")
        assert world.client.get("/api/v1/targets", headers=VIEWER).status_code == 200
        assert world.client.get("/api/v1/applications/%3Cscript%3E", headers=VIEWER).status_code == 404
        assert world.client.get("/api/v1/applications/web", headers=VIEWER).status_code == 200
        assert world.client.get("/no/such/path/../../x").status_code == 404
        response = world.client.get("/metrics")  # no credentials: Prometheus scrapes without any
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain; version=")
        found = samples(response.text)
    assert found[("gitops_targets", (("sync", "OutOfSync"),))] == 1
    assert found[("gitops_targets", (("sync", "Synced"),))] == 1
    assert found[("gitops_targets_by_health", (("health", "Degraded"),))] == 1
    assert found[("gitops_drifted_targets", ())] == 1 and found[("gitops_failed_targets", ())] == 0
    assert found[("gitops_web_state_up", ())] == 1
    assert found[("gitops_webhook_deliveries_total", (("outcome", "accepted"), ("provider", "github")))] == 2
    requests = {labels: value for (name, labels), value in found.items()
                if name == "gitops_web_requests_total"}
    assert requests[(("method", "GET"), ("route", "/api/v1/targets"), ("status", "200"))] == 1
    assert requests[(("method", "GET"), ("route", "/api/v1/applications/{app}"), ("status", "404"))] == 1
    assert requests[(("method", "GET"), ("route", "/api/v1/applications/{app}"), ("status", "200"))] == 1
    assert requests[(("method", "GET"), ("route", "unmatched"), ("status", "404"))] == 1
    assert not any("script" in str(labels) for labels in requests)
    count = found[("gitops_web_request_duration_seconds_count",
                   (("method", "GET"), ("route", "/api/v1/applications/{app}")))]
    assert count == 2


class WorkerFigures(Collector):
    """A collector standing for the workers' (ctx.metrics) with one fixed family."""

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily("gitops_sync_results", "Sync results", labels=["result"])
        family.add_metric(["succeeded"], 3)
        yield family


def test_the_workers_collector_replaces_the_index_collector(redis_server: Any, actions: Any) -> None:
    with make_world(redis_server, actions, ctx_changes={"metrics": WorkerFigures()}) as world:
        world.put("web", "prod-eu")
        found = samples(world.client.get("/metrics").text)
    assert found[("gitops_sync_results_total", (("result", "succeeded"),))] == 3
    assert not any(name.startswith(("gitops_targets", "gitops_web_state_up")) for name, _ in found)


def test_attach_metrics_reads_the_workers_figures_and_exposes_each_series_once(
        redis_server: Any, actions: Any) -> None:
    with make_world(redis_server, actions) as world:
        attach_metrics(world.ctx, redis_server.url)
        assert isinstance(world.ctx.metrics, RedisMetrics)
        world.closers.append(world.ctx.metrics.client.close)
        text = world.client.get("/metrics").text
    series = [line.split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")]
    assert len(series) == len(set(series))
    found = samples(text)
    assert found[("gitops_metrics_up", ())] == 1
    assert {labels for name, labels in found if name == "gitops_queue_depth"} == {
        (("queue", q),) for q in ("poll", "reconcile", "sync")}
    assert not any(name == "gitops_web_state_up" for name, _ in found)


def test_two_apps_in_one_process_keep_their_own_registries(redis_server: Any, actions: Any) -> None:
    with make_world(redis_server, actions) as first, make_world(redis_server, actions) as second:
        first.client.get("/healthz")
        first.client.get("/healthz")
        second.client.get("/healthz")
        one = samples(first.client.get("/metrics").text)
        two = samples(second.client.get("/metrics").text)
    key = ("gitops_web_requests_total", (("method", "GET"), ("route", "/healthz"), ("status", "200")))
    assert one[key] == 2 and two[key] == 1
