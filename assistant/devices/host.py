"""The host CPU as a device: RAM from psutil and a measured memory bandwidth, cached under $HEARTH_HOME."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

from .profile import DeviceProfile

# Big enough to defeat the last-level cache of any CPU Hearth targets, small enough to run in about a second.
_BENCH_BYTES = 256 * 1024 * 1024
_BENCH_REPEATS = 5
_BENCH_DEADLINE_S = 5.0
# The OS and other programs need some RAM even on a server; the planner keeps this much free by default.
HOST_RESERVE_BYTES = 1_000_000_000
# The Python process with Hearth and llama.cpp loaded (interpreter, libraries, tokenizer tables): ~78 MiB here.
HOST_OVERHEAD_BYTES = 80 * 1024 * 1024


def cpu_model(root: Path = Path("/")) -> str:
    """The CPU's marketing name from /proc/cpuinfo (or the platform's processor string)."""
    try:
        for line in (root / "proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def measure_bandwidth_gbs(n_bytes: int = _BENCH_BYTES, repeats: int = _BENCH_REPEATS) -> float:
    """Memory bandwidth of a large numpy copy, counting bytes read plus bytes written (GB/s, best of `repeats`).

    A copy reads and writes each byte once, like STREAM's `copy` kernel; decode reads weights only, so this is a
    slightly optimistic stand-in, which is what an upper bound wants."""
    import numpy as np

    src = np.ones(n_bytes // 8, dtype=np.float64)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # fault the pages in before timing
    best = float("inf")
    deadline = time.perf_counter() + _BENCH_DEADLINE_S
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t0)
        if time.perf_counter() > deadline:
            break
    return 2 * src.nbytes / best / 1e9


def cached_bandwidth_gbs(home: Path, remeasure: bool = False) -> float:
    """The host's bandwidth, measured once per machine and CPU and kept in `$HEARTH_HOME/devices/host.json`."""
    cache = Path(home) / "devices" / "host.json"
    key = f"{platform.node()}|{cpu_model()}|{os.cpu_count()}"
    if not remeasure:
        try:
            data = json.loads(cache.read_text(encoding="utf-8"))
            if data.get("key") == key and float(data["bandwidth_gbs"]) > 0:
                return float(data["bandwidth_gbs"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
    gbs = measure_bandwidth_gbs()
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(json.dumps({"key": key, "bandwidth_gbs": round(gbs, 2), "measured_at": time.time()}),
                       encoding="utf-8")
        os.replace(tmp, cache)
    except OSError:
        pass  # a read-only home still gets a correct (just unremembered) number
    return gbs


def host_memory() -> tuple[int, int]:
    """(total, available) RAM in bytes."""
    import psutil

    vm = psutil.virtual_memory()
    return int(vm.total), int(vm.available)


def host_profile(home: Path, *, bandwidth_gbs: float | None = None, reserve_os_bytes: int | None = None,
                 root: Path = Path("/")) -> DeviceProfile:
    """This machine's CPU and RAM as a profile. `bandwidth_gbs` skips the measurement (tests, known hosts)."""
    total, available = host_memory()
    gbs = bandwidth_gbs if bandwidth_gbs is not None else cached_bandwidth_gbs(home)
    return DeviceProfile(
        id="host-cpu", name=f"Host CPU ({cpu_model(root)}, {os.cpu_count()} threads)", kind="cpu",
        memory_bytes=total, unified_memory=True, bandwidth_gbs=round(gbs, 2),
        reserve_os_bytes=HOST_RESERVE_BYTES if reserve_os_bytes is None else reserve_os_bytes,
        overhead_bytes=HOST_OVERHEAD_BYTES, available_bytes=available, source="measured",
        details={"cpu": cpu_model(root), "threads": str(os.cpu_count())})
