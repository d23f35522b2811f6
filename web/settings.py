"""Settings of the web server, read once from the environment (names in :mod:`gitops.env`).

Called by :func:`web.wiring.production_context`; tests build :class:`WebSettings` directly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from gitops.env import (
    ENV_WEB_ANONYMOUS,
    ENV_WEB_MAX_BODY,
    ENV_WEB_REPLAY_SECONDS,
    ENV_WEB_SECURE_COOKIES,
    ENV_WEB_SESSION_SECONDS,
)
from gitops.errors import ConfigError, Problem


@dataclass(frozen=True)
class WebSettings:
    anonymous_viewer: bool = False
    secure_cookies: bool = True
    max_body: int = 1 << 20
    session_seconds: float = 12 * 3600.0
    replay_seconds: float = 24 * 3600.0

    @staticmethod
    def from_env() -> WebSettings:
        def number(name: str, default: float, low: float, high: float) -> float:
            raw = os.environ.get(name)
            if raw is None or raw == "":
                return default
            try:
                value = float(raw)
            except ValueError:
                value = float("nan")
            if not low <= value <= high:
                raise ConfigError([Problem(f"{name}={raw!r}: expected a number from {low:g} to {high:g}",
                                           field=name)])
            return value

        anonymous = os.environ.get(ENV_WEB_ANONYMOUS, "")
        if anonymous not in ("", "viewer"):
            raise ConfigError([Problem(f"{ENV_WEB_ANONYMOUS}={anonymous!r}: expected 'viewer' or unset",
                                       field=ENV_WEB_ANONYMOUS)])
        secure = os.environ.get(ENV_WEB_SECURE_COOKIES, "1")
        if secure not in ("0", "1"):
            raise ConfigError([Problem(f"{ENV_WEB_SECURE_COOKIES}={secure!r}: expected 0 or 1",
                                       field=ENV_WEB_SECURE_COOKIES)])
        return WebSettings(
            anonymous_viewer=anonymous == "viewer", secure_cookies=secure == "1",
            max_body=int(number(ENV_WEB_MAX_BODY, 1 << 20, 1024, 64 << 20)),
            session_seconds=number(ENV_WEB_SESSION_SECONDS, 12 * 3600.0, 60, 30 * 86400),
            replay_seconds=number(ENV_WEB_REPLAY_SECONDS, 24 * 3600.0, 60, 30 * 86400))
