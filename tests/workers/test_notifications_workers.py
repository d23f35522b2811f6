"""Notifications through the workers: in process (workers.notices.deliver with a manual clock: the rate
limit's window, retries and giving up, forged messages) and with REAL Celery worker processes (a sync
that succeeds is delivered, signed, to a receiver on 127.0.0.1; a receiver answering 500 gets it once
after a retry; a commit status reaches a fake GitHub API; Apprise's json:// arrives; the N+1th delivery
of a minute waits; a hanging receiver does not delay the sync's recorded result)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import redis
import worker_fakes as fakes
from worker_kit import FAST, freeze_time, wait_for

from gitops.appset.controller import RunReport
from gitops.appset.record import AppSetState
from gitops.clock import ManualClock
from gitops.config import load_config, to_fleet
from gitops.notify import Notice
from gitops.notify.deliver import Notifier, destination_key, verify
from gitops.state import InMemoryStore, Operation, RedisStore, TargetStatus
from gitops.state.model import Event
from gitops.state.ratelimits import InMemoryRateLimits, RedisRateLimits
from gitops.vocabulary import OperationPhase, Target, Trigger
from workers import notices
from workers.app import ROUTES, app, configure
from workers.ports import Runtime
from workers.redis_server import RedisServer
from workers.settings import QUEUES, Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gitops" / "notify"))
from notify_receiver import Receiver, serve  # found through the path set just above

pytestmark = pytest.mark.timeout(120)
WEB = Target("web", "prod")
REV = "0123456789abcdef0123456789abcdef01234567"
SECRET = "webhook-secret-for-tests"
TOKEN = "gh-token-for-tests"

BASE = """\
apiVersion: gitops.dev/v1alpha1
kind: Repository
metadata: {name: repo}
spec: {url: "https://github.com/org/demo.git"}
---
apiVersion: gitops.dev/v1alpha1
kind: Cluster
metadata: {name: prod}
spec: {kubeconfig: prod.kubeconfig}
---
apiVersion: gitops.dev/v1alpha1
kind: Application
metadata: {name: web, labels: {team: shop}}
spec:
  source: {repository: repo, path: apps/web}
  destination: {cluster: prod}
---
apiVersion: gitops.dev/v1alpha1
kind: Notification
metadata: {name: out}
spec:
"""


def write_config(tmp_path: Path, spec: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(BASE + spec)
    return path


def webhook_spec(url: str, per_minute: int = 30) -> str:
    return (f"  events: [SyncSucceeded]\n  applications: {{matchLabels: {{team: shop}}}}\n"
            f"  webhook: {{url: '{url}/hook', secretRef: {{env: NOTIFY_SECRET}}}}\n"
            f"  rateLimit: {{perMinute: {per_minute}}}\n")


# --- in process ---------------------------------------------------------------------------------------

@dataclass
class Wire:
    """A Sender that records and answers from a script (no network: the unit side of the workers)."""

    answers: list[bool]
    sent: list[tuple[str, str]]

    def post(self, url: str, body: bytes, headers: Any) -> Any:
        raise AssertionError("not used")

    def apprise(self, url: str, title: str, body: str) -> bool:
        self.sent.append((title, body))
        return self.answers.pop(0) if self.answers else True


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Runtime, Wire, ManualClock]:
    monkeypatch.setenv("APPRISE_URL", "json://127.0.0.1:9/never-used")
    fleet = to_fleet(load_config(write_config(tmp_path, "  apprise: {urlRef: {env: APPRISE_URL}}\n"
                                                        "  rateLimit: {perMinute: 2}\n")))
    clock = ManualClock(start=6_000_000.0)  # the start of a minute
    wire = Wire([], [])
    settings = replace(Settings(), retry_base=1.0, retry_max=8.0, visibility_timeout=3600.0)
    rt = Runtime(store=InMemoryStore(), catalog=fakes.FakeCatalog.of(["web@prod"]),
                 poller=fakes.FakeGit(None), reconciler=fakes.FakeReconciler(None), settings=settings,
                 clock=clock, notifier=Notifier(lambda: fleet, InMemoryRateLimits(), wire))
    return rt, wire, clock


def message(event: str = "SyncSucceeded", text: str = "web on prod synced", **extra: Any) -> dict[str, Any]:
    return {**Notice("out", event, "web", "prod", text, {"revision": REV}).to_message(), **extra}


def outcomes(rt: Runtime) -> list[Event]:
    return [e for e in rt.store.events() if e.kind == "notification"]


def test_the_rate_limit_delays_the_next_delivery_until_the_window_turns(
        local: tuple[Runtime, Wire, ManualClock]) -> None:
    rt, wire, clock = local
    clock.advance(10)
    assert [notices.deliver(rt, 1, message(text=f"n{i}")).status for i in range(2)] == ["done", "done"]
    third = notices.deliver(rt, 1, message(text="n2"))
    assert third.status == "retry" and 50.0 <= third.countdown <= 52.0 and "2 a minute" in third.detail
    assert [b for _, b in wire.sent] == ["n0", "n1"]
    clock.advance(50)
    assert notices.deliver(rt, 2, message(text="n2")).status == "done"
    assert [b for _, b in wire.sent] == ["n0", "n1", "n2"]
    assert [e.data["outcome"] for e in outcomes(rt)] == ["delivered"] * 3


def test_a_temporary_failure_is_retried_with_backoff_then_dropped(
        local: tuple[Runtime, Wire, ManualClock]) -> None:
    rt, wire, clock = local
    wire.answers.extend([False] * 20)
    waits = []
    for attempt in range(1, notices.MAX_FAILED_ATTEMPTS):
        clock.advance(60)  # a new window each time: the rate limit is not what stops it
        done = notices.deliver(rt, attempt, message())
        assert done.status == "retry" and "Apprise could not deliver" in done.detail
        waits.append(done.countdown)
    assert all(0.5 <= w <= 8.0 for w in waits) and waits[-1] >= 4.0  # grows to the cap, with jitter
    assert outcomes(rt) == []
    clock.advance(60)
    last = notices.deliver(rt, notices.MAX_FAILED_ATTEMPTS, message())
    assert last.status == "dropped" and "gave up after 8 attempt(s)" in last.detail
    [event] = outcomes(rt)
    assert (event.application, event.cluster, event.data["outcome"]) == ("web", "prod", "dropped")


@pytest.mark.parametrize("forged", [
    None, "gitops.notify", {"notification": "out"},
    {**Notice("out", "SyncSucceeded", "web", "prod", "m").to_message(), "url": "http://evil.example"},
    Notice("missing", "SyncSucceeded", "web", "prod", "m").to_message(),   # no such Notification
    Notice("out", "SyncSucceeded", "api", "prod", "m").to_message(),       # a target it does not select
])
def test_a_forged_or_stale_message_is_rejected_without_a_delivery(
        local: tuple[Runtime, Wire, ManualClock], forged: object) -> None:
    rt, wire, _ = local
    assert notices.deliver(rt, 1, forged).status == "rejected"
    assert wire.sent == []


def test_without_notifications_nothing_is_raised_or_delivered(
        local: tuple[Runtime, Wire, ManualClock]) -> None:
    rt, _, _ = local
    bare = replace(rt, notifier=None)
    assert notices.deliver(bare, 1, message()).status == "rejected"
    assert notices.notices_for(bare, None, fakes_status(), fakes_op()) == ()


def fakes_status() -> TargetStatus:
    return TargetStatus("web", "prod", REV)


def fakes_op() -> Operation:
    return Operation("op", "web", "prod", Trigger.MANUAL, OperationPhase.SUCCEEDED, REV, applied=True)


def test_the_notify_task_is_routed_to_a_queue_every_worker_consumes() -> None:
    assert ROUTES["gitops.notify"]["queue"] in QUEUES
    assert ROUTES["gitops.notify"]["queue"] not in (ROUTES["gitops.sync"]["queue"],
                                                     ROUTES["gitops.reconcile"]["queue"])


# --- real workers -------------------------------------------------------------------------------------

@pytest.fixture
def store(rclient: redis.Redis, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
          ) -> Iterator[RedisStore]:
    for k, v in FAST.items():
        monkeypatch.setenv(k, v)
    configure(app, replace(Settings.from_env(), redis_url=redis_server.url))
    rclient.set("fake:head:repo", REV)
    yield RedisStore(rclient)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serve() as state:
        yield state


def start(start_worker: Callable[..., Any], config: Path, **env: str) -> None:
    start_worker("w1", GITOPS_RUNTIME="notify_fakes:runtime", GITOPS_CONFIG=str(config),
                 FAKE_TARGETS='["web@prod"]', NOTIFY_SECRET=SECRET, GH_TOKEN=TOKEN, **env)


def sync(store: RedisStore) -> str:
    from workers import tasks

    task_id = str(tasks.sync.apply_async(("web", "prod")).id)
    wait_for(lambda: (op := store.operation(WEB, task_id)) is not None
             and op.phase is OperationPhase.SUCCEEDED, timeout=30)
    return task_id


def delivered(store: RedisStore, n: int = 1) -> Callable[[], bool]:
    return lambda: sum(e.kind == "notification" and e.data.get("outcome") == "delivered"
                       for e in store.events(count=1000)) >= n


def test_a_successful_sync_is_delivered_signed_and_a_500_is_retried_once(
        store: RedisStore, receiver: Receiver, tmp_path: Path, start_worker: Callable[..., Any]) -> None:
    receiver.script.append((500, {}))  # the first attempt fails; the retry arrives
    start(start_worker, write_config(tmp_path, webhook_spec(receiver.url)))
    operation = sync(store)
    wait_for(delivered(store), timeout=30)
    assert receiver.arrived == 2
    [request] = receiver.requests
    h = request.headers
    assert verify(SECRET, h["x-gitops-timestamp"], request.body, h["x-gitops-signature"],
                  float(h["x-gitops-timestamp"]))
    body = json.loads(request.body)
    assert (body["event"], body["application"], body["cluster"], body["revision"]) == (
        "SyncSucceeded", "web", "prod", REV)
    assert body["data"]["operation"] == operation and SECRET not in request.body.decode()
    [event] = [e for e in store.events(count=1000) if e.kind == "notification"]
    assert event.data["outcome"] == "delivered" and SECRET not in json.dumps(event.data) + event.message


def test_a_commit_status_reaches_the_github_api(store: RedisStore, receiver: Receiver, tmp_path: Path,
                                                start_worker: Callable[..., Any]) -> None:
    config = write_config(tmp_path, "  events: [SyncSucceeded]\n  commitStatus: {provider: github, "
                                    f"apiUrl: '{receiver.url}/api/v3', tokenRef: {{env: GH_TOKEN}}}}\n")
    start(start_worker, config)
    sync(store)
    wait_for(delivered(store), timeout=30)
    [request] = receiver.requests
    assert request.path == f"/api/v3/repos/org/demo/statuses/{REV}"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert json.loads(request.body)["state"] == "success"
    assert json.loads(request.body)["context"] == "gitops/web@prod"


def test_apprise_json_delivery_arrives(store: RedisStore, receiver: Receiver, tmp_path: Path,
                                       start_worker: Callable[..., Any]) -> None:
    config = write_config(tmp_path, "  events: [SyncSucceeded]\n  apprise: {urlRef: {env: APPRISE_URL}}\n")
    start(start_worker, config, APPRISE_URL=receiver.url.replace("http://", "json://") + "/apprise")
    sync(store)
    wait_for(delivered(store), timeout=30)
    [request] = receiver.requests
    assert request.path == "/apprise"
    assert json.loads(request.body)["title"] == "[gitops] SyncSucceeded: web on prod"


def test_the_rate_limit_holds_back_the_third_delivery_of_the_minute(
        store: RedisStore, receiver: Receiver, tmp_path: Path, start_worker: Callable[..., Any]) -> None:
    config = write_config(tmp_path, webhook_spec(receiver.url, per_minute=2))
    fleet = to_fleet(load_config(config))
    key = destination_key(fleet.notifications["out"])
    limits = RedisRateLimits(store.redis)
    at = 6_000_000.0  # the start of a minute, standing still: the three syncs fall in one window
    freeze_time(store.redis, at)
    start(start_worker, config)
    for _ in range(3):
        sync(store)
    wait_for(delivered(store, 2), timeout=30)
    wait_for(lambda: limits.used(key, at) >= 3, timeout=30)  # the third attempt was counted...
    assert len(receiver.requests) == 2  # ...and held back: only two arrived in this minute
    assert sum(e.kind == "notification" for e in store.events(count=1000)) == 2


def test_a_hanging_receiver_does_not_delay_the_recorded_sync(
        store: RedisStore, receiver: Receiver, tmp_path: Path, start_worker: Callable[..., Any]) -> None:
    receiver.hold = True
    start(start_worker, write_config(tmp_path, webhook_spec(receiver.url)))
    first = sync(store)
    wait_for(lambda: receiver.arrived == 1, timeout=30)  # the delivery is in flight, blocked
    status = store.status(WEB)
    assert status is not None and status.operation == first and status.revision == REV
    assert receiver.requests == [] and not delivered(store)()
    receiver.release.set()
    wait_for(delivered(store), timeout=30)
    assert len(receiver.requests) == 1


def test_a_halted_rollout_is_notified_once_per_halt(local: tuple[Runtime, Wire, ManualClock]) -> None:
    rt, wire, _ = local
    halted = RunReport(AppSetState("fanout"),
                       events=("rollout started", "rollout halted: web@prod is Degraded"))
    [notice] = notices.for_appset(rt, "fanout", halted)
    assert (notice.event, notice.application, notice.cluster) == ("RolloutHalted", "fanout", "")
    assert notice.message == "ApplicationSet fanout: rollout halted: web@prod is Degraded"
    assert notices.for_appset(rt, "fanout", RunReport(AppSetState("fanout"))) == ()  # still halted: quiet
    assert notices.deliver(rt, 1, notice.to_message()).status == "done"
    assert wire.sent == [("[gitops] RolloutHalted: fanout", notice.message)]
