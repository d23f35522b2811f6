"""Pinned trust material (package data): see README.md in this directory."""
