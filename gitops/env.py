"""Every environment variable the engine reads (the core, the workers and the web app), in one place.

Callers import the constant; no other module spells a ``GITOPS_*`` name as a string literal (tests and
scripts that set one for a child process may). docs/operations.md has the same list as a table, with
the defaults. Variables named by the configuration (credentials' ``passwordEnv``, ``tokenEnv``...) are
the user's, not listed here.
"""

from __future__ import annotations

from typing import Final

# --- the CLI -----------------------------------------------------------------------------------------
# How the user starts the CLI, for the commands printed as hints (scripts/gitops exports it as typed).
ENV_PROGRAM: Final = "GITOPS_PROGRAM"
# The configuration file or directory when no -c is given (and what gitops up passes to its children).
ENV_CONFIG: Final = "GITOPS_CONFIG"
# The Git cache of the CLI's source, render and diff commands (else $XDG_CACHE_HOME/gitops).
ENV_CACHE_DIR: Final = "GITOPS_CACHE_DIR"
# The standard per-user cache directory, read when GITOPS_CACHE_DIR is not set.
ENV_XDG_CACHE_HOME: Final = "XDG_CACHE_HOME"

# --- state and the workers ---------------------------------------------------------------------------
# The Redis of the state store, the Celery broker and result backend; set: gitops sync enqueues there.
# redis://, rediss://, unix:// or redis+sentinel://HOST:PORT,.../MASTER/DB (gitops/state/connect.py).
ENV_REDIS_URL: Final = "GITOPS_REDIS_URL"
# The data directory of gitops up (embedded Redis, Git caches).
ENV_DATA_DIR: Final = "GITOPS_DATA_DIR"
# "module:factory" building the workers' Runtime instead of the production one (tests, benchmarks).
ENV_RUNTIME: Final = "GITOPS_RUNTIME"
# Seconds before a task a worker took but never acknowledged is delivered again.
ENV_VISIBILITY_TIMEOUT: Final = "GITOPS_VISIBILITY_TIMEOUT"
# How often (seconds) a worker looks for the unacknowledged tasks of dead workers.
ENV_RESTORE_INTERVAL: Final = "GITOPS_RESTORE_INTERVAL"
# Per-task soft and hard time limits (seconds).
ENV_SOFT_TIME_LIMIT: Final = "GITOPS_SOFT_TIME_LIMIT"
ENV_HARD_TIME_LIMIT: Final = "GITOPS_HARD_TIME_LIMIT"
# The per-target lease (seconds), renewed every third of it while a reconcile runs.
ENV_LOCK_TTL: Final = "GITOPS_LOCK_TTL"
# Expiry (seconds) of the queued/running marks that coalesce triggers.
ENV_SCHED_TTL: Final = "GITOPS_SCHED_TTL"
# Delay (seconds) of the follow-up run for triggers that came during a run.
ENV_DEBOUNCE: Final = "GITOPS_DEBOUNCE"
# Retry backoff of temporary failures: first delay, cap (seconds) and number of retries.
ENV_RETRY_BASE: Final = "GITOPS_RETRY_BASE"
ENV_RETRY_MAX: Final = "GITOPS_RETRY_MAX"
ENV_RETRY_LIMIT: Final = "GITOPS_RETRY_LIMIT"
# Self-heal: every target is reconciled again this often (seconds).
ENV_RESYNC_SECONDS: Final = "GITOPS_RESYNC_SECONDS"
# After a sync that left a target Progressing, look at it again after this many seconds, doubling,
# up to six times (0: only at the next resync).
ENV_HEALTH_RECHECK: Final = "GITOPS_HEALTH_RECHECK"
# The beat's loop period and its leader lock (seconds).
ENV_BEAT_TICK: Final = "GITOPS_BEAT_TICK"
ENV_BEAT_LOCK_TTL: Final = "GITOPS_BEAT_LOCK_TTL"
# How often (seconds) the beat sends one controller pass per ApplicationSet.
ENV_APPSET_INTERVAL: Final = "GITOPS_APPSET_INTERVAL"

# --- image verification (gitops/verify) --------------------------------------------------------------
# A Docker config.json holding registry credentials ("auths"), read when a registry asks for them.
ENV_REGISTRY_AUTH: Final = "GITOPS_REGISTRY_AUTH"
# Registries (host:port, comma-separated) reached over plain HTTP: loopback ones only (tests, local).
ENV_REGISTRY_PLAIN_HTTP: Final = "GITOPS_REGISTRY_PLAIN_HTTP"
# Seconds a verdict that allowed an image is reused (and a tag's digest; default 300).
ENV_VERIFY_TTL: Final = "GITOPS_VERIFY_TTL"
# Seconds a refusal is reused (default 30): signing an image takes effect within it.
ENV_VERIFY_REFUSED_TTL: Final = "GITOPS_VERIFY_REFUSED_TTL"

# --- the web server (web/) ---------------------------------------------------------------------------
# Anonymous visitors may read (dashboard and GET API) when set to "viewer"; unset: everyone logs in.
ENV_WEB_ANONYMOUS: Final = "GITOPS_WEB_ANONYMOUS"
# "0" drops the Secure flag of the session cookie (plain-HTTP deployments behind no TLS; never default).
ENV_WEB_SECURE_COOKIES: Final = "GITOPS_WEB_SECURE_COOKIES"
# Largest request body accepted (bytes; webhooks and forms), default 1 MiB; larger ones get 413.
ENV_WEB_MAX_BODY: Final = "GITOPS_WEB_MAX_BODY"
# Session lifetime (seconds), default 12 hours.
ENV_WEB_SESSION_SECONDS: Final = "GITOPS_WEB_SESSION_SECONDS"
# How long (seconds) a webhook delivery id is remembered to refuse replays, default 24 hours.
ENV_WEB_REPLAY_SECONDS: Final = "GITOPS_WEB_REPLAY_SECONDS"
# Where `gitops up` writes the first admin's generated password when it creates one (a file, 0600).
ENV_WEB_ADMIN_PASSWORD_FILE: Final = "GITOPS_WEB_ADMIN_PASSWORD_FILE"
# OpenTelemetry: spans of every operation are exported over OTLP/HTTP when this endpoint is set
# (the standard OpenTelemetry variable; the SDK reads the other OTEL_* variables itself).
ENV_OTEL_ENDPOINT: Final = "OTEL_EXPORTER_OTLP_ENDPOINT"
