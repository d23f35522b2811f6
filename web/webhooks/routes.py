"""POST /api/v1/webhooks/{provider} (placeholder router until the webhook work lands)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
