"""Device profiles: what the memory planner needs to know about a machine, read from `profiles.toml`."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from ..errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PROFILES_PATH = Path(__file__).resolve().parent / "profiles.toml"
DeviceKind = Literal["cpu", "gpu", "jetson"]


@dataclass(frozen=True)
class DeviceProfile:
    """One device: its memory, bandwidth and how the model shares that memory."""

    id: str
    """Profile id used on the command line, e.g. `orin-nano-8gb`, `l4`, `host-cpu`."""
    name: str
    """Human-readable name."""
    kind: DeviceKind
    """`cpu` (host RAM only), `gpu` (discrete NVIDIA GPU) or `jetson` (unified-memory Tegra SoC)."""
    memory_bytes: int
    """Total memory of the device the model runs in (VRAM for `gpu`, shared RAM for `jetson`, RAM for `cpu`)."""
    unified_memory: bool
    """CPU and GPU share `memory_bytes`; the OS and other processes take from the same pool."""
    bandwidth_gbs: float
    """Peak (or, for the host CPU, measured) memory bandwidth in GB/s; bounds decode speed."""
    cuda_arch: str | None = None
    """CUDA compute capability without the dot (`87`, `89`, `90`), None for a CPU."""
    reserve_os_bytes: int = 0
    """Memory the OS, desktop and other processes keep on a unified-memory device (or host RAM kept free)."""
    overhead_bytes: int = 0
    """Runtime overhead in the device's memory: CUDA context and libraries, the Python process."""
    match: tuple[str, ...] = ()
    """Substrings of the Jetson device-tree model or NVML GPU name that identify this device."""
    match_memory_max_bytes: int | None = None
    """When several profiles match a name, the one whose limit is the smallest at or above the real memory wins."""
    available_bytes: int | None = None
    """Memory actually free for Hearth, measured at detection on this machine (None for table profiles)."""
    host_memory_bytes: int | None = None
    """Host RAM beside a discrete GPU (for layers left on the CPU); None when unknown."""
    host_bandwidth_gbs: float | None = None
    """Host RAM bandwidth beside a discrete GPU (bounds layers left on the CPU); None when unknown."""
    source: str = "table"
    """Where the numbers come from: `table`, `detected` (live memory) or `measured` (bandwidth benchmark)."""
    details: dict[str, str] = field(default_factory=dict, compare=False)
    """Facts seen at detection (device-tree model, GPU name, driver), for `hearth doctor`."""

    @property
    def budget_bytes(self) -> int:
        """Memory a model may use: total less the OS reserve, and no more than what is free right now."""
        budget = self.memory_bytes - self.reserve_os_bytes
        if self.available_bytes is not None:
            budget = min(budget, self.available_bytes)
        return max(0, budget)

    @property
    def has_gpu(self) -> bool:
        return self.kind in ("gpu", "jetson")

    def with_reserve(self, reserve_os_bytes: int | None) -> DeviceProfile:
        """The same profile with the OS reserve overridden (settings win over the table)."""
        return self if reserve_os_bytes is None else replace(self, reserve_os_bytes=reserve_os_bytes)


_INT_FIELDS = ("memory_bytes", "reserve_os_bytes", "overhead_bytes")


def load_profiles(path: Path | None = None) -> dict[str, DeviceProfile]:
    """All table profiles by id; a malformed entry is a ConfigError naming it."""
    path = path or PROFILES_PATH
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read device profiles {path}: {exc}") from None
    profiles = {}
    for pid, spec in raw.get("profiles", {}).items():
        try:
            spec = dict(spec)
            spec["match"] = tuple(spec.get("match", ()))
            for key in _INT_FIELDS:
                spec[key] = int(spec.get(key, 0))
            profiles[pid] = DeviceProfile(id=pid, **spec)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"device profile '{pid}' in {path} is malformed: {exc}") from None
        if profiles[pid].kind not in ("cpu", "gpu", "jetson"):
            raise ConfigError(f"device profile '{pid}' in {path}: unknown kind {profiles[pid].kind!r}")
    return profiles


def match_profile(profiles: dict[str, DeviceProfile], name: str, memory_bytes: int | None,
                  kind: DeviceKind) -> DeviceProfile | None:
    """The table profile whose `match` strings best fit a device name (longest match; then the memory limit)."""
    lowered = name.lower()
    scored = []
    for p in profiles.values():
        if p.kind != kind:
            continue
        hits = [m for m in p.match if _word_in(m.lower(), lowered)]
        if not hits:
            continue
        limit = p.match_memory_max_bytes
        if memory_bytes is not None and limit is not None and memory_bytes > limit:
            continue
        scored.append((-max(len(m) for m in hits), limit or 0, p.id, p))
    return min(scored, key=lambda s: s[:3])[3] if scored else None


def _word_in(needle: str, haystack: str) -> bool:
    # "L4" must not match "L40S": require non-alphanumeric neighbours.
    start = haystack.find(needle)
    while start >= 0:
        end = start + len(needle)
        before = haystack[start - 1] if start else " "
        after = haystack[end] if end < len(haystack) else " "
        if not before.isalnum() and not after.isalnum():
            return True
        start = haystack.find(needle, start + 1)
    return False
