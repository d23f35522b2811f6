"""Celery app, tasks and schedule. Thin: each task takes IDs and calls one gitops function."""
