"""Access-control state: users, API tokens, sessions, login throttling, signing keys, the audit log.

Called by the web layer (``web.auth``: the authenticator, the login routes and the admin API; every
route that acts writes :meth:`AuditLog.record`), by ``gitops user`` / ``gitops token`` (web/cli.py) and
by ``gitops up`` (it asks whether any user exists before creating the first admin). Two
implementations of each port, held to one contract (tests/gitops/state/test_access.py runs the same
scenarios on both): :class:`RedisAccounts` / :class:`RedisAuditLog` (keys under
:data:`gitops.state.names.DEFAULT_PREFIX`, so they share the versioned layout of the state store) and
:class:`InMemoryAccounts` / :class:`InMemoryAuditLog` (tests; time from an injected clock).

Key design choices:

- Nothing secret is stored in a form that can be used: a user's password is an opaque hash made by the
  caller (argon2, in ``web.auth``); an API token and a session id are stored only as their SHA-256, so
  a copy of Redis (a backup, ``MONITOR``, a replica) lets nobody in. A token's secret is generated here
  and returned once, in :class:`IssuedToken`.
- Names are validated (:func:`check_user_name`: a DNS-label-like alphabet, at most 64 characters) and
  every other stored string is clipped and stripped of control characters, so hostile input can never
  forge a key nor blow up Redis, a page or a terminal.
- Roles are strings here (``viewer`` < ``operator`` < ``admin``, :data:`ROLES`), the same names as
  ``web.auth.Role``; a token never carries more than its owner's role (checked when it is issued; the
  authenticator also takes the lower of the two when it is used, so demoting a user demotes their
  tokens).
- Sessions expire by themselves (a Redis TTL); a user keeps at most :data:`MAX_SESSIONS_PER_USER`
  (the oldest are closed), and deleting a user closes their sessions and revokes their tokens.
- The audit log is a capped Redis stream (:data:`AUDIT_LIMIT` entries), read newest first.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final, Protocol, TypeVar, cast

import redis

from gitops.clock import SYSTEM_CLOCK, Clock
from gitops.errors import InputError, StateError
from gitops.state.connect import connect
from gitops.state.model import clip
from gitops.state.names import DEFAULT_PREFIX
from gitops.state.redis_errors import translated as _translated

T = TypeVar("T")
ROLES: Final = ("viewer", "operator", "admin")
MAX_USER_NAME: Final = 64
MAX_USERS: Final = 10_000
MAX_TOKENS_PER_USER: Final = 50
MAX_SESSIONS_PER_USER: Final = 20
MAX_SCOPE: Final = 16
MAX_HASH: Final = 512
AUDIT_LIMIT: Final = 10_000
MAX_AUDIT_PAGE: Final = 1000
TOKEN_PREFIX: Final = "gitops_"

_USER = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$")
_TOKEN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")
_TOKEN_ID = re.compile(r"^[a-f0-9]{16}$")
_SHA256 = re.compile(r"^[a-f0-9]{64}$")
_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{32,128}$")
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?"
                        r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_AUDIT_ID = re.compile(r"^[0-9]{1,20}-[0-9]{1,20}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")
_BREAKS = re.compile(r"[\t\n\r\u2028\u2029]")
_SECRET_NAME = re.compile(r"^[a-z0-9-]{1,32}$")


# -- validation ------------------------------------------------------------------------------------


def _shown(value: object) -> str:
    text = value if isinstance(value, str) else type(value).__name__
    return repr(text[:60] + ("..." if len(text) > 60 else ""))


def check_user_name(value: object, what: str = "name") -> str:
    """``value`` if it is a valid user name (lowercase letters, digits, ``.``, ``_``, ``-``; starting and
    ending with a letter or digit; at most 64), else InputError naming ``what``."""
    if not isinstance(value, str) or not _USER.match(value):
        raise InputError(f"invalid user {what} {_shown(value)}: lowercase letters, digits, '.', '_', '-', "
                         f"starting and ending with a letter or digit, at most {MAX_USER_NAME}", field=what)
    return value


def check_role(value: object, what: str = "role") -> str:
    if value not in ROLES:
        raise InputError(f"unknown {what} {_shown(value)}: viewer, operator or admin", field=what)
    assert isinstance(value, str)
    return value


def role_rank(role: str) -> int:
    """1 viewer, 2 operator, 3 admin (``web.auth.Role``'s values)."""
    return ROLES.index(check_role(role)) + 1


def check_scope(value: Mapping[str, str] | None, what: str = "scope") -> dict[str, str]:
    """Application label pairs a user is limited to (empty: everything); Kubernetes label syntax."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InputError(f"{what} must be a mapping of label keys to values", field=what)
    if len(value) > MAX_SCOPE:
        raise InputError(f"{what} has {len(value)} labels; at most {MAX_SCOPE}", field=what)
    out: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or len(key) > 317 or not _LABEL_KEY.match(key):
            raise InputError(f"invalid label key {_shown(key)} in {what}", field=what)
        if not isinstance(item, str) or not _LABEL_VALUE.match(item):
            raise InputError(f"invalid label value {_shown(item)} for {key!r} in {what}", field=what)
        out[key] = item
    return out


def check_token_name(value: object) -> str:
    if not isinstance(value, str) or not _TOKEN_NAME.match(value):
        raise InputError(f"invalid token name {_shown(value)}: 1 to 64 letters, digits, spaces, '.', '_', "
                         "'-', starting with a letter or digit", field="name")
    return value


def _check_hash(value: object) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_HASH or _CONTROL.search(value):
        raise InputError("a password hash must be a non-empty string of at most 512 printable characters",
                         field="password_hash")
    return value


def clean(text: object, limit: int) -> str:
    """``text`` clipped to ``limit`` characters on one line: tabs and line breaks become spaces, other
    control characters U+FFFD (nothing stored can forge a line of a log or move a terminal's cursor)."""
    value = clip(text if isinstance(text, str) else str(text), limit)
    return _CONTROL.sub("\ufffd", _BREAKS.sub(" ", value))


def hash_secret(secret: str) -> str:
    """SHA-256 (hex) of a token or session id: what is stored and looked up."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


# -- values ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class User:
    """A local user. ``password_hash`` is opaque here (argon2, made by ``web.auth``); it is never shown:
    not by ``repr`` nor by :meth:`public`."""

    name: str
    password_hash: str = field(repr=False)
    role: str
    scope: Mapping[str, str] = field(default_factory=dict, hash=False)
    created: float = 0.0
    disabled: bool = False

    def public(self) -> dict[str, object]:
        """What an API answer or a listing may show."""
        return {"name": self.name, "role": self.role, "scope": dict(self.scope), "created": self.created,
                "disabled": self.disabled}

    def to_json(self) -> str:
        return json.dumps({"name": self.name, "password_hash": self.password_hash, "role": self.role,
                           "scope": dict(self.scope), "created": self.created, "disabled": self.disabled})

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> User:
        scope = data.get("scope") or {}
        return User(name=str(data["name"]), password_hash=str(data["password_hash"]), role=str(data["role"]),
                    scope={str(k): str(v) for k, v in dict(scope).items()},
                    created=float(data.get("created", 0.0)), disabled=bool(data.get("disabled", False)))


@dataclass(frozen=True)
class Token:
    """An API token without its secret: ``hash`` is the SHA-256 of the secret (never shown)."""

    id: str
    name: str
    owner: str
    role: str
    created: float
    expires: float | None
    last_used: float | None = None
    hash: str = field(default="", repr=False)

    def expired(self, now: float) -> bool:
        return self.expires is not None and now >= self.expires

    def public(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name, "owner": self.owner, "role": self.role,
                "created": self.created, "expires": self.expires, "last_used": self.last_used}

    def to_json(self) -> str:
        return json.dumps({**self.public(), "hash": self.hash})

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> Token:
        expires, used = data.get("expires"), data.get("last_used")
        return Token(id=str(data["id"]), name=str(data["name"]), owner=str(data["owner"]),
                     role=str(data["role"]), created=float(data["created"]),
                     expires=None if expires is None else float(expires),
                     last_used=None if used is None else float(used), hash=str(data.get("hash", "")))


@dataclass(frozen=True)
class IssuedToken:
    """A token just created: ``secret`` is shown once and stored nowhere."""

    token: Token
    secret: str = field(repr=False)


@dataclass(frozen=True)
class Session:
    """A login session: ``id`` is the cookie's value (stored only as its SHA-256), ``csrf`` the token
    every unsafe request of the session must carry."""

    id: str = field(repr=False)
    user: str
    csrf: str = field(repr=False)
    created: float
    expires: float
    method: str = "password"

    def to_json(self) -> str:
        return json.dumps({"user": self.user, "csrf": self.csrf, "created": self.created,
                           "expires": self.expires, "method": self.method})

    @staticmethod
    def from_dict(session_id: str, data: Mapping[str, Any]) -> Session:
        return Session(id=session_id, user=str(data["user"]), csrf=str(data["csrf"]),
                       created=float(data["created"]), expires=float(data["expires"]),
                       method=str(data.get("method", "password")))


@dataclass(frozen=True)
class AuditEntry:
    """One audited action: who (``actor``), what (``action`` on ``target``, ``detail``), when (``time``,
    epoch seconds), from where (``remote``: an address, or ``cli``). ``id`` orders entries and is the
    cursor of :meth:`AuditLog.entries`."""

    id: str
    time: float
    actor: str
    action: str
    target: str
    detail: str
    remote: str

    def public(self) -> dict[str, object]:
        return {"id": self.id, "time": self.time, "actor": self.actor, "action": self.action,
                "target": self.target, "detail": self.detail, "remote": self.remote}


# -- ports -----------------------------------------------------------------------------------------


class Accounts(Protocol):
    """Users, API tokens, sessions, login throttling and signing keys."""

    # users
    def add_user(self, name: str, *, password_hash: str, role: str,
                 scope: Mapping[str, str] | None = None) -> User | None:
        """Create a user; None when a user of that name exists (nothing changed)."""

    def set_password(self, name: str, password_hash: str) -> User | None:
        """None when there is no such user (here and below)."""

    def set_role(self, name: str, role: str) -> User | None: ...

    def set_scope(self, name: str, scope: Mapping[str, str] | None) -> User | None: ...

    def set_disabled(self, name: str, disabled: bool) -> User | None: ...

    def delete_user(self, name: str) -> bool:
        """Delete the user, revoke their tokens and close their sessions; False when there was none."""

    def user(self, name: str) -> User | None:
        """The user; None when there is none or ``name`` is not a valid user name (untrusted input)."""

    def users(self) -> list[User]:
        """Every user, by name."""

    def has_users(self) -> bool: ...

    # API tokens
    def add_token(self, *, owner: str, name: str, role: str, expires: float | None) -> IssuedToken | None:
        """Issue a token (its secret returned once); None when ``owner`` does not exist. InputError when
        ``role`` is above the owner's, ``expires`` is past, or the owner has too many tokens."""

    def token(self, token_id: str) -> Token | None: ...

    def token_by_hash(self, token_hash: str, *, touch: bool = False) -> Token | None:
        """The unexpired token whose secret hashes to ``token_hash``; ``touch`` records the use
        (``last_used``, at most once a minute)."""

    def revoke_token(self, token_id: str) -> bool: ...

    def tokens(self, owner: str | None = None) -> list[Token]:
        """Tokens of ``owner`` (every token when None), oldest first, expired ones included."""

    # sessions
    def open_session(self, user: str, ttl: float, *, method: str = "password") -> Session:
        """A new session with fresh random id and CSRF token, expiring after ``ttl`` seconds."""

    def session(self, session_id: str) -> Session | None:
        """The live session of that id; None for an unknown, expired or malformed id."""

    def close_session(self, session_id: str) -> bool: ...

    def close_sessions_of(self, user: str) -> int:
        """Close every session of ``user``; how many there were."""

    # login throttling: a counter per key (the web layer keys it by user and address) with a window
    def failures(self, key: str) -> int: ...

    def note_failure(self, key: str, window: float) -> int:
        """Count one failure; the count restarts ``window`` seconds after the first one."""

    def clear_failures(self, key: str) -> None: ...

    def signing_key(self, name: str) -> bytes:
        """A random 32-byte key by ``name``, made once and shared by every web server on this store."""


class AuditLog(Protocol):
    def record(self, *, actor: str, action: str, target: str = "", detail: str = "",
               remote: str | None = None) -> AuditEntry:
        """Append an entry stamped with the time; every field clipped."""

    def entries(self, limit: int = 100, before: str | None = None) -> list[AuditEntry]:
        """At most ``limit`` entries, newest first, older than the entry id ``before``."""


# -- shared helpers --------------------------------------------------------------------------------


def _new_user(name: str, password_hash: str, role: str, scope: Mapping[str, str] | None,
              now: float) -> User:
    return User(check_user_name(name), _check_hash(password_hash), check_role(role), check_scope(scope), now)


def _check_token_request(owner: User, name: str, role: str, expires: float | None, now: float) -> None:
    check_token_name(name)
    if role_rank(role) > role_rank(owner.role):
        raise InputError(f"a token of {owner.name} cannot be {role}: {owner.name} is {owner.role}",
                         field="role")
    if expires is not None and (expires != expires or expires <= now):
        raise InputError("a token's expiry must be in the future", field="expires")


def _audit_entry(entry_id: str, now: float, actor: str, action: str, target: str, detail: str,
                 remote: str | None) -> AuditEntry:
    return AuditEntry(entry_id, now, clean(actor, 128), clean(action, 64), clean(target, 256),
                      clean(detail, 2000), clean(remote or "", 128))


def _check_page(limit: int, before: str | None) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_AUDIT_PAGE:
        raise InputError(f"limit must be from 1 to {MAX_AUDIT_PAGE}", field="limit")
    if before is not None and (not isinstance(before, str) or not _AUDIT_ID.match(before)):
        raise InputError(f"invalid audit cursor {_shown(before)}: an entry id such as 1700000000000-0",
                         field="before")


def _valid_user(name: object) -> bool:
    return isinstance(name, str) and bool(_USER.match(name))


# -- in memory -------------------------------------------------------------------------------------


class _UserChanges(ABC):
    """The setters of :class:`Accounts`, written once over each store's atomic read-change-write."""

    @abstractmethod
    def _change(self, name: str, change: Callable[[User], User]) -> User | None:
        """Apply ``change`` to the user atomically; None when there is no such user."""

    def set_password(self, name: str, password_hash: str) -> User | None:
        _check_hash(password_hash)
        return self._change(name, lambda u: replace(u, password_hash=password_hash))

    def set_role(self, name: str, role: str) -> User | None:
        check_role(role)
        return self._change(name, lambda u: replace(u, role=role))

    def set_scope(self, name: str, scope: Mapping[str, str] | None) -> User | None:
        checked = check_scope(scope)
        return self._change(name, lambda u: replace(u, scope=checked))

    def set_disabled(self, name: str, disabled: bool) -> User | None:
        return self._change(name, lambda u: replace(u, disabled=bool(disabled)))


class InMemoryAccounts(_UserChanges):
    """:class:`Accounts` in dicts under one lock; sessions and throttle windows expire on ``clock``."""

    def __init__(self, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.clock = clock
        self._mutex = threading.Lock()
        self._users: dict[str, User] = {}
        self._tokens: dict[str, Token] = {}
        self._sessions: dict[str, Session] = {}      # by the id's hash
        self._failures: dict[str, tuple[int, float]] = {}
        self._keys: dict[str, bytes] = {}

    # users
    def add_user(self, name: str, *, password_hash: str, role: str,
                 scope: Mapping[str, str] | None = None) -> User | None:
        user = _new_user(name, password_hash, role, scope, self.clock.now())
        with self._mutex:
            if name in self._users:
                return None
            if len(self._users) >= MAX_USERS:
                raise InputError(f"too many users (at most {MAX_USERS})", field="name")
            self._users[name] = user
            return user

    def _change(self, name: str, change: Callable[[User], User]) -> User | None:
        with self._mutex:
            found = self._users.get(name) if _valid_user(name) else None
            if found is None:
                return None
            self._users[name] = changed = change(found)
            return changed

    def delete_user(self, name: str) -> bool:
        with self._mutex:
            if not _valid_user(name) or self._users.pop(name, None) is None:
                return False
            for token in [t for t in self._tokens.values() if t.owner == name]:
                del self._tokens[token.id]
            for key in [k for k, s in self._sessions.items() if s.user == name]:
                del self._sessions[key]
            return True

    def user(self, name: str) -> User | None:
        with self._mutex:
            return self._users.get(name) if _valid_user(name) else None

    def users(self) -> list[User]:
        with self._mutex:
            return [self._users[n] for n in sorted(self._users)]

    def has_users(self) -> bool:
        with self._mutex:
            return bool(self._users)

    # tokens
    def add_token(self, *, owner: str, name: str, role: str, expires: float | None) -> IssuedToken | None:
        check_role(role)
        now = self.clock.now()
        with self._mutex:
            found = self._users.get(owner) if _valid_user(owner) else None
            if found is None:
                return None
            _check_token_request(found, name, role, expires, now)
            if sum(1 for t in self._tokens.values() if t.owner == owner) >= MAX_TOKENS_PER_USER:
                raise InputError(f"{owner} has {MAX_TOKENS_PER_USER} tokens: revoke some first",
                                 field="owner")
            secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
            token = Token(secrets.token_hex(8), name, owner, role, now, expires, None, hash_secret(secret))
            self._tokens[token.id] = token
            return IssuedToken(token, secret)

    def token(self, token_id: str) -> Token | None:
        with self._mutex:
            return self._tokens.get(token_id) if isinstance(token_id, str) else None

    def token_by_hash(self, token_hash: str, *, touch: bool = False) -> Token | None:
        if not isinstance(token_hash, str) or not _SHA256.match(token_hash):
            return None
        now = self.clock.now()
        with self._mutex:
            found = next((t for t in self._tokens.values() if t.hash == token_hash), None)
            if found is None or found.expired(now):
                return None
            if touch and (found.last_used is None or now - found.last_used >= 60):
                self._tokens[found.id] = found = replace(found, last_used=now)
            return found

    def revoke_token(self, token_id: str) -> bool:
        with self._mutex:
            return isinstance(token_id, str) and self._tokens.pop(token_id, None) is not None

    def tokens(self, owner: str | None = None) -> list[Token]:
        with self._mutex:
            found = [t for t in self._tokens.values() if owner is None or t.owner == owner]
        return sorted(found, key=lambda t: (t.created, t.id))

    # sessions
    def open_session(self, user: str, ttl: float, *, method: str = "password") -> Session:
        check_user_name(user, "user")
        now = self.clock.now()
        session = Session(secrets.token_urlsafe(32), user, secrets.token_urlsafe(32), now, now + ttl,
                          clean(method, 32))
        with self._mutex:
            self._expire_sessions(now)
            mine = sorted((s.created, k) for k, s in self._sessions.items() if s.user == user)
            for _, key in mine[:max(0, len(mine) - MAX_SESSIONS_PER_USER + 1)]:
                del self._sessions[key]
            self._sessions[hash_secret(session.id)] = session
        return session

    def _expire_sessions(self, now: float) -> None:
        for key in [k for k, s in self._sessions.items() if s.expires <= now]:
            del self._sessions[key]

    def session(self, session_id: str) -> Session | None:
        if not isinstance(session_id, str) or not _SESSION_ID.match(session_id):
            return None
        with self._mutex:
            found = self._sessions.get(hash_secret(session_id))
            if found is None or found.expires <= self.clock.now():
                return None
            return found

    def close_session(self, session_id: str) -> bool:
        if not isinstance(session_id, str) or not _SESSION_ID.match(session_id):
            return False
        with self._mutex:
            return self._sessions.pop(hash_secret(session_id), None) is not None

    def close_sessions_of(self, user: str) -> int:
        with self._mutex:
            self._expire_sessions(self.clock.now())
            keys = [k for k, s in self._sessions.items() if s.user == user]
            for key in keys:
                del self._sessions[key]
            return len(keys)

    # throttling
    def failures(self, key: str) -> int:
        with self._mutex:
            count, until = self._failures.get(hash_secret(key), (0, 0.0))
            return count if self.clock.monotonic() < until else 0

    def note_failure(self, key: str, window: float) -> int:
        now = self.clock.monotonic()
        with self._mutex:
            hashed = hash_secret(key)
            count, until = self._failures.get(hashed, (0, 0.0))
            if now >= until:
                count, until = 0, now + window
            self._failures[hashed] = (count + 1, until)
            for stale in [k for k, (_, u) in self._failures.items() if u <= now]:
                del self._failures[stale]
            return count + 1

    def clear_failures(self, key: str) -> None:
        with self._mutex:
            self._failures.pop(hash_secret(key), None)

    def signing_key(self, name: str) -> bytes:
        _check_secret_name(name)
        with self._mutex:
            return self._keys.setdefault(name, secrets.token_bytes(32))


def _check_secret_name(name: str) -> None:
    if not isinstance(name, str) or not _SECRET_NAME.match(name):
        raise InputError(f"invalid key name {_shown(name)}", field="name")


class InMemoryAuditLog:
    """:class:`AuditLog` in a list capped at ``limit``; ids shaped like a Redis stream's."""

    def __init__(self, *, limit: int = AUDIT_LIMIT, clock: Clock = SYSTEM_CLOCK) -> None:
        self.clock, self.limit = clock, limit
        self._mutex = threading.Lock()
        self._entries: list[AuditEntry] = []
        self._last = (0, -1)

    def record(self, *, actor: str, action: str, target: str = "", detail: str = "",
               remote: str | None = None) -> AuditEntry:
        now = self.clock.now()
        with self._mutex:
            ms = int(now * 1000)
            seq = self._last[1] + 1 if ms <= self._last[0] else 0
            ms = max(ms, self._last[0])
            self._last = (ms, seq)
            entry = _audit_entry(f"{ms}-{seq}", now, actor, action, target, detail, remote)
            self._entries.append(entry)
            del self._entries[:max(0, len(self._entries) - self.limit)]
            return entry

    def entries(self, limit: int = 100, before: str | None = None) -> list[AuditEntry]:
        _check_page(limit, before)
        with self._mutex:
            found = list(reversed(self._entries))
        if before is not None:
            cut = _id_key(before)
            found = [e for e in found if _id_key(e.id) < cut]
        return found[:limit]


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, seq = entry_id.split("-")
    return int(ms), int(seq)


# -- Redis -----------------------------------------------------------------------------------------




def _load(raw: bytes | None, key: str, parse: Callable[[Mapping[str, Any]], T]) -> T | None:
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise TypeError(f"expected an object, got {type(data).__name__}")
        return parse(data)
    except (ValueError, TypeError, KeyError) as exc:
        raise StateError(f"corrupt access record at {key!r}: {type(exc).__name__}", temporary=False) from exc


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


# Open a session: store it with its TTL, index it by user (scored by expiry), forget expired ones and
# close the oldest beyond the cap. KEYS: session, sessions-of. ARGV: json, ttl ms, now, expires, member,
# cap, session key prefix.
_OPEN_SESSION = """
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
local extra = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[6])
if extra > 0 then
  local old = redis.call('ZPOPMIN', KEYS[2], extra)
  for i = 1, #old, 2 do redis.call('DEL', ARGV[7] .. old[i]) end
end
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1
"""

# Issue a token if the owner has room: KEYS: token, token-hash, tokens-of, every token. ARGV: json, id,
# hash, cap.
_ADD_TOKEN = """
if redis.call('SCARD', KEYS[3]) >= tonumber(ARGV[4]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[2])
redis.call('SADD', KEYS[4], ARGV[2])
return 1
"""


class RedisAccounts(_UserChanges):
    """:class:`Accounts` on Redis, keys under ``<prefix>access:``."""

    def __init__(self, client: redis.Redis[bytes], *, prefix: str = DEFAULT_PREFIX,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.redis, self.clock = client, clock
        self.p = f"{prefix}access:"
        self._open_session = client.register_script(_OPEN_SESSION)
        self._add_token = client.register_script(_ADD_TOKEN)

    @classmethod
    def from_url(cls, url: str, **kw: Any) -> RedisAccounts:
        client = connect(url, socket_timeout=10, socket_connect_timeout=5,
                         health_check_interval=30, retry_on_timeout=True)
        return cls(client, **kw)

    # keys
    def _users(self) -> str:
        return f"{self.p}users"

    def _user(self, name: str) -> str:
        return f"{self.p}user:{check_user_name(name)}"

    def _token(self, token_id: str) -> str:
        return f"{self.p}token:{token_id}"

    def _token_hash(self, token_hash: str) -> str:
        return f"{self.p}token-hash:{token_hash}"

    def _all_tokens(self) -> str:
        return f"{self.p}tokens"

    def _tokens_of(self, owner: str) -> str:
        return f"{self.p}tokens-of:{check_user_name(owner)}"

    def _session(self, hashed: str) -> str:
        return f"{self.p}session:{hashed}"

    def _sessions_of(self, user: str) -> str:
        return f"{self.p}sessions-of:{check_user_name(user)}"

    def _throttle(self, key: str) -> str:
        return f"{self.p}throttle:{hash_secret(key)}"

    # users
    def add_user(self, name: str, *, password_hash: str, role: str,
                 scope: Mapping[str, str] | None = None) -> User | None:
        user = _new_user(name, password_hash, role, scope, self.clock.now())
        with _translated("add user"):
            if self.redis.scard(self._users()) >= MAX_USERS:
                raise InputError(f"too many users (at most {MAX_USERS})", field="name")
            if not self.redis.set(self._user(name), user.to_json(), nx=True):
                return None
            self.redis.sadd(self._users(), name)
        return user

    def _change(self, name: str, change: Callable[[User], User]) -> User | None:
        if not _valid_user(name):
            return None
        key = self._user(name)
        with _translated("change user"), self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = cast("bytes | None", pipe.get(key))  # immediate while watching
                    found = _load(raw, key, User.from_dict)
                    if found is None:
                        return None
                    changed = change(found)
                    pipe.multi()
                    pipe.set(key, changed.to_json())
                    pipe.execute()
                    return changed
                except redis.WatchError:
                    continue

    def delete_user(self, name: str) -> bool:
        if not _valid_user(name):
            return False
        with _translated("delete user"):
            removed = bool(self.redis.delete(self._user(name)))
            self.redis.srem(self._users(), name)
            for token_id in self.redis.smembers(self._tokens_of(name)):
                self.revoke_token(_text(token_id))
            self.redis.delete(self._tokens_of(name))
            self.close_sessions_of(name)
        return removed

    def user(self, name: str) -> User | None:
        if not _valid_user(name):
            return None
        key = self._user(name)
        with _translated("read user"):
            raw = self.redis.get(key)
        found: User | None = _load(raw, key, User.from_dict)
        return found

    def users(self) -> list[User]:
        with _translated("list users"):
            names = sorted(_text(n) for n in self.redis.smembers(self._users()))
            keys = [self._user(n) for n in names if _valid_user(n)]
            raws = self.redis.mget(keys) if keys else []
        return [u for raw, key in zip(raws, keys, strict=True) if (u := _load(raw, key, User.from_dict))]

    def has_users(self) -> bool:
        with _translated("count users"):
            return bool(self.redis.scard(self._users()))

    # tokens
    def add_token(self, *, owner: str, name: str, role: str, expires: float | None) -> IssuedToken | None:
        check_role(role)
        found = self.user(owner)
        if found is None:
            return None
        now = self.clock.now()
        _check_token_request(found, name, role, expires, now)
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = Token(secrets.token_hex(8), name, owner, role, now, expires, None, hash_secret(secret))
        with _translated("add token"):
            added = self._add_token(keys=[self._token(token.id), self._token_hash(token.hash),
                                          self._tokens_of(owner), self._all_tokens()],
                                    args=[token.to_json(), token.id, token.hash, MAX_TOKENS_PER_USER])
        if not added:
            raise InputError(f"{owner} has {MAX_TOKENS_PER_USER} tokens: revoke some first", field="owner")
        return IssuedToken(token, secret)

    def token(self, token_id: str) -> Token | None:
        if not isinstance(token_id, str) or not _TOKEN_ID.match(token_id):
            return None
        key = self._token(token_id)
        with _translated("read token"):
            raw = self.redis.get(key)
        found: Token | None = _load(raw, key, Token.from_dict)
        return found

    def token_by_hash(self, token_hash: str, *, touch: bool = False) -> Token | None:
        if not isinstance(token_hash, str) or not _SHA256.match(token_hash):
            return None
        with _translated("find token"):
            token_id = self.redis.get(self._token_hash(token_hash))
        found = self.token(_text(token_id)) if token_id is not None else None
        now = self.clock.now()
        if found is None or found.hash != token_hash or found.expired(now):
            return None
        if touch and (found.last_used is None or now - found.last_used >= 60):
            found = replace(found, last_used=now)
            with _translated("touch token"):  # only while it exists: a revoke wins
                self.redis.set(self._token(found.id), found.to_json(), xx=True)
        return found

    def revoke_token(self, token_id: str) -> bool:
        found = self.token(token_id)
        if found is None:
            return False
        with _translated("revoke token"):
            removed = bool(self.redis.delete(self._token(token_id)))
            self.redis.delete(self._token_hash(found.hash))
            self.redis.srem(self._all_tokens(), token_id)
            if _valid_user(found.owner):
                self.redis.srem(self._tokens_of(found.owner), token_id)
        return removed

    def tokens(self, owner: str | None = None) -> list[Token]:
        with _translated("list tokens"):
            if owner is None:
                ids = [_text(i) for i in self.redis.smembers(self._all_tokens())]
            elif _valid_user(owner):
                ids = [_text(i) for i in self.redis.smembers(self._tokens_of(owner))]
            else:
                ids = []
            keys = [self._token(i) for i in ids if _TOKEN_ID.match(i)]
            raws = self.redis.mget(keys) if keys else []
        found = [t for raw, key in zip(raws, keys, strict=True) if (t := _load(raw, key, Token.from_dict))]
        return sorted(found, key=lambda t: (t.created, t.id))

    # sessions
    def open_session(self, user: str, ttl: float, *, method: str = "password") -> Session:
        check_user_name(user, "user")
        now = self.clock.now()
        session = Session(secrets.token_urlsafe(32), user, secrets.token_urlsafe(32), now, now + ttl,
                          clean(method, 32))
        hashed = hash_secret(session.id)
        with _translated("open session"):
            self._open_session(keys=[self._session(hashed), self._sessions_of(user)],
                               args=[session.to_json(), max(1, int(ttl * 1000)), now, session.expires,
                                     hashed, MAX_SESSIONS_PER_USER, self._session("")])
        return session

    def session(self, session_id: str) -> Session | None:
        if not isinstance(session_id, str) or not _SESSION_ID.match(session_id):
            return None
        key = self._session(hash_secret(session_id))
        with _translated("read session"):
            raw = self.redis.get(key)
        found: Session | None = _load(raw, key, lambda d: Session.from_dict(session_id, d))
        if found is None or found.expires <= self.clock.now():
            return None
        return found

    def close_session(self, session_id: str) -> bool:
        if not isinstance(session_id, str) or not _SESSION_ID.match(session_id):
            return False
        hashed = hash_secret(session_id)
        key = self._session(hashed)
        with _translated("close session"):
            raw = self.redis.get(key)
            removed = bool(self.redis.delete(key))
        found: Session | None = _load(raw, key, lambda d: Session.from_dict(session_id, d))
        if found is not None and _valid_user(found.user):
            with _translated("close session"):
                self.redis.zrem(self._sessions_of(found.user), hashed)
        return removed

    def close_sessions_of(self, user: str) -> int:
        if not _valid_user(user):
            return 0
        index = self._sessions_of(user)
        with _translated("close sessions"):
            members = [_text(m) for m in self.redis.zrange(index, 0, -1)]
            closed = int(self.redis.delete(*[self._session(m) for m in members])) if members else 0
            self.redis.delete(index)
        return closed

    # throttling
    def failures(self, key: str) -> int:
        with _translated("read failures"):
            raw = self.redis.get(self._throttle(key))
        return int(raw) if raw is not None else 0

    def note_failure(self, key: str, window: float) -> int:
        name = self._throttle(key)
        with _translated("count failure"), self.redis.pipeline(transaction=True) as pipe:
            pipe.set(name, 0, px=max(1, int(window * 1000)), nx=True)
            pipe.incr(name)
            _, count = pipe.execute()
        return int(count)

    def clear_failures(self, key: str) -> None:
        with _translated("clear failures"):
            self.redis.delete(self._throttle(key))

    def signing_key(self, name: str) -> bytes:
        _check_secret_name(name)
        key = f"{self.p}key:{name}"
        with _translated("signing key"):
            self.redis.set(key, secrets.token_bytes(32), nx=True)
            raw = self.redis.get(key)
        if raw is None or len(raw) < 32:
            raise StateError(f"signing key {key!r} vanished or is too short", temporary=True)
        return bytes(raw)


class RedisAuditLog:
    """:class:`AuditLog` on a Redis stream (``<prefix>audit``) capped at ``limit`` entries."""

    def __init__(self, client: redis.Redis[bytes], *, prefix: str = DEFAULT_PREFIX, limit: int = AUDIT_LIMIT,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.redis, self.clock, self.limit = client, clock, limit
        self.key = f"{prefix}audit"

    @classmethod
    def from_url(cls, url: str, **kw: Any) -> RedisAuditLog:
        client = connect(url, socket_timeout=10, socket_connect_timeout=5,
                         health_check_interval=30, retry_on_timeout=True)
        return cls(client, **kw)

    def record(self, *, actor: str, action: str, target: str = "", detail: str = "",
               remote: str | None = None) -> AuditEntry:
        now = self.clock.now()
        entry = _audit_entry("", now, actor, action, target, detail, remote)
        fields: dict[str | bytes, str | bytes | float] = {
            "time": repr(now), "actor": entry.actor, "action": entry.action, "target": entry.target,
            "detail": entry.detail, "remote": entry.remote}
        with _translated("audit"):
            entry_id = self.redis.xadd(self.key, fields, maxlen=self.limit, approximate=False)
        return replace(entry, id=_text(entry_id))

    def entries(self, limit: int = 100, before: str | None = None) -> list[AuditEntry]:
        _check_page(limit, before)
        with _translated("read audit"):
            rows = self.redis.xrevrange(self.key, max=f"({before}" if before else "+", min="-", count=limit)
        out = []
        for entry_id, raw in rows:
            data = {_text(k): _text(v) for k, v in raw.items()}
            try:
                when = float(data.get("time", "0"))
            except ValueError:
                when = 0.0
            out.append(AuditEntry(_text(entry_id), when, data.get("actor", ""), data.get("action", ""),
                                  data.get("target", ""), data.get("detail", ""), data.get("remote", "")))
        return out


__all__ = [
    "AUDIT_LIMIT", "Accounts", "AuditEntry", "AuditLog", "InMemoryAccounts", "InMemoryAuditLog",
    "IssuedToken", "MAX_SESSIONS_PER_USER", "MAX_TOKENS_PER_USER", "ROLES", "RedisAccounts",
    "RedisAuditLog", "Session", "Token", "User", "check_role", "check_scope", "check_token_name",
    "check_user_name", "clean", "hash_secret", "role_rank",
]
