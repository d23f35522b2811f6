"""The Suspensions port: one contract for the in-memory and the Redis implementation (real Redis), the
events a suspend and a resume append, hostile values, and the pure rollback decisions."""

from __future__ import annotations

import json

import pytest

from gitops.errors import InputError
from gitops.state import InMemoryStore, RedisStore
from gitops.state.model import Hold, Operation
from gitops.state.suspensions import (
    InMemorySuspensions,
    RedisSuspensions,
    Suspension,
    Suspensions,
    describe_hold,
    rollback_revision,
)
from gitops.vocabulary import OperationPhase, Target, Trigger

A = Target("web", "prod")
B = Target("db", "prod")
REV1, REV2, REV3 = "1" * 40, "2" * 40, "2" * 8 + "3" * 32


@pytest.fixture(params=["memory", "redis"])
def pair(request: pytest.FixtureRequest) -> tuple[Suspensions, InMemoryStore | RedisStore]:
    if request.param == "memory":
        events = InMemoryStore()
        return InMemorySuspensions(events), events
    store: RedisStore = request.getfixturevalue("redis_store")
    return RedisSuspensions(store.redis, prefix=store.keys.prefix, events=store), store


def test_contract_suspend_read_list_resume(pair: tuple[Suspensions, InMemoryStore | RedisStore]) -> None:
    port, events = pair
    assert port.suspension(A) is None and port.suspended() == []
    port.suspend(Suspension(A, "rollback to 111111111111", 10.0, REV1, "alice@laptop"))
    port.suspend(Suspension(B, "maintenance", 11.0))
    assert port.suspension(A) == Suspension(A, "rollback to 111111111111", 10.0, REV1, "alice@laptop")
    assert [s.target for s in port.suspended()] == [B, A]  # by target key: db@prod < web@prod
    port.suspend(Suspension(A, "rollback to 222222222222", 12.0, REV2.upper(), None))  # replaces
    assert port.suspension(A) == Suspension(A, "rollback to 222222222222", 12.0, REV2, None)
    assert port.resume(A, by="bob") is True
    assert port.resume(A) is False
    assert port.suspension(A) is None and [s.target for s in port.suspended()] == [B]
    feed = events.events()
    assert [(e.kind, e.application) for e in feed] == [
        ("suspended", "web"), ("suspended", "db"), ("suspended", "web"), ("resumed", "web")]
    assert feed[0].data["revision"] == REV1 and "alice@laptop" in feed[0].message
    assert feed[3].message == "automated sync resumed (by bob)"


def test_contract_hostile_values_bounded(pair: tuple[Suspensions, InMemoryStore | RedisStore]) -> None:
    port, _ = pair
    with pytest.raises(InputError):
        port.suspend(Suspension(Target("web:x", "prod"), "r", 1.0))
    with pytest.raises(InputError):
        port.suspension(Target("*", "prod"))
    with pytest.raises(InputError):
        port.resume(Target("web\nx", "prod"))
    with pytest.raises(InputError):  # a trailing newline is not a name either
        port.suspend(Suspension(Target("web\n", "prod"), "r", 1.0))
    port.suspend(Suspension(A, "r", 1.0, REV1 + "\n"))
    assert port.suspended()[0].revision is None
    port.suspend(Suspension(A, "x\n\x1b[31m" + "y" * 10_000, float("nan"), "../../etc/passwd", "b\ry" * 500))
    found = port.suspension(A)
    assert found is not None
    assert len(found.reason) <= 256 and "\n" not in found.reason and "\x1b" not in found.reason
    assert found.revision is None and found.since == 0.0  # not a commit id; not a finite time
    assert found.by is not None and len(found.by) <= 256 and "\r" not in found.by


def test_redis_layout_and_corrupt_entries(redis_store: RedisStore) -> None:
    port = RedisSuspensions(redis_store.redis, prefix=redis_store.keys.prefix)
    port.suspend(Suspension(A, "rollback to 111111111111", 5.0, REV1, "alice"))
    assert port.key == "gitops:v1:suspensions"
    stored = json.loads(redis_store.redis.hget(port.key, "web@prod") or b"")
    assert stored["revision"] == REV1 and stored["application"] == "web"
    # a corrupt or forged entry hides itself, never the others
    redis_store.redis.hset(port.key, "db@prod", b"{not json")
    redis_store.redis.hset(port.key, "x@y", json.dumps({"application": "a:b", "cluster": "y"}))
    redis_store.redis.hset(port.key, "z@y", json.dumps({"application": "web", "cluster": "prod"}))
    redis_store.redis.hset(port.key, "big@y", b"{" + b" " * 10_000 + b"}")
    assert port.suspension(B) is None
    assert port.suspension(Target("z", "y")) is None  # the entry names another target
    assert [s.target for s in port.suspended()] == [A]  # a copy under another field is not read
    assert port.resume(A) is True


def _op(op_id: str, revision: str | None, *, applied: bool | None = True, dry_run: bool = False,
        phase: OperationPhase = OperationPhase.SUCCEEDED, started: float = 0.0) -> Operation:
    return Operation(op_id, "web", "prod", Trigger.POLL, phase, revision=revision, started=started,
                     applied=applied, dry_run=dry_run)


HISTORY = [  # newest first
    _op("o6", REV2, applied=False),                      # compare-only
    _op("o5", REV2),
    _op("o4", REV3, phase=OperationPhase.FAILED),
    _op("o3", REV3, dry_run=True),
    _op("o2", None),
    _op("o1", REV1),
]


def test_default_revision_is_the_newest_other_applied_one() -> None:
    assert rollback_revision(HISTORY, REV2).revision == REV1  # o4 failed, o3 a dry run
    assert rollback_revision(HISTORY, REV1).revision == REV2
    assert rollback_revision(HISTORY, REV2.upper()).revision == REV1
    with pytest.raises(InputError, match="no earlier applied revision"):
        rollback_revision([_op("o1", REV1)], REV1)
    with pytest.raises(InputError, match="no earlier applied revision"):
        rollback_revision([], None)


def test_to_prefix_full_id_and_hostile_values() -> None:
    assert rollback_revision(HISTORY, REV2, "1111").revision == REV1
    assert rollback_revision(HISTORY, REV2, "22222222333").revision == REV3  # any revision in the history
    assert rollback_revision(HISTORY, REV2, REV1.upper()).revision == REV1
    with pytest.raises(InputError, match="ambiguous"):
        rollback_revision(HISTORY, REV2, "2222")
    with pytest.raises(InputError, match=r"choices: 222222222222, 222222223333, 111111111111"):
        rollback_revision(HISTORY, REV2, "abcd")
    outside = rollback_revision(HISTORY, REV2, "a" * 40)
    assert outside.revision == "a" * 40 and outside.warning and "not in the history" in outside.warning
    for hostile in ("../../etc", "a" * 10_000, "xyz123", "12", "1111 ; rm", "a" * 41, "", "0x1111"):
        with pytest.raises(InputError, match="invalid revision") as info:
            rollback_revision(HISTORY, REV2, hostile)
        assert len(str(info.value)) < 200


def test_describe_hold() -> None:
    at = 1_700_000_000.0  # 2023-11-14 22:13:20Z
    assert describe_hold(None) == ""
    assert describe_hold(Hold("dependency", "waits for db@prod", on=("db@prod", "mq@prod"))) == \
        "waiting: db@prod, mq@prod"
    assert describe_hold(Hold("window", "deny window", on=("freeze",), until=at), now=at - 60) == \
        "window freeze until 22:13Z"
    assert describe_hold(Hold("window", "deny window", on=("freeze",), until=at), now=at - 86400) == \
        "window freeze until 2023-11-14 22:13Z"
    assert describe_hold(Hold("window", "sync windows cannot be evaluated: bad\ncron")) == \
        "window: sync windows cannot be evaluated: bad cron"
    assert describe_hold(Hold("suspended", "rollback to 111111111111")) == \
        "suspended (rollback to 111111111111)"
    assert describe_hold(Hold("suspended", "automated sync suspended: maint")) == "suspended (maint)"
    now = Suspension(A, "rollback to 222222222222", 1.0, REV2)
    assert describe_hold(Hold("dependency", "x", on=("db@prod",)), now) == \
        "suspended (rollback to 222222222222)"
