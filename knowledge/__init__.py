"""Lessons index: models, lifecycle, storage, search and importers (no platform code)."""
