"""``gitops web``, ``gitops user`` and ``gitops token`` (entry point ``gitops.commands``: ``web``).

``register(subparsers)`` is called by gitops/cli/__init__.py. ``web`` runs the web server alone
(uvicorn with the factory ``web.app:create_from_env``) against a shared Redis, so several can serve
behind a load balancer; ``user`` and ``token`` manage accounts in the state store
(:func:`gitops.state.redis_url`: ``--redis-url``, ``$GITOPS_REDIS_URL`` or the Redis a ``gitops up``
in this directory recorded). Key design choice: the commands go through the same
:class:`web.auth.admin.Admin` as the HTTP API (same rules, same audit entries, with the actor
``cli:<login>``); secrets are shown once: a generated password or a new token is printed and never
stored in clear. Exit codes: 0 done, 2 refused or failed.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitops.env import ENV_CONFIG, ENV_REDIS_URL
from gitops.errors import ConfigError, InputError, Problem
from gitops.state import redis_url

if TYPE_CHECKING:  # the commands import these lazily, see _admin
    from web.auth import Principal
    from web.auth.admin import Admin


def register(subparsers: Any) -> None:
    web = subparsers.add_parser("web", help="run the web server (dashboard, API, webhooks) on a shared Redis")
    web.add_argument("-c", "--config", help="configuration file or directory (default: $GITOPS_CONFIG)")
    web.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    web.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    web.add_argument("--redis-url", default=None, help="state Redis (default: $GITOPS_REDIS_URL)")
    web.add_argument("--forwarded-allow-ips", default=None,
                     help="proxies whose X-Forwarded-For/-Proto are trusted (default: 127.0.0.1)")
    web.set_defaults(func=cmd_web)

    user = subparsers.add_parser("user", help="manage the web's local users")
    users = user.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    add = users.add_parser("add", help="create a user")
    add.add_argument("name")
    add.add_argument("--role", default="viewer", help="viewer, operator or admin (default viewer)")
    add.add_argument("--scope", action="append", default=[], metavar="KEY=VALUE",
                     help="only applications with this label (repeatable)")
    _password_args(add)
    add.set_defaults(func=cmd_user_add)
    passwd = users.add_parser("passwd", help="set a user's password (and close their sessions)")
    passwd.add_argument("name")
    _password_args(passwd)
    passwd.set_defaults(func=cmd_user_passwd)
    listing = users.add_parser("list", help="list users")
    listing.add_argument("-o", "--output", choices=["table", "json"], default="table")
    listing.set_defaults(func=cmd_user_list)
    delete = users.add_parser("delete", help="delete a user, their tokens and sessions")
    delete.add_argument("name")
    delete.set_defaults(func=cmd_user_delete)
    for p in (add, passwd, listing, delete):
        p.add_argument("--redis-url", default=None, help="state Redis (default: $GITOPS_REDIS_URL)")

    token = subparsers.add_parser("token", help="manage API tokens")
    tokens = token.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    create = tokens.add_parser("create", help="create an API token (printed once)")
    create.add_argument("--user", required=True, help="the token's owner")
    create.add_argument("--role", default=None, help="at most the owner's role (default: the owner's)")
    create.add_argument("--expires", default=None, help="lifetime: 30d, 12h, 90m (default: never)")
    create.add_argument("--name", default="cli", help="what the token is for (default 'cli')")
    create.set_defaults(func=cmd_token_create)
    revoke = tokens.add_parser("revoke", help="revoke an API token by id")
    revoke.add_argument("id")
    revoke.set_defaults(func=cmd_token_revoke)
    tlist = tokens.add_parser("list", help="list API tokens (no secrets)")
    tlist.add_argument("--user", default=None, help="only this owner's")
    tlist.add_argument("-o", "--output", choices=["table", "json"], default="table")
    tlist.set_defaults(func=cmd_token_list)
    for p in (create, revoke, tlist):
        p.add_argument("--redis-url", default=None, help="state Redis (default: $GITOPS_REDIS_URL)")


def _password_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--password-file", default=None, metavar="FILE",
                   help="read the password from FILE ('-': standard input); default: prompt on a terminal, "
                        "else generate one and print it once")


# -- gitops web ------------------------------------------------------------------------------------


def cmd_web(args: argparse.Namespace) -> int:
    chosen = args.config or os.environ.get(ENV_CONFIG)
    if not chosen:
        raise ConfigError([Problem("no configuration: pass -c CONFIG or set GITOPS_CONFIG",
                                   field=ENV_CONFIG)])
    if not 0 < args.port < 65536:
        raise InputError(f"--port {args.port}: expected 1 to 65535", field="port")
    os.environ[ENV_CONFIG] = str(Path(chosen).resolve())
    os.environ[ENV_REDIS_URL] = redis_url(args.redis_url)  # the factory reads it; fails early when unset
    # lazy: every gitops command loads this module (entry point); only `gitops web` needs the server
    import uvicorn

    kw: dict[str, Any] = {"factory": True, "host": args.host, "port": args.port, "proxy_headers": True,
                          "server_header": False}
    if args.forwarded_allow_ips:
        kw["forwarded_allow_ips"] = args.forwarded_allow_ips
    uvicorn.run("web.app:create_from_env", **kw)
    return 0


# -- gitops user / token ---------------------------------------------------------------------------


def _actor() -> Principal:
    from web.auth import Principal, Role

    try:
        login = getpass.getuser()
    except (KeyError, OSError):
        login = "unknown"
    return Principal(name=f"cli:{login}"[:64], role=Role.ADMIN, via="cli")


def _admin(args: argparse.Namespace) -> Admin:
    # lazy: argon2 and the web layer's rules load only for the account commands
    from gitops.state.access import RedisAccounts, RedisAuditLog
    from web.auth.admin import Admin
    from web.auth.passwords import Passwords

    accounts = RedisAccounts.from_url(redis_url(args.redis_url))
    return Admin(accounts, RedisAuditLog(accounts.redis), Passwords())


def _refused(exc: Exception) -> int:
    detail = getattr(exc, "detail", "") or str(exc)
    print(f"error: {detail}", file=sys.stderr)
    return 2


def _read_password(args: argparse.Namespace, name: str) -> str | None:
    """The chosen password, or None to generate one."""
    if args.password_file:
        text = sys.stdin.read() if args.password_file == "-" else Path(args.password_file).read_text()
        return text.rstrip("\r\n")
    if sys.stdin.isatty():
        first = getpass.getpass(f"password for {name}: ")
        if first != getpass.getpass("again: "):
            raise InputError("the two passwords differ", field="password")
        return first
    return None


def _scope(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise InputError(f"--scope {pair!r}: expected KEY=VALUE", field="scope")
        out[key] = value
    return out


def cmd_user_add(args: argparse.Namespace) -> int:
    from web.problems import HTTPProblem

    admin = _admin(args)
    password = _read_password(args, args.name)
    try:
        user, generated = admin.create_user(_actor(), "cli", name=args.name, role=args.role,
                                            password=password, scope=_scope(args.scope))
    except HTTPProblem as exc:
        return _refused(exc)
    print(f"user {user.name} created ({user.role})")
    if generated:
        print(f"password: {generated}  (shown once)")
    return 0


def cmd_user_passwd(args: argparse.Namespace) -> int:
    from web.problems import HTTPProblem

    admin = _admin(args)
    password = _read_password(args, args.name)
    try:
        user, generated = admin.reset_password(_actor(), "cli", args.name, password)
    except HTTPProblem as exc:
        return _refused(exc)
    print(f"password of {user.name} changed; their sessions are closed")
    if generated:
        print(f"password: {generated}  (shown once)")
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    users = _admin(args).accounts.users()
    if args.output == "json":
        print(json.dumps([u.public() for u in users], indent=2))
        return 0
    print(f"{'NAME':<24} {'ROLE':<9} {'STATE':<9} SCOPE")
    for u in users:
        scope = ",".join(f"{k}={v}" for k, v in u.scope.items()) or "-"
        print(f"{u.name:<24} {u.role:<9} {'disabled' if u.disabled else 'enabled':<9} {scope}")
    return 0


def cmd_user_delete(args: argparse.Namespace) -> int:
    from web.problems import HTTPProblem

    try:
        _admin(args).delete_user(_actor(), "cli", args.name)
    except HTTPProblem as exc:
        return _refused(exc)
    print(f"user {args.name} deleted (with their tokens and sessions)")
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    from web.problems import HTTPProblem

    try:
        issued = _admin(args).create_token(_actor(), "cli", name=args.name, owner=args.user, role=args.role,
                                           expires_in=args.expires)
    except HTTPProblem as exc:
        return _refused(exc)
    token = issued.token
    expires = "never" if token.expires is None else _when(token.expires)
    print(f"token {token.id} for {token.owner} ({token.role}, expires {expires}); shown once:")
    print(issued.secret)
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    from web.problems import HTTPProblem

    try:
        found = _admin(args).revoke_token(_actor(), "cli", args.id)
    except HTTPProblem as exc:
        return _refused(exc)
    print(f"token {found.id} of {found.owner} revoked")
    return 0


def cmd_token_list(args: argparse.Namespace) -> int:
    admin = _admin(args)
    found = admin.accounts.tokens(args.user)
    now = admin.clock.now()
    if args.output == "json":
        print(json.dumps([{**t.public(), "expired": t.expired(now)} for t in found], indent=2))
        return 0
    print(f"{'ID':<17} {'OWNER':<20} {'ROLE':<9} {'EXPIRES':<20} NAME")
    for t in found:
        expires = "never" if t.expires is None else ("expired" if t.expired(now) else _when(t.expires))
        print(f"{t.id:<17} {t.owner:<20} {t.role:<9} {expires:<20} {t.name}")
    return 0


def _when(epoch: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))


__all__ = ["register"]
