"""Benchmark: the dashboard's overview of 10,000 targets, indexed against an unindexed full scan.

Run from the repository root:

    python bench/web_overview.py [--apps 1000] [--per-app 10] [--clusters 100] [--repeat 20]

State: a private redis-server with one status and one operation per target written through the real
``RedisStore`` (its fenced write keeps the target index), 1,000 applications x 10 clusters = 10,000
targets spread over 100 clusters (each cluster holds 100 targets), a realistic mix of sync and health
values, drift records and error messages; a generated configuration of the 1,000 applications and
100 clusters for the web server; nothing is reconciled. Two web servers on that state, measured in
the same run:

- indexed: ``gitops web`` as deployed (pages read one page of the Redis target index plus counts);
- peer, unindexed: the same app (``production_context`` + ``create_app``, same uvicorn settings),
  whose store answers every page and count by reading every status (``statuses()``) and filtering
  and sorting in Python (``serve-scan``, a subcommand of this file).

Measured per server, logged in as a viewer: the first page of the overview in Debian's chromium
(Playwright), from navigation start to the rendered table (a performance mark set after the frame
that follows the parsing of the element after the table, and not before the first contentful paint;
Navigation Timing alongside), the server time (no ``Server-Timing`` header is sent, so the wall time
of the HTTP GET alone over a keep-alive loopback connection), the HTML size, and the overview
filtered by health (``?health=Degraded``). Figures are medians of ``--repeat`` runs after a warm-up,
printed against the targets (browser <= 1 s, server <= 150 ms, HTML <= 200 KB, filter <= 150 ms)
and as ratios to the peer.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]  # the repository (a clone run without installing), web_kit

from web_kit import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    Child,
    gitops,
    gitops_env,
    log_in,
    machine,
    median,
    percentile,
    wait,
)

from gitops.state import Operation, RedisStore, TargetCounts, TargetPage, TargetQuery, TargetStatus  # noqa: E402
from gitops.state.index import (  # noqa: E402
    COUNTED_FACETS,
    counts_from,
    encode_cursor,
    index_entry,
    plan_query,
)
from gitops.state.model import DriftRecord  # noqa: E402
from gitops.vocabulary import HealthStatus, OperationPhase, SyncStatus, Trigger  # noqa: E402
from workers.redis_server import RedisServer, free_port  # noqa: E402

GOALS = {"browser": 1.0, "server": 0.150, "html": 200 * 1024, "filter": 0.150}
HEALTHS = [HealthStatus.HEALTHY] * 14 + [HealthStatus.PROGRESSING, HealthStatus.DEGRADED,
                                         HealthStatus.MISSING, HealthStatus.SUSPENDED, HealthStatus.UNKNOWN]
SYNCS = [SyncStatus.SYNCED] * 8 + [SyncStatus.OUT_OF_SYNC, SyncStatus.UNKNOWN]
# the table is complete once the element after it (the pager) is parsed; it is on screen after the next
# frame (a task queued from that frame's animation callback) and not before the first contentful paint
RENDERED = """
(() => {
  const seen = () => document.querySelector('[data-testid=pager]');
  const mark = () => requestAnimationFrame(() => setTimeout(() => {
    window.__tableRendered = performance.now();
    performance.mark('table-rendered');
  }, 0));
  const observer = new MutationObserver(() => {
    if (seen()) { observer.disconnect(); mark(); }
  });
  observer.observe(document, {childList: true, subtree: true});
})();
"""
TIMING = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const paint = performance.getEntriesByName('first-contentful-paint')[0];
  const painted = paint ? Math.max(paint.startTime, window.__tableRendered) : window.__tableRendered;
  return {table: painted ?? null, responseStart: nav.responseStart,
          responseEnd: nav.responseEnd, domContentLoaded: nav.domContentLoadedEventEnd,
          load: nav.loadEventEnd, fcp: paint ? paint.startTime : null,
          rows: document.querySelectorAll('[data-target]').length};
}"""


# -- the state -------------------------------------------------------------------------------------

def app_name(a: int) -> str:
    return f"app-{a:04d}"


def cluster_name(c: int) -> str:
    return f"cluster-{c:03d}"


def placement(a: int, per_app: int, clusters: int) -> list[str]:
    """The clusters of application ``a``: ``per_app`` of them, every cluster getting as many targets."""
    step = max(1, clusters // per_app)
    return [cluster_name((a + step * k) % clusters) for k in range(per_app)]


def status_of(i: int, app: str, cluster: str, now: float) -> TargetStatus:
    drift = tuple(DriftRecord(f"apps/v1/Deployment/{app}/web", f".spec.template.spec.containers[0].image{j}",
                              "nginx:1.27", "nginx:1.26", "kubectl-edit", changed_at=now - 600)
                  for j in range(i % 4 if i % 9 == 0 else 0))
    failed = i % 97 == 0
    error = (f"render failed: {app}/overlays/{cluster}/kustomization.yaml (resources): accumulating "
             "resources: 'deployment.yaml' does not exist")
    return TargetStatus(app, cluster, revision=f"{(i * 2654435761) % (1 << 160):040x}",
                        sync=SyncStatus.OUT_OF_SYNC if failed else SYNCS[i % len(SYNCS)],
                        health=HEALTHS[i % len(HEALTHS)], drift_count=len(drift), drift=drift,
                        error=error if failed else None,
                        operation=f"op-{i}", reconciled_at=now - (i * 7919) % 86400)


def fill(store: RedisStore, apps: int, per_app: int, clusters: int) -> int:
    now = time.time()
    i = 0
    for a in range(apps):
        for cluster in placement(a, per_app, clusters):
            app = app_name(a)
            status = status_of(i, app, cluster, now)
            started = status.reconciled_at - 2
            operation = Operation(f"op-{i}", app, cluster, Trigger.POLL, OperationPhase.SUCCEEDED,
                                  revision=status.revision, started=started, finished=started + 1.5)
            store.record(status, operation)
            i += 1
    return i


def write_config(path: Path, apps: int, per_app: int, clusters: int) -> Path:
    docs = ["apiVersion: gitops.dev/v1alpha1\nkind: Repository\nmetadata: {name: fleet}\n"
            "spec: {url: 'https://git.example.com/platform/fleet.git', ref: main}\n"]
    for c in range(clusters):
        docs.append(f"apiVersion: gitops.dev/v1alpha1\nkind: Cluster\nmetadata:\n  name: {cluster_name(c)}\n"
                    f"  labels: {{env: {'prod' if c % 2 else 'staging'}, region: r-{c % 5}}}\n"
                    f"spec: {{server: 'https://{cluster_name(c)}.k8s.example.com:6443'}}\n")
    for a in range(apps):
        docs.append(f"apiVersion: gitops.dev/v1alpha1\nkind: Application\nmetadata:\n  name: {app_name(a)}\n"
                    f"  labels: {{team: team-{a % 20}, tier: web}}\n"
                    f"spec:\n  source: {{repository: fleet, path: apps/{app_name(a)}, renderer: kustomize}}\n"
                    f"  destination: {{cluster: {placement(a, per_app, clusters)[0]}, namespace: web}}\n"
                    "  syncPolicy: {automated: true}\n")
    path.write_text("---\n".join(docs))
    return path


# -- the peer: a full scan per request ---------------------------------------------------------------

class FullScan:
    """The store with its index replaced by a scan: every page and count reads every status
    (``statuses()``) and filters and sorts them in Python (what a dashboard without an index does).
    Everything else is the RedisStore's own."""

    def __init__(self, store: RedisStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def _matching(self, query: TargetQuery, paged: bool) -> tuple[Any, list[tuple[Any, TargetStatus]]]:
        plan = plan_query(query, paged=paged)
        if plan.nothing:
            return plan, []
        entries = [(index_entry(s.target, s), s) for s in self._store.statuses()]
        return plan, [(e, s) for e, s in entries if plan.matches(e)]

    def query(self, query: TargetQuery) -> TargetPage:
        plan, matching = self._matching(query, True)
        members = {e.members[plan.sort]: s for e, s in matching}
        ordered = sorted(members, reverse=plan.descending)
        after = plan.after
        rest = [m for m in ordered if after is None or (m < after if plan.descending else m > after)]
        page = rest[: plan.limit]
        more = len(rest) > plan.limit
        return TargetPage(tuple(members[m] for m in page), len(ordered),
                          encode_cursor(plan, page[-1]) if more else None)

    def counts(self, query: TargetQuery | None = None) -> TargetCounts:
        _, matching = self._matching(query or TargetQuery(), False)
        found = {f: sum(f in e.facets for e, _ in matching) for f in COUNTED_FACETS}
        return counts_from(len(matching), found)

    def at_revision(self, prefix: str, limit: int = 500) -> list[TargetStatus]:
        return [s for s in self._store.statuses() if (s.revision or "").startswith(prefix)][:limit]


def serve_scan(port: int) -> None:
    """The peer server: the production app over :class:`FullScan`, uvicorn as ``gitops web`` runs it."""
    import uvicorn

    from web.app import create_app
    from web.wiring import production_context

    ctx = production_context()
    ctx.state = FullScan(ctx.state)  # type: ignore[arg-type]
    uvicorn.run(create_app(ctx), host="127.0.0.1", port=port, proxy_headers=True, server_header=False,
                log_level="warning")


# -- measuring ---------------------------------------------------------------------------------------

def http_times(url: str, user: str, password: str, paths: dict[str, str], repeat: int) -> dict[str, Any]:
    """Median and p95 wall time of GETs of each path over one keep-alive connection, and sizes."""
    found: dict[str, Any] = {}
    client = log_in(url, user, password)
    try:
        for name, path in paths.items():
            for _ in range(3):  # warm-up: connection, the server's first use of each code path
                client.get(path)
            runs = []
            for _ in range(repeat):
                started = time.perf_counter()
                answer = client.get(path)
                runs.append(time.perf_counter() - started)
                if answer.status_code != 200:
                    raise RuntimeError(f"GET {path}: {answer.status_code}")
            found[name] = {"median": median(runs), "p95": percentile(runs, 0.95),
                           "bytes": len(answer.content), "server_timing": answer.headers.get("server-timing"),
                           "rows": answer.text.count('data-target="')}
    finally:
        client.close()
    return found


def browser_times(url: str, user: str, password: str, paths: dict[str, str], repeat: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    found: dict[str, Any] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1360, "height": 900})
            context.add_init_script(RENDERED)
            page = context.new_page()
            page.goto(f"{url}/login")
            page.fill("#name", user)
            page.fill("#password", password)
            page.click("form.login-form button[type=submit]")
            page.wait_for_selector("[data-testid=pager]")
            for name, path in paths.items():
                runs: list[dict[str, Any]] = []
                for i in range(repeat + 2):
                    page.goto(f"{url}{path}", wait_until="load")
                    page.wait_for_function("window.__tableRendered !== undefined")
                    timing = page.evaluate(TIMING)
                    if i >= 2:  # two warm-ups: cached CSS and JS, as for anyone who opened it before
                        runs.append(timing)
                found[name] = {key: _median_s([r[key] for r in runs]) for key in
                               ("table", "responseStart", "responseEnd", "domContentLoaded", "load", "fcp")}
                found[name]["p95_table"] = percentile([r["table"] for r in runs], 0.95) / 1000
                found[name]["rows"] = runs[-1]["rows"]
        finally:
            browser.close()
    return found


def _median_s(values: list[float | None]) -> float:
    """Median in seconds of browser figures in milliseconds (NaN when the browser gave none)."""
    found = [v for v in values if v is not None]
    return median(found) / 1000 if found else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve-scan", help="(internal) run the unindexed peer server")
    serve.add_argument("--port", type=int, required=True)
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--per-app", type=int, default=10, help="clusters per application (default 10)")
    parser.add_argument("--clusters", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    if args.command == "serve-scan":
        serve_scan(args.port)
        return
    print(f"machine: {machine()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-web-overview-") as tmp:
        run(args, Path(tmp))


def run(args: argparse.Namespace, tmp: Path) -> None:
    with RedisServer.start(tmp / "redis") as redis_server:
        store = RedisStore(redis_server.client())
        started = time.perf_counter()
        targets = fill(store, args.apps, args.per_app, args.clusters)
        print(f"{targets} targets on {args.clusters} clusters written through RedisStore.record in "
              f"{time.perf_counter() - started:.1f} s", flush=True)
        config = write_config(tmp / "config.yaml", args.apps, args.per_app, args.clusters)
        env = gitops_env(GITOPS_WEB_SECURE_COOKIES="0", HOME=str(tmp))
        user, password = "bench", "bench-viewer-password"
        gitops("user", "add", user, "--role", "viewer", "--password-file", "-", "--redis-url",
               redis_server.url, env=env, cwd=tmp, stdin=password + "\n")
        servers: dict[str, Child] = {}
        try:
            port = free_port()
            servers["indexed"] = Child([sys.executable, "-m", "gitops", "web", "-c", str(config), "--port",
                                        str(port), "--redis-url", redis_server.url], env=env, cwd=tmp,
                                       log=tmp / "web-indexed.log")
            scan_port = free_port()
            scan_env = {**env, "GITOPS_CONFIG": str(config), "GITOPS_REDIS_URL": redis_server.url}
            servers["scan"] = Child([sys.executable, str(Path(__file__).resolve()), "serve-scan", "--port",
                                     str(scan_port)], env=scan_env, cwd=tmp, log=tmp / "web-scan.log")
            urls = {"indexed": f"http://127.0.0.1:{port}", "scan": f"http://127.0.0.1:{scan_port}"}
            for name, url in urls.items():
                wait(partial(_ready, url), 120, every=0.2, what=f"the {name} server's /readyz")
            paths = {"overview": "/", "overview, list": "/?view=list",
                     "filter health=Degraded": "/?health=Degraded"}
            results = {name: {"http": http_times(url, user, password, paths, args.repeat),
                              "browser": browser_times(url, user, password,
                                                       {"overview": "/", "filter health=Degraded":
                                                        "/?health=Degraded"}, max(5, args.repeat // 2))}
                       for name, url in urls.items()}
        finally:
            for child in servers.values():
                child.stop()
    report(results, targets, args)


def _ready(url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def report(results: dict[str, Any], targets: int, args: argparse.Namespace) -> None:
    indexed, scan = results["indexed"], results["scan"]

    def line(what: str, value: float, peer: float, goal: float | None, unit: str = "ms") -> None:
        def shown(x: float) -> str:
            return f"{x * 1000:.0f} ms" if unit == "ms" else f"{x / 1024:.0f} KB"

        verdict = "" if goal is None else f" (goal <= {shown(goal)}: {'met' if value <= goal else 'MISSED'})"
        print(f"  {what:58} {shown(value):>9}{verdict}; peer {shown(peer)}, {peer / value:.1f}x")

    print(f"overview of {targets} targets ({args.apps} applications x {args.per_app} clusters, "
          f"{args.clusters} clusters), medians of {args.repeat} (browser: {max(5, args.repeat // 2)}); "
          "peer = the same pages with a full scan of every status per request:")
    ib, sb = indexed["browser"]["overview"], scan["browser"]["overview"]
    line("browser: navigation start -> table rendered", ib["table"], sb["table"], GOALS["browser"])
    line("  of which: first byte of the HTML", ib["responseStart"], sb["responseStart"], None)
    line("  first contentful paint", ib["fcp"], sb["fcp"], None)
    ih, sh = indexed["http"]["overview"], scan["http"]["overview"]
    line("server time: GET / (matrix, 50 targets)", ih["median"], sh["median"], GOALS["server"])
    line("  p95", ih["p95"], sh["p95"], None)
    il, sl = indexed["http"]["overview, list"], scan["http"]["overview, list"]
    line("server time: GET /?view=list (50 rows)", il["median"], sl["median"], GOALS["server"])
    line("HTML size: GET / (matrix)", ih["bytes"], sh["bytes"], GOALS["html"], unit="KB")
    line("HTML size: GET /?view=list", il["bytes"], sl["bytes"], GOALS["html"], unit="KB")
    fh, fs = indexed["http"]["filter health=Degraded"], scan["http"]["filter health=Degraded"]
    line("filter by health: GET /?health=Degraded (server time)", fh["median"], fs["median"], GOALS["filter"])
    fb, fsb = indexed["browser"]["filter health=Degraded"], scan["browser"]["filter health=Degraded"]
    line("filter by health in the browser (navigation -> table)", fb["table"], fsb["table"], None)
    print(f"  Server-Timing header: {ih['server_timing'] or 'none sent (server time = the GET wall time)'}; "
          f"targets on the first page: {ih['rows']} (list: {il['rows']})")
    print(json.dumps({"bench": "web_overview", "targets": targets, "results": results}, default=str))


if __name__ == "__main__":
    main()
