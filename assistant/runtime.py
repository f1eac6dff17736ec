"""Wiring from settings to the objects surfaces use: the store, a loaded engine, the Assistant."""

from __future__ import annotations

from .catalog import load_catalog
from .settings import Settings
from .store import ModelStore


def open_store(settings: Settings) -> ModelStore:
    return ModelStore(settings.models_dir, load_catalog(settings.catalog))
