"""Property: the in-memory and Redis stores answer every sequence of lease/coalescing calls alike."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitops.redis_server import RedisServer
from gitops.state import InMemoryStore, RedisStore
from gitops.status import Target

TARGETS = [Target("web", "prod"), Target("api", "prod")]
OPS = st.lists(st.tuples(st.sampled_from(["trigger", "begin", "finish", "acquire", "release", "renew"]),
                         st.sampled_from([0, 1]), st.sampled_from(["w1", "w2"])), max_size=40)


def apply(store: InMemoryStore | RedisStore, ops: list[tuple[str, int, str]]) -> list[object]:
    leases: dict[tuple[int, str], object] = {}
    out: list[object] = []
    for op, index, owner in ops:
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
        elif (index, owner) in leases:
            lease = leases[(index, owner)]
            out.append(store.release(lease) if op == "release" else store.renew(lease, 60))  # type: ignore[arg-type]
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_memory_and_redis_stores_agree(redis_server: RedisServer, ops: list[tuple[str, int, str]]) -> None:
    client = redis_server.client()
    client.flushdb()
    assert apply(InMemoryStore(), ops) == apply(RedisStore(client), ops)
