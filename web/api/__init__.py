"""The JSON API under /api/v1 (owned by the API work: targets, applications, commits, clusters,
operations and traces, actions, the event stream). Placeholder router until it lands."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
