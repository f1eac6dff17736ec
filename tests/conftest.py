"""Shared fixtures: the real default model, fetched once into the store."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from assistant.settings import DEFAULT_MODEL, default_home, load_settings
from tests.threads import ENV as THREAD_ENV
from tests.threads import THREADS

# Tests must not pick up a developer's HEARTH_* environment, except where the model cache lives and the knobs of
# the suite's own depth (the soak's length, the fuzzer's examples per operation, the sampled tool calls, the calls
# of the calibration fit), which CI sets per interpreter.
_KEPT = ("HEARTH_HOME", "HEARTH_TEST_HOME", "HEARTH_SOAK_S", "HEARTH_FUZZ_EXAMPLES", "HEARTH_TOOL_CALLS",
         "HEARTH_TOOL_FIT_CALLS")
for _key in [k for k in os.environ if k.startswith("HEARTH_") and k not in _KEPT]:
    del os.environ[_key]
# Every engine and speech model the suite starts, in this process or a child, keeps to this worker's threads.
os.environ.update(THREAD_ENV)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules that hold a `slow` test run first. scripts/test.sh's xdist workers take whole modules (`--dist
    loadfile`) in collection order, and a minute-long module handed out last would leave one worker running alone
    while the other idles. The sort is stable: the order within a module, and of the rest, is kept."""
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow)


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


@pytest.fixture(scope="module")
def store_home(tmp_path_factory: pytest.TempPathFactory, default_model_path: Path) -> Path:
    """A HEARTH_HOME of this test module whose store holds the default model (hard-linked, no second download)."""
    from tests.hearth_cli import home_with_default_model

    return home_with_default_model(tmp_path_factory.mktemp("home"), default_model_path)


@pytest.fixture(scope="session")
def engine(default_model_path: Path):
    """One loaded engine on the real default model for the whole test session (n_ctx 2048, `THREADS` threads)."""
    from assistant.runtime import load_engine

    settings = load_settings(model=str(default_model_path), engine={"n_ctx": 2048, "n_threads": THREADS})
    eng = load_engine(settings)
    yield eng
    eng.close()


@dataclass(frozen=True)
class Machine:
    """This machine's accelerators, found without Hearth's own detection (so tests can check that detection)."""

    gpus: tuple[str, ...]
    """NVIDIA GPU names as `nvidia-smi` lists them; empty without a driver."""
    jetson: bool
    """An L4T release file is present."""
    llama_gpu_offload: bool
    """The installed llama.cpp was built with a GPU backend."""
    nvml: bool
    """`nvidia-ml-py` (Hearth's way to see discrete GPUs) is importable."""

    @property
    def has_gpu(self) -> bool:
        return bool(self.gpus) or self.jetson


def _smi_gpus() -> tuple[str, ...]:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return ()
    try:
        proc = subprocess.run([smi, "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True,
                              timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ()
    return tuple(line.strip() for line in proc.stdout.splitlines() if line.strip()) if proc.returncode == 0 else ()


@pytest.fixture(scope="session")
def machine() -> Machine:
    import importlib.util

    import llama_cpp

    return Machine(gpus=_smi_gpus(), jetson=Path("/etc/nv_tegra_release").is_file(),
                   llama_gpu_offload=bool(llama_cpp.llama_supports_gpu_offload()),
                   nvml=importlib.util.find_spec("pynvml") is not None)
