"""Dashboard pages (placeholder until the dashboard work lands)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

router = APIRouter()


def mount_static(app: FastAPI) -> None:
    """Serve the dashboard's CSS and JavaScript under /static."""
