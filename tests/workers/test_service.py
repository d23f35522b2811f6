"""The task logic without a broker: validation, leases, retries, coalescing, polling (InMemoryStore)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import redis
import worker_fakes as fakes
from worker_kit import wait_for

from gitops.clock import ManualClock
from gitops.errors import ClusterUnavailable, Failure, StateError
from gitops.state import InMemoryStore, Lease
from gitops.vocabulary import HealthStatus, OperationPhase, SyncStatus, Target, Trigger
from workers import service
from workers.ports import Retry, Runtime
from workers.settings import Settings

T = Target("web", "prod")
SETTINGS = Settings(lock_ttl=5, sched_ttl=30, retry_base=0.1, retry_max=0.4, retry_limit=2)


@pytest.fixture
def rt(rclient: redis.Redis) -> Runtime:
    rclient.set("fake:head:repo", "c1")
    return Runtime(store=InMemoryStore(), catalog=fakes.FakeCatalog.of(fakes.DEFAULT_TARGETS),
                   poller=fakes.FakeGit(rclient), reconciler=fakes.FakeReconciler(rclient), settings=SETTINGS)


def run(rt: Runtime, app: object = "web", cluster: object = "prod", task: str = "t1", attempt: int = 1,
        **kw: object) -> service.Outcome:
    return service.reconcile(rt, service.Call(task, attempt), app, cluster,
                             trigger=kw.pop("trigger", "poll"), **kw)  # type: ignore[arg-type]


def test_success_records_status_and_one_operation(rt: Runtime, rclient: redis.Redis) -> None:
    out = run(rt)
    assert out.status == "done" and out.enqueue == ()
    status = rt.store.status(T)
    assert status is not None and status.revision == "c1" and status.sync is SyncStatus.SYNCED
    [op] = rt.store.history(T)
    assert op.id == "t1" and op.phase is OperationPhase.SUCCEEDED and op.fence >= 1
    assert rclient.get("fake:applied:web@prod") == b"c1"


@pytest.mark.parametrize(("app", "cluster", "trigger"), [
    (7, "prod", "poll"), ("web", None, "poll"), ("../etc", "prod", "poll"), ("web", "prod\n", "poll"),
    ("web", "prod", "bogus"), ("nope", "prod", "poll"), ({"$ne": 1}, "prod", "poll"),
    ("web", "x" * 10_000, "poll"),
])
def test_forged_arguments_are_rejected_without_side_effects(rt: Runtime, rclient: redis.Redis, app: object,
                                                            cluster: object, trigger: str) -> None:
    out = run(rt, app, cluster, trigger=trigger)
    assert out.status == "rejected" and out.detail
    assert rt.store.statuses() == [] and rclient.get("fake:runs:web@prod") is None


def test_a_task_that_keeps_killing_its_worker_is_given_up(rt: Runtime, rclient: redis.Redis) -> None:
    from gitops.state import Operation

    dead = Operation("t1", "web", "prod", Trigger.POLL, OperationPhase.RUNNING,
                     redeliveries=service.MAX_REDELIVERIES)
    rt.store.begin(dead)  # the last worker that ran t1 died in the middle
    out = run(rt)
    assert out.status == "done"
    [op] = rt.store.history(T)
    assert op.phase is OperationPhase.FAILED and op.redeliveries == service.MAX_REDELIVERIES + 1
    assert "interrupted" in (op.error or "") and rclient.get("fake:runs:web@prod") is None


def test_one_redelivery_is_counted_and_run(rt: Runtime, rclient: redis.Redis) -> None:
    from gitops.state import Operation

    rt.store.begin(Operation("t1", "web", "prod", Trigger.POLL, OperationPhase.RUNNING))
    assert run(rt).status == "done"
    [op] = rt.store.history(T)
    assert op.phase is OperationPhase.SUCCEEDED and op.redeliveries == 1


def test_lock_held_means_retry_soon(rt: Runtime) -> None:
    lease = rt.store.acquire(T, "someone", ttl=5)
    assert lease is not None
    out = run(rt)
    assert out.status == "retry" and 0 < out.countdown <= SETTINGS.lock_ttl
    assert rt.store.history(T) == []


def test_temporary_errors_retry_with_growing_backoff_then_fail(rt: Runtime, rclient: redis.Redis) -> None:
    rclient.set("fake:fail:web", 10)
    outs = [run(rt, attempt=n) for n in (1, 2, 3)]
    assert [o.status for o in outs] == ["retry", "retry", "done"]
    assert 0.05 <= outs[0].countdown <= 0.1 and 0.1 <= outs[1].countdown <= 0.2
    status = rt.store.status(T)
    assert status is not None and "500" in (status.error or "") and status.temporary
    [op] = rt.store.history(T)  # one operation, updated by every attempt
    assert op.phase is OperationPhase.FAILED and op.attempt == 3


def test_the_application_retry_policy_wins(rt: Runtime, rclient: redis.Redis) -> None:
    info = rt.catalog.target(T)
    assert info is not None
    rt.catalog.infos[T] = replace(info, retry=Retry(limit=1, base=7.0, factor=3.0, cap=100.0))  # type: ignore[attr-defined]
    rclient.set("fake:fail:web", 10)
    first, second = run(rt, attempt=1), run(rt, attempt=2)
    assert first.status == "retry" and 3.5 <= first.countdown <= 7.0
    assert second.status == "done"  # limit 1: the second failure is final
    rt.catalog.infos[T] = replace(info, retry=Retry(limit=5, base=7.0, factor=3.0, cap=100.0))  # type: ignore[attr-defined]
    assert 31.5 <= run(rt, attempt=3).countdown <= 63.0  # 7 * 3^2, jittered


def test_source_down_keeps_last_good_revision(rt: Runtime, rclient: redis.Redis) -> None:
    run(rt, task="t1")
    rclient.set("fake:head:repo", "down")
    run(rt, task="t2", attempt=SETTINGS.retry_limit + 1)
    status = rt.store.status(T)
    assert status is not None and status.revision == "c1" and "unreachable" in (status.error or "")
    assert rclient.get("fake:applied:web@prod") == b"c1"


def test_triggers_during_a_run_give_exactly_one_more_run(rt: Runtime) -> None:
    inner = rt.reconciler
    coalesced = []

    class Triggering:
        def reconcile(self, target: Target, **kw: object) -> object:
            coalesced.extend(rt.store.trigger(target, 30) for _ in range(50))
            return inner.reconcile(target, **kw)  # type: ignore[arg-type]

    assert rt.store.trigger(T, 30)
    rt.reconciler = Triggering()  # type: ignore[assignment]
    assert run(rt).enqueue == (T,)
    assert coalesced == [False] * 50
    rt.reconciler = inner
    assert run(rt, task="t2").enqueue == ()
    assert rt.store.trigger(T, 30)  # idle again


def test_stale_worker_write_is_fenced(rt: Runtime) -> None:
    class Stale(InMemoryStore):
        def record(self, *a: object, **kw: object) -> None:
            raise StateError("stale lease", temporary=False)

    rt.store = Stale()
    assert run(rt).status == "fenced"


def test_crashing_engine_is_recorded_not_raised(rt: Runtime) -> None:
    class Boom:
        def reconcile(self, *a: object, **kw: object) -> None:
            raise RuntimeError("bug")

    rt.reconciler = Boom()  # type: ignore[assignment]
    out = run(rt)
    assert out.status == "done"
    status = rt.store.status(T)
    assert status is not None and "internal error: RuntimeError: bug" in (status.error or "")


def test_poll_reconciles_only_touched_apps(rt: Runtime, rclient: redis.Redis) -> None:
    first = service.poll(rt, "repo")
    assert len(first.enqueue) == len(fakes.DEFAULT_TARGETS)  # first sight: everything
    for t in first.enqueue:
        rt.store.begin_run(t, 30)
        rt.store.finish_run(t, 30)
    assert service.poll(rt, "repo").detail == "unchanged"
    rclient.set("fake:head:repo", "c2")
    rclient.set("fake:changed:c1:c2", '["apps/web/deploy.yaml"]')
    out = service.poll(rt, "repo")
    assert sorted(t.key for t in out.enqueue) == ["web@dev", "web@prod"]
    rclient.set("fake:head:repo", "c3")
    rclient.set("fake:changed:c2:c3", '["base/common.yaml"]')  # outside every app: all of them
    assert len(service.poll(rt, "repo").enqueue) == 3  # web@* still queued: coalesced


def test_poll_of_a_down_source_triggers_reconciles_to_record_it(rt: Runtime, rclient: redis.Redis) -> None:
    rclient.set("fake:head:repo", "down")
    out = service.poll(rt, "repo")
    assert "source error" in out.detail and len(out.enqueue) == len(fakes.DEFAULT_TARGETS)


@pytest.mark.parametrize("repo", ["nope", "", 3, "a:b"])
def test_poll_rejects_unknown_or_forged_repositories(rt: Runtime, repo: object) -> None:
    assert service.poll(rt, repo).status == "rejected"


def test_backoff_is_bounded_and_jittered() -> None:
    values = [service.backoff(n, 1.0, 10.0) for n in range(1, 12) for _ in range(5)]
    assert all(0.5 <= v <= 10.0 for v in values)
    assert service.backoff(1, 1.0, 10.0, floor=7.0) == 7.0
    assert len({round(v, 6) for v in values}) > 10


class EngineOverBusyCluster:
    """The real engine over fake ports whose cluster answers 429 with ``Retry-After: 30``."""

    def reconcile(self, target: Target, **kw: object) -> object:
        from gitops.domain import Application, AppSource, Cluster, Destination, Repository, SyncPolicy
        from gitops.engine import ReconcileRequest, reconcile
        from gitops.errors import ClusterUnavailable
        from gitops.testing import FakeCluster, fake_ports

        cluster = FakeCluster(target.cluster)
        cluster.faults.append(ClusterUnavailable("429 Too Many Requests", status=429, retry_after=30.0))
        app = Application(target.application, AppSource("repo", "apps/web"),
                          Destination(target.cluster, "web"), SyncPolicy(automated=True))
        repository = Repository("repo", "https://127.0.0.1/r.git")
        request = ReconcileRequest(app, repository, Cluster(target.cluster))
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}
        return reconcile(request, fake_ports([cm], cluster, name=target.cluster))


def test_the_clusters_retry_after_sets_the_retry_countdown(rt: Runtime) -> None:
    info = rt.catalog.target(T)
    assert info is not None
    rt.catalog.infos[T] = replace(info, retry=Retry(limit=3, base=0.1, factor=2.0, cap=60.0))  # type: ignore[attr-defined]
    rt.reconciler = EngineOverBusyCluster()  # type: ignore[assignment]
    out = run(rt)
    assert out.status == "retry" and out.countdown == 30.0  # the server's hint, not the 0.1 s backoff
    status = rt.store.status(T)
    assert status is not None and status.temporary and "429" in (status.error or "")
    rt.catalog.infos[T] = replace(info, retry=Retry(limit=3, base=0.1, factor=2.0, cap=10.0))  # type: ignore[attr-defined]
    assert run(rt, attempt=2).countdown == 10.0  # never longer than the policy's cap


class Busy:
    """A reconciler of its own (not the engine's result class) whose cluster asked for 20 s."""

    def reconcile(self, target: Target, **kw: object) -> fakes.Result:
        failure = Failure("ClusterUnavailable", "429 Too Many Requests", temporary=True, retry_after=20.0)
        return fakes.Result(target, None, SyncStatus.UNKNOWN, failure=failure)


def test_the_retry_hint_comes_from_any_results_typed_failure(rt: Runtime) -> None:
    info = rt.catalog.target(T)
    assert info is not None
    rt.catalog.infos[T] = replace(info, retry=Retry(limit=3, base=0.1, factor=2.0, cap=60.0))  # type: ignore[attr-defined]
    rt.reconciler = Busy()
    out = run(rt)
    assert out.status == "retry" and out.countdown == 20.0
    status, [op] = rt.store.status(T), rt.store.history(T)
    assert status is not None and status.failure == Failure("ClusterUnavailable", "429 Too Many Requests",
                                                             True, 20.0)
    assert op.failure == status.failure and op.phase is OperationPhase.FAILED


def test_stamps_and_lease_renewals_run_on_the_runtimes_clock(rt: Runtime) -> None:
    clock = ManualClock()

    class Counting(InMemoryStore):
        renewals = 0

        def renew(self, lease: Lease, ttl: float) -> bool:
            Counting.renewals += 1
            return super().renew(lease, ttl)

    class PastItsTtl:
        """Runs 6 s of the manual clock (the lease's TTL is 5 s), then fails."""

        def reconcile(self, target: Target, **kw: object) -> fakes.Result:
            for n in (1, 2, 3):  # the keeper waits on the runtime's clock, renewing every 5/3 s
                wait_for(lambda n=n: clock.waiting == 1 and Counting.renewals == n - 1, timeout=5)
                clock.advance(2)
            wait_for(lambda: clock.waiting == 1 and Counting.renewals == 3, timeout=5)
            held.append(rt.store.acquire(T, "someone else", SETTINGS.lock_ttl) is None)
            raise ClusterUnavailable("api down")

    held: list[bool] = []
    rt.store, rt.clock, rt.reconciler = Counting(clock=clock), clock, PastItsTtl()
    begun = clock.now()
    assert run(rt).status == "retry" and held == [True]  # renewed: nobody could take the lease
    status, [op] = rt.store.status(T), rt.store.history(T)
    assert op.started == begun and op.finished == begun + 6 == clock.now()
    assert status is not None and status.reconciled_at == begun + 6 and "api down" in (status.error or "")


# -- what the web shows: trigger detail, trace, manifests, hard refresh, observers (issue 11) -----
def test_the_operation_keeps_its_trigger_detail_trace_and_manifests(rt: Runtime,
                                                                    rclient: redis.Redis) -> None:
    rclient.set("fake:committed:c1", "1700000000")
    assert run(rt, trigger="webhook", detail="github delivery 72d3162e").status == "done"
    [op] = rt.store.history(T)
    assert op.trigger is Trigger.WEBHOOK and op.trigger_detail == "github delivery 72d3162e"
    assert [s.name for s in op.spans] == ["resolve", "render", "apply"]
    assert op.spans[0].attributes == {"revision": "c1"} and op.commit_time == 1_700_000_000.0
    kept = rt.store.manifests(T)
    assert kept is not None and kept.operation == "t1" and kept.digest == op.manifests_digest
    assert "revision: c1" in kept.text and not kept.truncated


@pytest.mark.parametrize("detail", [{"$ne": 1}, 7, ["a"], b"bytes", 1.5, True])
def test_a_trigger_detail_that_is_not_a_string_is_rejected(rt: Runtime, rclient: redis.Redis,
                                                          detail: object) -> None:
    out = run(rt, detail=detail)
    assert out.status == "rejected" and "detail" in out.detail
    assert rt.store.history(T) == [] and rclient.get("fake:runs:web@prod") is None


def test_a_hostile_trigger_detail_is_stored_as_one_short_printable_line(rt: Runtime) -> None:
    hostile = "alice\r\nSet-Cookie: x=1\x1b[2J\x00<script>alert(1)</script>" + "A" * 100_000
    assert run(rt, detail=hostile).status == "done"
    [op] = rt.store.history(T)
    assert op.trigger_detail is not None and len(op.trigger_detail) <= 256
    assert op.trigger_detail.startswith("alice Set-Cookie: x=1 [2J <script>alert(1)</script>AAA")
    assert all(c.isprintable() for c in op.trigger_detail)  # markup is the page's to escape, as text


def test_a_hard_refresh_drops_the_caches_then_reconciles_without_forcing_a_sync(
        rt: Runtime, rclient: redis.Redis) -> None:
    out = run(rt, trigger="manual", coalesced=False, manual=False, hard=True, detail="alice via dashboard")
    assert out.status == "done" and rclient.get("fake:hard:web@prod") == b"1"
    assert rclient.lrange("fake:sync:web@prod", 0, -1) == [b"None"]  # the policy decides, as for a refresh
    [op] = rt.store.history(T)
    assert op.trigger_detail == "alice via dashboard; hard refresh: dropped the fake snapshot"
    run(rt, task="t2", trigger="manual", coalesced=False)  # a sync (not a hard refresh) is forced
    assert rclient.lrange("fake:sync:web@prod", 0, -1) == [b"None", b"True"]
    assert rclient.get("fake:hard:web@prod") == b"1"


def test_a_hard_refresh_that_cannot_drop_still_reconciles(rt: Runtime, rclient: redis.Redis) -> None:
    inner = rt.reconciler

    class Failing:
        def reconcile(self, target: Target, **kw: object) -> object:
            return inner.reconcile(target, **kw)  # type: ignore[arg-type]

        def hard_refresh(self, target: Target) -> str:
            raise ClusterUnavailable("git cache busy")

    rt.reconciler = Failing()  # type: ignore[assignment]
    assert run(rt, coalesced=False, manual=False, hard=True).status == "done"
    [op] = rt.store.history(T)
    assert op.trigger_detail == "hard refresh: nothing dropped: git cache busy"
    assert op.phase is OperationPhase.SUCCEEDED and rclient.get("fake:runs:web@prod") == b"1"


def test_observers_are_told_and_their_failures_never_fail_the_operation(rt: Runtime) -> None:
    from gitops.state import Operation, TargetStatus

    told: list[tuple[Operation, TargetStatus]] = []

    class Recording:
        def finished(self, operation: Operation, status: TargetStatus) -> None:
            told.append((operation, status))

    class Broken:
        def finished(self, operation: Operation, status: TargetStatus) -> None:
            raise RuntimeError("metrics backend down")

    rt.observers = (Broken(), Recording())
    assert run(rt, detail="poll of repo").status == "done"
    [(operation, status)] = told
    assert operation == rt.store.history(T)[0] and status == rt.store.status(T)
    assert operation.trigger_detail == "poll of repo"


def test_manifests_that_cannot_be_kept_never_fail_the_operation(rt: Runtime) -> None:
    class NoRoom(InMemoryStore):
        def keep_manifests(self, *a: object, **kw: object) -> None:
            raise StateError("OOM command not allowed when used memory > 'maxmemory'", temporary=True)

    rt.store = NoRoom()
    assert run(rt).status == "done"
    assert rt.store.manifests(T) is None and rt.store.history(T)[0].phase is OperationPhase.SUCCEEDED


def test_a_failed_reconcile_keeps_no_manifests_and_has_no_trace(rt: Runtime, rclient: redis.Redis) -> None:
    rclient.set("fake:head:repo", "down")
    run(rt, attempt=SETTINGS.retry_limit + 1)
    [op] = rt.store.history(T)
    assert op.phase is OperationPhase.FAILED and op.spans == () and op.manifests_digest is None
    assert rt.store.manifests(T) is None


def test_a_poll_says_which_commit_triggered_the_reconciles(rt: Runtime, rclient: redis.Redis) -> None:
    out = service.poll(rt, "repo")
    assert out.trigger is Trigger.POLL and out.trigger_detail == "repo at c1"


class Recording:
    """A reconciler that records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[dict[str, object]] = []

    def reconcile(self, target: Target, **kw: object) -> fakes.Result:
        self.asked.append(kw)
        return fakes.Result(target, "a" * 40)


def test_force_reaches_the_engine_only_for_a_manual_sync(rt: Runtime) -> None:
    recording = Recording()
    rt.reconciler = recording  # type: ignore[assignment]
    assert run(rt, trigger="manual", coalesced=False, force=True).status == "done"
    assert run(rt, task="t2", trigger="webhook", force=True).status == "done"  # a coalesced reconcile
    assert run(rt, task="t3", trigger="manual", coalesced=False, force="yes").status == "done"  # not True
    assert [a["force"] for a in recording.asked] == [True, False, False]
    assert recording.asked[0]["sync"] is True


class Rolling:
    """A reconciler whose target stays Progressing (a rollout under way) and that says whether it wrote."""

    def __init__(self, applied: bool, health: HealthStatus = HealthStatus.PROGRESSING) -> None:
        self.applied, self.health = applied, health

    def reconcile(self, target: Target, **kw: object) -> fakes.Result:
        return fakes.Result(target, "a" * 40, health=self.health, applied=self.applied)


def test_a_sync_that_leaves_a_rollout_progressing_looks_again_soon_then_less_often(rt: Runtime) -> None:
    rt.reconciler = Rolling(applied=True)  # type: ignore[assignment]
    first = run(rt, trigger="manual", coalesced=False)
    assert first.enqueue == (T,) and first.countdown == rt.settings.health_recheck == 10.0
    assert first.trigger_detail == "health re-check 1/6 after a sync"
    rt.reconciler = Rolling(applied=False)  # the look itself writes nothing: the chain goes on
    third = run(rt, task="t3", detail="health re-check 3/6 after a sync")
    assert third.enqueue == (T,) and third.countdown == 80.0  # 10, 20, 40, then 80 s
    assert third.trigger_detail == "health re-check 4/6 after a sync"
    assert run(rt, task="t6", detail="health re-check 6/6 after a sync").enqueue == ()  # bounded


def test_no_look_again_without_a_write_a_rollout_or_when_turned_off(rt: Runtime) -> None:
    rt.reconciler = Rolling(applied=False)
    assert run(rt).enqueue == ()  # a poll that wrote nothing: the resync will do
    rt.reconciler = Rolling(applied=True, health=HealthStatus.HEALTHY)  # type: ignore[assignment]
    assert run(rt, task="t2", trigger="manual", coalesced=False).enqueue == ()
    rt.reconciler = Rolling(applied=True)  # type: ignore[assignment]
    rt.settings = replace(rt.settings, health_recheck=0.0)  # type: ignore[misc]
    assert run(rt, task="t3", trigger="manual", coalesced=False).enqueue == ()
    rt.settings = replace(rt.settings, health_recheck=10.0)  # type: ignore[misc]
    assert run(rt, task="t4", detail="health re-check 9/6 after a sync").enqueue == ()  # forged count


def test_a_new_commit_asks_for_a_pass_of_every_applicationset(rt: Runtime, rclient: redis.Redis) -> None:
    class Sets:
        def names(self) -> list[str]:
            return ["platform", "web"]

        def run(self, name: str) -> object:
            raise AssertionError("the poll only asks for passes; the task runs them")

        def forget_removed(self) -> tuple[Target, ...]:
            return ()

    rt.appsets = Sets()  # type: ignore[assignment]
    assert service.poll(rt, "repo").appsets == ()  # first sight of the repository: the beat's pass does it
    assert service.poll(rt, "repo").appsets == ()  # unchanged
    rclient.set("fake:head:repo", "c2")
    rclient.set("fake:changed:c1:c2", '["apps/web/deploy.yaml"]')
    assert service.poll(rt, "repo").appsets == ("platform", "web")
