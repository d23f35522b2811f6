"""The Prometheus gate of a rollout step (gitops.appset.prometheus), against a real and a recorded server.

The real one is Debian's ``prometheus`` (/usr/bin/prometheus, installed by .ci/run) on loopback,
scraping every second a metrics endpoint this module serves with prometheus-client; without the binary
these tests skip locally and fail under CI. The recorded one is a stdlib HTTP server answering canned
Prometheus API bodies (and the failures a real network gives: 500, redirects, slow and huge answers).
Waiting is :func:`gitops.clock.poll_until` on a condition, never a sleep.
"""

from __future__ import annotations

import json
import math
import shutil
import socket
import subprocess
import threading
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NoReturn

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from gitops.appset import prometheus as gate_module
from gitops.appset.prometheus import MAX_BODY, MAX_DETAIL, GateClient, PrometheusGateClient, judge, query_url
from gitops.appset.rollout import GateResult, PrometheusCheck
from gitops.clock import ManualClock, poll_until
from gitops.state.model import Operation, TargetStatus
from gitops.testing.gate import StaticGate
from gitops.vocabulary import HealthStatus, OperationPhase, SyncStatus, Trigger
from workers.metrics import MetricsRecorder, RedisMetrics
from workers.redis_server import RedisServer

PROMETHEUS = "/usr/bin/prometheus"
JOB = "rollout-gate-test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def one_line(result: GateResult) -> bool:
    return len(result.detail) <= MAX_DETAIL and result.detail.isprintable()


# --- a real Prometheus on loopback ------------------------------------------------------------------


@dataclass
class RealPrometheus:
    url: str
    errors: Gauge
    client: PrometheusGateClient
    recorder: MetricsRecorder  # writes the workers' figures that our collector (RedisMetrics) exposes

    def check(self, query: str, timeout: float = 5.0) -> GateResult:
        return self.client.check(PrometheusCheck(url=self.url, query=query, timeout_seconds=timeout))

    def until(self, query: str, timeout: float = 60.0) -> GateResult:
        """Poll until ``query`` holds (Prometheus scraped what the test set); the holding answer."""
        held = poll_until(lambda: (answer := self.check(query)).holds and answer, timeout, every=0.2)
        if not held:
            pytest.fail(f"{query!r} never held: {self.check(query).detail}")
        return held


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory,
         missing: Callable[[str], NoReturn]) -> Iterator[RealPrometheus]:
    binary = shutil.which(PROMETHEUS) or shutil.which("prometheus")
    if binary is None:
        missing("prometheus (Debian package) is not installed")
    registry = CollectorRegistry()
    errors = Gauge("rollout_errors", "Errors seen by the rollout under test.", registry=registry)
    metrics_port = free_port()
    server, thread = start_http_server(metrics_port, addr="127.0.0.1", registry=registry)
    # our own metrics, as /metrics serves them: the workers' figures in Redis through RedisMetrics
    redis_server = RedisServer.start(tmp_path_factory.mktemp("redis"))
    ours = CollectorRegistry(auto_describe=False)
    ours.register(RedisMetrics(redis_server.client()))
    ours_port = free_port()
    ours_server, ours_thread = start_http_server(ours_port, addr="127.0.0.1", registry=ours)
    work = tmp_path_factory.mktemp("prometheus")
    config = work / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
        f"scrape_configs:\n  - job_name: {JOB}\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{metrics_port}']\n"
        f"  - job_name: gitops\n    static_configs:\n      - targets: ['127.0.0.1:{ours_port}']\n")
    port = free_port()
    log = (work / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={work / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1h",
         "--log.level=warn"],
        cwd=work, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        real = RealPrometheus(f"http://127.0.0.1:{port}", errors, PrometheusGateClient(proxies={}),
                              MetricsRecorder(redis_server.client()))
        scraped = poll_until(lambda: proc.poll() is not None or (
            real.check(f'up{{job="{JOB}"}} == 1').holds and real.check('up{job="gitops"} == 1').holds),
            60.0, every=0.2)
        if not scraped or proc.poll() is not None:
            tail = (work / "prometheus.log").read_text(errors="replace")[-2000:]
            pytest.fail(f"prometheus did not scrape the test's metrics (exit {proc.poll()}):\n{tail}")
        yield real
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        for http, worker in ((server, thread), (ours_server, ours_thread)):
            http.shutdown()
            http.server_close()
            worker.join()
        redis_server.stop(save=False)


def test_real_query_that_holds(real: RealPrometheus) -> None:
    answer = real.check(f'up{{job="{JOB}"}} == 1')
    assert answer.holds, answer.detail
    assert "1 vector sample" in answer.detail


def test_real_filter_with_no_match_is_an_empty_vector_and_does_not_hold(real: RealPrometheus) -> None:
    real.errors.set(0)
    real.until("rollout_errors == bool 0")
    answer = real.check("rollout_errors > 0")
    assert not answer.holds
    assert "empty result" in answer.detail
    # a bool comparison answers 0 instead of dropping the sample: also not holding
    assert not real.check("rollout_errors > bool 0").holds
    # a filter that keeps a sample whose value is 0 does not hold either (a 0 sample): `== bool 0` does
    answer = real.check("rollout_errors == 0")
    assert not answer.holds
    assert "sample is 0" in answer.detail


def test_real_gauge_set_then_the_query_holds(real: RealPrometheus) -> None:
    real.errors.set(3)
    answer = real.until("rollout_errors > 0")
    assert answer.holds
    assert real.check("rollout_errors > bool 0").holds
    real.errors.set(0)
    real.until("rollout_errors == bool 0")
    assert not real.check("rollout_errors > 0").holds


def test_real_scalars(real: RealPrometheus) -> None:
    assert real.check("1 > bool 0").holds
    answer = real.check("scalar(vector(0))")
    assert not answer.holds
    assert "scalar sample is 0" in answer.detail


def test_real_invalid_promql_reports_the_error(real: RealPrometheus) -> None:
    answer = real.check("rate(rollout_errors[5m]")
    assert not answer.holds
    assert answer.detail.startswith("HTTP 400: Prometheus error (bad_data):"), answer.detail
    assert "parse error" in answer.detail
    assert one_line(answer)


def test_real_range_vector_is_refused(real: RealPrometheus) -> None:
    answer = real.check("rollout_errors[1m]")
    assert not answer.holds
    assert "range vector" in answer.detail


def test_a_gate_over_our_own_metrics_turns_when_a_sync_fails(real: RealPrometheus) -> None:
    """The gate a user would write over the engine's metrics: no failed sync in the window."""
    query = 'sum(gitops_sync_results_total{phase="Failed"} or vector(0)) < bool 1'  # 1 when none failed
    ok = Operation("op-1", "web", "prod", Trigger.MANUAL, OperationPhase.SUCCEEDED, revision="a" * 40,
                   started=1_000.0, finished=1_001.0)
    real.recorder.record(ok, TargetStatus("web", "prod", "a" * 40, SyncStatus.SYNCED, HealthStatus.HEALTHY,
                                          reconciled_at=1_001.0))
    real.until('gitops_sync_results_total{phase="Succeeded"} >= 1')  # scraped from our collector
    assert real.check(query).holds
    failed = Operation("op-2", "web", "prod", Trigger.MANUAL, OperationPhase.FAILED, revision="b" * 40,
                       started=1_002.0, finished=1_003.0, error="admission denied")
    real.recorder.record(failed, TargetStatus("web", "prod", "b" * 40, SyncStatus.OUT_OF_SYNC,
                                              HealthStatus.DEGRADED, error="admission denied",
                                              reconciled_at=1_003.0))
    turned = poll_until(lambda: not real.check(query).holds, 60.0, every=0.2)
    assert turned, "the gate kept holding after a failed sync was scraped"
    assert "sample is 0" in real.check(query).detail


def test_unreachable_prometheus_does_not_hold() -> None:
    with socket.socket() as sock:  # bound, never listening: connections to it are refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        answer = PrometheusGateClient(proxies={}).check(
            PrometheusCheck(url=f"http://127.0.0.1:{port}", query="up", timeout_seconds=5))
    assert not answer.holds
    assert answer.detail == "Prometheus is unreachable: connection refused"


# --- recorded Prometheus API answers ------------------------------------------------------------------


def body(result_type: str, result: Any) -> bytes:
    return json.dumps({"status": "success", "data": {"resultType": result_type, "result": result}}).encode()


def vector(*values: str) -> bytes:
    return body("vector", [{"metric": {"job": "x", "i": str(i)}, "value": [1700000000.1, v]}
                           for i, v in enumerate(values)])


HUGE = vector(*["1"] * 40_000)  # a valid answer that would hold, only too large
assert len(HUGE) > MAX_BODY
LONG_ERROR = "parse error at char 5:\n" + "unexpected <EOF> " * 50

ANSWERS: dict[str, tuple[int, dict[str, str], bytes]] = {
    "holds": (200, {}, vector("1", "0.5", "-2")),
    "zero": (200, {}, vector("1", "0")),
    "empty": (200, {}, vector()),
    "scalar": (200, {}, body("scalar", [1700000000, "1"])),
    "scalar-zero": (200, {}, body("scalar", [1700000000, "0"])),
    "nan": (200, {}, vector("1", "NaN")),
    "inf": (200, {}, vector("+Inf")),
    "not-a-number": (200, {}, vector("one")),
    "error": (400, {}, json.dumps({"status": "error", "errorType": "bad_data",
                                   "error": LONG_ERROR}).encode()),
    "error-200": (200, {}, json.dumps({"status": "error", "errorType": "execution",
                                       "error": "boom"}).encode()),
    "not-json": (200, {"Content-Type": "text/html"},
                 b"<html><body>" + b"secret page " * 100 + b"</body></html>"),
    "huge": (200, {}, HUGE),
    "big": (200, {}, vector(*["1"] * 10_000)),
    "http-500": (500, {}, b"internal error: " + b"stack trace " * 100),
    "string": (200, {}, body("string", [1700000000, "x"])),
}


class Recorded:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.paths: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        recorded = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                recorded.paths.append(self.path)
                case = self.path.split("/")[1]
                if case == "slow":
                    recorded.release.wait()
                    return
                if case == "hangup":  # the connection closes without an answer
                    self.close_connection = True
                    return
                if case.startswith("redirect"):
                    target = ("http://203.0.113.7/api/v1/query?query=up" if case == "redirect"
                              else f"{recorded.url}/holds/api/v1/query?query=up")
                    self.send_response(302)
                    self.send_header("Location", target)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status, headers, payload = ANSWERS[case]
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client stopped reading (the body cap)

        return Handler

    def check(self, case: str, query: str = "up", timeout: float = 5.0,
              client: PrometheusGateClient | None = None) -> GateResult:
        client = client or PrometheusGateClient(proxies={})
        return client.check(PrometheusCheck(url=f"{self.url}/{case}", query=query, timeout_seconds=timeout))

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture(scope="module")
def recorded() -> Iterator[Recorded]:
    server = Recorded()
    yield server
    server.close()


def test_recorded_vector_of_non_zero_samples_holds_and_the_query_is_encoded(recorded: Recorded) -> None:
    answer = recorded.check("holds", query='rate(errors{job="a b"}[5m]) < 0.01')
    assert answer == GateResult(holds=True, detail="holds: 3 vector sample(s), all non-zero")
    assert recorded.paths[-1] == (
        "/holds/api/v1/query?query=rate%28errors%7Bjob%3D%22a+b%22%7D%5B5m%5D%29+%3C+0.01")


@pytest.mark.parametrize(("case", "holds", "detail"), [
    ("zero", False, "a vector sample is 0 (2 sample(s))"),
    ("empty", False, "empty result: no sample matches the query"),
    ("scalar", True, "holds: 1 scalar sample(s), all non-zero"),
    ("scalar-zero", False, "a scalar sample is 0 (1 sample(s))"),
    ("nan", False, "a vector sample is nan, not a finite number"),
    ("inf", False, "a vector sample is inf, not a finite number"),
    ("not-a-number", False, "a vector sample has no numeric value"),
    ("error-200", False, "Prometheus error (execution): boom"),
    ("not-json", False, "the answer is not JSON"),
    ("huge", False, f"the answer is larger than {MAX_BODY} bytes"),
    ("http-500", False, "HTTP 500 from Prometheus"),
    ("string", False, "unsupported result type 'string'"),
])
def test_recorded_answers(recorded: Recorded, case: str, holds: bool, detail: str) -> None:
    assert recorded.check(case) == GateResult(holds=holds, detail=detail)


def test_a_connection_closed_without_an_answer_does_not_hold(recorded: Recorded) -> None:
    assert recorded.check("hangup") == GateResult(holds=False,
                                                  detail="Prometheus is unreachable: RemoteDisconnected")


@pytest.mark.parametrize(("raw", "detail"), [
    (b"[1]", "the answer is not a Prometheus API answer"),
    (b'{"status": "success"}', "the answer has no data"),
    (b'{"status": "ok", "data": {}}', "the answer has no success status"),
    (b'{"status": "success", "data": {"resultType": "vector", "result": {}}}',
     "the vector answer has no result list"),
    (b'{"status": "success", "data": {"resultType": "vector", "result": [1]}}',
     "a vector sample has no numeric value"),
    (b'{"status": "success", "data": {"resultType": "scalar", "result": 1}}',
     "a scalar sample has no numeric value"),
    (b'{"status": "success", "data": {"resultType": "scalar", "result": [1, true]}}',
     "a scalar sample has no numeric value"),
    (b'{"status": "success", "data": {"resultType": "scalar", "result": [1, "' + b"1" * 65 + b'"]}}',
     "a scalar sample has no numeric value"),
    (b'{"status": "success", "data": {"resultType": "scalar", "result": [1, 2.5]}}',
     "holds: 1 scalar sample(s), all non-zero"),
    (b'{"status": "error"}', "Prometheus error (unknown): no message"),
    (b"\xff", "the answer is not JSON"),
    (b"[" * 100_000, "the answer is not JSON"),
])
def test_judge(raw: bytes, detail: str) -> None:
    assert judge(raw).detail == detail


def test_recorded_error_status_is_reported_clipped_on_one_line(recorded: Recorded) -> None:
    answer = recorded.check("error")
    assert not answer.holds
    assert answer.detail.startswith(
        "HTTP 400: Prometheus error (bad_data): parse error at char 5: unexpected")
    assert answer.detail.endswith("...")
    assert one_line(answer)


def test_recorded_slow_answer_times_out(recorded: Recorded) -> None:
    answer = recorded.check("slow", timeout=0.5)
    assert answer == GateResult(holds=False, detail="no answer within 0.5s")


def test_an_answer_dripping_past_the_deadline_times_out(recorded: Recorded) -> None:
    class Ticking(ManualClock):
        """Every look at the clock is one second later: the second chunk is past a 1.5s deadline."""

        def monotonic(self) -> float:
            self.advance(1.0)
            return super().monotonic()

    answer = recorded.check("big", timeout=1.5, client=PrometheusGateClient(proxies={}, clock=Ticking()))
    assert answer == GateResult(holds=False, detail="no answer within 1.5s")
    assert recorded.check("big").holds  # the same answer read in time holds


@pytest.mark.parametrize("case", ["redirect", "redirect-local"])
def test_redirects_are_refused_not_followed(recorded: Recorded, case: str) -> None:
    before = len(recorded.paths)
    answer = recorded.check(case)
    assert answer == GateResult(
        holds=False, detail="redirect refused (HTTP 302): set the gate's url to the final address")
    assert recorded.paths[before:] == [f"/{case}/api/v1/query?query=up"]  # the target never asked


@pytest.mark.parametrize("url", [
    "file:///etc/passwd", "ftp://prometheus.example/", "gopher://127.0.0.1:9090/", "prometheus:9090",
    "http://user:secret@prometheus.example/", "http://prometheus.example:99999/", "http:///api",
    "http://prometheus.example/?x=1", "http://prometheus.example/#top", "http://prom example/",
    "http://prometheus.example/\n",
])
def test_only_plain_http_and_https_urls_are_asked(url: str, forbid: Callable[..., list[str]]) -> None:
    called = forbid((urllib.request.OpenerDirector, "open"))
    answer = PrometheusGateClient().check(PrometheusCheck(url=url, query="up", timeout_seconds=1))
    assert answer == GateResult(holds=False,
                                detail="the gate's url is not a plain http:// or https:// address")
    assert "secret" not in answer.detail
    assert called == []


@pytest.mark.parametrize("timeout", [0.0, -1.0, math.nan, math.inf])
def test_a_timeout_that_is_not_a_positive_number_is_refused(timeout: float,
                                                            forbid: Callable[..., list[str]]) -> None:
    called = forbid((urllib.request.OpenerDirector, "open"))
    answer = PrometheusGateClient().check(PrometheusCheck(url="http://127.0.0.1:9", query="up",
                                                          timeout_seconds=timeout))
    assert not answer.holds
    assert called == []


def test_query_url_keeps_a_base_path() -> None:
    assert query_url("https://example.test/prometheus/", "up == 1") == (
        "https://example.test/prometheus/api/v1/query?query=up+%3D%3D+1")
    assert query_url("http://127.0.0.1:9090", "up") == "http://127.0.0.1:9090/api/v1/query?query=up"


def test_an_unexpected_error_fails_closed(monkeypatch: pytest.MonkeyPatch, recorded: Recorded) -> None:
    def broken(body: bytes) -> GateResult:
        raise KeyError("bug")

    monkeypatch.setattr(gate_module, "judge", broken)
    assert recorded.check("holds") == GateResult(holds=False, detail="unexpected error (KeyError)")


# --- the answer's judgement, for any body ------------------------------------------------------------

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=20)


@given(st.binary(max_size=200) | JSON.map(lambda v: json.dumps(v).encode()))
def test_judge_never_raises_and_answers_one_short_line(raw: bytes) -> None:
    answer = judge(raw)
    assert one_line(answer)


@given(st.lists(st.floats() | st.sampled_from(["NaN", "+Inf", "-Inf", "0", "1e-300", "-0"]), max_size=6))
def test_a_vector_holds_exactly_when_non_empty_and_every_value_finite_and_non_zero(values: list[Any]) -> None:
    texts = [v if isinstance(v, str) else repr(v) for v in values]
    expected = bool(texts) and all(math.isfinite(float(t)) and float(t) != 0 for t in texts)
    assert judge(vector(*texts)).holds is expected


@given(JSON)
def test_status_other_than_success_never_holds(value: Any) -> None:
    raw = json.dumps({"status": value, "data": {"resultType": "scalar", "result": [0, "1"]}}).encode()
    assert judge(raw).holds is (value == "success")


# --- the fake -----------------------------------------------------------------------------------------


def test_static_gate_answers_what_it_is_told_and_records_the_checks() -> None:
    fake = StaticGate()
    client: GateClient = fake
    first = PrometheusCheck(url="http://p:9090", query="up == 1", timeout_seconds=5)
    assert client.check(first).holds
    fake.result = GateResult(holds=False, detail="errors")
    assert client.check(PrometheusCheck(url="http://p:9090", query="errors < 1", timeout_seconds=5)) == (
        GateResult(holds=False, detail="errors"))
    assert fake.queries == ["up == 1", "errors < 1"]
    assert fake.checks[0] == first
