"""/healthz, /readyz and /metrics (placeholder router until the API work lands)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
