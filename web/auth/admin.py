"""Managing users and API tokens: the rules, shared by the admin API and ``gitops user`` / ``gitops token``.

Called by web/auth/routes.py (``/api/v1/users``, ``/api/v1/tokens``) and web/cli.py. Key design choice:
one place decides who may do what and writes the audit entry, so the HTTP API and the command line
cannot drift apart: every change is audited (who, what, on whom, from where); the last enabled admin
can be neither demoted, disabled nor deleted; a token never carries more than the role of the one
who asks for it nor of its owner; non-admins manage only their own tokens and only from a login
session (a token cannot mint tokens, so a leaked short-lived token cannot make itself a long-lived
one). Refusals are :class:`web.problems.HTTPProblem` (403, 404, 409) naming the field; malformed input
is :class:`gitops.errors.InputError` (400, naming the field).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from gitops.clock import SYSTEM_CLOCK, Clock
from gitops.errors import InputError
from gitops.state.access import (
    Accounts,
    AuditLog,
    IssuedToken,
    Token,
    User,
    check_role,
    check_scope,
    check_token_name,
    check_user_name,
)
from web.auth import Principal, Role
from web.auth.passwords import Passwords, check_password, generate_password
from web.problems import HTTPProblem

MAX_TOKEN_DAYS = 3650
_DURATION = re.compile(r"^([0-9]{1,9})([smhdw]?)$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_KEEP: object = object()  # "leave unchanged" for optional updates


def parse_duration(text: str | int | float, what: str = "expires") -> float:
    """Seconds in ``30d``, ``12h``, ``90m``, ``3600s``, ``2w`` or a plain number of seconds; at most
    ten years."""
    if isinstance(text, bool):
        raise InputError(f"{what}: expected a duration such as 30d, 12h or 3600", field=what)
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        found = _DURATION.match(text.strip()) if isinstance(text, str) else None
        if found is None:
            raise InputError(f"{what}: expected a duration such as 30d, 12h or 3600, got "
                             f"{str(text)[:40]!r}", field=what)
        seconds = float(int(found.group(1)) * _UNIT[found.group(2)])
    if not 60 <= seconds <= MAX_TOKEN_DAYS * 86400:
        raise InputError(f"{what}: from one minute to {MAX_TOKEN_DAYS} days", field=what)
    return seconds


def _missing(what: str, name: str) -> HTTPProblem:
    shown = name if len(name) <= 64 else name[:64] + "..."
    return HTTPProblem(404, "Not found", f"no {what} {shown!r}")


@dataclass
class Admin:
    accounts: Accounts
    audit: AuditLog
    passwords: Passwords
    clock: Clock = SYSTEM_CLOCK

    def _record(self, actor: Principal, action: str, target: str, detail: str, remote: str) -> None:
        self.audit.record(actor=actor.name, action=action, target=target, detail=f"{detail} via={actor.via}",
                          remote=remote)

    def _user(self, name: str) -> User:
        found = self.accounts.user(name)
        if found is None:
            raise _missing("user", name)
        return found

    def _other_admins(self, name: str) -> int:
        return sum(1 for u in self.accounts.users()
                   if u.role == "admin" and not u.disabled and u.name != name)

    def _keep_an_admin(self, user: User, action: str) -> None:
        if user.role == "admin" and not user.disabled and self._other_admins(user.name) == 0:
            raise HTTPProblem(409, "Conflict", f"{user.name} is the last enabled admin: cannot {action}",
                              field="name")

    # -- users -------------------------------------------------------------------------------------

    def create_user(self, actor: Principal, remote: str, *, name: str, role: str, password: str | None,
                    scope: Mapping[str, str] | None = None) -> tuple[User, str | None]:
        """The new user and, when no password was given, the generated one (shown once)."""
        check_user_name(name)
        check_role(role)
        checked = check_scope(scope)
        generated = generate_password() if password is None else None
        hashed = self.passwords.hash(check_password(generated or password))
        user = self.accounts.add_user(name, password_hash=hashed, role=role, scope=checked)
        if user is None:
            raise HTTPProblem(409, "Conflict", f"user {name!r} exists", field="name")
        scope_text = ",".join(f"{k}={v}" for k, v in checked.items())
        self._record(actor, "user.create", name, f"role={role}" + (f" scope={scope_text}" if checked else ""),
                     remote)
        return user, generated

    def update_user(self, actor: Principal, remote: str, name: str, *, role: str | None = None,
                    scope: Mapping[str, str] | object | None = _KEEP, disabled: bool | None = None) -> User:
        user = self._user(name)
        changes = []
        if role is not None:
            check_role(role)
            if role != "admin":
                self._keep_an_admin(user, f"become {role}")
        if disabled:
            self._keep_an_admin(user, "be disabled")
        new_scope = None if scope is _KEEP else check_scope(scope)  # type: ignore[arg-type]
        if role is not None and role != user.role:
            user = self.accounts.set_role(name, role) or user
            changes.append(f"role={role}")
        if new_scope is not None and dict(new_scope) != dict(user.scope):
            user = self.accounts.set_scope(name, new_scope) or user
            changes.append("scope=" + (",".join(f"{k}={v}" for k, v in new_scope.items()) or "(none)"))
        if disabled is not None and disabled != user.disabled:
            user = self.accounts.set_disabled(name, disabled) or user
            changes.append(f"disabled={str(disabled).lower()}")
            if disabled:
                self.accounts.close_sessions_of(name)
        if changes:
            self._record(actor, "user.update", name, " ".join(changes), remote)
        return user

    def reset_password(self, actor: Principal, remote: str, name: str,
                       password: str | None) -> tuple[User, str | None]:
        """Set a new password (generated when None, returned once) and close the user's sessions."""
        self._user(name)
        generated = generate_password() if password is None else None
        hashed = self.passwords.hash(check_password(generated or password))
        user = self.accounts.set_password(name, hashed)
        if user is None:
            raise _missing("user", name)
        closed = self.accounts.close_sessions_of(name)
        self._record(actor, "user.password", name, f"generated={str(generated is not None).lower()} "
                     f"sessions_closed={closed}", remote)
        return user, generated

    def delete_user(self, actor: Principal, remote: str, name: str) -> None:
        user = self._user(name)
        self._keep_an_admin(user, "be deleted")
        tokens = len(self.accounts.tokens(name))
        if not self.accounts.delete_user(name):
            raise _missing("user", name)
        self._record(actor, "user.delete", name, f"tokens_revoked={tokens}", remote)

    # -- tokens ------------------------------------------------------------------------------------

    def _may_manage(self, actor: Principal, owner: str) -> None:
        if actor.via == "anonymous":
            raise HTTPProblem(403, "Forbidden", "log in to manage API tokens")
        if owner != actor.name and not actor.can(Role.ADMIN):
            raise HTTPProblem(403, "Forbidden", "only admins manage other users' tokens", field="owner")

    def create_token(self, actor: Principal, remote: str, *, name: str, owner: str | None = None,
                     role: str | None = None, expires_in: str | float | None = None) -> IssuedToken:
        owner = owner or actor.name
        self._may_manage(actor, owner)
        if actor.via == "token" and not actor.can(Role.ADMIN):
            raise HTTPProblem(403, "Forbidden", "create tokens from a login session, not with a token")
        check_token_name(name)
        found = self._user(owner)
        ceiling = Role.parse(found.role)
        if owner == actor.name:
            ceiling = min(ceiling, actor.role)
        chosen = Role.parse(check_role(role)) if role is not None else ceiling
        if chosen > ceiling:
            raise HTTPProblem(403, "Forbidden", f"a token of {owner} can be at most {ceiling}, not {chosen}",
                              field="role")
        expires = None if expires_in is None else self.clock.now() + parse_duration(expires_in)
        issued = self.accounts.add_token(owner=owner, name=name, role=str(chosen), expires=expires)
        if issued is None:
            raise _missing("user", owner)
        self._record(actor, "token.create", owner, f"id={issued.token.id} name={name} role={chosen} "
                     f"expires={'never' if expires is None else int(expires)}", remote)
        return issued

    def tokens(self, actor: Principal, owner: str | None = None) -> list[Token]:
        if not actor.can(Role.ADMIN):
            self._may_manage(actor, owner or actor.name)
            owner = actor.name
        return self.accounts.tokens(owner)

    def revoke_token(self, actor: Principal, remote: str, token_id: str) -> Token:
        found = self.accounts.token(token_id)
        if found is None or (found.owner != actor.name and not actor.can(Role.ADMIN)):
            raise _missing("token", token_id)  # another's token: as if it did not exist
        self._may_manage(actor, found.owner)
        if not self.accounts.revoke_token(token_id):
            raise _missing("token", token_id)
        self._record(actor, "token.revoke", found.owner, f"id={found.id} name={found.name}", remote)
        return found
