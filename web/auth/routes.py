"""Login, logout, users and API tokens (placeholder router until the access-control work lands)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
