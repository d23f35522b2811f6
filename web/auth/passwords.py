"""Password hashing with argon2 (argon2-cffi): hash, verify (with the same work for unknown users), rehash.

Used by the login (web/auth/login.py), the users API (web/auth/routes.py) and ``gitops user``
(web/cli.py); the state store keeps the hash as an opaque string. Key design choice: one
:class:`Passwords` object per process owns the argon2 parameters (the library's defaults, RFC 9106's
low-memory profile, unless a test passes cheaper ones); :meth:`Passwords.check` verifies against a
dummy hash when the user does not exist, so a login costs the same whether the name exists or not, and
says when a stored hash was made with other parameters so the caller can store a fresh one.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from gitops.errors import InputError

MIN_PASSWORD = 8
MAX_PASSWORD = 1024


def generate_password() -> str:
    """A random password of 24 URL-safe characters (144 bits)."""
    return secrets.token_urlsafe(18)


def check_password(password: object, what: str = "password") -> str:
    """``password`` if it is acceptable: a string of 8 to 1024 characters without NUL."""
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD or "\0" in password:
        raise InputError(f"a {what} must be {MIN_PASSWORD} to {MAX_PASSWORD} characters", field=what)
    return password


@dataclass(frozen=True)
class Verdict:
    ok: bool
    rehash: str | None = None    # a fresh hash to store (the stored one used other parameters)


@dataclass
class Passwords:
    hasher: PasswordHasher = field(default_factory=PasswordHasher)
    _dummy: str | None = None

    def hash(self, password: str) -> str:
        return self.hasher.hash(check_password(password))

    def _dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = self.hasher.hash(secrets.token_urlsafe(18))
        return self._dummy

    def check(self, stored: str | None, password: str) -> Verdict:
        """Does ``password`` match ``stored`` (None: no such user, checked against a dummy hash)?"""
        if not isinstance(password, str) or len(password) > MAX_PASSWORD:
            password = ""
        try:
            self.hasher.verify(stored if stored is not None else self._dummy_hash(), password)
        except (VerificationError, InvalidHashError):
            return Verdict(False)
        if stored is None:  # pragma: no cover - a random dummy password is never guessed
            return Verdict(False)
        if self.hasher.check_needs_rehash(stored):
            return Verdict(True, self.hasher.hash(password))
        return Verdict(True)

    @staticmethod
    def is_hash(value: str) -> bool:
        return value.startswith("$argon2")
