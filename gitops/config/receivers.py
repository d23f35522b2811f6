"""The ``WebhookReceiver`` kind: which Git host may trigger refreshes, and with which secret.

Called by the loader (:mod:`gitops.config.loader`), which validates ``spec`` against
:class:`WebhookReceiverSpec` and checks that every name in ``spec.repositories`` is a configured
``Repository``; ``gitops.config.to_fleet`` converts the public model into
:class:`gitops.domain.WebhookReceiver`, which the web layer's receivers (``web/webhooks``) read.
Key design choice: the secret is a reference only (``secretRef: {env: NAME}`` or ``{file: PATH}``),
read when a delivery is verified, never at load time; an inline ``secret:`` is refused with a message
saying how to reference it (:mod:`gitops.config.problems`).
"""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import AfterValidator, BeforeValidator, model_validator

from gitops.config.fields import EnvVar, LocalPath, Model, Name
from gitops.domain import WebhookProvider

MAX_REPOSITORIES = 10_000


def _tuple(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


def _unique(value: tuple[str, ...]) -> tuple[str, ...]:
    if len(value) > MAX_REPOSITORIES:
        raise ValueError(f"at most {MAX_REPOSITORIES} repositories")
    if len(set(value)) != len(value):
        raise ValueError("lists a repository more than once")
    return value


RepositoryNames = Annotated[tuple[Name, ...], BeforeValidator(_tuple), AfterValidator(_unique)]


class SecretRef(Model):
    """``spec.secretRef``: the name of an environment variable or a file path holding the secret."""

    env: EnvVar | None = None
    """Name of an environment variable holding the secret."""
    file: LocalPath | None = None
    """Path of a file holding the secret."""

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.env is None) == (self.file is None):
            raise ValueError("set exactly one of env (an environment variable name) or file (a path)")
        return self


class WebhookReceiverSpec(Model):
    """``spec`` of a ``WebhookReceiver``."""

    provider: WebhookProvider
    """The Git host's format: the receiver serves ``/api/v1/webhooks/<provider>``."""
    secret_ref: SecretRef
    """Where the shared secret is (docs/webhooks.md)."""
    repositories: RepositoryNames | None = None
    """Repositories whose applications deliveries may trigger (None: every repository)."""


class WebhookReceiver(WebhookReceiverSpec):
    """A webhook receiver: ``name`` from metadata plus the validated spec."""

    name: Name
