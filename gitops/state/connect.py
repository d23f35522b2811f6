"""The one way a Redis client is built from a URL: plain Redis or Redis Sentinel (high availability).

Called by every Redis-backed store's ``from_url`` (gitops.state), the workers' metrics and the web
layer; workers/app.py reads :func:`parse_redis_url` to configure Celery's broker and result backend from
the same ``GITOPS_REDIS_URL``, so the user writes one URL. Key choice: one parser with a written
grammar, checked before any connection is made, so a hostile or mistyped URL is an
:class:`~gitops.errors.InputError` naming the variable (never with the password in it), not a stack
trace from redis-py at the first command.

Grammar (``GITOPS_REDIS_URL``)::

    redis://[[user]:password@]host[:port][/db]        a single Redis (redis-py's own URL forms:
    rediss://...  unix:///path/redis.sock?db=0          TLS, unix socket; passed through unchanged)

    redis+sentinel://[[user]:password@]sentinel[,sentinel...]/master-name[/db][?sentinel_auth=yes]
        sentinel     host[:port]   (port 1-65535, default 26379; host: a DNS name, IPv4, or [IPv6])
        master-name  [A-Za-z0-9._-]{1,64}: the name the sentinels monitor (``sentinel monitor NAME ...``)
        db           0-9999 (default 0)
        sentinel_auth=yes   also send the credentials to the sentinels (when they have ``requirepass``)

At most 16 sentinels. The client asks the sentinels for the current master and asks again when a
connection fails or the old master answers READONLY after a failover, so writes follow the master.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl, unquote, urlsplit

import redis
from redis.sentinel import Sentinel

from gitops.env import ENV_REDIS_URL
from gitops.errors import InputError

SENTINEL_SCHEME: Final = "redis+sentinel"
SENTINEL_PORT: Final = 26379
MAX_SENTINELS: Final = 16
MAX_URL: Final = 4096
PLAIN_SCHEMES: Final = ("redis", "rediss", "unix")
_MASTER = re.compile(r"[A-Za-z0-9._-]{1,64}")
_HOST = re.compile(r"[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]")
_DB = re.compile(r"[0-9]{1,4}")
_YES = ("yes", "true", "1")


@dataclass(frozen=True)
class SentinelURL:
    """A parsed ``redis+sentinel://`` URL (``repr`` never shows the password)."""

    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_auth: bool = False

    def __repr__(self) -> str:
        hosts = ",".join(f"{h}:{p}" for h, p in self.sentinels)
        return f"SentinelURL({hosts}/{self.master}/{self.db})"

    @property
    def credentials(self) -> dict[str, str]:
        """``username``/``password`` keyword arguments of a redis-py connection (only those set)."""
        found = {"username": self.username, "password": self.password}
        return {k: v for k, v in found.items() if v}


def _bad(url: str, why: str) -> InputError:
    """An error naming the variable; the URL is shown without its credentials."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:  # everything before the last '@' may be credentials, whatever characters they use
        rest = "***@" + rest.rpartition("@")[2]
    shown = (scheme + sep + rest)[:200]
    return InputError(f"{ENV_REDIS_URL} {shown!r}: {why}", field=ENV_REDIS_URL)


def _sentinel(url: str, part: str) -> tuple[str, int]:
    host, sep, port = part.rpartition(":") if not part.endswith("]") else (part, "", "")
    if not sep:
        host, port = part, ""
    if not _HOST.fullmatch(host):
        raise _bad(url, f"sentinel host {host[:80]!r}: expected a DNS name, an IPv4 or a [IPv6] address")
    if not port:
        return host.strip("[]"), SENTINEL_PORT
    if not port.isdigit() or len(port) > 5 or not 1 <= int(port) <= 65535:
        raise _bad(url, f"sentinel port {port[:20]!r}: expected 1-65535")
    return host.strip("[]"), int(port)


def parse_sentinel_url(url: str) -> SentinelURL:
    """Check and parse a ``redis+sentinel://`` URL (grammar in the module docstring); InputError if bad."""
    if len(url) > MAX_URL:
        raise _bad(url, f"longer than {MAX_URL} characters")
    if not url.startswith(f"{SENTINEL_SCHEME}://"):
        raise _bad(url, f"expected {SENTINEL_SCHEME}://")
    rest = url[len(SENTINEL_SCHEME) + 3:]
    rest, _, query = rest.partition("?")
    rest, _, fragment = rest.partition("#")
    if fragment:
        raise _bad(url, "a fragment (#...) is not allowed")
    userinfo, at, located = rest.rpartition("@")
    if not at:
        userinfo, located = "", rest
    netloc, slash, path = located.partition("/")
    if not netloc:
        raise _bad(url, "no sentinel host: expected host[:port][,host[:port]...]")
    parts = netloc.split(",")
    if len(parts) > MAX_SENTINELS:
        raise _bad(url, f"{len(parts)} sentinels: at most {MAX_SENTINELS}")
    sentinels = tuple(_sentinel(url, p) for p in parts)
    if len(set(sentinels)) != len(sentinels):
        raise _bad(url, "a sentinel is listed twice")
    segments = path.split("/") if slash else []
    if not segments or not segments[0]:
        raise _bad(url, "no master name: expected redis+sentinel://hosts/MASTER[/DB]")
    if len(segments) > 2:
        raise _bad(url, "too many path segments: expected /MASTER[/DB] (a master name has no '/')")
    master = unquote(segments[0])
    if not _MASTER.fullmatch(master):
        raise _bad(url, f"master name {master[:80]!r}: expected 1-64 of [A-Za-z0-9._-]")
    db = segments[1] if len(segments) == 2 else "0"
    if not _DB.fullmatch(db):
        raise _bad(url, f"database {db[:20]!r}: expected 0-9999")
    user, colon, password = userinfo.partition(":")
    options = dict(parse_qsl(query, keep_blank_values=True)) if query else {}
    unknown = sorted(set(options) - {"sentinel_auth"})
    if unknown:
        raise _bad(url, f"unknown option {unknown[0][:40]!r}: the only option is sentinel_auth=yes")
    return SentinelURL(sentinels, master, int(db), unquote(user) or None,
                       unquote(password) if colon and password else None,
                       options.get("sentinel_auth", "").lower() in _YES)


def parse_redis_url(url: str) -> SentinelURL | None:
    """The Sentinel form parsed, or None for a plain Redis URL (``redis://``, ``rediss://``,
    ``unix://``); any other scheme is an InputError naming the variable."""
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme == SENTINEL_SCHEME:
        return parse_sentinel_url(url)
    if scheme not in PLAIN_SCHEMES:
        raise _bad(url, f"unknown scheme {scheme[:20]!r}: expected redis://, rediss://, unix:// or "
                        f"{SENTINEL_SCHEME}://host:26379[,host:26379...]/MASTER[/DB]")
    if len(url) > MAX_URL:
        raise _bad(url, f"longer than {MAX_URL} characters")
    try:
        split = urlsplit(url)
        _ = split.port  # a port that is not a number is refused here, not at the first command
    except ValueError as exc:
        raise _bad(url, str(exc)) from exc
    return None


def sentinel_of(parsed: SentinelURL, **options: Any) -> Sentinel:
    """A redis-py :class:`Sentinel` over the parsed sentinels; ``options`` (timeouts...) apply to the
    master's connections and the sentinels' alike."""
    on_sentinels = {k: v for k, v in options.items() if k in ("socket_timeout", "socket_connect_timeout")}
    if parsed.sentinel_auth:
        on_sentinels.update(parsed.credentials)
    on_master: dict[str, Any] = {**parsed.credentials, **options, "db": parsed.db}
    return Sentinel(list(parsed.sentinels), sentinel_kwargs=on_sentinels, **on_master)


def connect(url: str, **options: Any) -> redis.Redis[bytes]:
    """A Redis client for ``url`` (``options``: redis-py's, e.g. ``socket_timeout``). For a Sentinel
    URL, a client of the current master that follows failovers."""
    parsed = parse_redis_url(url)
    if parsed is None:
        client: redis.Redis[bytes] = redis.Redis.from_url(url, **options)
        return client
    master: redis.Redis[bytes] = sentinel_of(parsed, **options).master_for(parsed.master,
                                                                          redis_class=redis.Redis)
    return master
