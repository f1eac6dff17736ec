"""Device detection from fake /etc/nv_tegra_release, device-tree and meminfo files in a temporary root."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.devices import GpuInfo, detect, detect_profile, get_profile, load_profiles
from assistant.errors import ConfigError
from assistant.settings import load_settings

L4T = "# R36 (release), REVISION: 4.0, GCID: 37537400, BOARD: generic, EABI: aarch64, DATE: Fri Sep 13 04:36:44 UTC 2024\n"


def fake_root(tmp_path: Path, model: str | None, mem_kb: int, release: bool = True, avail_kb: int | None = None) -> Path:
    root = tmp_path / "root"
    (root / "proc/device-tree").mkdir(parents=True)
    (root / "etc").mkdir()
    if model is not None:
        (root / "proc/device-tree/model").write_bytes(model.encode() + b"\x00")
    if release:
        (root / "etc/nv_tegra_release").write_text(L4T)
    avail = avail_kb if avail_kb is not None else mem_kb - 1_000_000
    (root / "proc/meminfo").write_text(f"MemTotal:       {mem_kb} kB\nMemFree:  1000 kB\nMemAvailable:   {avail} kB\n")
    return root


@pytest.mark.parametrize("model,mem_kb,expected", [
    ("NVIDIA Jetson Orin Nano Developer Kit", 7_620_000, "orin-nano-8gb"),
    ("NVIDIA Jetson Orin Nano Engineering Reference Developer Kit Super", 7_620_000, "orin-nano-8gb-super"),
    ("NVIDIA Jetson Orin NX Engineering Reference Developer Kit", 15_660_000, "orin-nx-16gb"),
    ("NVIDIA Jetson Orin NX Engineering Reference Developer Kit", 7_620_000, "orin-nx-8gb"),
    ("Jetson AGX Orin Developer Kit", 30_700_000, "agx-orin-32gb"),
    ("NVIDIA Jetson AGX Orin Developer Kit", 62_800_000, "agx-orin-64gb"),
])
def test_jetson_models(tmp_path, model, mem_kb, expected):
    p = detect(tmp_path, root=fake_root(tmp_path, model, mem_kb), gpus=[])
    assert p.id == expected
    assert p.kind == "jetson" and p.unified_memory and p.cuda_arch == "87"
    # live memory replaces the table's, and the OS reserve is taken off the budget
    assert p.memory_bytes == mem_kb * 1024
    assert p.budget_bytes == min(mem_kb * 1024 - p.reserve_os_bytes, (mem_kb - 1_000_000) * 1024)
    assert p.details["l4t"].startswith("# R36")


def test_jetson_from_release_file_alone_and_reserve_override(tmp_path):
    root = fake_root(tmp_path, None, 7_620_000)
    p = detect(tmp_path, root=root, gpus=[], reserve_os_bytes=3_000_000_000)
    assert p.kind == "jetson" and p.id == "jetson-unknown"
    assert p.reserve_os_bytes == 3_000_000_000


def test_busy_jetson_budget_is_what_is_free(tmp_path):
    root = fake_root(tmp_path, "NVIDIA Jetson Orin Nano Developer Kit", 7_620_000, avail_kb=2_000_000)
    assert detect(tmp_path, root=root, gpus=[]).budget_bytes == 2_000_000 * 1024


def test_device_tree_without_jetson_is_not_a_jetson(tmp_path):
    root = fake_root(tmp_path, "Raspberry Pi 5 Model B Rev 1.0", 8_000_000, release=False)
    p = detect(tmp_path, root=root, gpus=[], host_bandwidth_gbs=12.5)
    assert p.id == "host-cpu" and p.kind == "cpu" and p.bandwidth_gbs == 12.5


@pytest.mark.parametrize("name,expected,arch", [
    ("NVIDIA L4", "l4", "89"), ("NVIDIA H100 80GB HBM3", "h100", "90"), ("NVIDIA H200", "h200", "90"),
    ("NVIDIA L40S", "gpu-unknown", "89"),  # "L4" must not match "L40S"
])
def test_nvml_gpus(tmp_path, name, expected, arch):
    gpu = GpuInfo(name=name, memory_total=23_000_000_000, memory_free=22_000_000_000,
                  compute_capability=f"{arch[0]}.{arch[1]}", driver="580.1")
    p = detect(tmp_path, root=fake_root(tmp_path, None, 8_000_000, release=False), gpus=[gpu], host_bandwidth_gbs=10)
    assert p.id == expected and p.kind == "gpu" and not p.unified_memory and p.cuda_arch == arch
    assert p.budget_bytes == 22_000_000_000


def test_this_machine_is_detected_as_what_it_is(tmp_path, machine):
    settings = load_settings(home=tmp_path, device={"host_bandwidth_gbs": 9.0})
    p = detect_profile(settings)
    if machine.jetson:
        assert p.kind == "jetson" and p.unified_memory
    elif machine.gpus and machine.nvml:
        assert p.kind == "gpu" and p.details["gpu"] == machine.gpus[0] and p.host_bandwidth_gbs == 9.0
    elif machine.gpus:
        pytest.skip("nvidia-ml-py is not installed (the `devices` extra), so Hearth cannot see this GPU")
    else:
        assert p.kind == "cpu" and p.bandwidth_gbs == 9.0 and p.memory_bytes > 0


def test_profile_by_id_and_unknown_id(tmp_path):
    assert get_profile("l4", tmp_path).bandwidth_gbs == 300.0
    assert load_profiles()["agx-orin-64gb"].bandwidth_gbs == 204.8
    with pytest.raises(ConfigError, match="known profiles"):
        get_profile("tpu-v9", tmp_path)
    settings = load_settings(home=tmp_path, device={"profile": "orin-nano-8gb", "reserve_os_bytes": 2_000_000_000})
    assert detect_profile(settings).reserve_os_bytes == 2_000_000_000


def test_host_bandwidth_is_measured_once_and_cached(tmp_path):
    from assistant.devices.host import cached_bandwidth_gbs

    first = cached_bandwidth_gbs(tmp_path)
    assert first > 0.1
    assert (tmp_path / "devices/host.json").is_file()
    assert cached_bandwidth_gbs(tmp_path) == round(first, 2)  # read back, not measured again
