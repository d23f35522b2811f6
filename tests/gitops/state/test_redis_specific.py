"""RedisStore specifics: versioned keys, durability across restarts, Redis going away, bounded values."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gitops.engine import ReconcileResult
from gitops.errors import Failure, StateError
from gitops.results import FieldDrift, ImageCheck, ObjectResult, Span
from gitops.state import InMemoryStore, RedisStore, TargetStatus, carry_forward, records_from_result
from gitops.state.model import MAX_OBJECTS, MAX_TEXT
from gitops.vocabulary import Action, HealthStatus, ObjectRef, OperationPhase, SyncStatus, Target, Trigger
from workers.redis_server import RedisServer

T = Target("web", "prod")


@dataclass(frozen=True)
class FakeResult:
    """A result as state reads it: the pipeline's result values (gitops.results) and the typed failure."""

    target: Target = T
    revision: str | None = "a" * 40
    sync: SyncStatus = SyncStatus.SYNCED
    health: HealthStatus = HealthStatus.HEALTHY
    objects: list[ObjectResult] = field(default_factory=list)
    drift: list[FieldDrift] = field(default_factory=list)
    failure: Failure | None = None
    started: datetime | float = datetime(2026, 1, 1, tzinfo=UTC)
    finished: datetime | float = datetime(2026, 1, 1, 0, 0, 2, tzinfo=UTC)
    spans: tuple[Span, ...] = ()
    commit_time: float | None = None
    manifests_digest: str | None = None
    corrected: tuple[FieldDrift, ...] = ()
    verification: tuple[ImageCheck, ...] | None = None
    applied: bool = False


REF = ObjectRef("apps", "Deployment", "default", "web", "v1")


def test_keys_carry_the_schema_version(redis_store: RedisStore) -> None:
    status, operation = records_from_result(FakeResult(), operation_id="o1", trigger=Trigger.POLL)
    redis_store.record(status, operation)
    keys = sorted(k.decode() for k in redis_store.redis.keys("*"))
    assert keys and all(k.startswith("gitops:v1:") for k in keys), keys


def test_status_history_events_survive_redis_restart(tmp_path: Path) -> None:
    server = RedisServer.start(tmp_path)
    try:
        store = RedisStore(server.client())
        status, operation = records_from_result(FakeResult(), operation_id="o1", trigger=Trigger.WEBHOOK)
        store.record(status, operation)
        server.restart()
        again = RedisStore(server.client())
        assert again.status(T) == status
        assert again.history(T) == [operation]
        assert [e.kind for e in again.events()] == ["status"]
    finally:
        server.stop()


def test_redis_away_is_a_temporary_state_error(tmp_path: Path) -> None:
    server = RedisServer.start(tmp_path)
    store = RedisStore.from_url(server.url)
    server.stop(save=False)
    with pytest.raises(StateError) as info:
        store.status(T)
    assert info.value.temporary


def test_result_becomes_status_and_operation() -> None:
    applied = ObjectResult(REF, Action.CONFIGURED, "applied", health=HealthStatus.HEALTHY)
    result = FakeResult(objects=[applied], drift=[FieldDrift(REF, ".spec.replicas", 3, 2, "kubectl-edit")],
                        sync=SyncStatus.OUT_OF_SYNC)
    status, operation = records_from_result(result, operation_id="o1", trigger=Trigger.SELF_HEAL, prune=True)
    assert status.sync is SyncStatus.OUT_OF_SYNC and status.drift_count == 1
    assert status.drift[0].path == ".spec.replicas" and status.drift[0].live == "3"
    assert status.drift[0].manager == "kubectl-edit"
    assert operation.phase is OperationPhase.SUCCEEDED and operation.duration == 2.0
    assert operation.objects[0].object == "Deployment.apps/default/web"
    assert operation.objects[0].action == "configured" and operation.prune


def test_oversized_values_are_truncated(redis_store: RedisStore) -> None:
    huge = "x" * 1_000_000
    objects = [ObjectResult(REF, Action.FAILED, huge, huge) for _ in range(MAX_OBJECTS + 50)]
    result = FakeResult(failure=Failure("SyncFailed", huge), objects=objects,
                        drift=[FieldDrift(REF, ".data", huge, {"k": huge})])
    status, operation = records_from_result(result, operation_id="o1", trigger=Trigger.POLL)
    assert MAX_TEXT - 30 < len(status.error or "") <= MAX_TEXT and operation.phase is OperationPhase.FAILED
    assert status.failure is not None and status.failure.message == status.error
    assert len(operation.objects) == MAX_OBJECTS and operation.objects_dropped == 50
    assert len(status.drift[0].live) <= 1024
    redis_store.record(status, operation)
    stored = redis_store.redis.get(redis_store.keys.status(T))
    assert stored is not None and len(stored) < 20_000


def test_the_typed_failure_is_recorded_and_read_back(store: InMemoryStore | RedisStore) -> None:
    failure = Failure("ClusterUnavailable", "429 Too Many Requests from the API server", True, 7.0)
    status, operation = records_from_result(FakeResult(failure=failure), operation_id="o1",
                                            trigger=Trigger.POLL)
    assert status.failure == failure and operation.failure == failure
    assert status.error == failure.message and status.temporary and operation.phase is OperationPhase.FAILED
    store.record(status, operation)
    assert store.status(T) == status and store.operation(T, "o1") == operation
    stored = store.status(T)
    assert stored is not None and stored.failure is not None and stored.failure.retry_after == 7.0
    assert stored.to_dict()["failure"] == failure.to_dict()
    assert TargetStatus.from_dict({"application": "web", "cluster": "prod", "error": "old"}).failure is None


def test_the_engines_own_result_is_recorded() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    result = ReconcileResult(T, "b" * 40, SyncStatus.OUT_OF_SYNC, HealthStatus.PROGRESSING,
                             [ObjectResult(REF, Action.CONFIGURED, "applied")],
                             [FieldDrift(REF, ".spec.replicas", 3, 2)],
                             Failure("SyncFailed", "sync wave -1 is Progressing", True), now, now)
    status, operation = records_from_result(result, operation_id="o1", trigger=Trigger.POLL)
    assert status.failure == result.failure and status.drift_count == 1 and status.revision == "b" * 40
    assert operation.objects[0].action == "configured" and operation.failure == result.failure


def test_failed_source_keeps_last_good_revision() -> None:
    good = TargetStatus("web", "prod", revision="abc", sync=SyncStatus.SYNCED)
    failed = TargetStatus("web", "prod", revision=None, error="git server unreachable")
    merged = carry_forward(good, failed)
    assert merged.revision == "abc" and merged.error == "git server unreachable"
    assert carry_forward(None, failed).revision is None


def test_event_stream_is_capped(redis_server: RedisServer) -> None:
    client = redis_server.client()
    client.flushdb()
    store = RedisStore(client, events_limit=100)
    for i in range(400):
        status, operation = records_from_result(FakeResult(), operation_id=f"o{i}", trigger=Trigger.POLL)
        store.record(status, operation)
    assert client.xlen(store.keys.events()) <= 250  # approximate trimming (MAXLEN ~)
    assert len(store.history(T)) == 50


@pytest.mark.parametrize("garbage", [b"not json", b"[1, 2]", b'{"application": "web"}', b'{"sync": "Bogus"}',
                                     b"\xff\xfe", b"null"])
def test_corrupt_records_are_named_errors_and_do_not_hide_the_rest(redis_store: RedisStore,
                                                                   garbage: bytes) -> None:
    good, operation = records_from_result(FakeResult(target=Target("api", "prod")), operation_id="o1",
                                          trigger=Trigger.POLL)
    redis_store.record(good, operation)
    redis_store.record(*records_from_result(FakeResult(), operation_id="o2", trigger=Trigger.POLL))
    redis_store.redis.set(redis_store.keys.status(T), garbage)
    redis_store.redis.hset(redis_store.keys.history(T) + ":ops", "o2", garbage)
    with pytest.raises(StateError, match="corrupt state record at 'gitops:v1:status:web:prod'"):
        redis_store.status(T)
    with pytest.raises(StateError, match="corrupt"):
        redis_store.operation(T, "o2")
    assert redis_store.statuses() == [good]
    assert redis_store.history(T) == []
