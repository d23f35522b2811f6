"""Property: the in-memory and Redis stores answer every sequence of calls alike, over every role
(records with fencing, leases, named locks, coalescing, schedule), and end in the same state."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitops.errors import StateError
from gitops.state import InMemoryStore, Lease, Operation, RedisStore, TargetStatus
from gitops.vocabulary import OperationPhase, SyncStatus, Target, Trigger
from workers.redis_server import RedisServer

TARGETS = [Target("web", "prod"), Target("api", "prod")]
REPOS = ["repo-a", "repo-b"]
NAMES = ["trigger", "begin", "finish", "acquire", "release", "renew", "acquire_named", "release_named",
         "record", "begin_op", "forget", "claim_due", "set_head"]
OPS = st.lists(st.tuples(st.sampled_from(NAMES), st.sampled_from([0, 1]), st.sampled_from(["w1", "w2"]),
                         st.integers(0, 3)), max_size=40)
Store = InMemoryStore | RedisStore
Ops = list[tuple[str, int, str, int]]


def apply(store: Store, ops: Ops) -> list[object]:
    leases: dict[tuple[int, str], Lease] = {}
    out: list[object] = []
    for op, index, owner, n in ops:
        target = TARGETS[index]
        if op == "trigger":
            out.append(store.trigger(target, 60))
        elif op == "begin":
            out.append(store.begin_run(target, 60))
        elif op == "finish":
            out.append(store.finish_run(target, 60))
        elif op == "acquire":
            lease = store.acquire(target, owner, 60)
            if lease is not None:
                leases[(index, owner)] = lease
            out.append(None if lease is None else lease.token)
        elif op in ("release", "renew"):
            if (index, owner) in leases:
                lease = leases[(index, owner)]
                out.append(store.release(lease) if op == "release" else store.renew(lease, 60))
        elif op == "acquire_named":
            out.append(store.acquire_named("beat", owner, 60))
        elif op == "release_named":
            out.append(store.release_named("beat", owner))
        elif op in ("record", "begin_op"):
            operation = Operation(f"o{n}", target.application, target.cluster, Trigger.POLL,
                                  OperationPhase.RUNNING if op == "begin_op" else OperationPhase.SUCCEEDED,
                                  revision=owner, started=float(n % 2), fence=n)
            lease = leases.get((index, owner)) if n % 2 else None
            try:
                if op == "begin_op":
                    store.begin(operation, lease=lease)
                else:
                    store.record(TargetStatus(target.application, target.cluster, revision=owner,
                                              sync=SyncStatus.SYNCED, operation=operation.id), operation,
                                 lease=lease)
                out.append("written")
            except StateError as exc:
                out.append(("refused", exc.temporary))
        elif op == "forget":
            out.append(store.forget(target))
        elif op == "claim_due":
            out.append(store.claim_due({"repo-a": 5.0, "repo-b": 10.0}, now=1000.0 + 5 * n))
        elif op == "set_head":
            store.set_repo_head(REPOS[index], f"{owner}-{n}")
            out.append(store.repo_head(REPOS[index]))
    out.append(store.statuses())
    out.append([[(o.id, o.phase, o.revision, o.started) for o in store.history(t)] for t in TARGETS])
    out.append([(e.kind, e.application, e.cluster, e.message, e.time, e.data) for e in store.events()])
    out.append([store.repo_head(r) for r in REPOS])
    return out


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_memory_and_redis_stores_agree(redis_server: RedisServer, ops: Ops) -> None:
    client = redis_server.client()
    client.flushdb()
    assert apply(InMemoryStore(history_limit=2), ops) == apply(RedisStore(client, history_limit=2), ops)
