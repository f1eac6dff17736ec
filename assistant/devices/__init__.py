"""Device profiles (Jetson Orin family, L4, H100/H200, the host CPU) and detection of the one Hearth runs on."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError
from .detection import GpuInfo, detect, jetson_model, nvml_gpus
from .host import host_profile
from .profile import DeviceProfile, load_profiles

if TYPE_CHECKING:
    from ..settings import Settings

HOST_PROFILE_ID = "host-cpu"

__all__ = [
    "HOST_PROFILE_ID",
    "DeviceProfile",
    "GpuInfo",
    "all_profiles",
    "detect",
    "detect_profile",
    "get_profile",
    "jetson_model",
    "load_profiles",
    "nvml_gpus",
]


def get_profile(profile_id: str, home: Path, *, reserve_os_bytes: int | None = None,
                host_bandwidth_gbs: float | None = None) -> DeviceProfile:
    """A profile by id: a table profile, or `host-cpu` (this machine, measured)."""
    if profile_id == HOST_PROFILE_ID:
        return host_profile(home, bandwidth_gbs=host_bandwidth_gbs, reserve_os_bytes=reserve_os_bytes)
    profiles = load_profiles()
    if profile_id not in profiles:
        known = ", ".join([HOST_PROFILE_ID, *sorted(profiles)])
        raise ConfigError(f"unknown device profile '{profile_id}'; known profiles: {known}", param="device")
    return profiles[profile_id].with_reserve(reserve_os_bytes)


def all_profiles(home: Path, *, host_bandwidth_gbs: float | None = None) -> list[DeviceProfile]:
    """Every table profile, then this host's CPU."""
    table = list(load_profiles().values())
    return [*table, host_profile(home, bandwidth_gbs=host_bandwidth_gbs)]


def detect_profile(settings: Settings) -> DeviceProfile:
    """The active device: `settings.device.profile` when set, else detected on this machine."""
    dev = settings.device
    if dev.profile != "auto":
        return get_profile(dev.profile, settings.home, reserve_os_bytes=dev.reserve_os_bytes,
                           host_bandwidth_gbs=dev.host_bandwidth_gbs)
    return detect(settings.home, reserve_os_bytes=dev.reserve_os_bytes, host_bandwidth_gbs=dev.host_bandwidth_gbs)
