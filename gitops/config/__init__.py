"""The declarative configuration: Repositories, Clusters, Applications, WebhookReceivers (and reserved
kinds).

``load_config(path)`` reads one YAML file or a directory of them (``apiVersion: gitops.dev/v1alpha1``,
Kubernetes-style ``kind``/``metadata``/``spec``) and returns a frozen :class:`Config`, or raises
:class:`gitops.errors.ConfigError` listing every problem as ``file:line:column: field: message``.
Callers: ``gitops validate`` and every command, worker and web handler that needs the configuration;
``to_fleet(config)`` converts it to the engine's values (:mod:`gitops.domain`).
Pydantic validates at this trust boundary only; the rest of the engine reads the resulting models.
See docs/configuration.md.
"""

from __future__ import annotations

from gitops.config.application import (
    Application,
    ApplicationSet,
    AppSource,
    Destination,
    IgnoreRule,
    RetryPolicy,
    SyncPolicy,
)
from gitops.config.config import Config
from gitops.config.durations import format_duration, parse_duration
from gitops.config.fleet import to_fleet
from gitops.config.loader import API_VERSION, KINDS, load_config
from gitops.config.models import Cluster, Repository, RepositoryCredentials
from gitops.config.receivers import SecretRef, WebhookReceiver
from gitops.config.urls import Transport
from gitops.config.verification import VerificationPolicy

__all__ = [
    "API_VERSION",
    "KINDS",
    "AppSource",
    "Application",
    "ApplicationSet",
    "Cluster",
    "Config",
    "Destination",
    "IgnoreRule",
    "Repository",
    "RepositoryCredentials",
    "RetryPolicy",
    "SecretRef",
    "SyncPolicy",
    "Transport",
    "VerificationPolicy",
    "WebhookReceiver",
    "format_duration",
    "load_config",
    "parse_duration",
    "to_fleet",
]
