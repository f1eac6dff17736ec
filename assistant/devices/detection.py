"""Which device is this? Jetson from its release file or device tree, NVIDIA GPUs through NVML, else the host CPU.

Every file is read under a `root` directory so tests can lay out a fake `/etc/nv_tegra_release` and
`/proc/device-tree/model` in a temporary folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .host import host_memory, host_profile
from .profile import DeviceProfile, load_profiles, match_profile


@dataclass(frozen=True)
class GpuInfo:
    """One NVIDIA GPU as NVML reports it."""

    name: str
    """Marketing name, e.g. `NVIDIA L4`."""
    memory_total: int
    """VRAM in bytes."""
    memory_free: int
    """Free VRAM in bytes right now."""
    compute_capability: str
    """E.g. `8.9`."""
    driver: str
    """Driver version."""


def jetson_model(root: Path = Path("/")) -> str | None:
    """The Jetson's model string, or None when this is not a Jetson."""
    model_file = root / "proc/device-tree/model"
    model = None
    try:
        model = model_file.read_bytes().rstrip(b"\x00\n").decode("utf-8", errors="replace").strip() or None
    except OSError:
        pass
    release = root / "etc/nv_tegra_release"
    if model and re.search(r"jetson|orin|tegra|xavier", model, re.IGNORECASE):
        return model
    if release.is_file():
        return model or "NVIDIA Jetson (unknown model)"
    return None


def tegra_release(root: Path = Path("/")) -> str | None:
    """The L4T release line (`# R36 (release), REVISION: 4.0, ...`), or None."""
    try:
        return (root / "etc/nv_tegra_release").read_text(encoding="utf-8", errors="replace").splitlines()[0].strip()
    except (OSError, IndexError):
        return None


def meminfo(root: Path = Path("/")) -> tuple[int, int] | None:
    """(MemTotal, MemAvailable) in bytes from `<root>/proc/meminfo`, or None if unreadable."""
    try:
        text = (root / "proc/meminfo").read_text(encoding="utf-8")
    except OSError:
        return None
    values = {}
    for line in text.splitlines():
        m = re.match(r"(\w+):\s+(\d+)\s*kB", line)
        if m:
            values[m.group(1)] = int(m.group(2)) * 1024
    if "MemTotal" not in values:
        return None
    return values["MemTotal"], values.get("MemAvailable", values.get("MemFree", values["MemTotal"]))


def nvml_gpus() -> list[GpuInfo]:
    """GPUs NVML can see; empty when `nvidia-ml-py` is missing or there is no driver."""
    try:
        import pynvml
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - NVMLError_LibraryNotFound, DriverNotLoaded, ...: all mean "no GPU here"
        return []
    try:
        gpus = []
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            mem = pynvml.nvmlDeviceGetMemoryInfo(handle)
            major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)
            gpus.append(GpuInfo(name=_text(pynvml.nvmlDeviceGetName(handle)), memory_total=int(mem.total),
                                memory_free=int(mem.free), compute_capability=f"{major}.{minor}", driver=driver))
        return gpus
    except Exception:  # noqa: BLE001 - a half-working driver is reported as no GPU, doctor says more
        return []
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:  # noqa: BLE001
            pass


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def detect(home: Path, *, root: Path = Path("/"), use_nvml: bool = True, reserve_os_bytes: int | None = None,
           host_bandwidth_gbs: float | None = None, gpus: list[GpuInfo] | None = None) -> DeviceProfile:
    """The profile of the machine under `root`: a Jetson, else the first NVIDIA GPU, else the host CPU."""
    profiles = load_profiles()
    model = jetson_model(root)
    if model is not None:
        return _jetson(profiles, model, root, home, reserve_os_bytes)
    found = gpus if gpus is not None else (nvml_gpus() if use_nvml else [])
    if found:
        return _gpu(profiles, found[0], home, host_bandwidth_gbs)
    return host_profile(home, bandwidth_gbs=host_bandwidth_gbs, reserve_os_bytes=reserve_os_bytes, root=root)


def _jetson(profiles: dict[str, DeviceProfile], model: str, root: Path, home: Path,
            reserve_os_bytes: int | None) -> DeviceProfile:
    mem = meminfo(root)
    total = mem[0] if mem else None
    table = match_profile(profiles, model, total, "jetson")
    details = {"device_tree_model": model, "l4t": tegra_release(root) or "unknown"}
    if table is None:
        # An unknown Jetson still gets planned, on its own memory and a conservative bandwidth (the Orin Nano's).
        base = profiles["orin-nano-8gb"]
        table = replace(base, id="jetson-unknown", name=model, match=())
    live = replace(table, details=details, source="detected")
    if mem:
        live = replace(live, memory_bytes=mem[0], available_bytes=mem[1])
    return live.with_reserve(reserve_os_bytes)


def _gpu(profiles: dict[str, DeviceProfile], gpu: GpuInfo, home: Path,
         host_bandwidth_gbs: float | None) -> DeviceProfile:
    table = match_profile(profiles, gpu.name, None, "gpu")
    details = {"gpu": gpu.name, "driver": gpu.driver, "compute_capability": gpu.compute_capability}
    arch = gpu.compute_capability.replace(".", "")
    if table is None:
        # Unknown GPU: plan on its real memory; bandwidth unknown, so take the slowest table GPU's (a low bound).
        slowest = min((p for p in profiles.values() if p.kind == "gpu"), key=lambda p: p.bandwidth_gbs)
        table = replace(slowest, id="gpu-unknown", name=gpu.name, match=())
    host_total, _ = host_memory()
    return replace(table, memory_bytes=gpu.memory_total, available_bytes=gpu.memory_free, cuda_arch=arch,
                   host_memory_bytes=host_total, host_bandwidth_gbs=host_bandwidth_gbs, details=details,
                   source="detected")
