"""Shared fixtures: the real default model, fetched once into the store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from assistant.settings import DEFAULT_MODEL, default_home, load_settings

# Tests must not pick up a developer's HEARTH_* environment (except where the model cache lives).
for _key in [k for k in os.environ if k.startswith("HEARTH_") and k not in ("HEARTH_HOME", "HEARTH_TEST_HOME")]:
    del os.environ[_key]


@pytest.fixture(scope="session")
def model_home() -> Path:
    """The store that holds the real default model (pulled once if missing)."""
    return Path(os.environ.get("HEARTH_TEST_HOME") or default_home())


@pytest.fixture(scope="session")
def default_model_path(model_home: Path) -> Path:
    from assistant.runtime import open_store

    store = open_store(load_settings(home=model_home))
    stored = store.get(DEFAULT_MODEL) or store.pull(DEFAULT_MODEL)
    return stored.path


@pytest.fixture(scope="session")
def engine(default_model_path: Path):
    """One loaded engine on the real default model for the whole test session (n_ctx 2048, 2 threads)."""
    from assistant.runtime import load_engine

    settings = load_settings(model=str(default_model_path), engine={"n_ctx": 2048, "n_threads": 2})
    eng = load_engine(settings)
    yield eng
    eng.close()
