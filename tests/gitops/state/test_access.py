"""Contract of the access-control state (gitops.state.access): the same scenarios on Redis and in memory.

Users, API tokens, sessions, login throttling, signing keys and the audit log. Time passes with
``lapse`` (a manual clock, and for Redis the TTLs shortened by Redis itself), never with a sleep.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from gitops.clock import ManualClock
from gitops.errors import InputError, StateError
from gitops.state.access import (
    MAX_SESSIONS_PER_USER,
    MAX_TOKENS_PER_USER,
    Accounts,
    AuditLog,
    InMemoryAccounts,
    InMemoryAuditLog,
    RedisAccounts,
    RedisAuditLog,
    hash_secret,
    role_rank,
)
from workers.redis_server import RedisServer

from .conftest import lapse_redis

HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"
Lapse = Callable[[float], None]


@pytest.fixture(params=["memory", "redis"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def client(kind: str, redis_server: RedisServer) -> redis.Redis | None:
    if kind == "memory":
        return None
    found = redis_server.client()
    found.flushdb()
    return found


@pytest.fixture
def accounts(client: redis.Redis | None, clock: ManualClock) -> Accounts:
    if client is None:
        return InMemoryAccounts(clock=clock)
    return RedisAccounts(client, clock=clock)


@pytest.fixture
def audit(client: redis.Redis | None, clock: ManualClock) -> AuditLog:
    if client is None:
        return InMemoryAuditLog(limit=5, clock=clock)
    return RedisAuditLog(client, limit=5, clock=clock)


@pytest.fixture
def lapse(client: redis.Redis | None, clock: ManualClock) -> Lapse:
    def let_pass(seconds: float) -> None:
        clock.advance(seconds)
        if client is not None:
            lapse_redis(client, seconds)

    return let_pass


def stored_bytes(client: redis.Redis | None) -> bytes:
    """Every key and value of the Redis database, concatenated (empty for the in-memory variant)."""
    if client is None:
        return b""
    out = []
    for key in client.scan_iter(count=1000):
        out.append(key)
        kind = client.type(key)
        if kind == b"string":
            out.append(client.get(key) or b"")
        elif kind == b"set":
            out.extend(client.smembers(key))
        elif kind == b"zset":
            out.extend(client.zrange(key, 0, -1))
        elif kind == b"stream":
            out.extend(b"".join(k + v for k, v in fields.items()) for _, fields in client.xrange(key))
    return b"\n".join(out)


# -- users -----------------------------------------------------------------------------------------


def test_users_are_added_once_listed_by_name_and_never_show_their_hash(accounts: Accounts) -> None:
    assert not accounts.has_users()
    bob = accounts.add_user("bob", password_hash=HASH, role="viewer")
    alice = accounts.add_user("alice", password_hash=HASH, role="admin", scope={"team": "a"})
    assert alice is not None and bob is not None
    assert accounts.add_user("alice", password_hash="$argon2id$other", role="viewer") is None  # taken
    assert accounts.user("alice") == alice and alice.password_hash == HASH and alice.scope == {"team": "a"}
    assert [u.name for u in accounts.users()] == ["alice", "bob"] and accounts.has_users()
    assert HASH not in repr(alice) and "password" not in str(alice.public())
    assert alice.public() == {"name": "alice", "role": "admin", "scope": {"team": "a"},
                              "created": alice.created, "disabled": False}


def test_user_changes_and_unknown_users(accounts: Accounts) -> None:
    accounts.add_user("carol", password_hash=HASH, role="viewer")
    changed = accounts.set_role("carol", "operator")
    assert changed is not None and changed.role == "operator"
    assert accounts.set_password("carol", "$argon2id$new") is not None
    assert accounts.set_scope("carol", {"tier": "gold"}) is not None
    assert accounts.set_disabled("carol", True) is not None
    found = accounts.user("carol")
    assert found is not None
    assert (found.role, found.password_hash, dict(found.scope), found.disabled) == (
        "operator", "$argon2id$new", {"tier": "gold"}, True)
    for change in (lambda n: accounts.set_role(n, "admin"), lambda n: accounts.set_password(n, HASH),
                   lambda n: accounts.set_scope(n, None), lambda n: accounts.set_disabled(n, False)):
        assert change("nobody") is None
        assert change("<script>") is None  # a hostile name is simply nobody
    assert accounts.user("../carol") is None and accounts.user("") is None
    assert not accounts.delete_user("nobody")


@pytest.mark.parametrize("name", ["Alice", "<script>alert(1)</script>", "a" * 65, "", "-a", "a b",
                                  "a:b", "a*", "é", "a\nb", "a/b"])
def test_user_names_are_validated_naming_the_field(accounts: Accounts, name: str) -> None:
    with pytest.raises(InputError) as caught:
        accounts.add_user(name, password_hash=HASH, role="viewer")
    assert caught.value.problem.field == "name"
    assert accounts.users() == []


def test_roles_scopes_and_hashes_are_validated(accounts: Accounts) -> None:
    for bad_role in ("root", "ADMIN ", "", "Viewer"):
        with pytest.raises(InputError) as caught:
            accounts.add_user("dave", password_hash=HASH, role=bad_role)
        assert caught.value.problem.field == "role"
    with pytest.raises(InputError) as caught:
        accounts.add_user("dave", password_hash=HASH, role="viewer", scope={"bad key!": "x"})
    assert caught.value.problem.field == "scope"
    with pytest.raises(InputError):
        accounts.add_user("dave", password_hash=HASH, role="viewer", scope={"k": "<script>"})
    with pytest.raises(InputError):
        accounts.add_user("dave", password_hash=HASH, role="viewer", scope={f"k{i}": "v" for i in range(17)})
    for bad_hash in ("", "x" * 513, "a\nb"):
        with pytest.raises(InputError) as caught:
            accounts.add_user("dave", password_hash=bad_hash, role="viewer")
        assert caught.value.problem.field == "password_hash"
    with pytest.raises(InputError):
        accounts.set_role("dave", "superuser")
    assert accounts.user("dave") is None
    assert [role_rank(r) for r in ("viewer", "operator", "admin")] == [1, 2, 3]


def test_deleting_a_user_revokes_their_tokens_and_closes_their_sessions(accounts: Accounts) -> None:
    accounts.add_user("erin", password_hash=HASH, role="operator")
    accounts.add_user("frank", password_hash=HASH, role="operator")
    issued = accounts.add_token(owner="erin", name="ci", role="viewer", expires=None)
    kept = accounts.add_token(owner="frank", name="ci", role="viewer", expires=None)
    assert issued is not None and kept is not None
    session = accounts.open_session("erin", 3600)
    other = accounts.open_session("frank", 3600)
    assert accounts.delete_user("erin")
    assert accounts.user("erin") is None and accounts.session(session.id) is None
    assert accounts.token_by_hash(hash_secret(issued.secret)) is None and accounts.tokens("erin") == []
    assert accounts.session(other.id) is not None and accounts.token_by_hash(hash_secret(kept.secret))
    # a new user of the same name inherits nothing
    accounts.add_user("erin", password_hash=HASH, role="viewer")
    assert accounts.tokens("erin") == [] and accounts.close_sessions_of("erin") == 0


# -- tokens ----------------------------------------------------------------------------------------


def test_tokens_are_issued_once_and_stored_only_as_their_hash(accounts: Accounts, clock: ManualClock,
                                                               client: redis.Redis | None) -> None:
    accounts.add_user("gina", password_hash=HASH, role="operator")
    issued = accounts.add_token(owner="gina", name="deploy bot", role="operator", expires=None)
    assert issued is not None
    token = issued.token
    assert issued.secret.startswith("gitops_") and len(issued.secret) > 40
    assert issued.secret not in repr(issued) and token.hash == hash_secret(issued.secret)
    assert "hash" not in token.public() and issued.secret not in str(token.public())
    assert issued.secret.encode() not in stored_bytes(client)
    assert accounts.token(token.id) == token
    assert accounts.token_by_hash(hash_secret(issued.secret)) == token
    assert accounts.token_by_hash(hash_secret(issued.secret + "x")) is None
    assert accounts.token_by_hash("not a hash") is None and accounts.token("../x") is None
    clock.advance(1)  # listed oldest first
    second = accounts.add_token(owner="gina", name="other", role="viewer", expires=None)
    assert second is not None and second.secret != issued.secret and second.token.id != token.id
    assert [t.id for t in accounts.tokens("gina")] == [token.id, second.token.id]
    assert [t.id for t in accounts.tokens()] == [token.id, second.token.id]
    assert accounts.revoke_token(token.id) and not accounts.revoke_token(token.id)
    assert accounts.token_by_hash(token.hash) is None
    assert [t.id for t in accounts.tokens()] == [second.token.id]


def test_a_token_never_carries_more_than_its_owners_role(accounts: Accounts) -> None:
    accounts.add_user("hal", password_hash=HASH, role="operator")
    with pytest.raises(InputError) as caught:
        accounts.add_token(owner="hal", name="too much", role="admin", expires=None)
    assert caught.value.problem.field == "role"
    with pytest.raises(InputError) as caught:
        accounts.add_token(owner="hal", name="x", role="god", expires=None)
    assert caught.value.problem.field == "role"
    assert accounts.add_token(owner="nobody", name="x", role="viewer", expires=None) is None
    assert accounts.tokens("hal") == []


def test_tokens_expire_and_record_their_last_use(accounts: Accounts, clock: ManualClock,
                                                 lapse: Lapse) -> None:
    accounts.add_user("ivy", password_hash=HASH, role="viewer")
    with pytest.raises(InputError) as caught:
        accounts.add_token(owner="ivy", name="late", role="viewer", expires=clock.now() - 1)
    assert caught.value.problem.field == "expires"
    issued = accounts.add_token(owner="ivy", name="short", role="viewer", expires=clock.now() + 100)
    assert issued is not None
    hashed = hash_secret(issued.secret)
    used = accounts.token_by_hash(hashed, touch=True)
    assert used is not None and used.last_used == clock.now()
    first_use = used.last_used
    lapse(30)
    assert accounts.token_by_hash(hashed, touch=True).last_used == first_use  # type: ignore[union-attr]
    lapse(31)
    assert accounts.token_by_hash(hashed, touch=True).last_used == clock.now()  # type: ignore[union-attr]
    lapse(40)
    assert accounts.token_by_hash(hashed) is None  # expired: refused, still listed for its owner to see
    listed = accounts.tokens("ivy")
    assert [t.id for t in listed] == [issued.token.id] and listed[0].expired(clock.now())


def test_token_names_and_the_number_of_tokens_are_bounded(accounts: Accounts) -> None:
    accounts.add_user("jo", password_hash=HASH, role="viewer")
    for bad in ("", "<script>", "x" * 65, "a\nb", " lead"):
        with pytest.raises(InputError) as caught:
            accounts.add_token(owner="jo", name=bad, role="viewer", expires=None)
        assert caught.value.problem.field == "name"
    for i in range(MAX_TOKENS_PER_USER):
        assert accounts.add_token(owner="jo", name=f"t{i}", role="viewer", expires=None) is not None
    with pytest.raises(InputError, match="revoke some first"):
        accounts.add_token(owner="jo", name="one more", role="viewer", expires=None)
    assert len(accounts.tokens("jo")) == MAX_TOKENS_PER_USER


# -- sessions --------------------------------------------------------------------------------------


def test_sessions_are_random_expire_and_close(accounts: Accounts, lapse: Lapse,
                                              client: redis.Redis | None) -> None:
    accounts.add_user("kim", password_hash=HASH, role="viewer")
    one = accounts.open_session("kim", 100)
    two = accounts.open_session("kim", 1000)
    assert one.id != two.id and one.csrf != two.csrf and len(one.id) >= 43 and len(one.csrf) >= 43
    assert one.id not in repr(one) and one.csrf not in repr(one)
    assert accounts.session(one.id) == one and accounts.session(two.id) == two
    assert one.id.encode() not in stored_bytes(client)  # only its hash is a key
    assert accounts.session(one.id[:-1] + ("A" if one.id[-1] != "A" else "B")) is None
    for forged in ("", "x", "../" * 20, "a" * 500, "*"):
        assert accounts.session(forged) is None and not accounts.close_session(forged)
    lapse(101)
    assert accounts.session(one.id) is None and accounts.session(two.id) == two
    assert accounts.close_session(two.id) and accounts.session(two.id) is None
    assert not accounts.close_session(two.id)


def test_closing_every_session_of_a_user(accounts: Accounts) -> None:
    accounts.add_user("lee", password_hash=HASH, role="viewer")
    accounts.add_user("max", password_hash=HASH, role="viewer")
    mine = [accounts.open_session("lee", 100) for _ in range(3)]
    theirs = accounts.open_session("max", 100)
    assert accounts.close_sessions_of("lee") == 3
    assert all(accounts.session(s.id) is None for s in mine) and accounts.session(theirs.id) == theirs
    assert accounts.close_sessions_of("lee") == 0 and accounts.close_sessions_of("<bad>") == 0


def test_a_user_keeps_at_most_so_many_sessions_the_oldest_close(accounts: Accounts, lapse: Lapse) -> None:
    accounts.add_user("ned", password_hash=HASH, role="viewer")
    opened = []
    for _ in range(MAX_SESSIONS_PER_USER + 2):
        opened.append(accounts.open_session("ned", 3600))
        lapse(1)
    alive = [s for s in opened if accounts.session(s.id) is not None]
    assert alive == opened[2:]


# -- throttling and keys ---------------------------------------------------------------------------


def test_failures_are_counted_in_a_window(accounts: Accounts, lapse: Lapse) -> None:
    key = "ola\0192.0.2.1"
    assert accounts.failures(key) == 0
    assert [accounts.note_failure(key, 60) for _ in range(3)] == [1, 2, 3]
    assert accounts.failures(key) == 3 and accounts.failures("other") == 0
    lapse(61)
    assert accounts.failures(key) == 0 and accounts.note_failure(key, 60) == 1
    accounts.clear_failures(key)
    assert accounts.failures(key) == 0


def test_signing_keys_are_made_once_and_shared(accounts: Accounts, client: redis.Redis | None,
                                               clock: ManualClock) -> None:
    key = accounts.signing_key("login")
    assert len(key) == 32 and accounts.signing_key("login") == key and accounts.signing_key("other") != key
    if client is not None:  # a second web server on the same Redis signs with the same key
        assert RedisAccounts(client, clock=clock).signing_key("login") == key
    with pytest.raises(InputError):
        accounts.signing_key("bad name")


# -- the audit log ---------------------------------------------------------------------------------


def test_audit_entries_are_newest_first_paged_and_capped(audit: AuditLog, clock: ManualClock) -> None:
    written = []
    for i in range(7):
        written.append(audit.record(actor="alice", action="user.create", target=f"u{i}", detail="role viewer",
                                    remote="192.0.2.7"))
        clock.advance(1)
    newest = audit.entries()
    assert [e.target for e in newest] == ["u6", "u5", "u4", "u3", "u2"]  # capped at 5
    assert newest[0] == written[6] and newest[0].time == written[6].time
    assert (newest[0].actor, newest[0].action, newest[0].detail, newest[0].remote) == (
        "alice", "user.create", "role viewer", "192.0.2.7")
    page = audit.entries(limit=2)
    assert [e.target for e in page] == ["u6", "u5"]
    after = audit.entries(limit=2, before=page[-1].id)
    assert [e.target for e in after] == ["u4", "u3"]
    assert audit.entries(limit=10, before=newest[-1].id) == []


def test_audit_fields_are_clipped_and_kept_on_one_line(audit: AuditLog) -> None:
    entry = audit.record(actor="x" * 1000, action="login.failed", target="<script>\n\x1b[2J",
                         detail="d" * 100_000, remote=None)
    (read,) = audit.entries(limit=1)
    assert read == entry
    assert len(read.actor) <= 128 and len(read.detail) <= 2000 and read.remote == ""
    assert "\n" not in read.target and "\x1b" not in read.target and read.target.startswith("<script>")


def test_audit_paging_arguments_are_validated(audit: AuditLog) -> None:
    for limit in (0, -1, 1001):
        with pytest.raises(InputError) as caught:
            audit.entries(limit=limit)
        assert caught.value.problem.field == "limit"
    for before in ("x", "1-", "(1-0", "1-0 OR 1", "9" * 30 + "-0"):
        with pytest.raises(InputError) as caught:
            audit.entries(before=before)
        assert caught.value.problem.field == "before"


def test_redis_away_is_a_temporary_state_error(clock: ManualClock) -> None:
    client = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    accounts, audit = RedisAccounts(client, clock=clock), RedisAuditLog(client, clock=clock)
    for call in (accounts.users, lambda: accounts.user("a"), lambda: accounts.session("a" * 43),
                 lambda: audit.record(actor="a", action="b"), audit.entries):
        with pytest.raises(StateError) as caught:
            call()
        assert caught.value.temporary
